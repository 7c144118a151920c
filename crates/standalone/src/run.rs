//! The run folder of a stand-alone training (documented in docs/standalone.md):
//!
//! - `run.json`: the cell, the configuration, the parameter count; a rerun into the same folder
//!   must match it and continues the run;
//! - `epochs.jsonl`: one [`EpochRecord`] per finished epoch (rewritten whole, atomically);
//! - `state.json` + `checkpoint-<E>.safetensors`: where the run continues (weights, BatchNorm
//!   averages and optimizer slots after epoch E-1);
//! - `model.safetensors`: the trained weights once the run is complete.
//!
//! Every file is written to a temp file in the folder and renamed into place, and the state is
//! written after the checkpoint it names, so a kill at any point leaves a run that continues.

use std::fs;
use std::path::{Path, PathBuf};

use nb1s1_data::LoaderState;
use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::config::TrainConfig;
use crate::StandaloneError;

/// `run.json`.
pub const RUN_FILE: &str = "run.json";
/// `epochs.jsonl`.
pub const EPOCHS_FILE: &str = "epochs.jsonl";
/// `state.json`.
pub const STATE_FILE: &str = "state.json";
/// `model.safetensors`, the export of a finished run.
pub const MODEL_FILE: &str = "model.safetensors";

pub use runfmt::CellOrigin;
/// The cell a run trains (the run format's, shared with the results store).
pub use runfmt::StandaloneCell as CellInfo;
/// One line of `epochs.jsonl`.
pub use runfmt::StandaloneEpoch as EpochRecord;

/// `run.json`.
pub type RunMeta = runfmt::StandaloneMeta<TrainConfig>;

/// `status.json` (the run format's): running, complete or diverged.
pub const STATUS_FILE: &str = "status.json";

/// `state.json`: where the run continues.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// The first epoch still to run.
    pub next_epoch: usize,
    pub global_step: u64,
    /// Where the training loader continues.
    pub loader: LoaderState,
    /// File name of the checkpoint in the run folder.
    pub checkpoint: String,
    /// Every epoch ran and `model.safetensors` is written.
    pub complete: bool,
}

/// The run folder.
pub struct RunFolder {
    root: PathBuf,
}

/// Reads a run-folder file through the bounded reader: a link out of the folder, a FIFO, a
/// device or a file over 1 GiB is refused.
fn read_run_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let dir = path.parent().unwrap_or(Path::new("."));
    Ok(nb1s1_fsio::read_in(dir, path, 1 << 30)?)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, StandaloneError> {
    match read_run_file(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StandaloneError::run_folder(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StandaloneError::io(path, e)),
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), StandaloneError> {
    let mut bytes =
        serde_json::to_vec_pretty(value).map_err(|e| StandaloneError::run_folder(path, e))?;
    bytes.push(b'\n');
    nasbench101::atomic_write(path, &bytes).map_err(|e| StandaloneError::io(path, e))
}

/// Writes named tensors as safetensors through a private staging folder (no predictable temp
/// name a link could be planted at) and a rename.
pub fn write_tensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<(), StandaloneError> {
    let staged =
        nb1s1_fsio::StagedPath::new(path).map_err(|e| StandaloneError::io(path, e.into()))?;
    Tensor::write_safetensors(tensors, staged.path())
        .map_err(|e| StandaloneError::tensors(staged.path(), e))?;
    staged
        .commit()
        .map_err(|e| StandaloneError::io(path, e.into()))
}

impl RunFolder {
    /// Opens (creating) the folder.
    pub fn create(root: &Path) -> Result<RunFolder, StandaloneError> {
        fs::create_dir_all(root).map_err(|e| StandaloneError::io(root, e))?;
        Ok(RunFolder {
            root: root.to_path_buf(),
        })
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A file of the folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Writes `run.json`, or checks that the one there describes the same cell and settings.
    pub fn claim(&self, meta: &RunMeta) -> Result<(), StandaloneError> {
        let path = self.path(RUN_FILE);
        match read_json::<RunMeta>(&path)? {
            None => write_json(&path, meta),
            Some(old) if old.cell.hash != meta.cell.hash => Err(StandaloneError::run_folder(
                &path,
                format!(
                    "the folder trains cell {} but this run is cell {}; use another --out",
                    old.cell.hash, meta.cell.hash
                ),
            )),
            Some(old) if old.config != meta.config => Err(StandaloneError::run_folder(
                &path,
                "the folder was started with other settings (field `config`); use the same \
                 options or another --out",
            )),
            Some(_) => Ok(()),
        }
    }

    /// The finished epochs.
    pub fn records(&self) -> Result<Vec<EpochRecord>, StandaloneError> {
        let path = self.path(EPOCHS_FILE);
        let text = match read_run_file(&path) {
            Ok(t) => String::from_utf8_lossy(&t).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StandaloneError::io(&path, e)),
        };
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .map_err(|e| StandaloneError::run_folder(&path, format!("line {}: {e}", i + 1)))
            })
            .collect()
    }

    /// Replaces `epochs.jsonl` with `records`.
    pub fn write_records(&self, records: &[EpochRecord]) -> Result<(), StandaloneError> {
        let path = self.path(EPOCHS_FILE);
        nasbench101::atomic_write_with(&path, |w| {
            for r in records {
                serde_json::to_writer(&mut *w, r).map_err(std::io::Error::other)?;
                w.write_all(b"\n")?;
            }
            Ok(())
        })
        .map_err(|e| StandaloneError::io(&path, e))
    }

    /// `state.json`, when the run has a checkpoint.
    pub fn state(&self) -> Result<Option<TrainState>, StandaloneError> {
        read_json(&self.path(STATE_FILE))
    }

    /// Replaces `state.json`.
    pub fn write_state(&self, state: &TrainState) -> Result<(), StandaloneError> {
        write_json(&self.path(STATE_FILE), state)
    }

    /// Replaces `status.json` (how the results store and the experiment runner see the run).
    pub fn write_status(
        &self,
        status: runfmt::RunStatus,
        message: String,
        epochs_done: usize,
        epochs_total: usize,
    ) -> Result<(), StandaloneError> {
        let file = runfmt::StatusFile {
            status,
            message,
            epochs_done,
            epochs_total,
            updated_unix: runfmt::now_unix(),
        };
        write_json(&self.path(STATUS_FILE), &file)
    }

    /// Writes a checkpoint file, then the state naming it, then removes the previous one.
    pub fn checkpoint(
        &self,
        tensors: &[(String, Tensor)],
        state: &TrainState,
        previous: Option<&str>,
    ) -> Result<(), StandaloneError> {
        write_tensors(&self.path(&state.checkpoint), tensors)?;
        self.write_state(state)?;
        if let Some(old) = previous.filter(|&p| p != state.checkpoint) {
            let _ = fs::remove_file(self.path(old));
        }
        Ok(())
    }
}
