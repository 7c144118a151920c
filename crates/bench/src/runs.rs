//! Reading run folders, the source of truth of every result (file contracts in docs/report.md).
//!
//! * One-shot run (`nb1s1 search`): `config.toml`, `run.json`, `status.json`, `epochs.jsonl`;
//!   a run recorded outside nb1s1 (the Python recorder, `nb1s1 import original`) is the same
//!   without `config.toml`, its settings in `run.json`'s `external`.
//! * Black-box run (`nb1s1 blackbox`): `<opt>/space<N>/seed<S>/{run.json, trajectory.jsonl}`.
//! * Stand-alone training (`nb1s1 train`): `run.json` (with `cell` and `config`), `status.json`,
//!   `epochs.jsonl` of validation and test accuracies.
//! * Experiment sidecar written by the runner: `experiment.json` (study, variant, grid point).
//!
//! The record types are the run format's (`runfmt`, shared with the search); they accept extra
//! fields, so the formats can grow without breaking the store.

use crate::error::{io_err, BenchError, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A discrete cell as the store keeps it (a loose view of `runfmt`'s typed architecture, for
/// drawing and tables): ops of choice blocks 1..N and parent sets of nodes 1..N+1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    pub ops: Vec<String>,
    pub parents: Vec<Vec<usize>>,
}

pub use runfmt::{EpochRecord, QueryRecord, StatusFile};

/// How a run stands, from its own files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// No status file yet (never started).
    Missing,
    Running,
    Complete,
    Failed,
    Diverged,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Missing => "missing",
            RunState::Running => "running",
            RunState::Complete => "complete",
            RunState::Failed => "failed",
            RunState::Diverged => "diverged",
        }
    }

    /// Finished for good: complete, or diverged (a result, not an error, so never retried).
    pub fn is_final(self) -> bool {
        matches!(self, RunState::Complete | RunState::Diverged)
    }
}

impl From<runfmt::RunStatus> for RunState {
    fn from(s: runfmt::RunStatus) -> Self {
        match s {
            runfmt::RunStatus::Running => RunState::Running,
            runfmt::RunStatus::Complete => RunState::Complete,
            runfmt::RunStatus::Failed => RunState::Failed,
            runfmt::RunStatus::Diverged => RunState::Diverged,
        }
    }
}

/// The experiment sidecar the runner writes before launching a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExperimentTag {
    pub experiment: String,
    pub study: String,
    /// Grid point label, e.g. `weights.weight_decay=0.0009`; `default` without a grid.
    pub variant: String,
    /// Where runs execute (`cuda:0`, `cpu`), as the runner assigned it.
    #[serde(default)]
    pub device: Option<String>,
}

/// Which of the two run formats a folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    OneShot,
    BlackBox,
    Standalone,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::OneShot => "oneshot",
            RunKind::BlackBox => "blackbox",
            RunKind::Standalone => "standalone",
        }
    }
}

/// Classifies a folder by the files it holds; `None` if it is no run folder. A run file that
/// is there but is no regular file (a FIFO, a device, a socket, a folder, a link out of the
/// folder or to nothing) is an error naming it: such a folder is a damaged run, not "no run".
pub fn run_kind(dir: &Path) -> Result<Option<RunKind>> {
    if has_run_file(dir, "epochs.jsonl")? | has_run_file(dir, "status.json")? {
        // Both write these files; a stand-alone run's `run.json` names its cell.
        let meta = read_json_opt::<serde_json::Value>(&dir.join("run.json"))
            .ok()
            .flatten();
        Ok(Some(
            if meta
                .as_ref()
                .is_some_and(runfmt::standalone::is_standalone_meta)
            {
                RunKind::Standalone
            } else {
                RunKind::OneShot
            },
        ))
    } else if has_run_file(dir, "trajectory.jsonl")? {
        Ok(Some(RunKind::BlackBox))
    } else {
        Ok(None)
    }
}

/// Whether `dir` holds the run file `name`: a regular file, or a link to one inside `dir`.
/// Anything else under that name is refused by the bounded reader's checks (opened without
/// blocking, never read), naming the file.
fn has_run_file(dir: &Path, name: &str) -> Result<bool> {
    let path = dir.join(name);
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_file() => Ok(true),
        Ok(_) => {
            nb1s1_fsio::open_in(dir, &path, u64::MAX)?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// Reads a JSON-lines file into records (`runfmt::read_jsonl`: a torn last line is dropped,
/// any other bad line is an error naming the line).
pub fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    Ok(runfmt::read_jsonl(path)?)
}

/// Reads a JSON file into `T`.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    Ok(runfmt::read_json(path)?)
}

/// Reads an optional JSON file: `Ok(None)` when absent.
pub fn read_json_opt<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
    Ok(runfmt::read_json_opt(path)?)
}

