//! The results store: an embedded SQLite database that indexes run folders (which stay the
//! source of truth). Ingest is idempotent (keyed by the folder's canonical path and a SHA-256
//! fingerprint of its files) and safe when several processes ingest at once (WAL journal, busy
//! timeout, one `BEGIN IMMEDIATE` transaction per run). A run is counted once by its identity
//! (kind, experiment, study, variant, optimizer, space, seed and a hash of its configuration),
//! not by its folder: a copy of a run folder is reported as a duplicate, not as another seed.
//! Stand-alone trainings (`nb1s1 train`) add their cell (`standalone_runs`) and per-epoch
//! accuracies (`standalone_epochs`), by the same identity (the cell and the settings).
//! Readers ([`Store::open_read_only`]) never write to the file and refuse a database without
//! the tables they read.

use crate::correlation::{self, CorrelationFile};
use crate::error::{io_err, BenchError, Result};
use crate::runs::{self, RunFolder};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub mod zerocost;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    fingerprint TEXT NOT NULL,
    kind TEXT NOT NULL,
    optimizer TEXT NOT NULL,
    space INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    experiment TEXT,
    study TEXT,
    variant TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL,
    device TEXT,
    config TEXT NOT NULL,
    ingested_unix INTEGER NOT NULL,
    synthetic INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS epochs (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    architecture TEXT,
    hash TEXT,
    valid_errors TEXT NOT NULL,
    test_errors TEXT NOT NULL,
    valid_error REAL,
    test_error REAL,
    valid_regret REAL,
    test_regret REAL,
    one_shot_valid_error REAL,
    train_loss REAL,
    seconds REAL,
    nb101_seconds REAL,
    PRIMARY KEY (run_id, epoch)
);
CREATE TABLE IF NOT EXISTS epoch_metrics (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (run_id, epoch, name)
);
CREATE TABLE IF NOT EXISTS queries (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    query INTEGER NOT NULL,
    simulated_seconds REAL NOT NULL,
    hash TEXT,
    valid_error REAL,
    test_error REAL,
    incumbent_valid_error REAL,
    incumbent_test_error REAL,
    incumbent_valid_regret REAL,
    incumbent_test_regret REAL,
    PRIMARY KEY (run_id, query)
);
CREATE TABLE IF NOT EXISTS correlation_files (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    fingerprint TEXT NOT NULL,
    run_path TEXT,
    optimizer TEXT,
    space INTEGER,
    epoch INTEGER NOT NULL,
    n INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS correlations (
    file_id INTEGER NOT NULL REFERENCES correlation_files(id) ON DELETE CASCADE,
    metric TEXT NOT NULL,
    budget INTEGER NOT NULL,
    n INTEGER NOT NULL,
    spearman REAL,
    kendall REAL,
    top_k INTEGER NOT NULL,
    spearman_top REAL,
    kendall_top REAL,
    PRIMARY KEY (file_id, metric, budget)
);
CREATE TABLE IF NOT EXISTS standalone_runs (
    run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    hash TEXT NOT NULL,
    matrix TEXT NOT NULL,
    ops TEXT NOT NULL,
    trainable_parameters INTEGER NOT NULL,
    stem_channels INTEGER,
    cells_per_stack INTEGER,
    epochs INTEGER,
    origin TEXT,
    nb101_valid_error REAL,
    nb101_test_error REAL
);
CREATE TABLE IF NOT EXISTS standalone_epochs (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    valid_accuracy REAL NOT NULL,
    test_accuracy REAL NOT NULL,
    train_loss REAL,
    train_accuracy REAL,
    lr REAL,
    seconds REAL,
    PRIMARY KEY (run_id, epoch)
);
CREATE INDEX IF NOT EXISTS runs_group ON runs(kind, optimizer, space, variant);
";

/// Every table and column the readers use: a database lacking one is refused, naming it.
const READ_COLUMNS: &[(&str, &str)] = &[
    (
        "runs",
        "id, path, fingerprint, kind, optimizer, space, seed, experiment, study, variant, \
         status, message, device, config, ingested_unix, synthetic",
    ),
    (
        "epochs",
        "run_id, epoch, architecture, hash, valid_errors, test_errors, valid_error, test_error, \
         valid_regret, test_regret, one_shot_valid_error, train_loss, seconds, nb101_seconds",
    ),
    ("epoch_metrics", "run_id, epoch, name, value"),
    (
        "queries",
        "run_id, query, simulated_seconds, hash, valid_error, test_error, \
         incumbent_valid_error, incumbent_test_error, incumbent_valid_regret, \
         incumbent_test_regret",
    ),
    (
        "correlation_files",
        "id, path, fingerprint, run_path, optimizer, space, epoch, n",
    ),
    (
        "correlations",
        "file_id, metric, budget, n, spearman, kendall, top_k, spearman_top, kendall_top",
    ),
    (
        "standalone_runs",
        "run_id, hash, matrix, ops, trainable_parameters, stem_channels, cells_per_stack, \
         epochs, origin, nb101_valid_error, nb101_test_error",
    ),
    (
        "standalone_epochs",
        "run_id, epoch, valid_accuracy, test_accuracy, train_loss, train_accuracy, lr, seconds",
    ),
];

/// An open results database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// Whether opening a database failed because this process may not create or write the files
/// beside it (the `-shm` index of a WAL database): a read-only folder, file or file system.
fn cannot_write_beside(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::{CannotOpen, PermissionDenied, ReadOnly};
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, CannotOpen | ReadOnly | PermissionDenied))
}

