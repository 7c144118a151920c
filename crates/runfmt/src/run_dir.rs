//! The one-shot run folder and its files: `config.toml`, `run.json`, `status.json`,
//! `epochs.jsonl`, `checkpoint/`, and optionally `checkpoints/epoch<E>/`,
//! `correlation/epoch<E>.jsonl`, `tensorboard/`. Every file is replaced atomically; `epochs.jsonl`
//! is only appended with whole fsynced lines, so a kill never leaves a torn record.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic::{append_line, write_atomic};
use crate::epoch::EpochRecord;
use crate::error::RunFmtError;
use crate::status::StatusFile;

/// The run folder and its files.
pub struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    /// Opens or creates the folder.
    pub fn create(root: &Path) -> Result<Self, RunFmtError> {
        fs::create_dir_all(root).map_err(|e| RunFmtError::io(root, e))?;
        Ok(RunDir {
            root: root.to_path_buf(),
        })
    }

    /// The folder without creating it (for readers).
    pub fn at(root: &Path) -> Self {
        RunDir {
            root: root.to_path_buf(),
        }
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

    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<(), RunFmtError> {
        let path = self.root.join(name);
        let text =
            serde_json::to_string_pretty(value).map_err(|e| RunFmtError::json(&path, 0, e))?;
        write_atomic(&path, text.as_bytes())
    }

    pub fn read_json<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Result<T, RunFmtError> {
        crate::jsonl::read_json(&self.root.join(name))
    }

    pub fn write_status(&self, status: &StatusFile) -> Result<(), RunFmtError> {
        self.write_json("status.json", status)
    }

    /// Appends one record as a single fsynced line.
    pub fn append_epoch(&self, rec: &EpochRecord) -> Result<(), RunFmtError> {
        let path = self.epochs_path();
        let line = serde_json::to_string(rec).map_err(|e| RunFmtError::json(&path, 0, e))?;
        append_line(&path, &line)
    }

    /// The records of epochs before `next_epoch`, in order. Lines past the checkpoint (written
    /// just before a kill) and any unreadable trailing line are dropped and the file rewritten,
    /// so a resumed run appends where its checkpoint left off.
    pub fn truncate_epochs(&self, next_epoch: usize) -> Result<Vec<EpochRecord>, RunFmtError> {
        let path = self.epochs_path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(RunFmtError::io(&path, e)),
        };
        let mut kept = Vec::new();
        let mut out = String::new();
        for line in text.lines() {
            match serde_json::from_str::<EpochRecord>(line) {
                Ok(r) if r.epoch < next_epoch && r.epoch == kept.len() => {
                    out.push_str(line);
                    out.push('\n');
                    kept.push(r);
                }
                _ => break,
            }
        }
        write_atomic(&path, out.as_bytes())?;
        Ok(kept)
    }
}

/// `<run>/checkpoints/epoch<E>/`.
pub fn kept_checkpoint_dir(run: &Path, epoch: usize) -> PathBuf {
    run.join("checkpoints").join(format!("epoch{epoch}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::epoch::tests::rec;
    use std::io::Write;

    #[test]
    fn truncate_drops_records_past_checkpoint_and_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path()).unwrap();
        for e in 0..4 {
            run.append_epoch(&rec(e)).unwrap();
        }
        let mut f = fs::OpenOptions::new()
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