/// How a run came from outside nb1s1, from its `device` (`external (recorded)` or
/// `external (imported)`, as the recorder and `nb1s1 import original` write it).
pub fn external_kind(device: &str) -> Option<&str> {
    device.strip_prefix("external (")?.strip_suffix(')')
}

/// The state of a one-shot run folder from its `status.json`.
pub fn oneshot_state(dir: &Path) -> Result<RunState> {
    Ok(read_json_opt::<StatusFile>(&dir.join("status.json"))?
        .map(|s| s.status.into())
        .unwrap_or(RunState::Missing))
}

/// The state of a black-box seed folder from its `run.json` (`complete: true` when done).
pub fn blackbox_state(dir: &Path) -> Result<RunState> {
    let meta: Option<serde_json::Value> = read_json_opt(&dir.join("run.json"))?;
    Ok(match meta {
        None => RunState::Missing,
        Some(v) if v.get("complete").and_then(|c| c.as_bool()) == Some(true) => RunState::Complete,
        Some(_) => RunState::Running,
    })
}

/// Everything the store keeps of one run folder.
#[derive(Debug, Clone)]
pub struct RunFolder {
    pub path: PathBuf,
    pub kind: RunKind,
    pub optimizer: String,
    pub space: u8,
    pub seed: u64,
    pub state: RunState,
    pub message: String,
    pub device: Option<String>,
    /// Whether the run's NAS-Bench-101 table was synthetic (run.json `nb101_synthetic` for
    /// one-shot runs, `synthetic` for black-box runs): its errors and regrets are not real.
    pub synthetic: bool,
    /// Content fingerprint of the run's NAS-Bench-101 table (run.json `nb101_fingerprint`),
    /// where the run recorded one.
    pub nb101: Option<String>,
    /// The effective configuration (config.toml as JSON, or run.json for black-box runs).
    pub config: serde_json::Value,
    pub tag: Option<ExperimentTag>,
    pub epochs: Vec<EpochRecord>,
    pub queries: Vec<QueryRecord>,
    /// Stand-alone runs: the cell, the settings and the accuracies per epoch.
    pub standalone: Option<StandaloneRun>,
}

/// What a stand-alone training folder holds.
#[derive(Debug, Clone)]
pub struct StandaloneRun {
    pub meta: runfmt::StandaloneMeta<serde_json::Value>,
    pub epochs: Vec<runfmt::StandaloneEpoch>,
}

impl StandaloneRun {
    /// Stem channels and cells per stack of the trained network (the heatmap's axes).
    pub fn network(&self) -> (Option<u64>, Option<u64>) {
        let net = &self.meta.config["network"];
        (
            net["stem_channels"].as_u64(),
            net["cells_per_stack"].as_u64(),
        )
    }
}

/// Reads a stand-alone training folder (`nb1s1 train`): `run.json`, `status.json`,
/// `epochs.jsonl`, checked to be epochs 0, 1, 2, … in order.
fn read_standalone(dir: &Path, tag: Option<ExperimentTag>) -> Result<RunFolder> {
    let meta_path = dir.join("run.json");
    let meta: runfmt::StandaloneMeta<serde_json::Value> = read_json(&meta_path)?;
    let status: Option<StatusFile> = read_json_opt(&dir.join("status.json"))?;
    let epochs_path = dir.join("epochs.jsonl");
    let epochs: Vec<runfmt::StandaloneEpoch> = if epochs_path.exists() {
        read_jsonl(&epochs_path)?
    } else {
        Vec::new()
    };
    if let Some((i, e)) = epochs.iter().enumerate().find(|(i, e)| e.epoch != *i) {
        return Err(BenchError::Run {
            path: epochs_path,
            message: format!(
                "record {} is epoch {} where epoch {i} belongs (a gap or a duplicate)",
                i + 1,
                e.epoch
            ),
        });
    }
    let total = meta.config["epochs"].as_u64().unwrap_or(0) as usize;
    let state = status
        .as_ref()
        .map(|s| s.status.into())
        .unwrap_or(RunState::Missing);
    if state == RunState::Complete && epochs.len() != total {
        return Err(BenchError::Run {
            path: epochs_path,
            message: format!(
                "status.json says complete but the file holds {} of {total} epoch records; \
                 the run is not counted",
                epochs.len()
            ),
        });
    }
    let seed = meta.config["seed"]
        .as_u64()
        .ok_or_else(|| field_err(&meta_path, "config.seed", "missing"))?;
    let space = meta
        .origin
        .as_ref()
        .and_then(|o| o.space)
        .map_or(0, |s| s.number());
    // The identity: the cell and the settings (not where the cell came from).
    let config = serde_json::json!({
        "cell": meta.cell.hash,
        "train": meta.config,
    });
    Ok(RunFolder {
        path: dir.to_path_buf(),
        kind: RunKind::Standalone,
        optimizer: "standalone".into(),
        space,
        seed,
        state,
        message: status.map(|s| s.message).unwrap_or_default(),
        device: tag.as_ref().and_then(|t| t.device.clone()),
        synthetic: false,
        nb101: None,
        config,
        tag,
        epochs: Vec::new(),
        queries: Vec::new(),
        standalone: Some(StandaloneRun { meta, epochs }),
    })
}

