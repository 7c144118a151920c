"""Run folders and the SQLite results store (``nb1s1 results ingest``) as pandas DataFrames.

The store is opened read-only; nothing here writes to it."""

import json
import os
import sqlite3

# Per-run tables and the run columns joined onto each of their rows.
_RUN_COLUMNS = "r.path AS run, r.kind, r.optimizer, r.space, r.seed, r.variant, r.synthetic"
_JOINS = {
    "runs": "SELECT * FROM runs ORDER BY id",
    "epochs": "SELECT %s, t.* FROM epochs t JOIN runs r ON r.id = t.run_id ORDER BY r.id, t.epoch"
    % _RUN_COLUMNS,
    "queries": "SELECT %s, t.* FROM queries t JOIN runs r ON r.id = t.run_id ORDER BY r.id, t.query"
    % _RUN_COLUMNS,
    "correlations": "SELECT f.path AS file, f.run_path AS run, f.optimizer, f.space, f.epoch, t.* "
    "FROM correlations t JOIN correlation_files f ON f.id = t.file_id ORDER BY f.id",
}


def read_results(db, table="runs"):
    """One table of a results store as a DataFrame: ``runs``, or ``epochs`` / ``queries`` /
    ``correlations`` with their run's (or file's) identifying columns joined on."""
    import pandas as pd

    if table not in _JOINS:
        raise ValueError("table %r: expected one of %s" % (table, sorted(_JOINS)))
    path = os.fspath(db)
    if not os.path.exists(path):
        raise FileNotFoundError("%s: no such results store" % path)
    conn = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return pd.read_sql_query(_JOINS[table], conn)
    except (sqlite3.DatabaseError, getattr(pd.errors, "DatabaseError", sqlite3.DatabaseError)) as e:
        raise ValueError("%s: not an nb1s1 results store (%s)" % (path, e)) from e
    finally:
        conn.close()


def read_run(run_dir):
    """A run folder's per-step records as a DataFrame: ``trajectory.jsonl`` (black-box runs)
    or ``search/epochs.jsonl`` / ``epochs.jsonl`` (one-shot searches)."""
    import pandas as pd

    run_dir = os.fspath(run_dir)
    for name in ("trajectory.jsonl", os.path.join("search", "epochs.jsonl"), "epochs.jsonl"):
        path = os.path.join(run_dir, name)
        if os.path.exists(path):
            rows = []
            with open(path) as f:
                for n, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            rows.append(json.loads(line))
                        except ValueError as e:
                            raise ValueError("%s:%d: %s" % (path, n, e)) from e
            return pd.DataFrame.from_records(rows)
    raise FileNotFoundError(
        "%s: no trajectory.jsonl or epochs.jsonl (not an nb1s1 run folder)" % run_dir)
