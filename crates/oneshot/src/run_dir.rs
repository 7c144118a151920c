//! The run folder, a contract with the results store and the report (documented field by field
//! in docs/oneshot.md): `config.toml`, `run.json`, `status.json`, `epochs.jsonl`, `checkpoint/`,
//! and optionally `checkpoints/epoch<E>/`, `correlation/epoch<E>.jsonl`, `tensorboard/`.
//! Every file is replaced atomically (temp file in the same folder, fsync, rename); `epochs.jsonl`
//! is only appended with whole fsynced lines, so a kill never leaves a torn record.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::OneShotError;

/// Writes `bytes` to `path` through a temp file in the same folder and a rename
/// (`nasbench101::atomic_write`, which also removes the temp file on failure).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), OneShotError> {
    nasbench101::atomic_write(path, bytes).map_err(|e| OneShotError::io(path, e))
}

/// How a run ended (or that it is still going).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Complete,
    Failed,
    Diverged,
}

/// `status.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusFile {
    pub status: RunStatus,
    pub message: String,
    /// Epochs finished and recorded in `epochs.jsonl`.
    pub epochs_done: usize,
    pub epochs_total: usize,
    /// Seconds since the Unix epoch.
    pub updated_unix: u64,
}

/// `run.json`: what was run, on what, against which NB-101 table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    pub optimizer: String,
    pub space: u8,
    pub seed: u64,
    pub device: String,
    pub epochs: usize,
    pub cifar10: String,
    pub nb101_path: Option<String>,
    pub nb101_synthetic: Option<bool>,
    /// The space's best single-repeat errors that regrets are measured against, and where they
    /// come from (`exhaustive` over the table in use, or the paper's `original` constants).
    pub regret_reference: Option<searchspace::Reference>,
    pub nb1s1_version: String,
}

/// One line of `epochs.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    /// The selected architecture: `space`, `ops` (NB-101 names of choice blocks 1..N) and
    /// `parents` (sorted parent sets of nodes 1..N+1, the output last).
    pub architecture: searchspace::Architecture,
    /// NB-101 hash (hex) of the pruned cell; null when the cell is invalid (no path to output).
    pub nb101_hash: Option<String>,
    /// Validation and test error of the 3 repeats at 108 epochs; empty when not in the table.
    pub valid_errors: Vec<f64>,
    pub test_errors: Vec<f64>,
    /// Mean of the 3 repeats minus the space reference; null without table or reference.
    pub valid_regret: Option<f64>,
    pub test_regret: Option<f64>,
    /// Error of the supernet on the architecture half, evaluated with the run's mixing.
    pub one_shot_valid_error: f64,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub lr: f64,
    /// GDAS temperature of the epoch; null for other optimizers.
    pub tau: Option<f64>,
    /// Architecture weights after the epoch, softmax-normalized (gradient methods only).
    pub arch_weights: Option<serde_json::Value>,
    /// Wall-clock seconds of the epoch (training, selection and evaluation).
    pub seconds: f64,
}

/// The run folder and its files.
pub struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    /// Opens or creates the folder.
    pub fn create(root: &Path) -> Result<Self, OneShotError> {
        fs::create_dir_all(root).map_err(|e| OneShotError::io(root, e))?;
        Ok(RunDir {
            root: root.to_path_buf(),
        })
    }

    pub fn config_path(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    pub fn epochs_path(&self) -> PathBuf {
        self.root.join("epochs.jsonl")
    }
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.root.join("checkpoint")
    }
    /// `checkpoints/epoch<E>/`: the checkpoint kept after epoch `epoch` (0-based).
    pub fn kept_checkpoint_dir(&self, epoch: usize) -> PathBuf {
        kept_checkpoint_dir(&self.root, epoch)
    }
    /// `tensorboard/`: live event files.
    pub fn tensorboard_dir(&self) -> PathBuf {
        self.root.join("tensorboard")
    }

    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<(), OneShotError> {
        let text = serde_json::to_string_pretty(value).map_err(|e| OneShotError::RunDir {
            path: self.root.join(name),
            msg: e.to_string(),
        })?;
        atomic_write(&self.root.join(name), text.as_bytes())
    }

    pub fn read_json<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Result<T, OneShotError> {
        let path = self.root.join(name);
        let text = fs::read_to_string(&path).map_err(|e| OneShotError::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| OneShotError::RunDir {
            path,
            msg: e.to_string(),
        })
    }

    pub fn write_status(&self, status: &StatusFile) -> Result<(), OneShotError> {
        self.write_json("status.json", status)
    }

    /// Appends one record as a single fsynced line.
    pub fn append_epoch(&self, rec: &EpochRecord) -> Result<(), OneShotError> {
        let path = self.epochs_path();
        let mut line = serde_json::to_string(rec).map_err(|e| OneShotError::RunDir {
            path: path.clone(),
            msg: e.to_string(),
        })?;
        line.push('\n');
        let io = |e| OneShotError::io(&path, e);
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        f.write_all(line.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)
    }

    /// The records of epochs before `next_epoch`, in order. Lines past the checkpoint (written
    /// just before a kill) and any unreadable trailing line are dropped and the file rewritten,
    /// so a resumed run appends where its checkpoint left off.
    pub fn truncate_epochs(&self, next_epoch: usize) -> Result<Vec<EpochRecord>, OneShotError> {
        let path = self.epochs_path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(OneShotError::io(&path, e)),
        };
        let mut kept = Vec::new();
        for line in text.lines() {
            match serde_json::from_str::<EpochRecord>(line) {
                Ok(r) if r.epoch < next_epoch && r.epoch == kept.len() => kept.push(r),
                _ => break,
            }
        }
        let mut out = String::new();
        for r in &kept {
            out.push_str(&serde_json::to_string(r).unwrap_or_default());
            out.push('\n');
        }
        atomic_write(&path, out.as_bytes())?;
        Ok(kept)
    }
}

/// `<run>/checkpoints/epoch<E>/`.
pub fn kept_checkpoint_dir(run: &Path, epoch: usize) -> PathBuf {
    run.join("checkpoints").join(format!("epoch{epoch}"))
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(epoch: usize) -> EpochRecord {
        EpochRecord {
            epoch,
            architecture: searchspace::SearchSpace::new(searchspace::SpaceId::One)
                .sample(&mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1)),
            nb101_hash: None,
            valid_errors: vec![],
            test_errors: vec![],
            valid_regret: None,
            test_regret: None,
            one_shot_valid_error: 0.5,
            train_loss: 1.0,
            train_accuracy: 0.3,
            lr: 0.1,
            tau: None,
            arch_weights: None,
            seconds: 1.0,
        }
    }

    #[test]
    fn truncate_drops_records_past_checkpoint_and_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path()).unwrap();
        for e in 0..4 {
            run.append_epoch(&rec(e)).unwrap();
        }
        let mut f = OpenOptions::new()
            .append(true)
            .open(run.epochs_path())
            .unwrap();
        f.write_all(b"{\"epoch\": 4, \"archi").unwrap();
        let kept = run.truncate_epochs(3).unwrap();
        assert_eq!(
            kept.iter().map(|r| r.epoch).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        let text = fs::read_to_string(run.epochs_path()).unwrap();
        assert_eq!(text.lines().count(), 3);
    }
}