fn field_err(path: &Path, field: &str, message: &str) -> BenchError {
    BenchError::Field {
        path: path.to_path_buf(),
        field: field.to_string(),
        message: message.to_string(),
    }
}

fn get_str(v: &serde_json::Value, key: &str) -> Option<String> {
    v.get(key).and_then(|x| x.as_str()).map(str::to_string)
}

fn get_u64(v: &serde_json::Value, key: &str) -> Option<u64> {
    v.get(key).and_then(|x| x.as_u64())
}

/// `config.toml` of a run is a few KiB; anything past this is not one.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// A run recorded outside nb1s1 (and outside an experiment's grid) is a series of its own,
/// variant `external-recorded` or `external-imported`: never averaged with nb1s1's own runs of
/// the same method name.
fn external_series(tag: Option<ExperimentTag>, meta: &serde_json::Value) -> Option<ExperimentTag> {
    let how = meta
        .get("external")
        .and_then(|e| e.get("kind"))
        .and_then(|k| k.as_str());
    match (tag, how) {
        (t, Some(how))
            if t.as_ref()
                .is_none_or(|t| t.variant.is_empty() || t.variant == "default") =>
        {
            Some(ExperimentTag {
                variant: format!("external-{how}"),
                ..t.unwrap_or_default()
            })
        }
        (t, _) => t,
    }
}

/// Reads one run folder of either kind.
pub fn read_run(dir: &Path) -> Result<RunFolder> {
    let kind = run_kind(dir)?.ok_or_else(|| BenchError::NotARun {
        path: dir.to_path_buf(),
    })?;
    let tag_path = dir.join("experiment.json");
    let tag: Option<ExperimentTag> = read_json_opt(&tag_path)?;
    if let Some(t) = tag.as_ref().filter(|t| !t.study.is_empty()) {
        // The study names a report page: the one name check, as for experiment files.
        runfmt::SafeName::new("field `study`", &t.study).map_err(|source| BenchError::Name {
            context: tag_path.display().to_string(),
            source,
        })?;
    }
    match kind {
        RunKind::Standalone => read_standalone(dir, tag),
        RunKind::OneShot => {
            let config_path = dir.join("config.toml");
            let config: serde_json::Value = if config_path.exists() {
                // Bounded and link-refusing, like the run folder's other files.
                let bytes =
                    nb1s1_fsio::read_limited(&config_path, MAX_CONFIG_BYTES).map_err(|e| {
                        BenchError::Toml {
                            path: config_path.clone(),
                            message: e.to_string(),
                        }
                    })?;
                let text = String::from_utf8_lossy(&bytes);
                let table: toml::Table =
                    text.parse()
                        .map_err(|e: toml::de::Error| BenchError::Toml {
                            path: config_path.clone(),
                            message: e.to_string(),
                        })?;
                serde_json::to_value(table).map_err(|e| BenchError::Toml {
                    path: config_path.clone(),
                    message: e.to_string(),
                })?
            } else {
                serde_json::Value::Null
            };
            let meta: serde_json::Value =
                read_json_opt(&dir.join("run.json"))?.unwrap_or(serde_json::Value::Null);
            // A run recorded outside nb1s1 has no config.toml: its settings are in run.json.
            let config = match (&config, meta.get("external")) {
                (serde_json::Value::Null, Some(ext)) => serde_json::json!({ "external": ext }),
                _ => config,
            };
            let tag = external_series(tag, &meta);
            let status: Option<StatusFile> = read_json_opt(&dir.join("status.json"))?;
            let pick = |key: &str| {
                config
                    .get(key)
                    .filter(|v| !v.is_null())
                    .or_else(|| meta.get(key))
                    .cloned()
            };
            // run.json holds the registered name (a custom composition's own); config.toml
            // the optimizer whose settings it started from.
            let optimizer = get_str(&meta, "optimizer")
                .or_else(|| pick("optimizer").and_then(|v| v.as_str().map(str::to_string)))
                .ok_or_else(|| field_err(&config_path, "optimizer", "missing"))?;
            let space = pick("space")
                .and_then(|v| v.as_u64())
                .and_then(|s| u8::try_from(s).ok())
                .ok_or_else(|| field_err(&config_path, "space", "missing or not 1..3"))?;
            let seed = pick("seed")
                .and_then(|v| v.as_u64())
                .ok_or_else(|| field_err(&config_path, "seed", "missing"))?;
            let epochs_path = dir.join("epochs.jsonl");
            let epochs = if epochs_path.exists() {
                read_jsonl(&epochs_path)?
            } else {
                Vec::new()
            };
            check_epochs(&epochs_path, &epochs, status.as_ref())?;
            let device = get_str(&meta, "device").or_else(|| tag.as_ref()?.device.clone());
            let synthetic = meta
                .get("nb101_synthetic")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            Ok(RunFolder {
                path: dir.to_path_buf(),
                kind,
                optimizer,
                space,
                seed,
                state: status
                    .as_ref()
                    .map(|s| s.status.into())
                    .unwrap_or(RunState::Missing),
                message: status.map(|s| s.message).unwrap_or_default(),
                device,
                synthetic,
                nb101: get_str(&meta, "nb101_fingerprint"),
                config,
                tag,
                epochs,
                queries: Vec::new(),
                standalone: None,
            })
        }
        RunKind::BlackBox => {
            let meta_path = dir.join("run.json");
            let meta: serde_json::Value =
                read_json_opt(&meta_path)?.unwrap_or(serde_json::Value::Null);
            let optimizer = get_str(&meta, "optimizer")
                .ok_or_else(|| field_err(&meta_path, "optimizer", "missing"))?;
            let space = get_u64(&meta, "space")
                .and_then(|s| u8::try_from(s).ok())
                .ok_or_else(|| field_err(&meta_path, "space", "missing"))?;
            let seed =
                get_u64(&meta, "seed").ok_or_else(|| field_err(&meta_path, "seed", "missing"))?;
            let queries = read_jsonl(&dir.join("trajectory.jsonl"))?;
            Ok(RunFolder {
                path: dir.to_path_buf(),
                kind,
                optimizer,
                space,
                seed,
                state: blackbox_state(dir)?,
                message: String::new(),
                device: Some("simulated (NB-101 training time)".to_string()),
                synthetic: meta
                    .get("synthetic")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
                nb101: get_str(&meta, "nb101_fingerprint"),
                config: meta,
                tag,
                epochs: Vec::new(),
                queries,
                standalone: None,
            })
        }
    }
}

