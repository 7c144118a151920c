//! One writer per run folder: `run.lock`, held with an exclusive advisory lock (flock) for as
//! long as a command writes the folder. The lock goes with the process, so a killed writer
//! never leaves a stale lock behind; the file keeps the holder's pid for the refusal message.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::RunFmtError;

/// The lock file's name inside a run folder.
pub const LOCK_FILE: &str = "run.lock";

/// An exclusive hold on a run folder; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock of the folder `run` (created if missing), or fails with
    /// [`RunFmtError::Locked`] naming the holder's pid when another process writes it.
    pub fn acquire(run: &Path) -> Result<Self, RunFmtError> {
        std::fs::create_dir_all(run).map_err(|e| RunFmtError::io(run, e))?;
        let path = run.join(LOCK_FILE);
        // A link or special file planted as `run.lock` is refused, not followed.
        let mut file = nb1s1_fsio::open_rw(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(RunFmtError::Locked {
                    path,
                    holder: holder.trim().to_string(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(RunFmtError::io(&path, e)),
        }
        // The pid is only a message for the refused; the flock is the lock.
        let pid = std::process::id().to_string();
        file.set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| file.write_all(pid.as_bytes()))
            .and_then(|_| file.flush())
            .map_err(|e| RunFmtError::io(&path, e))?;
        Ok(RunLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_with_the_holders_pid_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path()).unwrap();
        let err = RunLock::acquire(dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&std::process::id().to_string()) && msg.contains("run.lock"),
            "{msg}"
        );
        drop(first);
        RunLock::acquire(dir.path()).expect("free again after drop");
    }
}
