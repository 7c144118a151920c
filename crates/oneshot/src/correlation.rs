//! The correlation evaluation (spec §4.3 A): load a supernet checkpoint, evaluate the one-shot
//! error of every unique architecture of the run's space (or a seeded sample) on CIFAR-10 test
//! images, and write it next to the architecture's NAS-Bench-101 errors at every budget into
//! `<run>/correlation/epoch<E>.jsonl` (the format `nb1s1_bench::correlation` reads; see
//! docs/report.md). `nb1s1 results ingest` then reduces each file to Spearman and Kendall
//! correlations, over all architectures and the top 1,000.
//!
//! Architectures are evaluated with one-hot mixing weights (the discrete cell) by default, or
//! with the original's DARTS-family quirks ([`EvalMixing::DartsSoftmax`], `gamma4_bug`). The
//! supernet runs in evaluation mode (BatchNorm running statistics), so every image is
//! independent of the others in its batch: several architectures are stacked along the batch
//! axis of one forward pass with per-sample mixing weights (`MixingWeights::per_sample`) and
//! give exactly the errors of one pass per architecture. The images are loaded onto the device
//! once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nasbench101::ModelHash;
use nb1s1_data::{Augment, Loader, Normalize, Split};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use searchspace::{Architecture, SearchSpace, SpaceId};
use serde::{Deserialize, Serialize};
use supernet::{one_hot_mixing, MixingWeights, SharedMixing, Supernet};
use tch::{nn, Device, Kind, Tensor};

use crate::anytime::BudgetErrors;
use crate::anytime::Nb101Oracle;
use crate::checkpoint;
use crate::config::{CorrelationConfig, CorrelationSet, EvalMixing, SearchConfig};
use crate::error::OneShotError;
use crate::evaluation::Recalibration;
use crate::model::TensorBatch;
use crate::run_dir::{RunDir, RunMeta};

/// One architecture to evaluate: a unique NB-101 model of the space and the first
/// configuration of the space that becomes it.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub hash: ModelHash,
    pub architecture: Architecture,
}

/// The unique models of `space` (2,685 / 7,773 / 55,854), or a sample of `sample` of them drawn
/// with `seed` (0 or more than there are = all), in enumeration order.
pub fn candidates(space: SpaceId, sample: usize, seed: u64) -> Vec<Candidate> {
    candidates_in(space, CorrelationSet::Unique, sample, seed)
}

/// [`candidates`] from `set`: the unique models, or the original enumerator's configurations
/// (2,487 / 3,609 / 24,066, several per hash), in the enumerator's order.
pub fn candidates_in(
    space: SpaceId,
    set: CorrelationSet,
    sample: usize,
    seed: u64,
) -> Vec<Candidate> {
    let all: Vec<(ModelHash, Architecture)> = match set {
        CorrelationSet::Unique => SearchSpace::new(space).unique_models(),
        CorrelationSet::Original => SearchSpace::new(space)
            .original_enumeration()
            .into_iter()
            .filter_map(|a| a.hash().ok().map(|h| (h, a)))
            .collect(),
    };
    let take_all = sample == 0 || sample >= all.len();
    let mut keep = vec![take_all; all.len()];
    if !take_all {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for i in rand::seq::index::sample(&mut rng, all.len(), sample) {
            keep[i] = true;
        }
    }
    all.into_iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|((hash, architecture), _)| Candidate { hash, architecture })
        .collect()
}

