//! Zero-cost scoring folders (`nb1s1 zerocost`) in the results store: their settings
//! (`zerocost.json`), the scores of every cell (`scores.jsonl`) and, where the folder was scored
//! with `--nb101`, the cells' NB-101 accuracies and the table they came from (`nb101.json`,
//! `nb101.jsonl`). A folder is keyed by its canonical path and a SHA-256 of those files: an
//! unchanged folder is skipped, a changed one replaces its rows. Its identity is the settings
//! fingerprint, the space and the NB-101 table's fingerprint; folders of one identity are one
//! group, each cell counted once in it (a copy of a folder, or two samples that overlap, add no
//! weight).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{fingerprint, now_unix, IngestSummary, Outcome, Store};
use crate::error::{io_err, BenchError, Result};
use crate::zerocost::{
    read_scores, CellAccuracy, Nb101Meta, ScoreRow, NB101_ACCURACY_FILE, NB101_META_FILE,
};

/// The settings file and the scores file of a scoring folder (as `nb1s1 zerocost` names them).
pub const SETTINGS_FILE: &str = "zerocost.json";
pub const SCORES_FILE: &str = "scores.jsonl";

const FILES: &[&str] = &[
    SETTINGS_FILE,
    SCORES_FILE,
    NB101_META_FILE,
    NB101_ACCURACY_FILE,
];

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS zerocost_folders (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    fingerprint TEXT NOT NULL,
    identity TEXT NOT NULL,
    settings TEXT NOT NULL,
    space INTEGER,
    nb101 TEXT,
    synthetic INTEGER NOT NULL,
    cells INTEGER NOT NULL,
    ingested_unix INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS zerocost_scores (
    folder_id INTEGER NOT NULL REFERENCES zerocost_folders(id) ON DELETE CASCADE,
    hash TEXT NOT NULL,
    proxy TEXT NOT NULL,
    value REAL,
    seconds REAL NOT NULL,
    PRIMARY KEY (folder_id, hash, proxy)
);
CREATE TABLE IF NOT EXISTS zerocost_accuracies (
    folder_id INTEGER NOT NULL REFERENCES zerocost_folders(id) ON DELETE CASCADE,
    hash TEXT NOT NULL,
    epochs INTEGER NOT NULL,
    valid REAL NOT NULL,
    test REAL NOT NULL,
    PRIMARY KEY (folder_id, hash, epochs)
);
CREATE INDEX IF NOT EXISTS zerocost_identity ON zerocost_folders(identity);
";

/// Every scoring folder below `root` (the root included): a folder holding `zerocost.json` and
/// `scores.jsonl`. Hidden folders and run folders are not descended into.
pub fn find_folders(root: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if dir.join(SETTINGS_FILE).is_file() && dir.join(SCORES_FILE).is_file() {
            found.push(dir);
            continue;
        }
        // A run folder, or one whose run files are broken (ingest reports those), is no
        // scoring folder and holds none.
        if !matches!(crate::runs::run_kind(&dir), Ok(None)) {
            continue;
        }
        for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if !hidden && entry.file_type().map_err(io_err(&entry.path()))?.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    found.sort();
    Ok(found)
}

/// What a folder holds, read and checked before anything is written.
struct Folder {
    settings: serde_json::Value,
    fingerprint: String,
    space: Option<u8>,
    rows: Vec<ScoreRow>,
    nb101: Option<Nb101Meta>,
    accuracies: Vec<CellAccuracy>,
}

fn field(path: &Path, field: &str, message: impl Into<String>) -> BenchError {
    BenchError::Field {
        path: path.to_path_buf(),
        field: field.to_string(),
        message: message.into(),
    }
}

fn read_folder(dir: &Path) -> Result<Folder> {
    let settings_path = dir.join(SETTINGS_FILE);
    let settings: serde_json::Value = runfmt::read_json(&settings_path)?;
    let fingerprint = settings
        .get("fingerprint")
        .and_then(|f| f.as_str())
        .ok_or_else(|| field(&settings_path, "fingerprint", "missing or not a string"))?
        .to_string();
    let space = match settings.get("space") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|s| u8::try_from(s).ok())
                .filter(|s| (1..=3).contains(s))
                .ok_or_else(|| field(&settings_path, "space", "not 1, 2 or 3"))?,
        ),
    };
    let rows = read_scores(&dir.join(SCORES_FILE))?;
    let meta_path = dir.join(NB101_META_FILE);
    let nb101: Option<Nb101Meta> = runfmt::read_json_opt(&meta_path)?;
    let acc_path = dir.join(NB101_ACCURACY_FILE);
    let accuracies: Vec<CellAccuracy> = match &nb101 {
        Some(_) if acc_path.exists() => runfmt::read_jsonl(&acc_path)?,
        Some(_) => return Err(field(&acc_path, "file", "missing beside nb101.json")),
        None => Vec::new(),
    };
    for (i, a) in accuracies.iter().enumerate() {
        if !(0.0..=1.0).contains(&a.valid) || !(0.0..=1.0).contains(&a.test) {
            let at = format!("line {}: valid/test", i + 1);
            return Err(field(&acc_path, &at, "an accuracy outside [0, 1]"));
        }
    }
    Ok(Folder {
        settings,
        fingerprint,
        space,
        rows,
        nb101,
        accuracies,
    })
}

