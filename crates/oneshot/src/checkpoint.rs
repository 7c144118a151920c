//! Checkpoints: the whole state a search needs to continue exactly where it stopped, written as
//! a folder that replaces the previous one atomically (an exclusive staging folder of
//! `runfmt::fsio::StagedDir`, unpredictably named and never a planted link, is filled and synced,
//! then swapped in; a kill at any point leaves a complete `checkpoint/` or `checkpoint.old/`,
//! and the next save removes a killed writer's staging folder).
//!
//! Random state needs no saving: torch's generator, the run's ChaCha generator and the loaders
//! are reseeded from (seed, epoch) at every epoch start, and checkpoints are taken between epochs.
//!
//! Kept checkpoints (`checkpoints/epoch<E>/`, config `keep_checkpoints`) are copies of the
//! rolling one after chosen epochs, without the optimizer buffers: what the correlation
//! evaluation reads.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use nb1s1_data::LoaderState;
use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

use crate::error::OneShotError;

/// `checkpoint/state.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// The first epoch still to run.
    pub next_epoch: usize,
    /// Weight steps taken so far (ENAS' faithful per-batch schedule counts them).
    pub global_step: u64,
    /// Where the cycling architecture queue continues.
    pub arch_loader: LoaderState,
    /// The run seed; every per-epoch generator is derived from it and the epoch number.
    pub seed: u64,
    /// Set when the optimizer ended the search after this checkpoint's epoch (a resume then
    /// has nothing left to do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
    /// SHA-256 of every tensor file of the folder, verified on load: damaged bytes under an
    /// intact safetensors header are refused, not trained on. Filled by [`save`]; empty in
    /// checkpoints written before checksums existed (which load unverified).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checksums: BTreeMap<String, String>,
}

const WEIGHTS: &str = "weights.safetensors";
const ARCH: &str = "arch.safetensors";
const CONTROLLER: &str = "controller.safetensors";
const OPTIMIZERS: &str = "optimizers.safetensors";
const STATE: &str = "state.json";

/// What goes into a checkpoint.
pub struct CheckpointParts<'a> {
    pub weights: &'a nn::VarStore,
    pub arch: &'a nn::VarStore,
    pub controller: Option<&'a nn::VarStore>,
    pub optimizers: Vec<(String, Tensor)>,
    pub state: &'a CheckpointState,
}

fn ck_err(path: &Path, e: impl std::fmt::Display) -> OneShotError {
    OneShotError::Checkpoint {
        path: path.to_path_buf(),
        msg: e.to_string(),
    }
}

/// Writes a var store as safetensors. Channels-last weights (and their momentum buffers) are
/// not contiguous, which safetensors refuses, so every tensor is written as a contiguous copy;
/// loading copies the values back into the variables, which keep their layout.
fn save_store(vs: &nn::VarStore, p: &Path) -> Result<(), OneShotError> {
    let named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(k, t)| (k, t.contiguous()))
        .collect();
    Tensor::write_safetensors(&named, p).map_err(|e| ck_err(p, e))
}

/// Writes `parts` to `dir` (the run's `checkpoint/`), replacing what was there atomically.
pub fn save(dir: &Path, parts: &CheckpointParts<'_>) -> Result<(), OneShotError> {
    let staged = stage(dir)?;
    let tmp = staged.path();
    let p = tmp.join(WEIGHTS);
    save_store(parts.weights, &p)?;
    let p = tmp.join(ARCH);
    save_store(parts.arch, &p)?;
    if let Some(c) = parts.controller {
        let p = tmp.join(CONTROLLER);
        save_store(c, &p)?;
    }
    let p = tmp.join(OPTIMIZERS);
    // safetensors cannot store an empty file of tensors meaningfully; keep a marker entry.
    let mut opt = parts
        .optimizers
        .iter()
        .map(|(k, t)| (k.clone(), t.contiguous()))
        .collect::<Vec<_>>();
    opt.push(("format.version".into(), Tensor::from_slice(&[1i64])));
    Tensor::write_safetensors(&opt, &p).map_err(|e| ck_err(&p, e))?;
    for name in [WEIGHTS, ARCH, CONTROLLER, OPTIMIZERS] {
        let p = tmp.join(name);
        if name != CONTROLLER || p.exists() {
            sync_file(&p)?;
        }
    }
    let mut state = parts.state.clone();
    state.checksums.clear();
    for name in [WEIGHTS, ARCH, CONTROLLER, OPTIMIZERS] {
        let p = tmp.join(name);
        if p.exists() {
            state.checksums.insert(name.into(), sha256_file(&p)?);
        }
    }
    let text = serde_json::to_string_pretty(&state).map_err(|e| ck_err(tmp, e))?;
    runfmt::write_atomic(&tmp.join(STATE), text.as_bytes())?;
    Ok(staged.commit().map_err(runfmt::RunFmtError::from)?)
}