/// The mixing weights the evaluation puts into the supernet for `arch`.
///
/// [`EvalMixing::OneHot`]: the discrete cell (`supernet::one_hot_mixing`, single-op fast path).
/// [`EvalMixing::DartsSoftmax`]: the one-hot op rows through a softmax, edge and output vectors
/// divided by their sums (a vector that sums to 0 stays 0; the original divided by zero).
/// `gamma4_bug` zeroes γ[4] in spaces 1 and 2 before that.
pub fn eval_mixing(
    arch: &Architecture,
    mixing: EvalMixing,
    gamma4_bug: bool,
    device: Device,
) -> Result<MixingWeights, OneShotError> {
    let mut m = one_hot_mixing(arch, device).map_err(|e| OneShotError::Invalid(e.to_string()))?;
    if gamma4_bug && matches!(arch.space, SpaceId::One | SpaceId::Two) {
        let keep = Tensor::from_slice(&[1f32, 1.0, 1.0, 1.0, 0.0])
            .view([1, 5])
            .to_device(device);
        m.output = &m.output * keep;
    }
    if mixing == EvalMixing::DartsSoftmax {
        let normalize = |t: &Tensor| {
            let sum = t.sum_dim_intlist(-1, true, Kind::Float);
            t / sum.clamp_min(f64::from(f32::MIN_POSITIVE))
        };
        m.ops = m.ops.softmax(-1, Kind::Float);
        m.output = normalize(&m.output);
        m.inputs = m.inputs.iter().map(|t| t.as_ref().map(normalize)).collect();
        m.active_ops = None;
    }
    Ok(m)
}

/// Test images on the evaluation device, loaded once: batches of `batch_size` images with the
/// search's evaluation preprocessing (no augmentation).
pub struct EvalImages {
    batches: Vec<TensorBatch>,
    count: usize,
}

impl EvalImages {
    /// `images` images of `split` (0 = all of it), spread evenly over the split (indices
    /// ⌊i·n/images⌋): a test split sorted by class (an image-folder import) still gives every
    /// class its share, where a prefix would hold one class only.
    pub fn load(
        split: &Arc<Split>,
        images: usize,
        batch_size: usize,
        device: Device,
    ) -> Result<Self, OneShotError> {
        Self::load_with(split, images, batch_size, device, Normalize::CIFAR10)
    }

    /// [`EvalImages::load`] with the run's normalization (`SearchConfig::normalization`).
    pub fn load_with(
        split: &Arc<Split>,
        images: usize,
        batch_size: usize,
        device: Device,
        normalize: Normalize,
    ) -> Result<Self, OneShotError> {
        if images > split.len() {
            return Err(OneShotError::Config {
                file: "correlation images".into(),
                msg: format!(
                    "{images} images asked for, but the CIFAR-10 test split holds {}",
                    split.len()
                ),
            });
        }
        let n = match images {
            0 => split.len(),
            k => k,
        };
        if n == 0 {
            return Err(OneShotError::Data(
                "the CIFAR-10 test split holds no images to evaluate on".into(),
            ));
        }
        let total = split.len();
        let indices: Vec<usize> = (0..n).map(|i| i * total / n).collect();
        let eval = Augment::eval().with_normalize(normalize);
        let mut loader = Loader::new(
            split.clone(),
            indices,
            batch_size.max(1),
            Some(eval),
            0,
            false,
        )
        .map_err(|e| OneShotError::Data(e.to_string()))?;
        let batches: Vec<TensorBatch> = std::iter::from_fn(|| loader.next_batch())
            .map(|b| TensorBatch::from_batch(&b, device))
            .collect();
        Ok(EvalImages { batches, count: n })
    }