/// The folder's identity: settings fingerprint, space, NB-101 table (SHA-256, hex).
fn identity(f: &Folder) -> String {
    let key = serde_json::json!([
        f.fingerprint,
        f.space,
        f.nb101.as_ref().map(|m| &m.fingerprint)
    ]);
    let digest = Sha256::digest(key.to_string().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("zc1:{hex}")
}

impl Store {
    /// Ingests every scoring folder below `root` into `summary` (`zerocost` counts those added
    /// or changed; errors and vanished folders as for runs).
    pub(super) fn ingest_zerocost_dir(
        &mut self,
        root: &Path,
        summary: &mut IngestSummary,
    ) -> Result<()> {
        self.conn.execute_batch(SCHEMA).map_err(self.sql_err())?;
        for dir in find_folders(root)? {
            match self.ingest_zerocost(&dir) {
                Ok(Outcome::Added | Outcome::Updated) => summary.zerocost += 1,
                Ok(_) => {}
                Err(e) => summary.errors.push((dir, e.to_string())),
            }
        }
        let root = root.canonicalize().map_err(io_err(root))?;
        let paths: Vec<(i64, String)> = {
            let mut stmt = self
                .conn
                .prepare("SELECT id, path FROM zerocost_folders")
                .map_err(self.sql_err())?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(self.sql_err())?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(self.sql_err())?
        };
        for (id, p) in paths {
            let p = PathBuf::from(p);
            let gone = p.starts_with(&root)
                && (!p.join(SETTINGS_FILE).is_file() || !p.join(SCORES_FILE).is_file());
            if gone {
                self.conn
                    .execute("DELETE FROM zerocost_folders WHERE id = ?1", [id])
                    .map_err(self.sql_err())?;
                summary.vanished.push(p);
            }
        }
        Ok(())
    }

    /// Ingests one scoring folder: unchanged (same files) is skipped, changed replaces its rows
    /// in one transaction.
    pub fn ingest_zerocost(&mut self, dir: &Path) -> Result<Outcome> {
        self.conn.execute_batch(SCHEMA).map_err(self.sql_err())?;
        let canonical = dir.canonicalize().map_err(io_err(dir))?;
        let key = canonical.to_string_lossy().into_owned();
        let fp = fingerprint(&canonical, FILES)?;
        let old: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT id, fingerprint FROM zerocost_folders WHERE path = ?1",
                [&key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.sql_err())?;
        if old.as_ref().is_some_and(|(_, f)| *f == fp) {
            return Ok(Outcome::Unchanged);
        }
        let folder = read_folder(&canonical)?;
        let id = identity(&folder);
        let path = self.path.clone();
        let sql = move |source| BenchError::Sql {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&sql)?;
        tx.execute("DELETE FROM zerocost_folders WHERE path = ?1", [&key])
            .map_err(&sql)?;
        insert(&tx, &key, &fp, &id, &folder).map_err(&sql)?;
        tx.commit().map_err(&sql)?;
        Ok(if old.is_some() {
            Outcome::Updated
        } else {
            Outcome::Added
        })
    }
}

fn insert(
    tx: &rusqlite::Transaction<'_>,
    key: &str,
    fp: &str,
    identity: &str,
    f: &Folder,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO zerocost_folders (path, fingerprint, identity, settings, space, nb101,
         synthetic, cells, ingested_unix) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            key,
            fp,
            identity,
            f.settings.to_string(),
            f.space,
            f.nb101.as_ref().map(|m| m.fingerprint.clone()),
            f.nb101.as_ref().is_some_and(|m| m.synthetic),
            f.rows.len() as i64,
            now_unix()
        ],
    )?;
    let folder_id = tx.last_insert_rowid();
    let mut s = tx.prepare(
        "INSERT OR REPLACE INTO zerocost_scores (folder_id, hash, proxy, value, seconds)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for r in &f.rows {
        for (proxy, value) in &r.scores {
            s.execute(params![folder_id, r.hash, proxy, value, r.seconds])?;
        }
    }
    let mut a = tx.prepare(
        "INSERT OR REPLACE INTO zerocost_accuracies (folder_id, hash, epochs, valid, test)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for c in &f.accuracies {
        a.execute(params![folder_id, c.hash, c.epochs, c.valid, c.test])?;
    }
    Ok(())
}