/// An immutable read ignores the write-ahead log: refused while `<db>-wal` holds changes.
fn refuse_unread_wal(db: &Path) -> Result<()> {
    let mut name = db.as_os_str().to_os_string();
    name.push("-wal");
    let wal = PathBuf::from(name);
    match std::fs::symlink_metadata(&wal) {
        Ok(meta) if meta.len() > 0 => Err(BenchError::Schema {
            path: db.to_path_buf(),
            message: format!(
                "cannot be read here: {} holds {} bytes of changes not yet in the database file \
                 (a writer is still running, or was killed), and this process may not write \
                 the folder to read them through SQLite's index (`-shm`); reading without them \
                 would show stale results. Run `nb1s1 results ingest` on the database where its \
                 folder is writable (which folds the log in), or copy the database with its \
                 `-wal` file to a folder you may write",
                wal.display(),
                meta.len()
            ),
        }),
        _ => Ok(()),
    }
}

/// What one ingest did.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
pub struct IngestSummary {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub correlation_files: usize,
    /// Zero-cost scoring folders added or changed (`store::zerocost`).
    pub zerocost: usize,
    /// Folders or files that could not be read, with the reason; the rest is still ingested.
    pub errors: Vec<(PathBuf, String)>,
    /// Copies of a run already in the database (the copy, the folder counted), counted once.
    pub duplicates: Vec<(PathBuf, String)>,
    /// Runs (and correlation files) below the ingested folder whose folder or file is gone:
    /// dropped from the database, since their numbers no longer have a source.
    pub vanished: Vec<PathBuf>,
    /// Runs in the database whose folder changed and no longer reads (each also in `errors`):
    /// dropped, since their stored numbers are no longer those of their files.
    pub dropped: Vec<PathBuf>,
}