    /// The image batches, (B, 3, 32, 32) each, on the device.
    pub fn images(&self) -> impl Iterator<Item = &Tensor> {
        self.batches.iter().map(|b| &b.x)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Architectures per forward pass for `setting` (0 = automatic) on `device`: on CPU one at a
/// time, since a lone one-hot cell runs one op per choice block while stacked cells run all
/// three; on CUDA 16, which keeps a small supernet's kernels busy.
pub fn resolve_batch_archs(setting: usize, device: Device) -> usize {
    match setting {
        0 if device.is_cuda() => 16,
        0 => 1,
        a => a,
    }
}

/// Top-1 error of `net` (evaluation mode) on `images` for each architecture, `batch_archs` of
/// them per forward pass. Advances `bar` by one per architecture.
pub fn one_shot_errors(
    net: &Supernet,
    archs: &[&Architecture],
    images: &EvalImages,
    mixing: EvalMixing,
    gamma4_bug: bool,
    batch_archs: usize,
    bar: &ProgressBar,
) -> Result<Vec<f64>, OneShotError> {
    let how = EvalHow {
        mixing,
        gamma4_bug,
        batch_archs,
        recalibration: None,
    };
    one_shot_errors_with(net, archs, images, &how, bar)
}

/// How [`one_shot_errors_with`] evaluates.
pub struct EvalHow<'a> {
    pub mixing: EvalMixing,
    pub gamma4_bug: bool,
    /// Architectures per forward pass (1 under recalibration: each has its own statistics).
    pub batch_archs: usize,
    /// BN recalibration before each architecture's error.
    pub recalibration: Option<&'a Recalibration>,
}

/// [`one_shot_errors`], optionally with each architecture's BatchNorm statistics recalibrated
/// first (one architecture per pass; the network's statistics are put back after each).
pub fn one_shot_errors_with(
    net: &Supernet,
    archs: &[&Architecture],
    images: &EvalImages,
    how: &EvalHow<'_>,
    bar: &ProgressBar,
) -> Result<Vec<f64>, OneShotError> {
    let Some(r) = how.recalibration else {
        return stacked_errors(net, archs, images, how, bar);
    };
    let mut errors = Vec::with_capacity(archs.len());
    for a in archs {
        let w = eval_mixing(a, how.mixing, how.gamma4_bug, net.device())?;
        let one = EvalHow {
            batch_archs: 1,
            recalibration: None,
            ..*how
        };
        errors.extend(r.with(net, w, || stacked_errors(net, &[*a], images, &one, bar))?);
    }
    Ok(errors)
}

fn stacked_errors(
    net: &Supernet,
    archs: &[&Architecture],
    images: &EvalImages,
    how: &EvalHow<'_>,
    bar: &ProgressBar,
) -> Result<Vec<f64>, OneShotError> {
    let (mixing, gamma4_bug, batch_archs) = (how.mixing, how.gamma4_bug, how.batch_archs);
    let device = net.device();
    let total = images.len().max(1) as f64;
    tch::no_grad(|| {
        // In the weights' layout once for all architectures (the forward would otherwise copy
        // every batch again for each one).
        let xs: Vec<Tensor> = images
            .batches
            .iter()
            .map(|b| match net.is_channels_last() {
                true => supernet::to_channels_last(&b.x),
                false => b.x.shallow_clone(),
            })
            .collect();
        let mut errors = Vec::with_capacity(archs.len());
        for chunk in archs.chunks(batch_archs.max(1)) {
            let sets = chunk
                .iter()
                .map(|a| eval_mixing(a, mixing, gamma4_bug, device))
                .collect::<Result<Vec<_>, _>>()?;
            let a = sets.len() as i64;
            let mut correct = Tensor::zeros([a], (Kind::Int64, device));
            // Per-sample weights for the current batch size (the last batch may be shorter).
            let mut stacked: Option<(i64, MixingWeights)> = None;
            for (batch, x) in images.batches.iter().zip(&xs) {
                let b = batch.len as i64;
                let logits = match &sets[..] {
                    [one] => forward_eval(net, x, one.clone())?,
                    _ => {
                        let w = match &stacked {
                            Some((n, w)) if *n == b => w.clone(),
                            _ => {
                                let w = MixingWeights::per_sample(&sets, b)
                                    .map_err(|e| OneShotError::Invalid(e.to_string()))?;
                                stacked = Some((b, w.clone()));
                                w
                            }
                        };
                        forward_eval(net, &x.repeat([a, 1, 1, 1]), w)?
                    }
                };
                let hits = logits
                    .argmax(-1, false)
                    .eq_tensor(&batch.y.repeat([a]))
                    .view([a, b])
                    .sum_dim_intlist(1, false, Kind::Int64);
                correct += hits;
            }
            let correct = Vec::<i64>::try_from(correct.to_device(Device::Cpu))?;
            errors.extend(correct.iter().map(|&c| 1.0 - c as f64 / total));
            bar.inc(a as u64);
        }
        Ok(errors)
    })
}

/// Evaluation-mode forward with one set of weights for the whole batch, shapes checked.
fn forward_eval(net: &Supernet, x: &Tensor, w: MixingWeights) -> Result<Tensor, OneShotError> {
    net.try_forward(x, &mut SharedMixing(w), false)
        .map_err(|e| OneShotError::Invalid(e.to_string()))
}

pub use runfmt::CorrelationPoint;

/// The NB-101 errors written for one architecture: one point with the means over the repeats
/// ([`CorrelationSet::Unique`]), or one per repeat with that repeat's errors at every budget
/// ([`CorrelationSet::Original`]). `None` when the table lacks the cell.
fn nb101_points(
    oracle: &dyn Nb101Oracle,
    hash: &ModelHash,
    set: CorrelationSet,
) -> Result<Option<Vec<BudgetErrors>>, OneShotError> {
    if set == CorrelationSet::Unique {
        return Ok(oracle
            .query_budgets(hash)?
            .filter(|e| !e.test.is_empty())
            .map(|e| vec![e]));
    }
    let Some(all) = oracle.query_repeats(hash)? else {
        return Ok(None);
    };
    let repeats = all.values().map(|(_, t)| t.len()).max().unwrap_or(0);
    Ok(Some(
        (0..repeats)
            .map(|i| {
                let mut e = BudgetErrors::default();
                for (&budget, (valid, test)) in &all {
                    if let (Some(&v), Some(&t)) = (valid.get(i), test.get(i)) {
                        e.valid.insert(budget, v);
                        e.test.insert(budget, t);
                    }
                }
                e
            })
            .collect(),
    ))
}

/// `correlation/epoch<E>.meta.json`: how a correlation file was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorrelationMeta {
    pub epoch: usize,
    pub space: u8,
    /// Architectures asked for (all unique models, or the sample).
    pub candidates: usize,
    /// Architectures evaluated and written.
    pub evaluated: usize,
    /// Architectures skipped because the NB-101 table lacks them.
    pub missing_from_table: usize,
    pub sample: usize,
    pub seed: u64,
    pub images: usize,
    pub batch_size: usize,
    pub batch_archs: usize,
    pub mixing: EvalMixing,
    pub gamma4_bug: bool,
    /// Unique models, or the original enumerator's set with one point per repeat.
    #[serde(default)]
    pub set: CorrelationSet,
    /// BN recalibration batches per architecture (0: the running statistics).
    #[serde(default)]
    pub bn_recalibration_batches: usize,
    pub device: String,
    pub nb101_path: String,
    pub nb101_synthetic: bool,
    /// Wall-clock seconds of the forward passes (NB-101 look-ups and file writes excluded).
    pub eval_seconds: f64,
    pub architectures_per_second: f64,
}