/// A run's epoch records must be epochs 0, 1, 2, … each once and in order (a gap or a
/// duplicate would put a wrong epoch or a double weight into the regret curves), and a run
/// whose `status.json` says complete must hold one record for every epoch it says it finished.
/// Status files without `epochs_total` (hand-made, older) are checked for order only.
pub fn check_epochs(
    path: &Path,
    epochs: &[EpochRecord],
    status: Option<&StatusFile>,
) -> Result<()> {
    runfmt::check_epoch_order(path, epochs)?;
    if let Some(s) =
        status.filter(|s| s.status == runfmt::RunStatus::Complete && s.epochs_total > 0)
    {
        if epochs.len() != s.epochs_done || s.epochs_done > s.epochs_total {
            return Err(BenchError::Run {
                path: path.to_path_buf(),
                message: format!(
                    "status.json says complete after {} of {} epochs, but the file holds {} \
                     epoch record(s); the run is not counted",
                    s.epochs_done,
                    s.epochs_total,
                    epochs.len()
                ),
            });
        }
    }
    Ok(())
}

/// Every run folder below `root` (the root itself included), sorted by path. Checkpoint folders
/// are not descended into. A folder whose run files are refused ([`run_kind`]) is listed too,
/// so that reading it reports the error.
pub fn find_runs(root: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if !matches!(run_kind(&dir), Ok(None)) {
            found.push(dir);
            continue;
        }
        let entries = std::fs::read_dir(&dir).map_err(io_err(&dir))?;
        for entry in entries {
            let entry = entry.map_err(io_err(&dir))?;
            let path = entry.path();
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if !hidden && entry.file_type().map_err(io_err(&path))?.is_dir() {
                stack.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_runs_are_a_series_of_their_own() {
        let recorded = serde_json::json!({"external": {"kind": "recorded"}});
        let tag = external_series(None, &recorded).unwrap();
        assert_eq!(
            (tag.variant.as_str(), tag.study.as_str()),
            ("external-recorded", "")
        );
        let imported = serde_json::json!({"external": {"kind": "imported"}});
        let study = ExperimentTag {
            study: "mine".into(),
            variant: "default".into(),
            ..Default::default()
        };
        let tag = external_series(Some(study), &imported).unwrap();
        assert_eq!(
            (tag.variant.as_str(), tag.study.as_str()),
            ("external-imported", "mine")
        );
        // A grid point keeps its label; a run of nb1s1's own keeps its tag.
        let grid = ExperimentTag {
            variant: "lr=0.1".into(),
            ..Default::default()
        };
        assert_eq!(external_series(Some(grid.clone()), &imported), Some(grid));
        assert_eq!(
            external_series(None, &serde_json::json!({"optimizer": "darts"})),
            None
        );
    }
}
