"""Run folders and the results store into pandas. The store is built with the bench crate's own
schema (read from crates/bench/src/store.rs), so a schema change there is caught here."""

import json
import os
import re
import sqlite3

import pytest

import nb1s1

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def bench_schema():
    text = open(os.path.join(ROOT, "crates", "bench", "src", "store.rs")).read()
    return re.search(r'const SCHEMA: &str = "(.*?)";', text, re.S).group(1)


@pytest.fixture()
def pd():
    if os.environ.get("CI", "").lower() == "true":
        import pandas

        return pandas
    return pytest.importorskip("pandas")


def test_read_results_joins_runs(tmp_path, pd):
    db = tmp_path / "results.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript(bench_schema())
    conn.execute(
        "INSERT INTO runs (id, path, fingerprint, kind, optimizer, space, seed, variant, status,"
        " message, config, ingested_unix) VALUES (1, 'runs/re-1-0', 'f', 'blackbox', 're', 1, 0,"
        " 'default', 'complete', '', '{}', 0)")
    for q in (1, 2):
        conn.execute(
            "INSERT INTO queries (run_id, query, simulated_seconds, incumbent_valid_error)"
            " VALUES (1, ?, ?, ?)", (q, 10.0 * q, 0.1 / q))
    conn.commit()
    conn.close()
    queries = nb1s1.read_results(db, "queries")
    assert list(queries["query"]) == [1, 2] and set(queries["optimizer"]) == {"re"}
    assert list(queries["run"]) == ["runs/re-1-0"] * 2
    assert len(nb1s1.read_results(db)) == 1
    with pytest.raises(ValueError, match="table"):
        nb1s1.read_results(db, "nope")
    with pytest.raises(FileNotFoundError):
        nb1s1.read_results(tmp_path / "missing.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(ValueError, match="junk.sqlite"):
        nb1s1.read_results(junk, "runs")


def test_read_run(tmp_path, pd):
    run = tmp_path / "run"
    run.mkdir()
    records = [{"query": 1, "valid_error": 0.2}, {"query": 2, "valid_error": 0.1}]
    (run / "trajectory.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    frame = nb1s1.read_run(run)
    assert list(frame["valid_error"]) == [0.2, 0.1]
    (run / "trajectory.jsonl").write_text('{"query": 1}\n{broken\n')
    with pytest.raises(ValueError, match=r"trajectory.jsonl:2"):
        nb1s1.read_run(run)
    with pytest.raises(FileNotFoundError):
        nb1s1.read_run(tmp_path)