pub use runfmt::correlation_path;

/// `<run>/correlation/epoch<E>.meta.json`.
pub fn meta_path(run: &Path, epoch: usize) -> PathBuf {
    run.join(meta_name(epoch, 0))
}

/// The correlation file of `epoch` evaluated with `bn` recalibration batches (0: none):
/// `epoch<E>.jsonl`, or `epoch<E>-bn<N>.jsonl` so the two are separate files and series.
pub fn correlation_path_bn(run: &Path, epoch: usize, bn: usize) -> PathBuf {
    match bn {
        0 => correlation_path(run, epoch),
        n => run
            .join("correlation")
            .join(format!("epoch{epoch}-bn{n}.jsonl")),
    }
}

/// The meta file of [`correlation_path_bn`].
pub fn meta_path_bn(run: &Path, epoch: usize, bn: usize) -> PathBuf {
    run.join(meta_name(epoch, bn))
}

/// The meta file's path inside the run folder.
fn meta_name(epoch: usize, bn: usize) -> String {
    match bn {
        0 => format!("correlation/epoch{epoch}.meta.json"),
        n => format!("correlation/epoch{epoch}-bn{n}.meta.json"),
    }
}

/// What the evaluation of one epoch needs besides the network.
pub struct EpochInputs<'a> {
    pub candidates: &'a [Candidate],
    pub images: &'a EvalImages,
    pub oracle: &'a dyn Nb101Oracle,
    pub settings: &'a CorrelationConfig,
    pub space: u8,
    /// BN recalibration (when `settings.bn_recalibration_batches` > 0).
    pub recalibration: Option<&'a Recalibration>,
}