/// SHA-256 over the named files of a folder (name, length, bytes), absent files included as such.
fn fingerprint(dir: &Path, names: &[&str]) -> Result<String> {
    let mut h = Sha256::new();
    for name in names {
        let p = dir.join(name);
        h.update(name.as_bytes());
        if std::fs::symlink_metadata(&p).is_err() {
            h.update(b"-absent-");
            continue;
        }
        // Bounded: a link out of the folder, a FIFO or `/dev/zero` is refused, not read.
        let bytes = nb1s1_fsio::read_in(dir, &p, runfmt::jsonl::MAX_JSONL_BYTES)?;
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

const RUN_FILES: &[&str] = &[
    "config.toml",
    "run.json",
    "status.json",
    "epochs.jsonl",
    "trajectory.jsonl",
    "experiment.json",
];

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// How long a connection waits for another's lock before giving up.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs `f` again while SQLite answers busy ("database is locked"), as long as the first
/// attempt began less than [`BUSY_TIMEOUT`] ago (an attempt may itself wait in the busy
/// handler).
fn retry_while_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let start = std::time::Instant::now();
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && start.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// The tables, and the columns and index that older databases lack, in one transaction.
fn create_schema(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(SCHEMA)?;
    // Databases written before the `synthetic` column existed get it added (as 0).
    if tx.prepare("SELECT synthetic FROM runs LIMIT 0").is_err() {
        tx.execute_batch("ALTER TABLE runs ADD COLUMN synthetic INTEGER NOT NULL DEFAULT 0")?;
    }
    // Likewise the run identity (older rows keep NULL until re-ingested).
    if tx.prepare("SELECT identity FROM runs LIMIT 0").is_err() {
        tx.execute_batch("ALTER TABLE runs ADD COLUMN identity TEXT")?;
    }
    // And the NB-101 training seconds of each epoch's result (NULL for older rows).
    if tx
        .prepare("SELECT nb101_seconds FROM epochs LIMIT 0")
        .is_err()
    {
        tx.execute_batch("ALTER TABLE epochs ADD COLUMN nb101_seconds REAL")?;
    }
    tx.execute_batch("CREATE INDEX IF NOT EXISTS runs_identity ON runs(identity)")?;
    tx.commit()
}

impl Store {
    /// Opens (creating if needed) the database at `path` in WAL mode with a busy timeout.
    pub fn open(path: &Path) -> Result<Store> {
        if path.is_dir() {
            return Err(BenchError::Schema {
                path: path.to_path_buf(),
                message: "is a directory, not a results database".into(),
            });
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let sql = |source| BenchError::Sql {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
        // Switching a fresh file to WAL, and the first schema transaction, can be refused as
        // busy at once (SQLite's deadlock avoidance skips the busy handler) while other
        // processes open the same new database: tried again, within the busy timeout.
        retry_while_busy(|| conn.pragma_update(None, "journal_mode", "WAL")).map_err(sql)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sql)?;
        retry_while_busy(|| create_schema(&mut conn)).map_err(sql)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing database for reading only (`report`, `results query`): the file is
    /// never written, and one without the tables and columns the readers use is refused with
    /// the missing table named.
    pub fn open_read_only(path: &Path) -> Result<Store> {
        let sql = |source| BenchError::Sql {
            path: path.to_path_buf(),
            source,
        };
        if path.is_dir() {
            return Err(BenchError::Schema {
                path: path.to_path_buf(),
                message: "is a directory, not a results database".into(),
            });
        }
        let conn = match Self::read_only_connection(path, false) {
            Ok(conn) => conn,
            // A WAL database in a folder (or file system) this process may not write: SQLite
            // cannot create the `-shm` index it reads through. Nobody can be writing it there
            // through this path, so it is read as an immutable file, unless a write-ahead log
            // holds changes that such a read would not see.
            Err(first) if cannot_write_beside(&first) => {
                refuse_unread_wal(path)?;
                Self::read_only_connection(path, true).map_err(|_| sql(first))?
            }
            Err(first) => return Err(sql(first)),
        };
        for (table, columns) in READ_COLUMNS {
            let exists: bool = conn
                .query_row(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [table],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(sql)?
                > 0;
            let message = if !exists {
                format!("no table `{table}`")
            } else if let Err(e) = conn.prepare(&format!("SELECT {columns} FROM {table} LIMIT 0")) {
                format!("table `{table}` lacks a column ({e})")
            } else {
                continue;
            };
            return Err(BenchError::Schema {
                path: path.to_path_buf(),
                message: format!(
                    "{message}: not an nb1s1 results database, or a damaged or older one \
                     (`nb1s1 results ingest` creates and upgrades it)"
                ),
            });
        }
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// A read-only connection that has read the schema (the first read is where a WAL database
    /// without a writable folder fails); `immutable`: opened with SQLite's `immutable=1`, which
    /// takes no locks and needs no `-shm` file.
    fn read_only_connection(path: &Path, immutable: bool) -> rusqlite::Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = if immutable {
            let uri = format!("file:{}?immutable=1", Self::uri_path(path));
            Connection::open_with_flags(uri, flags)?
        } else {
            Connection::open_with_flags(path, flags)?
        };
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })?;
        Ok(conn)
    }

    /// `path` percent-encoded for an SQLite `file:` URI (everything but unreserved characters and
    /// `/`), so `?`, `#` and `%` in a folder name stay part of the path.
    fn uri_path(path: &Path) -> String {
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let mut out = String::new();
        for &b in abs.as_os_str().as_encoded_bytes() {
            if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    /// How many ingested runs used a synthetic NAS-Bench-101 table.
    pub fn synthetic_runs(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM runs WHERE synthetic != 0", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n.max(0) as u64)
            .map_err(self.sql_err())
    }

    /// The underlying connection, for the query module.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn sql_err(&self) -> impl Fn(rusqlite::Error) -> BenchError + '_ {
        move |source| BenchError::Sql {
            path: self.path.clone(),
            source,
        }
    }

    /// Ingests every run folder and correlation file below `root`. Unchanged folders are
    /// skipped; changed ones are replaced in one transaction each.
    pub fn ingest_dir(&mut self, root: &Path) -> Result<IngestSummary> {
        let mut summary = IngestSummary::default();
        for dir in runs::find_runs(root)? {
            match self.ingest_run(&dir) {
                Ok(Outcome::Added) => summary.added += 1,
                Ok(Outcome::Updated) => summary.updated += 1,
                Ok(Outcome::Unchanged) => summary.unchanged += 1,
                Ok(Outcome::Duplicate(of)) => summary.duplicates.push((dir.clone(), of)),
                Err(e) => {
                    if matches!(e, BenchError::Dropped { .. }) {
                        summary.dropped.push(dir.clone());
                    }
                    summary.errors.push((dir.clone(), e.to_string()));
                }
            }
            let corr_dir = dir.join("correlation");
            if corr_dir.is_dir() {
                for file in correlation::find_files(&corr_dir)? {
                    match self.ingest_correlation(&file) {
                        Ok(true) => summary.correlation_files += 1,
                        Ok(false) => {}
                        Err(e) => summary.errors.push((file, e.to_string())),
                    }
                }
            }
        }
        summary.vanished = self.drop_vanished(root)?;
        self.ingest_zerocost_dir(root, &mut summary)?;
        Ok(summary)
    }

    /// Removes the rows of runs and correlation files below `root` whose folder or file no
    /// longer exists, in one transaction; returns their paths.
    fn drop_vanished(&mut self, root: &Path) -> Result<Vec<PathBuf>> {
        let root = root.canonicalize().map_err(io_err(root))?;
        let path = self.path.clone();
        let sql = move |source| BenchError::Sql {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&sql)?;
        let mut gone = Vec::new();
        for table in ["runs", "correlation_files"] {
            let rows: Vec<(i64, String)> = {
                let mut stmt = tx
                    .prepare(&format!("SELECT id, path FROM {table}"))
                    .map_err(&sql)?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(&sql)?;
                rows.collect::<rusqlite::Result<_>>().map_err(&sql)?
            };
            for (id, p) in rows {
                let p = PathBuf::from(p);
                if p.starts_with(&root) && std::fs::symlink_metadata(&p).is_err() {
                    tx.execute(&format!("DELETE FROM {table} WHERE id = ?1"), [id])
                        .map_err(&sql)?;
                    gone.push(p);
                }
            }
        }
        tx.commit().map_err(&sql)?;
        Ok(gone)
    }

    /// Ingests one run folder. A folder in the database that changed and no longer reads has
    /// its row dropped ([`BenchError::Dropped`]): its stored numbers are not its files' any more.
    pub fn ingest_run(&mut self, dir: &Path) -> Result<Outcome> {
        let canonical = dir.canonicalize().map_err(io_err(dir))?;
        let key = canonical.to_string_lossy().into_owned();
        let path = self.path.clone();
        let sql = move |source| BenchError::Sql {
            path: path.clone(),
            source,
        };
        // Cheap check first: an unchanged folder (with a current identity) is not parsed.
        let known: Option<(String, Option<String>)> = self
            .conn
            .query_row(
                "SELECT fingerprint, identity FROM runs WHERE path = ?1",
                [&key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(&sql)?;
        let current = |id: &Option<String>| {
            id.as_deref()
                .is_some_and(|i| i.starts_with(IDENTITY_VERSION))
        };
        let read = || -> Result<(String, Option<RunFolder>)> {
            let fp = fingerprint(&canonical, RUN_FILES)?;
            if known
                .as_ref()
                .is_some_and(|(f, id)| *f == fp && current(id))
            {
                return Ok((fp, None));
            }
            let run = runs::read_run(&canonical)?;
            check_ranges(&run)?;
            Ok((fp, Some(run)))
        };
        let (fp, run) = match read() {
            Ok((_, None)) => return Ok(Outcome::Unchanged),
            Ok((fp, Some(run))) => (fp, run),
            Err(e) if known.is_some() => return Err(self.drop_stale(&key, e)),
            Err(e) => return Err(e),
        };
        let identity = run_identity(&run);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&sql)?;
        let existing: Option<(i64, String, Option<String>)> = tx
            .query_row(
                "SELECT id, fingerprint, identity FROM runs WHERE path = ?1",
                [&key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(&sql)?;
        // Another folder holding the same run (a backup, a copy of `runs/`): counted once, as
        // the copy that got furthest.
        let twin: Option<(i64, String, String, i64)> = tx
            .query_row(
                "SELECT id, path, status, (SELECT COUNT(*) FROM epochs WHERE run_id = runs.id)
                 + (SELECT COUNT(*) FROM queries WHERE run_id = runs.id)
                 + (SELECT COUNT(*) FROM standalone_epochs WHERE run_id = runs.id)
                 FROM runs WHERE identity = ?1 AND path != ?2",
                params![identity, key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(&sql)?;
        if let Some((twin_id, twin_path, twin_status, twin_records)) = twin {
            let rank = |final_: bool, records: i64| (final_, records);
            let twin_final = twin_status == "complete" || twin_status == "diverged";
            let records = (run.epochs.len()
                + run.queries.len()
                + run.standalone.as_ref().map_or(0, |s| s.epochs.len()))
                as i64;
            if rank(run.state.is_final(), records) <= rank(twin_final, twin_records) {
                return Ok(Outcome::Duplicate(twin_path));
            }
            tx.execute("DELETE FROM runs WHERE id = ?1", [twin_id])
                .map_err(&sql)?;
        }
        let outcome = match &existing {
            Some((_, old, id)) if *old == fp && current(id) => return Ok(Outcome::Unchanged),
            Some((id, _, _)) => {
                tx.execute("DELETE FROM runs WHERE id = ?1", [id])
                    .map_err(&sql)?;
                Outcome::Updated
            }
            None => Outcome::Added,
        };
        insert_run(&tx, &key, &fp, &identity, &run).map_err(&sql)?;
        tx.commit().map_err(&sql)?;
        Ok(outcome)
    }

    /// Deletes the row of the run at `key`, whose folder no longer reads (`cause`); the error
    /// says so, or why the row could not be deleted.
    fn drop_stale(&mut self, key: &str, cause: BenchError) -> BenchError {
        let deleted =
            retry_while_busy(|| self.conn.execute("DELETE FROM runs WHERE path = ?1", [key]));
        match deleted {
            Ok(_) => BenchError::Dropped {
                cause: Box::new(cause),
            },
            Err(source) => BenchError::Sql {
                path: self.path.clone(),
                source,
            },
        }
    }

    /// Ingests one correlation file (spec §4.3); returns whether it was new or changed.
    pub fn ingest_correlation(&mut self, file: &Path) -> Result<bool> {
        let canonical = file.canonicalize().map_err(io_err(file))?;
        let key = canonical.to_string_lossy().into_owned();
        let dir = canonical.parent().unwrap_or(Path::new("/"));
        let name = canonical
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let fp = fingerprint(dir, &[name.as_str()])?;
        let path = self.path.clone();
        let sql = move |source| BenchError::Sql {
            path: path.clone(),
            source,
        };
        {
            let old: Option<String> = self
                .conn
                .query_row(
                    "SELECT fingerprint FROM correlation_files WHERE path = ?1",
                    [&key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(&sql)?;
            if old.as_deref() == Some(fp.as_str()) {
                return Ok(false);
            }
        }
        let parsed = CorrelationFile::read(&canonical)?;
        let run = parsed
            .run_dir
            .as_deref()
            .and_then(|d| runs::read_run(d).ok());
        let stats = parsed.statistics(correlation::TOP_K)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&sql)?;
        tx.execute("DELETE FROM correlation_files WHERE path = ?1", [&key])
            .map_err(&sql)?;
        tx.execute(
            "INSERT INTO correlation_files (path, fingerprint, run_path, optimizer, space, epoch, n)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                key,
                fp,
                parsed
                    .run_dir
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned()),
                run.as_ref()
                    .map(|r| correlation::series_name(&r.optimizer, &canonical)),
                run.as_ref().map(|r| r.space),
                parsed.epoch as i64,
                parsed.points.len() as i64
            ],
        )
        .map_err(&sql)?;
        let file_id = tx.last_insert_rowid();
        for s in &stats {
            tx.execute(
                "INSERT INTO correlations (file_id, metric, budget, n, spearman, kendall, top_k,
                 spearman_top, kendall_top) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    file_id,
                    s.metric,
                    s.budget,
                    s.stats.n as i64,
                    s.stats.spearman,
                    s.stats.kendall,
                    s.stats.top_k as i64,
                    s.stats.spearman_top,
                    s.stats.kendall_top
                ],
            )
            .map_err(&sql)?;
        }
        tx.commit().map_err(&sql)?;
        Ok(true)
    }
}

/// What ingesting one folder did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Added,
    Updated,
    Unchanged,
    /// The same run is already in the database from this other folder, at least as far along.
    Duplicate(String),
}

/// Fields of a black-box `run.json` that change as the run goes on or with where it lies, left
/// out of its identity.
const VOLATILE: &[&str] = &[
    "complete",
    "simulated_seconds",
    "final_incumbent_test_regret",
    "queries",
    "nb101_file",
];

/// The run's identity: what it is, not where it lies (SHA-256, hex).
pub fn run_identity(run: &RunFolder) -> String {
    let mut config = run.config.clone();
    if let Some(obj) = config.as_object_mut() {
        for key in VOLATILE {
            obj.remove(*key);
        }
    }
    let tag = run.tag.clone().unwrap_or_default();
    let variant = if tag.variant.is_empty() {
        "default"
    } else {
        tag.variant.as_str()
    };
    // What defines the numbers besides the config: the NB-101 table (its content fingerprint
    // where the run recorded one, else whether it was synthetic) and the kind of device (not
    // which GPU: a run resumed on another one is the same run).
    let device = run
        .device
        .as_deref()
        .map(|d| d.split(':').next().unwrap_or(d).to_string());
    let key = serde_json::json!([
        run.kind.as_str(),
        tag.experiment,
        tag.study,
        variant,
        run.optimizer,
        run.space,
        run.seed,
        config,
        run.synthetic,
        run.nb101,
        device,
    ]);
    let digest = Sha256::digest(json(&key).as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{IDENTITY_VERSION}{hex}")
}

/// Prefix of identities that include the table and the device; rows with an older identity
/// are re-read at the next ingest even when their folder is unchanged.
const IDENTITY_VERSION: &str = "v2:";

/// Ranges a run must respect to be stored: spaces 1-3 (0 for a stand-alone cell of no space),
/// seeds that fit the store's integers.
fn check_ranges(run: &RunFolder) -> Result<()> {
    let bad = |field: &str, message: String| BenchError::Field {
        path: run.path.clone(),
        field: field.to_string(),
        message,
    };
    let space_ok =
        (1..=3).contains(&run.space) || (run.kind == runs::RunKind::Standalone && run.space == 0);
    if !space_ok {
        return Err(bad(
            "space",
            format!("{} is not a search space (1, 2 or 3)", run.space),
        ));
    }
    if run.seed > crate::experiment::MAX_SEED {
        let message = format!(
            "{} is larger than the largest seed ({})",
            run.seed,
            crate::experiment::MAX_SEED
        );
        return Err(bad("seed", message));
    }
    Ok(())
}

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_string())
}

fn insert_run(
    tx: &rusqlite::Transaction<'_>,
    key: &str,
    fp: &str,
    identity: &str,
    run: &RunFolder,
) -> rusqlite::Result<()> {
    let tag = run.tag.clone().unwrap_or_default();
    tx.execute(
        "INSERT INTO runs (path, fingerprint, kind, optimizer, space, seed, experiment, study,
         variant, status, message, device, config, ingested_unix, synthetic, identity)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        params![
            key,
            fp,
            run.kind.as_str(),
            run.optimizer,
            run.space,
            run.seed as i64,
            (!tag.experiment.is_empty()).then_some(tag.experiment),
            (!tag.study.is_empty()).then_some(tag.study),
            if tag.variant.is_empty() {
                "default".to_string()
            } else {
                tag.variant
            },
            run.state.as_str(),
            run.message,
            run.device,
            json(&run.config),
            now_unix(),
            run.synthetic,
            identity
        ],
    )?;
    let run_id = tx.last_insert_rowid();
    let mut ep = tx.prepare(
        "INSERT OR REPLACE INTO epochs (run_id, epoch, architecture, hash, valid_errors,
         test_errors, valid_error, test_error, valid_regret, test_regret, one_shot_valid_error,
         train_loss, seconds, nb101_seconds)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    for e in &run.epochs {
        ep.execute(params![
            run_id,
            e.epoch as i64,
            json(&e.architecture),
            e.nb101_hash,
            json(&e.valid_errors),
            json(&e.test_errors),
            mean(&e.valid_errors),
            mean(&e.test_errors),
            e.valid_regret,
            e.test_regret,
            e.one_shot_valid_error,
            e.train_loss,
            e.seconds,
            e.nb101_train_seconds
        ])?;
    }
    // The optimizers' own metrics, long format: one row per (epoch, name), whatever the name.
    let mut m = tx.prepare(
        "INSERT OR REPLACE INTO epoch_metrics (run_id, epoch, name, value) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for e in &run.epochs {
        for (name, value) in &e.metrics {
            m.execute(params![run_id, e.epoch as i64, name, value])?;
        }
    }
    let mut q = tx.prepare(
        "INSERT OR REPLACE INTO queries (run_id, query, simulated_seconds, hash, valid_error,
         test_error, incumbent_valid_error, incumbent_test_error, incumbent_valid_regret,
         incumbent_test_regret) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for r in &run.queries {
        q.execute(params![
            run_id,
            r.query as i64,
            r.simulated_seconds,
            r.hash,
            r.valid_error,
            r.test_error,
            r.incumbent_valid_error,
            r.incumbent_test_error,
            r.incumbent_valid_regret,
            r.incumbent_test_regret
        ])?;
    }
    if let Some(sa) = &run.standalone {
        insert_standalone(tx, run_id, sa)?;
    }
    Ok(())
}

/// A stand-alone run's cell, network size and accuracies per epoch.
fn insert_standalone(
    tx: &rusqlite::Transaction<'_>,
    run_id: i64,
    sa: &runs::StandaloneRun,
) -> rusqlite::Result<()> {
    let (channels, cells) = sa.network();
    // NB-101's full budget, what the transfer study compares with.
    let at_108 =
        |pick: fn(&runfmt::StandaloneNb101) -> &std::collections::BTreeMap<String, f64>| {
            sa.meta
                .nb101
                .as_ref()
                .and_then(|n| pick(n).get("108").copied())
        };
    tx.execute(
        "INSERT INTO standalone_runs (run_id, hash, matrix, ops, trainable_parameters,
         stem_channels, cells_per_stack, epochs, origin, nb101_valid_error, nb101_test_error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            run_id,
            sa.meta.cell.hash,
            json(&sa.meta.cell.matrix),
            json(&sa.meta.cell.ops),
            sa.meta.trainable_parameters as i64,
            channels.map(|c| c as i64),
            cells.map(|c| c as i64),
            sa.meta.config["epochs"].as_u64().map(|e| e as i64),
            sa.meta.origin.as_ref().map(json),
            at_108(|n| &n.valid_error),
            at_108(|n| &n.test_error),
        ],
    )?;
    let mut ep = tx.prepare(
        "INSERT OR REPLACE INTO standalone_epochs (run_id, epoch, valid_accuracy, test_accuracy,
         train_loss, train_accuracy, lr, seconds) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for e in &sa.epochs {
        ep.execute(params![
            run_id,
            e.epoch as i64,
            e.valid_accuracy,
            e.test_accuracy,
            e.train_loss,
            e.train_accuracy,
            e.lr,
            e.seconds
        ])?;
    }
    Ok(())
}
