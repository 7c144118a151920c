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
    root.join(optimizer.name())
        .join(format!("space{space}"))
        .join(format!("seed{seed}"))
}

/// Whether `dir/run.json` exists and says the run is complete.
pub fn is_complete(dir: &Path) -> bool {
    std::fs::read(dir.join("run.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<RunInfo>(&b).ok())
        .is_some_and(|r| r.complete)
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