/// Looks every candidate up in NB-101 (skipping and counting those the table lacks), evaluates
/// the rest with `net` and writes `correlation/epoch<epoch>.jsonl` and its `.meta.json`
/// atomically. Returns the meta record.
pub fn evaluate_epoch(
    run: &Path,
    net: &Supernet,
    epoch: usize,
    inputs: &EpochInputs<'_>,
    bar: &ProgressBar,
) -> Result<CorrelationMeta, OneShotError> {
    let s = inputs.settings;
    let mut known = Vec::with_capacity(inputs.candidates.len());
    let mut missing = 0usize;
    for c in inputs.candidates {
        match nb101_points(inputs.oracle, &c.hash, s.set)? {
            Some(e) if !e.is_empty() => known.push((c, e)),
            _ => missing += 1,
        }
    }
    let device = net.device();
    let bn = s.bn_recalibration_batches;
    let recalibration = match (bn, inputs.recalibration) {
        (0, _) => None,
        (_, Some(r)) if r.len() == bn => Some(r),
        _ => {
            return Err(OneShotError::Invalid(format!(
                "correlation: {bn} BN recalibration batches asked for, but none prepared"
            )))
        }
    };
    let batch_archs = match recalibration {
        Some(_) => 1,
        None => resolve_batch_archs(s.batch_archs, device),
    };
    bar.set_length(known.len() as u64);
    bar.set_position(0);
    let archs: Vec<&Architecture> = known.iter().map(|(c, _)| &c.architecture).collect();
    let t0 = Instant::now();
    let how = EvalHow {
        mixing: s.mixing,
        gamma4_bug: s.gamma4_bug,
        batch_archs,
        recalibration,
    };
    let errors = one_shot_errors_with(net, &archs, inputs.images, &how, bar)?;
    let eval_seconds = t0.elapsed().as_secs_f64();
    let keyed = |m: &BTreeMap<u32, f64>| -> BTreeMap<String, f64> {
        m.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    };
    let path = correlation_path_bn(run, epoch, bn);
    let dir = run.join("correlation");
    std::fs::create_dir_all(&dir).map_err(|e| OneShotError::io(&dir, e))?;
    let io = |e: std::io::Error| OneShotError::io(&path, e);
    nasbench101::atomic_write_with(&path, |w| {
        for ((c, points), one_shot_error) in known.iter().zip(&errors) {
            for nb in points {
                let point = CorrelationPoint {
                    hash: c.hash.to_string(),
                    epoch: Some(epoch),
                    one_shot_error: *one_shot_error,
                    nb101_test_error: keyed(&nb.test),
                    nb101_valid_error: keyed(&nb.valid),
                };
                serde_json::to_writer(&mut *w, &point).map_err(std::io::Error::other)?;
                w.write_all(b"\n")?;
            }
        }
        Ok(())
    })
    .map_err(io)?;
    let meta = CorrelationMeta {
        epoch,
        space: inputs.space,
        candidates: inputs.candidates.len(),
        evaluated: known.len(),
        missing_from_table: missing,
        sample: s.sample,
        seed: s.seed,
        images: inputs.images.len(),
        batch_size: s.batch_size,
        batch_archs,
        mixing: s.mixing,
        gamma4_bug: s.gamma4_bug,
        set: s.set,
        bn_recalibration_batches: bn,
        device: format!("{device:?}"),
        nb101_path: inputs.oracle.path(),
        nb101_synthetic: inputs.oracle.is_synthetic(),
        eval_seconds,
        architectures_per_second: if eval_seconds > 0.0 {
            known.len() as f64 / eval_seconds
        } else {
            0.0
        },
    };
    let run_dir = RunDir {
        root: run.to_path_buf(),
    };
    run_dir.write_json(&meta_name(epoch, bn), &meta)?;
    Ok(meta)
}