/// An exclusive staging folder for `dir`. Staging folders of writers that died are removed by
/// `StagedDir`; the predictable `<dir>.tmp/` of versions before it, when it is a real folder.
fn stage(dir: &Path) -> Result<runfmt::fsio::StagedDir, OneShotError> {
    let legacy = with_suffix(dir, "tmp");
    if fs::symlink_metadata(&legacy).is_ok_and(|m| m.file_type().is_dir()) {
        fs::remove_dir_all(&legacy).map_err(|e| OneShotError::io(&legacy, e))?;
    }
    Ok(runfmt::fsio::StagedDir::new(dir).map_err(runfmt::RunFmtError::from)?)
}

fn sync_file(p: &Path) -> Result<(), OneShotError> {
    fs::File::open(p)
        .and_then(|f| f.sync_all())
        .map_err(|e| OneShotError::io(p, e))
}

fn with_suffix(dir: &Path, suffix: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.with_file_name(format!("{name}.{suffix}"))
}

/// The complete checkpoint folder to resume from: `checkpoint/`, or `checkpoint.old/` when a
/// kill fell between the two renames; `None` when the run has none.
pub fn locate(dir: &Path) -> Option<PathBuf> {
    [dir.to_path_buf(), runfmt::fsio::previous(dir)]
        .into_iter()
        .find(|d| d.join(STATE).is_file())
}

/// Reads `state.json` of a checkpoint folder.
pub fn read_state(dir: &Path) -> Result<CheckpointState, OneShotError> {
    let p = dir.join(STATE);
    let text = fs::read_to_string(&p).map_err(|e| OneShotError::io(&p, e))?;
    serde_json::from_str(&text).map_err(|e| ck_err(&p, e))
}

fn sha256_file(p: &Path) -> Result<String, OneShotError> {
    use sha2::{Digest, Sha256};
    let mut f = fs::File::open(p).map_err(|e| OneShotError::io(p, e))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| OneShotError::io(p, e))?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Checks the file `name` of `dir` against the checksum `state` records for it.
fn verify(dir: &Path, name: &str, state: &CheckpointState) -> Result<(), OneShotError> {
    let Some(want) = state.checksums.get(name) else {
        return Ok(());
    };
    let p = dir.join(name);
    let got = sha256_file(&p)?;
    if &got != want {
        return Err(ck_err(
            &p,
            format!(
                "corrupt checkpoint: the file's SHA-256 is {got}, state.json records {want} \
                 (the bytes were damaged after it was written)"
            ),
        ));
    }
    Ok(())
}

/// Loads the tensors of a checkpoint folder into the given stores, each file verified against
/// its checksum first; returns the optimizer tensors by name.
pub fn load(
    dir: &Path,
    weights: &mut nn::VarStore,
    arch: &mut nn::VarStore,
    controller: Option<&mut nn::VarStore>,
) -> Result<BTreeMap<String, Tensor>, OneShotError> {
    let state = read_state(dir)?;
    for name in [WEIGHTS, ARCH, CONTROLLER, OPTIMIZERS] {
        verify(dir, name, &state)?;
    }
    let p = dir.join(WEIGHTS);
    weights.load(&p).map_err(|e| ck_err(&p, e))?;
    let p = dir.join(ARCH);
    arch.load(&p).map_err(|e| ck_err(&p, e))?;
    if let Some(c) = controller {
        let p = dir.join(CONTROLLER);
        c.load(&p).map_err(|e| ck_err(&p, e))?;
    }
    let p = dir.join(OPTIMIZERS);
    let t = Tensor::read_safetensors(&p).map_err(|e| ck_err(&p, e))?;
    Ok(t.into_iter().collect())
}

/// Loads only the supernet weights (and BatchNorm statistics) of a checkpoint folder.
pub fn load_weights(dir: &Path, weights: &mut nn::VarStore) -> Result<(), OneShotError> {
    let p = dir.join(WEIGHTS);
    if !p.is_file() {
        return Err(ck_err(&p, "missing (not a checkpoint folder?)"));
    }
    if dir.join(STATE).is_file() {
        verify(dir, WEIGHTS, &read_state(dir)?)?;
    }
    weights.load(&p).map_err(|e| ck_err(&p, e))
}

/// Copies the weights, architecture weights, controller (if any) and `state.json` of the
/// checkpoint folder `src` to `dst`, replacing it like [`save`] does (a staging folder filled,
/// synced and swapped in). Optimizer buffers are left out: a kept checkpoint is for evaluation,
/// not resume.
pub fn keep(src: &Path, dst: &Path) -> Result<(), OneShotError> {
    let staged = stage(dst)?;
    for name in [WEIGHTS, ARCH, CONTROLLER, STATE] {
        let from = src.join(name);
        if name == CONTROLLER && !from.exists() {
            continue;
        }
        let to = staged.path().join(name);
        fs::copy(&from, &to).map_err(|e| OneShotError::io(&from, e))?;
        sync_file(&to)?;
    }
    Ok(staged.commit().map_err(runfmt::RunFmtError::from)?)
}
