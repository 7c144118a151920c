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

    /// The records a resume keeps, checked against the checkpoint's `next_epoch`: exactly one
    /// record for each epoch `0..next_epoch`, in order. Records past the checkpoint (an epoch
    /// written just before a kill) and a torn last line are dropped, and the file rewritten, so
    /// the resumed run recomputes them. Anything else (an unreadable line, a gap, a duplicate,
    /// fewer records than the checkpoint has epochs) is refused naming the file and line: those
    /// epochs cannot be recomputed from this checkpoint.
    pub fn resume_epochs(&self, next_epoch: usize) -> Result<Vec<EpochRecord>, RunFmtError> {
        let path = self.epochs_path();
        let text = match crate::jsonl::read_run_bytes(&path, crate::jsonl::MAX_JSONL_BYTES) {
            Ok(t) => t,
            Err(RunFmtError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        let bad = |message: String| RunFmtError::Inconsistent {
            path: path.clone(),
            message,
        };
        let torn_tail = !text.is_empty() && !text.ends_with(b"\n");
        let lines: Vec<&[u8]> = text.split_inclusive(|b| *b == b'\n').collect();
        let mut kept = Vec::new();
        let mut keep_bytes = 0;
        for (i, line) in lines.iter().enumerate() {
            let last = i + 1 == lines.len();
            let rec = match serde_json::from_slice::<EpochRecord>(line) {
                Ok(r) => r,
                // Only the final, unterminated line can be a write cut short by a kill.
                Err(_) if last && torn_tail => break,
                Err(e) => return Err(bad(format!("line {}: not an epoch record ({e})", i + 1))),
            };
            if rec.epoch != i {
                return Err(bad(format!(
                    "line {}: a record of epoch {} where epoch {i} belongs (a gap or a duplicate)",
                    i + 1,
                    rec.epoch
                )));
            }
            if rec.epoch >= next_epoch {
                // The search appends an epoch's record before its checkpoint, so a kill leaves
                // at most that one record past the checkpoint. More means the resume state
                // disagrees with the records (an edited or restored `state.json`).
                let complete = lines[i..].iter().filter(|l| l.ends_with(b"\n")).count();
                if complete > 1 {
                    return Err(bad(format!(
                        "holds {} complete records past the checkpoint (state.json \
                         `next_epoch` = {next_epoch}), at most one can be left by a kill: the \
                         resume state disagrees with the records, and resuming would compute \
                         those epochs again with other results. Restore the run's checkpoint, \
                         or start the run again in a new folder",
                        complete
                    )));
                }
                break;
            }
            keep_bytes += line.len();
            kept.push(rec);
        }
        if kept.len() < next_epoch {
            return Err(bad(format!(
                "holds records of epochs 0..{} but the checkpoint (state.json `next_epoch` = \
                 {next_epoch}) is past them; the missing epochs cannot be recomputed from it: \
                 restore the file, or start the run again in a new folder",
                kept.len()
            )));
        }
        if keep_bytes != text.len() {
            write_atomic(&path, &text[..keep_bytes])?;
        }
        Ok(kept)
    }
}

/// Checks that `records` are epochs 0, 1, 2, … each once and in order: a gap or a duplicate
/// would put a wrong epoch or a double weight into the regret curves.
pub fn check_epoch_order(path: &Path, records: &[EpochRecord]) -> Result<(), RunFmtError> {
    let bad = |message: String| RunFmtError::Inconsistent {
        path: path.to_path_buf(),
        message,
    };
    for (i, e) in records.iter().enumerate() {
        if e.epoch < i {
            return Err(bad(format!(
                "record {} is epoch {} again (or out of order): duplicated epoch records",
                i + 1,
                e.epoch
            )));
        }
        if e.epoch > i {
            return Err(bad(format!(
                "record {} is epoch {}, but epoch {i} has no record: a gap in the epochs",
                i + 1,
                e.epoch
            )));
        }
    }
    Ok(())
}

/// Checks that `records` hold exactly one record for every epoch `0..epochs`, in order: what
/// a complete run must hold (the results store ingests nothing less).
pub fn check_epochs_complete(
    path: &Path,
    records: &[EpochRecord],
    epochs: usize,
) -> Result<(), RunFmtError> {
    check_epoch_order(path, records)?;
    if records.len() != epochs {
        return Err(RunFmtError::Inconsistent {
            path: path.to_path_buf(),
            message: format!(
                "{} epoch records for a run of {epochs} epochs",
                records.len()
            ),
        });
    }
    Ok(())
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

    fn run_with(n: usize) -> (tempfile::TempDir, RunDir) {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path()).unwrap();
        for e in 0..n {
            run.append_epoch(&rec(e)).unwrap();
        }
        (dir, run)
    }

    fn epochs_of(recs: &[EpochRecord]) -> Vec<usize> {
        recs.iter().map(|r| r.epoch).collect()
    }

    #[test]
    fn resume_drops_records_past_the_checkpoint_and_a_torn_last_line() {
        let (_d, run) = run_with(4);
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(run.epochs_path())
            .unwrap();
        f.write_all(b"{\"epoch\": 4, \"archi").unwrap();
        let kept = run.resume_epochs(3).unwrap();
        assert_eq!(epochs_of(&kept), vec![0, 1, 2]);
        let text = fs::read_to_string(run.epochs_path()).unwrap();
        assert_eq!(text.lines().count(), 3);
        // A torn line of the very epoch the checkpoint is at is simply recomputed.
        let (_d, run) = run_with(2);
        fs::OpenOptions::new()
            .append(true)
            .open(run.epochs_path())
            .unwrap()
            .write_all(b"{\"epo")
            .unwrap();
        assert_eq!(epochs_of(&run.resume_epochs(2).unwrap()), vec![0, 1]);
    }

    fn refused(run: &RunDir, next: usize, needle: &str) {
        let before = fs::read(run.epochs_path()).ok();
        let err = run.resume_epochs(next).unwrap_err().to_string();
        assert!(
            err.contains("epochs.jsonl") && err.contains(needle),
            "{err}"
        );
        assert_eq!(
            fs::read(run.epochs_path()).ok(),
            before,
            "a refusal changes nothing"
        );
    }

    #[test]
    fn resume_refuses_what_the_checkpoint_cannot_recompute() {
        // A garbled first line.
        let (_d, run) = run_with(3);
        let text = fs::read_to_string(run.epochs_path()).unwrap();
        fs::write(run.epochs_path(), text.replacen("{", "#", 1)).unwrap();
        refused(&run, 3, "line 1");
        // An emptied file while the checkpoint is at epoch 3.
        let (_d, run) = run_with(3);
        fs::write(run.epochs_path(), "").unwrap();
        refused(&run, 3, "0..0");
        // A deleted file.
        fs::remove_file(run.epochs_path()).unwrap();
        assert!(run.resume_epochs(2).is_err());
        assert!(run.resume_epochs(0).unwrap().is_empty());
        // A torn last line of an epoch the checkpoint is already past.
        let (_d, run) = run_with(3);
        let text = fs::read_to_string(run.epochs_path()).unwrap();
        fs::write(run.epochs_path(), &text[..text.len() - 5]).unwrap();
        refused(&run, 3, "0..2");
        // An edited `next_epoch` beyond the records.
        let (_d, run) = run_with(3);
        refused(&run, 5, "next_epoch");
        // An edited (or restored older) `next_epoch` more than one epoch behind the records:
        // resuming would recompute epochs 2..5 with other results.
        let (_d, run) = run_with(6);
        refused(&run, 2, "disagrees");
        refused(&run, 4, "disagrees");
        assert_eq!(run.resume_epochs(5).unwrap().len(), 5);
        // A duplicated record and a gap.
        let (_d, run) = run_with(2);
        run.append_epoch(&rec(1)).unwrap();
        refused(&run, 3, "line 3");
        let (_d, run) = run_with(2);
        run.append_epoch(&rec(3)).unwrap();
        refused(&run, 3, "line 3");
    }

    #[test]
    fn a_complete_run_holds_one_record_per_epoch() {
        let p = Path::new("epochs.jsonl");
        let recs: Vec<EpochRecord> = (0..3).map(rec).collect();
        check_epochs_complete(p, &recs, 3).unwrap();
        assert!(check_epochs_complete(p, &recs, 4).is_err());
        let dup = vec![rec(0), rec(0), rec(1)];
        assert!(check_epochs_complete(p, &dup, 3).is_err());
    }
}