/// A checkpoint of a run the evaluation can read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointRef {
    /// The epoch (0-based) after which it was taken.
    pub epoch: usize,
    pub dir: PathBuf,
}

/// The epoch label of a checkpoint folder: its last epoch trained, or under the original's
/// convention (`record_at_epoch_start`) the number of epochs trained.
fn checkpoint_epoch(dir: &Path, original: bool) -> Result<Option<usize>, OneShotError> {
    let state = checkpoint::read_state(dir)?;
    Ok(match original {
        true => Some(state.next_epoch),
        false => state.next_epoch.checked_sub(1),
    })
}

/// The kept checkpoints `checkpoints/epoch<E>/` (or `checkpoints/one_shot_model_<e>/` when the
/// run's config has `faithful.record_at_epoch_start`) and the rolling `checkpoint/` of a run, by
/// epoch label (a kept one wins when both hold the same epoch).
pub fn run_checkpoints(run: &Path) -> Result<Vec<CheckpointRef>, OneShotError> {
    let config = run.join("config.toml");
    let original = config.is_file()
        && SearchConfig::load(Some(&config), None, None)?
            .faithful
            .record_at_epoch_start;
    let prefix = if original { "one_shot_model_" } else { "epoch" };
    let mut found: BTreeMap<usize, PathBuf> = BTreeMap::new();
    let kept = run.join("checkpoints");
    if kept.is_dir() {
        for entry in std::fs::read_dir(&kept).map_err(|e| OneShotError::io(&kept, e))? {
            let dir = entry.map_err(|e| OneShotError::io(&kept, e))?.path();
            let named = dir
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix(prefix))
                .and_then(|n| n.parse::<usize>().ok());
            let Some(named) = named else { continue };
            if !dir.join("state.json").is_file() {
                continue;
            }
            match checkpoint_epoch(&dir, original)? {
                Some(e) if e == named => {
                    found.insert(e, dir);
                }
                other => {
                    return Err(OneShotError::Checkpoint {
                        path: dir,
                        msg: format!(
                            "named after epoch {named}, but its state.json says epoch {other:?}"
                        ),
                    })
                }
            }
        }
    }
    if let Some(dir) = checkpoint::locate(&run.join("checkpoint")) {
        if let Some(e) = checkpoint_epoch(&dir, original)? {
            found.entry(e).or_insert(dir);
        }
    }
    Ok(found
        .into_iter()
        .map(|(epoch, dir)| CheckpointRef { epoch, dir })
        .collect())
}

/// Builds the run's supernet on `device` and loads the weights of checkpoint folder `dir`.
/// `run_all_ops` is switched off: in evaluation mode it changes nothing but the speed.
pub fn load_supernet(
    cfg: &SearchConfig,
    dir: &Path,
    device: Device,
) -> Result<(nn::VarStore, Supernet), OneShotError> {
    let mut model = cfg.model.clone();
    model.run_all_ops = false;
    let mut vs = nn::VarStore::new(device);
    let net =
        Supernet::new(&vs.root(), &model).map_err(|e| OneShotError::Invalid(e.to_string()))?;
    checkpoint::load_weights(dir, &mut vs)?;
    Ok((vs, net))
}

/// How `nb1s1 correlation` evaluates a run.
pub struct CorrelateOptions {
    /// Sample, images, batching and mixing; `epochs` empty = every checkpoint the run has.
    pub settings: CorrelationConfig,
    /// Evaluate again even where `correlation/epoch<E>.jsonl` exists.
    pub force: bool,
    pub device: Device,
    /// Draw a progress bar per epoch on stderr.
    pub progress: bool,
}

/// What happened to one requested epoch.
#[derive(Clone, Debug)]
pub enum EpochOutcome {
    Written {
        path: PathBuf,
        meta: CorrelationMeta,
    },
    /// The file existed and `force` was off.
    Skipped { epoch: usize, path: PathBuf },
}

