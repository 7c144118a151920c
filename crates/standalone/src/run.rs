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

/// The cell a run trains, as given and as hashed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellInfo {
    /// The adjacency matrix as given.
    pub matrix: Vec<Vec<u8>>,
    /// The full op names as given.
    pub ops: Vec<String>,
    /// NB-101 hash of the pruned cell.
    pub hash: String,
}

/// `run.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    pub cell: CellInfo,
    pub config: TrainConfig,
    /// Trainable parameters of the network (the NB-101 field for the default network).
    pub trainable_parameters: u64,
    /// Vertex channels of the first cell of each stack.
    pub vertex_channels: Vec<Vec<usize>>,
    /// Where the images came from.
    pub data: String,
    pub nb1s1_version: String,
}

/// One line of `epochs.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// From 0.
    pub epoch: usize,
    /// Optimizer steps taken after this epoch.
    pub steps: u64,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Mean cross-entropy over the epoch's batches (without the L2 term).
    pub train_loss: f64,
    /// Accuracy on the epoch's augmented training batches, as they were trained on.
    pub train_accuracy: f64,
    pub valid_accuracy: f64,
    pub test_accuracy: f64,
    /// Wall-clock seconds of the epoch, training and evaluation.
    pub seconds: f64,
}

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

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, StandaloneError> {
    match fs::read(path) {
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

/// Writes named tensors as safetensors through a temp file and a rename.
pub fn write_tensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<(), StandaloneError> {
    let tmp = path.with_extension("safetensors.tmp");
    Tensor::write_safetensors(tensors, &tmp).map_err(|e| StandaloneError::tensors(&tmp, e))?;
    fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| StandaloneError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| StandaloneError::io(path, e))
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
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
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
