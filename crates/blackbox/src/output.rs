//! Run folders: `DIR/<optimizer>/space<N>/seed<S>/trajectory.jsonl` (one [`QueryRecord`] per
//! line) and `run.json` ([`RunInfo`]), both written atomically, `run.json` last so that a
//! folder whose `run.json` says `complete` is finished (runs are resumable).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::optimizer::{BudgetUnit, OptimizerKind};

fn queries_unit() -> BudgetUnit {
    BudgetUnit::Queries
}
use crate::trajectory::QueryRecord;

/// What `run.json` records about a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub optimizer: OptimizerKind,
    pub space: searchspace::SpaceId,
    pub seed: u64,
    pub queries: usize,
    /// The budget the run was given and what it counted (files from before the field: queries).
    #[serde(default)]
    pub budget: Option<usize>,
    #[serde(default = "queries_unit")]
    pub budget_unit: BudgetUnit,
    pub budgets: Vec<u32>,
    pub nb101_file: String,
    /// Content fingerprint of the NAS-Bench-101 table (`Nb101::fingerprint`); absent in files
    /// written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nb101_fingerprint: Option<String>,
    pub synthetic: bool,
    pub reference: searchspace::Reference,
    pub simulated_seconds: f64,
    pub final_incumbent_test_regret: Option<f64>,
    pub complete: bool,
}

/// Why a run folder could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// The folder of one run.
pub fn run_dir(
    root: &Path,
    optimizer: OptimizerKind,
    space: searchspace::SpaceId,
    seed: u64,
) -> PathBuf {
    seed_dir(root, optimizer.name(), space.number(), seed)
}

/// The folder of one run, by the optimizer's name and the space's number (as an experiment's
/// run unit holds them): `<root>/<optimizer>/space<N>/seed<S>`.
pub fn seed_dir(root: &Path, optimizer: &str, space: u8, seed: u64) -> PathBuf {
    root.join(optimizer)
        .join(format!("space{space}"))
        .join(format!("seed{seed}"))
}

/// Whether `dir/run.json` exists and says the run is complete.
pub fn is_complete(dir: &Path) -> bool {
    read_run_info(dir)
        .ok()
        .flatten()
        .is_some_and(|r| r.complete)
}

/// Largest `run.json` read back.
const MAX_RUN_JSON: u64 = 16 << 20;

/// Reads `dir/run.json` (`None` when absent), refusing links out of the folder, special files
/// and oversized files.
pub fn read_run_info(dir: &Path) -> Result<Option<RunInfo>, OutputError> {
    let path = dir.join("run.json");
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    let bytes = nb1s1_fsio::read_in(dir, &path, MAX_RUN_JSON).map_err(|e| OutputError::Io {
        path: path.clone(),
        source: e.into(),
    })?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| OutputError::Json { path, source })
}

/// What differs between the inputs that made `old` and those of a new call (`new`): the
/// optimizer, space, seed, budget and its unit, the fidelities, the regret reference and the
/// NAS-Bench-101 table (its content fingerprint when both record one, else whether it was
/// synthetic). Empty when the folder's numbers are the ones the new call would compute.
pub fn input_changes(old: &RunInfo, new: &RunInfo) -> Vec<String> {
    let mut out = Vec::new();
    let mut cmp = |what: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{what}: {a} → {b}"));
        }
    };
    cmp(
        "optimizer",
        old.optimizer.to_string(),
        new.optimizer.to_string(),
    );
    cmp("space", old.space.to_string(), new.space.to_string());
    cmp("seed", old.seed.to_string(), new.seed.to_string());
    let budget = |r: &RunInfo| format!("{} {:?}", r.budget.unwrap_or(r.queries), r.budget_unit);
    cmp("budget", budget(old), budget(new));
    cmp(
        "budgets",
        format!("{:?}", old.budgets),
        format!("{:?}", new.budgets),
    );
    let reference = |r: &RunInfo| serde_json::to_string(&r.reference).unwrap_or_default();
    cmp("reference", reference(old), reference(new));
    cmp(
        "synthetic table",
        old.synthetic.to_string(),
        new.synthetic.to_string(),
    );
    if let (Some(a), Some(b)) = (&old.nb101_fingerprint, &new.nb101_fingerprint) {
        cmp("NAS-Bench-101 table", a.clone(), b.clone());
    }
    out
}

/// Writes `trajectory.jsonl`, then `run.json`, atomically.
pub fn write_run(dir: &Path, info: &RunInfo, records: &[QueryRecord]) -> Result<(), OutputError> {
    let io = |path: PathBuf| move |source| OutputError::Io { path, source };
    std::fs::create_dir_all(dir).map_err(io(dir.to_path_buf()))?;
    let traj = dir.join("trajectory.jsonl");
    let mut buf = Vec::with_capacity(records.len() * 400);
    for r in records {
        serde_json::to_writer(&mut buf, r).map_err(|source| OutputError::Json {
            path: traj.clone(),
            source,
        })?;
        buf.push(b'\n');
    }
    nasbench101::atomic_write(&traj, &buf).map_err(io(traj.clone()))?;
    let run = dir.join("run.json");
    let mut json = serde_json::to_vec_pretty(info).map_err(|source| OutputError::Json {
        path: run.clone(),
        source,
    })?;
    let _ = json.write_all(b"\n");
    nasbench101::atomic_write(&run, &json).map_err(io(run.clone()))?;
    Ok(())
}

/// Reads a trajectory back.
pub fn read_trajectory(path: &Path) -> Result<Vec<QueryRecord>, OutputError> {
    let text = std::fs::read_to_string(path).map_err(|source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|source| OutputError::Json {
                path: path.to_path_buf(),
                source,
            })
        })
        .collect()
}