/// Evaluates the checkpoints of the run folder `run` (written by `nb1s1 search`) on the test
/// split `test` against `oracle`.
pub fn correlate_run(
    run: &Path,
    test: &Arc<Split>,
    oracle: &dyn Nb101Oracle,
    opts: &CorrelateOptions,
) -> Result<Vec<EpochOutcome>, OneShotError> {
    correlate_run_on(run, test, None, oracle, opts)
}

/// [`correlate_run`] with the CIFAR-10 training split `train`, which BN recalibration
/// (`settings.bn_recalibration_batches` > 0) needs: the run's weight-training images.
pub fn correlate_run_on(
    run: &Path,
    test: &Arc<Split>,
    train: Option<&Arc<Split>>,
    oracle: &dyn Nb101Oracle,
    opts: &CorrelateOptions,
) -> Result<Vec<EpochOutcome>, OneShotError> {
    let run_err = |msg: String| OneShotError::RunDir {
        path: run.to_path_buf(),
        msg,
    };
    if !run.is_dir() {
        return Err(run_err("no such run folder".into()));
    }
    // It writes correlation/ into the folder: one writer at a time, as the search.
    let _lock = runfmt::RunLock::acquire(run)?;
    let config = run.join("config.toml");
    if !config.is_file() {
        return Err(run_err(
            "no config.toml: not a run folder written by `nb1s1 search`".into(),
        ));
    }
    let cfg = SearchConfig::load(Some(&config), None, None)?;
    let available = run_checkpoints(run)?;
    if available.is_empty() {
        return Err(run_err(
            "no checkpoint (checkpoint/ or checkpoints/epoch<E>/ or one_shot_model_<e>/): the search has not finished an epoch"
                .into(),
        ));
    }
    let wanted: Vec<CheckpointRef> = if opts.settings.epochs.is_empty() {
        available.clone()
    } else {
        opts.settings
            .epochs
            .iter()
            .map(|&e| {
                available.iter().find(|c| c.epoch == e).cloned().ok_or_else(|| {
                    let have: Vec<String> =
                        available.iter().map(|c| c.epoch.to_string()).collect();
                    run_err(format!(
                        "no checkpoint of epoch {e} (expected {}); checkpoints exist for epochs {}. \
                         Set `keep_checkpoints` in the search config to keep more",
                        crate::search::kept_dir(&cfg, run, e).display(),
                        have.join(", ")
                    ))
                })
            })
            .collect::<Result<_, _>>()?
    };
    let mut outcomes = Vec::new();
    let mut todo = Vec::new();
    let bn = opts.settings.bn_recalibration_batches;
    if bn > 0 {
        crate::settings::bn_batches("--bn-recalibrate", bn)
            .map_err(|msg| OneShotError::Invalid(format!("correlation: {msg}")))?;
    }
    for c in wanted {
        let path = correlation_path_bn(run, c.epoch, bn);
        if path.exists() && !opts.force {
            outcomes.push(EpochOutcome::Skipped {
                epoch: c.epoch,
                path,
            });
        } else {
            todo.push(c);
        }
    }
    if todo.is_empty() {
        return Ok(outcomes);
    }
    let space = SpaceId::try_from(cfg.space).map_err(|e| OneShotError::Invalid(e.to_string()))?;
    let s = &opts.settings;
    let cands = candidates_in(space, s.set, s.sample, s.seed);
    let images = EvalImages::load_with(
        test,
        s.images,
        s.batch_size,
        opts.device,
        cfg.normalization(),
    )?;
    let recalibration = match (bn, train) {
        (0, _) => None,
        (_, None) => {
            return Err(OneShotError::Invalid(
                "correlation: BN recalibration needs the CIFAR-10 training images".into(),
            ))
        }
        (_, Some(train)) => Some(run_recalibration(&cfg, train, bn, opts.device)?),
    };
    let inputs = EpochInputs {
        candidates: &cands,
        images: &images,
        oracle,
        settings: s,
        space: cfg.space,
        recalibration: recalibration.as_ref(),
    };
    for c in todo {
        let (_vs, net) = load_supernet(&cfg, &c.dir, opts.device)?;
        let bar = progress_bar(opts.progress, c.epoch);
        let meta = evaluate_epoch(run, &net, c.epoch, &inputs, &bar)?;
        bar.finish_and_clear();
        outcomes.push(EpochOutcome::Written {
            path: correlation_path_bn(run, c.epoch, bn),
            meta,
        });
    }
    Ok(outcomes)
}