/// The scores of one identity (settings, space, NB-101 table), each cell once.
#[derive(Debug, Clone, Serialize)]
pub struct ZeroCostGroup {
    pub identity: String,
    pub space: Option<u8>,
    /// `zerocost.json` of the group's first folder (settings and proxies).
    pub settings: serde_json::Value,
    /// The NB-101 table's fingerprint (`None`: scored without `--nb101`).
    pub nb101: Option<String>,
    pub synthetic: bool,
    pub folders: Vec<String>,
    #[serde(skip)]
    pub rows: Vec<ScoreRow>,
    /// (hash, epochs) -> mean (validation, test) accuracy.
    #[serde(skip)]
    pub accuracies: BTreeMap<(String, u32), (f64, f64)>,
    pub budgets: Vec<u32>,
}

impl ZeroCostGroup {
    /// The cell's mean accuracies at `epochs`, as recorded.
    pub fn accuracy(&self, hash: &str, epochs: u32) -> Option<(f64, f64)> {
        self.accuracies.get(&(hash.to_string(), epochs)).copied()
    }
}

/// Every identity's scores in the store (none in a database without the zero-cost tables),
/// ordered by space and identity.
pub fn groups(store: &Store) -> Result<Vec<ZeroCostGroup>> {
    let conn = store.conn();
    let sql = store.sql_err();
    let present: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN
             ('zerocost_folders', 'zerocost_scores', 'zerocost_accuracies')",
            [],
            |r| r.get(0),
        )
        .map_err(&sql)?;
    if present < 3 {
        return Ok(Vec::new());
    }
    let mut out: BTreeMap<(Option<u8>, String), ZeroCostGroup> = BTreeMap::new();
    let mut ids: BTreeMap<i64, (Option<u8>, String)> = BTreeMap::new();
    let mut stmt = conn
        .prepare(
            "SELECT id, path, identity, settings, space, nb101, synthetic FROM zerocost_folders
             ORDER BY path",
        )
        .map_err(&sql)?;
    let mut rows = stmt.query([]).map_err(&sql)?;
    while let Some(r) = rows.next().map_err(&sql)? {
        let (id, path, identity): (i64, String, String) = (
            r.get(0).map_err(&sql)?,
            r.get(1).map_err(&sql)?,
            r.get(2).map_err(&sql)?,
        );
        let space: Option<u8> = r.get(4).map_err(&sql)?;
        let settings: String = r.get(3).map_err(&sql)?;
        let nb101: Option<String> = r.get(5).map_err(&sql)?;
        let synthetic: bool = r.get(6).map_err(&sql)?;
        let key = (space, identity.clone());
        ids.insert(id, key.clone());
        out.entry(key)
            .or_insert_with(|| ZeroCostGroup {
                identity,
                space,
                settings: serde_json::from_str(&settings).unwrap_or_default(),
                nb101,
                synthetic,
                folders: Vec::new(),
                rows: Vec::new(),
                accuracies: BTreeMap::new(),
                budgets: Vec::new(),
            })
            .folders
            .push(path);
    }
    // Scores: the first folder's value of each (cell, proxy), in folder order.
    let mut cells: BTreeMap<(Option<u8>, String), BTreeMap<String, ScoreRow>> = BTreeMap::new();
    let mut stmt = conn
        .prepare(
            "SELECT folder_id, hash, proxy, value, seconds FROM zerocost_scores
             ORDER BY folder_id, hash, proxy",
        )
        .map_err(&sql)?;
    let mut rows = stmt.query([]).map_err(&sql)?;
    while let Some(r) = rows.next().map_err(&sql)? {
        let Some(key) = ids.get(&r.get::<_, i64>(0).map_err(&sql)?) else {
            continue;
        };
        let hash: String = r.get(1).map_err(&sql)?;
        let seconds: f64 = r.get(4).map_err(&sql)?;
        let row = cells
            .entry(key.clone())
            .or_default()
            .entry(hash.clone())
            .or_insert_with(|| ScoreRow {
                hash,
                seconds,
                scores: BTreeMap::new(),
            });
        let proxy: String = r.get(2).map_err(&sql)?;
        let value: Option<f64> = r.get(3).map_err(&sql)?;
        row.scores.entry(proxy).or_insert(value);
    }
    let mut stmt = conn
        .prepare("SELECT folder_id, hash, epochs, valid, test FROM zerocost_accuracies")
        .map_err(&sql)?;
    let mut rows = stmt.query([]).map_err(&sql)?;
    while let Some(r) = rows.next().map_err(&sql)? {
        let Some(g) = ids
            .get(&r.get::<_, i64>(0).map_err(&sql)?)
            .and_then(|k| out.get_mut(k))
        else {
            continue;
        };
        let epochs: u32 = r.get(2).map_err(&sql)?;
        let acc: (f64, f64) = (r.get(3).map_err(&sql)?, r.get(4).map_err(&sql)?);
        g.accuracies
            .entry((r.get(1).map_err(&sql)?, epochs))
            .or_insert(acc);
        if !g.budgets.contains(&epochs) {
            g.budgets.push(epochs);
        }
    }
    for (key, g) in out.iter_mut() {
        g.budgets.sort_unstable();
        g.rows = cells
            .remove(key)
            .unwrap_or_default()
            .into_values()
            .collect();
    }
    Ok(out.into_values().collect())
}