/// `bn` batches of the run's training batch size from its weight-training images.
fn run_recalibration(
    cfg: &SearchConfig,
    train: &Arc<Split>,
    bn: usize,
    device: Device,
) -> Result<Recalibration, OneShotError> {
    Recalibration::new(
        train,
        crate::evaluation::weight_images(cfg, train.len()),
        bn,
        cfg.data.batch_size,
        cfg.normalization(),
        device,
        "correlation.bn_recalibration_batches",
    )
}

fn progress_bar(show: bool, epoch: usize) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} architectures ({per_sec}) ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(format!("correlation epoch {epoch}"));
    bar
}

/// The `run.json` of a run (the CLI takes the NB-101 path from it); `None` when the run has
/// none, an error when it does not parse.
pub fn read_run_meta(run: &Path) -> Result<Option<RunMeta>, OneShotError> {
    if !run.join("run.json").is_file() {
        return Ok(None);
    }
    let run_dir = RunDir {
        root: run.to_path_buf(),
    };
    Ok(run_dir.read_json("run.json").map(Some)?)
}

/// The inline evaluation of the search loop (`[correlation] epochs`): candidates and images are
/// prepared at the first epoch that needs them and reused.
pub(crate) struct Inline<'a> {
    pub settings: &'a CorrelationConfig,
    pub space: u8,
    pub test: &'a Arc<Split>,
    pub oracle: &'a dyn Nb101Oracle,
    cfg: &'a SearchConfig,
    train: &'a Arc<Split>,
    normalize: Normalize,
    prepared: Option<(Vec<Candidate>, EvalImages, Option<Recalibration>)>,
}

impl<'a> Inline<'a> {
    pub fn new(
        cfg: &'a SearchConfig,
        train: &'a Arc<Split>,
        test: &'a Arc<Split>,
        oracle: &'a dyn Nb101Oracle,
    ) -> Self {
        Inline {
            settings: &cfg.correlation,
            space: cfg.space,
            test,
            oracle,
            cfg,
            train,
            normalize: cfg.normalization(),
            prepared: None,
        }
    }

    /// Evaluates `net` as the checkpoint of `epoch` if that epoch is one of the settings'.
    pub fn maybe_evaluate(
        &mut self,
        run: &Path,
        net: &Supernet,
        epoch: usize,
    ) -> Result<Option<CorrelationMeta>, OneShotError> {
        if !self.settings.epochs.contains(&epoch) {
            return Ok(None);
        }
        if self.prepared.is_none() {
            let space =
                SpaceId::try_from(self.space).map_err(|e| OneShotError::Invalid(e.to_string()))?;
            let s = self.settings;
            let cands = candidates_in(space, s.set, s.sample, s.seed);
            let images = EvalImages::load_with(
                self.test,
                s.images,
                s.batch_size,
                net.device(),
                self.normalize,
            )?;
            let recalibration = match s.bn_recalibration_batches {
                0 => None,
                bn => Some(run_recalibration(self.cfg, self.train, bn, net.device())?),
            };
            self.prepared = Some((cands, images, recalibration));
        }
        let Some((cands, images, recalibration)) = &self.prepared else {
            return Ok(None);
        };
        let inputs = EpochInputs {
            candidates: cands,
            images,
            oracle: self.oracle,
            settings: self.settings,
            space: self.space,
            recalibration: recalibration.as_ref(),
        };
        evaluate_epoch(run, net, epoch, &inputs, &ProgressBar::hidden()).map(Some)
    }
}
