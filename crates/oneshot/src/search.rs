//! The search run: per epoch, train weights (and architecture) on minibatches, select an
//! architecture, evaluate it anytime against NAS-Bench-101, append a record to `epochs.jsonl`
//! and its scalars to the live TensorBoard file, optionally run the correlation evaluation, and
//! checkpoint (keeping chosen epochs' checkpoints). Every generator is reseeded from (seed,
//! epoch) at the start of an epoch, so a run resumed from a checkpoint continues
//! bit-identically on CPU.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nb1s1_data::{Augment, Loader, LoaderState, SearchSplit, Split};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use crate::anytime::{mean, regret, Nb101Oracle};
use crate::checkpoint::{self, CheckpointParts, CheckpointState};
use crate::config::SearchConfig;
use crate::correlation::Inline;
use crate::error::OneShotError;
use crate::mixing::{MixContext, Phase};
use crate::model::{OneShotModel, TensorBatch};
use crate::optim::Sgd;
use crate::optimizer::{DataSplit, EpochContext, EpochEnd, SearchOptimizer};
use crate::run_dir::{now_unix, EpochRecord, RunDir, RunMeta, RunStatus, StatusFile};
use crate::schedule::{cutout_prob, epoch_lr};
use crate::selection::{SelectContext, Selected};

/// The images a search uses: the CIFAR-10 training split (both search halves) and the test split
/// (ENAS' validation queue).
pub struct SearchData {
    pub train: Arc<Split>,
    pub test: Arc<Split>,
    /// Where the images came from (for `run.json`).
    pub source: String,
}

/// How to run (not what: that is the [`SearchConfig`]).
pub struct SearchOptions {
    pub device: Device,
    /// Continue from the run folder's checkpoint instead of starting fresh.
    pub resume: bool,
    /// Return (status `running`) once this many epochs are done, as if the process had been
    /// stopped there; staged runs and the resume test use it.
    pub stop_after: Option<usize>,
    /// Draw a progress bar on stderr.
    pub progress: bool,
    /// Use the paper's hard-coded regret references instead of the table's own minima.
    pub paper_reference: bool,
}

/// What a finished (or stopped) call produced.
#[derive(Debug)]
pub struct SearchOutcome {
    pub status: RunStatus,
    pub records: Vec<EpochRecord>,
    /// Why the optimizer ended the search early ([`EpochEnd::Stop`]), if it did.
    pub stopped_early: Option<String>,
}

/// SplitMix64 over (seed, epoch, purpose): independent, well-spread seeds per epoch.
pub fn derive_seed(seed: u64, epoch: u64, tag: u64) -> u64 {
    let mut z = seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ tag.rotate_left(32);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const TAG_TORCH: u64 = 1;
const TAG_RNG: u64 = 2;
const TAG_TRAIN: u64 = 3;
const TAG_ARCH: u64 = 4;
const TAG_VALID: u64 = 5;

/// The epoch label of the state after `trained` epochs: nb1s1's convention names it by the last
/// epoch trained (none for the initialization), the original's (`record_at_epoch_start`) by the
/// number of epochs trained.
fn state_label(cfg: &SearchConfig, trained: usize) -> Option<usize> {
    match cfg.faithful.record_at_epoch_start {
        true => Some(trained),
        false => trained.checked_sub(1),
    }
}

/// Where the kept checkpoint of epoch label `label` goes: `checkpoints/epoch<E>/`, or the
/// original's name `checkpoints/one_shot_model_<e>/` under `record_at_epoch_start`.
pub fn kept_dir(cfg: &SearchConfig, run: &Path, label: usize) -> std::path::PathBuf {
    match cfg.faithful.record_at_epoch_start {
        true => run
            .join("checkpoints")
            .join(format!("one_shot_model_{label}")),
        false => crate::run_dir::kept_checkpoint_dir(run, label),
    }
}

/// The weight and architecture index sets, the validation split and its indices.
struct Plan {
    split: SearchSplit,
    valid: Arc<Split>,
    valid_indices: Vec<usize>,
    /// `faithful.augment_valid` where the valid images are training images (not ENAS' test set).
    augment_valid: bool,
}

fn plan(cfg: &SearchConfig, data: &SearchData, how: DataSplit) -> Result<Plan, OneShotError> {
    let n = data.train.len();
    let limit = |k: usize| (k > 0).then_some(k);
    let derr = |e: nb1s1_data::DataError| OneShotError::Data(e.to_string());
    let (split, valid, valid_indices) = if how == DataSplit::Enas {
        // ENAS: [0, 45000) / [45000, N) of the training images, the test set as "valid".
        let cut = nb1s1_data::split::ENAS_TRAIN.min(n * 9 / 10);
        let split = SearchSplit::enas_at(n, cut).map_err(derr)?;
        let mut idx: Vec<usize> = (0..data.test.len()).collect();
        if let Some(k) = limit(cfg.data.valid_images) {
            idx.truncate(k);
        }
        (split, data.test.clone(), idx)
    } else {
        let split = SearchSplit::darts(n, 0.5).map_err(derr)?;
        (split, data.train.clone(), Vec::new())
    };
    for (key, asked, have) in [
        (
            "data.train_images",
            cfg.data.train_images,
            split.weights.len(),
        ),
        // ENAS' architecture steps read the test set instead (`valid_indices`).
        (
            "data.valid_images",
            cfg.data.valid_images,
            match how {
                DataSplit::Enas => data.test.len(),
                _ => split.arch.len(),
            },
        ),
    ] {
        if asked > have {
            return Err(OneShotError::Config {
                file: key.into(),
                msg: format!("{asked} images asked for, but its part of the split holds {have}"),
            });
        }
    }
    let split = split.limit(limit(cfg.data.train_images), limit(cfg.data.valid_images));
    let valid_indices = if valid_indices.is_empty() {
        split.arch.clone()
    } else {
        valid_indices
    };
    if split.weights.is_empty() || split.arch.is_empty() || valid_indices.is_empty() {
        return Err(OneShotError::Data(format!(
            "{} training images leave an empty search half (weights {}, architecture {}, valid {})",
            n,
            split.weights.len(),
            split.arch.len(),
            valid_indices.len()
        )));
    }
    Ok(Plan {
        split,
        valid,
        valid_indices,
        augment_valid: cfg.faithful.augment_valid && how != DataSplit::Enas,
    })
}

/// Softmax-normalized architecture weights as JSON (`ops`, `output`, `inputs` by node).
fn arch_json(model: &OneShotModel) -> serde_json::Value {
    let rows = |t: &Tensor| -> serde_json::Value {
        let sm = t.detach().softmax(-1, Kind::Float).to_device(Device::Cpu);
        let size = sm.size();
        let cols = size.last().copied().unwrap_or(0).max(1) as usize;
        let flat = Vec::<f32>::try_from(sm.flatten(0, -1)).unwrap_or_default();
        serde_json::json!(flat.chunks(cols).map(|c| c.to_vec()).collect::<Vec<_>>())
    };
    let inputs: serde_json::Map<String, serde_json::Value> = model
        .arch
        .inputs
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.as_ref().map(|t| ((i + 1).to_string(), rows(t))))
        .collect();
    serde_json::json!({ "ops": rows(&model.arch.ops), "output": rows(&model.arch.output), "inputs": inputs })
}

/// Error of the supernet on `batches` with the optimizer's evaluation mixing (eval-mode
/// BatchNorm).
fn relaxed_error(
    model: &OneShotModel,
    opt: &mut dyn SearchOptimizer,
    rng: &mut ChaCha8Rng,
    batches: &[TensorBatch],
) -> Result<f64, OneShotError> {
    let (mut correct, mut total) = (0i64, 0usize);
    for b in batches {
        let mut cx = MixContext {
            arch: &model.arch,
            space: &model.space,
            rng,
            device: model.device,
            phase: Phase::Eval,
        };
        let mut mix = opt.mixing(&mut cx)?;
        correct += tch::no_grad(|| model.loss(b, mix.as_mut(), false).1);
        total += b.len;
    }
    Ok(if total == 0 {
        1.0
    } else {
        1.0 - correct as f64 / total as f64
    })
}

/// The run's live TensorBoard event file (`tfevents`), one per process: a resumed run starts
/// a new file and TensorBoard merges them.
struct Events {
    writer: tfevents::EventFile,
    path: std::path::PathBuf,
}

impl Events {
    fn open(dir: &Path) -> Result<Self, OneShotError> {
        let (writer, path) = tfevents::EventFile::create_in(dir, tfevents::now())
            .map_err(|e| OneShotError::io(dir, e))?;
        Ok(Events { writer, path })
    }

    fn scalar(&mut self, tag: &str, step: i64, value: f64) -> Result<(), OneShotError> {
        self.writer
            .scalar(tag, step, value, tfevents::now())
            .map_err(|e| OneShotError::io(&self.path, e))
    }

    fn flush(&mut self) -> Result<(), OneShotError> {
        self.writer
            .flush()
            .map_err(|e| OneShotError::io(&self.path, e))
    }
}

/// The TensorBoard scalars of one epoch (step = epoch); tags shared with
/// `nb1s1 results tensorboard` where both have the value, each optimizer metric `name` under
/// `metrics/<name>`.
pub fn epoch_scalars(rec: &EpochRecord) -> Vec<(String, f64)> {
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let fixed = [
        ("train/loss", Some(rec.train_loss)),
        ("train/accuracy", Some(rec.train_accuracy)),
        ("train/lr", Some(rec.lr)),
        ("one_shot/valid_error", Some(rec.one_shot_valid_error)),
        ("regret/valid", rec.valid_regret),
        ("regret/test", rec.test_regret),
        ("nb101/valid_error", mean(&rec.valid_errors)),
        ("nb101/test_error", mean(&rec.test_errors)),
        ("time/epoch_seconds", Some(rec.seconds)),
    ];
    fixed
        .into_iter()
        .filter_map(|(tag, v)| v.map(|v| (tag.to_string(), v)))
        .chain(
            rec.metrics
                .iter()
                .map(|(k, v)| (format!("metrics/{k}"), *v)),
        )
        .collect()
}

fn all_finite(ts: &[(String, Tensor)]) -> bool {
    ts.iter()
        .all(|(_, t)| t.isfinite().all().int64_value(&[]) != 0)
}

/// Builds the optimizer of a run from its configuration and model.
pub type BuildOptimizer<'a> =
    &'a dyn Fn(&SearchConfig, &OneShotModel) -> Result<Box<dyn SearchOptimizer>, OneShotError>;

/// An optimizer to run: the name it is recorded under in `run.json` (and so stored and
/// reported) and how to build it.
#[derive(Clone, Copy)]
pub struct Variant<'a> {
    pub name: &'a str,
    pub build: BuildOptimizer<'a>,
    /// The composition it builds, recorded in `run.json` (none for a hand-built optimizer).
    pub method: Option<&'a crate::method::Composition>,
}

/// Runs (or resumes) a search into `out` with the method `cfg.method`, recorded as
/// `cfg.optimizer`.
/// Writes `status.json` `failed` or `diverged` with the reason before returning an error.
pub fn run_search(
    cfg: &SearchConfig,
    data: &SearchData,
    oracle: Option<&dyn Nb101Oracle>,
    out: &Path,
    opts: &SearchOptions,
) -> Result<SearchOutcome, OneShotError> {
    let build = |c: &SearchConfig, m: &OneShotModel| {
        crate::compose::build(c, m).map(|o| Box::new(o) as Box<dyn SearchOptimizer>)
    };
    let variant = Variant {
        name: &cfg.optimizer,
        build: &build,
        method: Some(&cfg.method),
    };
    run_search_with(cfg, data, oracle, out, opts, variant)
}

/// A resume must see the NAS-Bench-101 table the run started with: without it the remaining
/// epochs would be recorded without errors and regrets, with another one they would not be
/// comparable. Tables are told apart by their content fingerprint (`table`, the one in use)
/// where `run.json` records one, so a copy of the same table elsewhere is fine.
fn check_same_table(
    run: &RunDir,
    oracle: Option<&dyn Nb101Oracle>,
    table: Option<&str>,
) -> Result<(), OneShotError> {
    let Some(meta) = runfmt::read_json_opt::<RunMeta>(&run.root.join("run.json"))? else {
        return Ok(());
    };
    let now = oracle.map(|o| o.path());
    let refuse = |msg: String| OneShotError::RunDir {
        path: run.root.clone(),
        msg,
    };
    match (&meta.nb101_path, &now) {
        (None, None) => Ok(()),
        (Some(was), Some(is)) => match (&meta.nb101_fingerprint, table) {
            (Some(a), Some(b)) if a != b => Err(refuse(format!(
                "the run started with the NAS-Bench-101 table {a} (run.json \
                 `nb101_fingerprint`, file {was}) but is resumed with another table, {b} \
                 (file {is}): its remaining epochs would hold other errors and regrets than \
                 its first ones. Resume with --nb101 {was} (or a copy of that table), or start \
                 fresh: remove the run folder or choose another --out"
            ))),
            _ => {
                let canon = |p: &str| std::fs::canonicalize(p).ok();
                if was != is && canon(was) != canon(is) {
                    eprintln!(
                        "warning: {}: the run started with NAS-Bench-101 {was}, resumed with {is}",
                        run.root.display()
                    );
                }
                Ok(())
            }
        },
        (was, is) => {
            let name = |p: &Option<String>| p.clone().unwrap_or_else(|| "no table".into());
            Err(refuse(format!(
                "the run started with {} (run.json `nb101_path`) but is resumed with {}: \
                 its remaining epochs would lack or gain NB-101 errors and regrets; resume \
                 {}",
                name(was),
                name(is),
                match was {
                    Some(p) => format!("with --nb101 {p}"),
                    None => "without --nb101".into(),
                }
            )))
        }
    }
}

/// What one search call works with.
struct Job<'a> {
    cfg: &'a SearchConfig,
    data: &'a SearchData,
    oracle: Option<&'a dyn Nb101Oracle>,
    run: &'a RunDir,
    opts: &'a SearchOptions,
    reference: Option<&'a searchspace::Reference>,
    variant: Variant<'a>,
}

/// [`run_search`] with an optimizer of your own (docs/new-variant.md), recorded under
/// `variant.name`; `cfg` still supplies the supernet, data, weight-optimizer and schedule
/// settings.
pub fn run_search_with(
    cfg: &SearchConfig,
    data: &SearchData,
    oracle: Option<&dyn Nb101Oracle>,
    out: &Path,
    opts: &SearchOptions,
    variant: Variant<'_>,
) -> Result<SearchOutcome, OneShotError> {
    if !cfg.correlation.epochs.is_empty() && oracle.is_none() {
        return Err(OneShotError::Config {
            file: "[correlation]".into(),
            msg: format!(
                "`epochs` = {:?} asks for the correlation evaluation, which needs a NAS-Bench-101 table (--nb101)",
                cfg.correlation.epochs
            ),
        });
    }
    let run = RunDir::create(out)?;
    // Held until this function returns: a second search on the folder is refused.
    let _lock = runfmt::RunLock::acquire(out)?;
    let existing =
        run.epochs_path().exists() || checkpoint::locate(&run.checkpoint_dir()).is_some();
    if existing && !opts.resume {
        return Err(OneShotError::RunDir {
            path: out.to_path_buf(),
            msg: "already holds a run: pass --resume to continue it, or choose another --out"
                .into(),
        });
    }
    if opts.resume && run.config_path().exists() {
        let saved = SearchConfig::load(Some(&run.config_path()), None, None)?;
        if &saved != cfg {
            return Err(OneShotError::RunDir {
                path: out.to_path_buf(),
                msg: "config.toml of the run differs from the requested configuration; resume with the run's own config".into(),
            });
        }
    }
    // Hashed once: a real table is some hundred MB.
    let table = oracle.and_then(|o| o.fingerprint());
    if opts.resume {
        check_same_table(&run, oracle, table.as_deref())?;
    }
    runfmt::write_atomic(&run.config_path(), cfg.to_toml().as_bytes())?;
    let space = searchspace::SpaceId::try_from(cfg.space)
        .map_err(|e| OneShotError::Invalid(e.to_string()))?;
    let reference = if opts.paper_reference {
        Some(searchspace::Reference::original(space))
    } else {
        oracle.and_then(|o| o.reference(space))
    };
    run.write_json(
        "run.json",
        &RunMeta {
            optimizer: variant.name.to_string(),
            space,
            seed: cfg.seed,
            device: format!("{:?}", opts.device),
            epochs: cfg.epochs,
            cifar10: data.source.clone(),
            nb101_path: oracle.map(|o| o.path()),
            nb101_synthetic: oracle.map(|o| o.is_synthetic()),
            nb101_fingerprint: table,
            regret_reference: reference.clone(),
            nb1s1_version: env!("CARGO_PKG_VERSION").into(),
            method: variant.method.and_then(|m| serde_json::to_value(m).ok()),
        },
    )?;
    let status = |s: RunStatus, message: String, done: usize| {
        run.write_status(&StatusFile {
            status: s,
            message,
            epochs_done: done,
            epochs_total: cfg.epochs,
            updated_unix: now_unix(),
        })
    };
    let job = Job {
        cfg,
        data,
        oracle,
        run: &run,
        opts,
        reference: reference.as_ref(),
        variant,
    };
    let mut done = 0usize;
    let result = search_loop(&job, &mut done);
    // Complete means one record for every epoch run; anything else is a bug to report.
    let result = result.and_then(|o| {
        if o.status == RunStatus::Complete {
            runfmt::check_epochs_complete(&run.epochs_path(), &o.records, done)?;
        }
        Ok(o)
    });
    match &result {
        Ok(o) if o.status == RunStatus::Complete => {
            let msg = match &o.stopped_early {
                Some(why) => format!("stopped early by the optimizer after {done} epochs: {why}"),
                None => "search finished".into(),
            };
            status(RunStatus::Complete, msg, done)?
        }
        Ok(_) => status(
            RunStatus::Running,
            format!("stopped after epoch {done}; resume with --resume"),
            done,
        )?,
        Err(e @ OneShotError::Diverged { .. }) => status(RunStatus::Diverged, e.to_string(), done)?,
        Err(e) => status(RunStatus::Failed, e.to_string(), done)?,
    }
    result
}

/// The search's progress bar (hidden unless asked for).
fn progress_bar(show: bool, steps: usize) -> ProgressBar {
    let bar = if show {
        ProgressBar::with_draw_target(Some(steps as u64), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// The epoch's training loader (augmented, shuffled per epoch) and the cycling architecture
/// queue positioned where the last epoch left it.
fn loaders(
    cfg: &SearchConfig,
    data: &SearchData,
    plan: &Plan,
    epoch: usize,
    arch_state: LoaderState,
) -> Result<(Loader, Loader), OneShotError> {
    let derr = |e: nb1s1_data::DataError| OneShotError::Data(e.to_string());
    let augment = train_augment(cfg, epoch);
    let train_seed = derive_seed(cfg.seed, 0, TAG_TRAIN);
    let mut train = Loader::new(
        data.train.clone(),
        plan.split.weights.clone(),
        cfg.data.batch_size,
        Some(augment),
        train_seed,
        true,
    )
    .map_err(derr)?;
    train
        .resume(LoaderState {
            seed: train_seed,
            epoch: epoch as u64,
            cursor: 0,
        })
        .map_err(derr)?;
    let mut arch = Loader::new(
        data.train.clone(),
        plan.split.arch.clone(),
        cfg.data.batch_size,
        Some(augment),
        arch_state.seed,
        true,
    )
    .map_err(derr)?
    .cycling(true);
    arch.resume(arch_state).map_err(derr)?;
    Ok((train, arch))
}

/// The training transform of `epoch`: crop, flip, and Cutout at the epoch's probability.
fn train_augment(cfg: &SearchConfig, epoch: usize) -> Augment {
    let augment = Augment::darts().with_normalize(cfg.normalization());
    if !cfg.data.cutout {
        return augment;
    }
    let p = cutout_prob(
        epoch,
        cfg.epochs,
        cfg.data.cutout_prob,
        cfg.faithful.cutout_constant,
    );
    augment.with_cutout(cfg.data.cutout_length, p)
}

/// The next batch of the architecture queue, on `dev`.
fn next_arch_batch(arch: &mut Loader, dev: Device) -> Result<TensorBatch, OneShotError> {
    let b = arch
        .next_batch()
        .ok_or_else(|| OneShotError::Data("architecture queue ran dry".into()))?;
    Ok(TensorBatch::from_batch(&b, dev))
}

/// The validation set as batches, in a fixed order: un-augmented, or under
/// `faithful.augment_valid` with `epoch`'s training transform drawn afresh (the original's
/// valid queue).
fn valid_batches(
    cfg: &SearchConfig,
    plan: &Plan,
    dev: Device,
    epoch: usize,
) -> Result<Vec<TensorBatch>, OneShotError> {
    let augment = match plan.augment_valid {
        true => train_augment(cfg, epoch),
        false => Augment::eval().with_normalize(cfg.normalization()),
    };
    let seed = derive_seed(cfg.seed, epoch as u64, TAG_VALID);
    let mut l = Loader::new(
        plan.valid.clone(),
        plan.valid_indices.clone(),
        cfg.data.eval_batch_size,
        Some(augment),
        seed,
        false,
    )
    .map_err(|e| OneShotError::Data(e.to_string()))?;
    Ok(std::iter::from_fn(|| l.next_batch())
        .map(|b| TensorBatch::from_batch(&b, dev))
        .collect())
}

/// The model, the optimizers and the loop state, fresh or from the run's checkpoint.
struct Resumed {
    model: OneShotModel,
    opt: Box<dyn SearchOptimizer>,
    sgd: Sgd,
    state: CheckpointState,
}

fn build_or_resume(job: &Job<'_>) -> Result<Resumed, OneShotError> {
    let cfg = job.cfg;
    tch::manual_seed(derive_seed(cfg.seed, 0, 0) as i64);
    let mut model = OneShotModel::new(&cfg.model, job.opts.device)?;
    let mut opt = (job.variant.build)(cfg, &model)?;
    let w = &cfg.weights;
    let mut sgd = Sgd::new(model.weight_params(), w.lr, w.momentum, w.weight_decay);
    sgd.step_zero_grads = cfg.faithful.step_zero_grads;
    let mut state = CheckpointState {
        next_epoch: 0,
        global_step: 0,
        arch_loader: LoaderState {
            seed: derive_seed(cfg.seed, 0, TAG_ARCH),
            epoch: 0,
            cursor: 0,
        },
        seed: cfg.seed,
        stopped_early: None,
        checksums: Default::default(),
    };
    let ck_dir = job.run.checkpoint_dir();
    if let Some(dir) = checkpoint::locate(&ck_dir).filter(|_| job.opts.resume) {
        state = checkpoint::read_state(&dir)?;
        let tensors = checkpoint::load(
            &dir,
            &mut model.weights,
            &mut model.arch_store,
            opt.own_store_mut(),
        )?;
        sgd.load_state("sgd.", &tensors);
        opt.load_state(&tensors)?;
    }
    // A kill between the checkpoint and its kept copy: make the copy now.
    if let Some(label) = state_label(cfg, state.next_epoch) {
        let kept = kept_dir(cfg, &job.run.root, label);
        if cfg.keep_checkpoints.contains(&label) && !kept.join("state.json").is_file() {
            if let Some(dir) = checkpoint::locate(&ck_dir) {
                checkpoint::keep(&dir, &kept)?;
            }
        }
    }
    Ok(Resumed {
        model,
        opt,
        sgd,
        state,
    })
}

/// Per-epoch training totals.
#[derive(Default)]
struct Totals {
    loss: f64,
    correct: i64,
    seen: usize,
}

fn search_loop(job: &Job<'_>, done: &mut usize) -> Result<SearchOutcome, OneShotError> {
    let (cfg, run, dev) = (job.cfg, job.run, job.opts.device);
    let Resumed {
        model,
        mut opt,
        mut sgd,
        mut state,
    } = build_or_resume(job)?;
    let plan = plan(cfg, job.data, opt.data_split())?;
    if state.next_epoch > cfg.epochs {
        return Err(OneShotError::Checkpoint {
            path: run.checkpoint_dir().join("state.json"),
            msg: format!(
                "`next_epoch` = {} is past the run's {} epochs",
                state.next_epoch, cfg.epochs
            ),
        });
    }
    let mut records = run.resume_epochs(state.next_epoch)?;
    *done = state.next_epoch;
    if let Some(why) = state.stopped_early.clone() {
        return Ok(SearchOutcome {
            status: RunStatus::Complete,
            records,
            stopped_early: Some(why),
        });
    }
    let mut inline = match job.oracle {
        Some(o) if !cfg.correlation.epochs.is_empty() => {
            Some(Inline::new(cfg, &job.data.train, &job.data.test, o))
        }
        _ => None,
    };
    let mut events: Option<Events> = None;
    let recalibration = crate::evaluation::Recalibration::for_search(cfg, &job.data.train, dev)?;
    let mut valid = match plan.augment_valid {
        true => Vec::new(),
        false => valid_batches(cfg, &plan, dev, 0)?,
    };
    let batches_per_epoch = plan.split.weights.len().div_ceil(cfg.data.batch_size);
    let remaining = cfg.epochs - state.next_epoch.min(cfg.epochs);
    let bar = progress_bar(job.opts.progress, remaining * batches_per_epoch);
    for epoch in state.next_epoch..cfg.epochs {
        if job.opts.stop_after.is_some_and(|s| epoch >= s) {
            bar.abandon();
            return Ok(SearchOutcome {
                status: RunStatus::Running,
                records,
                stopped_early: None,
            });
        }
        if events.is_none() && cfg.tensorboard.enabled {
            events = Some(Events::open(&run.tensorboard_dir())?);
        }
        let t0 = Instant::now();
        bar.set_prefix(format!(
            "{} epoch {}/{}",
            job.variant.name,
            epoch + 1,
            cfg.epochs
        ));
        if plan.augment_valid {
            valid = valid_batches(cfg, &plan, dev, epoch)?;
        }
        tch::manual_seed(derive_seed(cfg.seed, epoch as u64, TAG_TORCH) as i64);
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(cfg.seed, epoch as u64, TAG_RNG));
        let w = &cfg.weights;
        sgd.lr = epoch_lr(
            epoch,
            cfg.epochs,
            w.lr,
            w.lr_min,
            cfg.faithful.scheduler_shift,
        );
        let (mut train_loader, mut arch_loader) =
            loaders(cfg, job.data, &plan, epoch, state.arch_loader)?;
        let mut cx = EpochContext {
            model: &model,
            sgd: &mut sgd,
            rng: &mut rng,
            epoch,
            epochs: cfg.epochs,
            global_step: state.global_step,
            weights: w,
            divergence_loss: cfg.divergence_loss,
            valid: &valid,
        };
        // The original's convention: the epoch's architecture is the one it starts from.
        let at_start = match cfg.faithful.record_at_epoch_start {
            true => {
                if epoch == 0 {
                    initial_state(job, &model, opt.as_ref(), cx.sgd, &state, inline.as_mut())?;
                }
                let sel = select(cfg, &model, opt.as_mut(), cx.rng, &valid)?;
                Some(sel)
            }
            false => None,
        };
        opt.new_epoch(&mut cx)?;
        let arch_steps = opt.wants_valid_batches(epoch);
        let mut totals = Totals::default();
        while let Some(b) = train_loader.next_batch() {
            let tb = TensorBatch::from_batch(&b, dev);
            let vb = match arch_steps {
                true => Some(next_arch_batch(&mut arch_loader, dev)?),
                false => None,
            };
            cx.global_step = state.global_step;
            let st = opt
                .step(&mut cx, &tb, vb.as_ref())
                .inspect_err(|_| bar.abandon())?;
            state.global_step += 1;
            if let Some(ev) = events.as_mut() {
                let every = cfg.tensorboard.step_interval;
                if every > 0 && state.global_step % every == 0 {
                    ev.scalar("train/step_loss", state.global_step as i64, st.loss)?;
                }
            }
            totals.loss += st.loss * st.len as f64;
            totals.correct += st.correct;
            totals.seen += st.len;
            let seen = totals.seen.max(1) as f64;
            bar.set_message(format!(
                "loss {:.3} acc {:.1}%",
                totals.loss / seen,
                100.0 * totals.correct as f64 / seen
            ));
            bar.inc(1);
        }
        cx.global_step = state.global_step;
        let end = opt.end_epoch(&mut cx, &mut || next_arch_batch(&mut arch_loader, dev))?;
        if !all_finite(&model.arch_params()) || !all_finite(&sgd.params) {
            bar.abandon();
            return Err(OneShotError::Diverged {
                epoch,
                msg: "weights or architecture weights are not finite".into(),
            });
        }
        let sel = match at_start {
            Some(sel) => sel,
            None => select(cfg, &model, opt.as_mut(), &mut rng, &valid)?,
        };
        let eval = EvalInputs {
            valid: &valid,
            recalibration: recalibration.as_ref(),
        };
        let rec = evaluate_epoch(job, &model, opt.as_mut(), &mut rng, &eval, epoch, sel)?;
        let rec = EpochRecord {
            train_loss: totals.loss / totals.seen.max(1) as f64,
            train_accuracy: totals.correct as f64 / totals.seen.max(1) as f64,
            lr: sgd.lr,
            seconds: t0.elapsed().as_secs_f64(),
            ..rec
        };
        run.append_epoch(&rec)?;
        if let Some(ev) = events.as_mut() {
            for (tag, v) in epoch_scalars(&rec) {
                ev.scalar(&tag, epoch as i64, v)?;
            }
            ev.flush()?;
        }
        records.push(rec);
        // Before the checkpoint: a kill during the evaluation repeats the epoch on resume.
        if let (Some(inline), Some(label)) = (inline.as_mut(), state_label(cfg, epoch + 1)) {
            bar.set_message(format!("correlation evaluation of epoch {label}"));
            inline.maybe_evaluate(&run.root, &model.net, label)?;
        }
        state.next_epoch = epoch + 1;
        state.arch_loader = arch_loader.state();
        if let EpochEnd::Stop(why) = &end {
            state.stopped_early = Some(why.clone());
        }
        save_checkpoint(job, &model, opt.as_ref(), &sgd, &state)?;
        *done = epoch + 1;
        run.write_status(&StatusFile {
            status: RunStatus::Running,
            message: format!("epoch {} of {} done", epoch + 1, cfg.epochs),
            epochs_done: epoch + 1,
            epochs_total: cfg.epochs,
            updated_unix: now_unix(),
        })?;
        if state.stopped_early.is_some() {
            break;
        }
    }
    bar.finish_and_clear();
    Ok(SearchOutcome {
        status: RunStatus::Complete,
        records,
        stopped_early: state.stopped_early,
    })
}

/// The optimizer's choice of architecture for the model as it is now.
fn select(
    cfg: &SearchConfig,
    model: &OneShotModel,
    opt: &mut dyn SearchOptimizer,
    rng: &mut ChaCha8Rng,
    valid: &[TensorBatch],
) -> Result<(Selected, Option<serde_json::Value>), OneShotError> {
    let ties = match cfg.faithful.argpartition_ties {
        true => supernet::TopKTies::Argpartition,
        false => supernet::TopKTies::LowerIndex,
    };
    let sel = opt.select(&mut SelectContext {
        model,
        rng,
        valid,
        ties,
    })?;
    let weights = opt.learns_arch_weights().then(|| arch_json(model));
    Ok((sel, weights))
}

/// `record_at_epoch_start`, before the first epoch: the initialization is epoch 0 of the kept
/// checkpoints and the correlation evaluation.
fn initial_state(
    job: &Job<'_>,
    model: &OneShotModel,
    opt: &dyn SearchOptimizer,
    sgd: &Sgd,
    state: &CheckpointState,
    inline: Option<&mut Inline<'_>>,
) -> Result<(), OneShotError> {
    if let Some(inline) = inline {
        inline.maybe_evaluate(&job.run.root, &model.net, 0)?;
    }
    if job.cfg.keep_checkpoints.contains(&0) {
        save_checkpoint(job, model, opt, sgd, state)?;
    }
    Ok(())
}

/// The validation batches and the evaluation part (`[method] evaluation`).
struct EvalInputs<'a> {
    valid: &'a [TensorBatch],
    recalibration: Option<&'a crate::evaluation::Recalibration>,
}

/// The epoch's selection (`sel`, with the architecture weights it was made from), its anytime
/// NB-101 look-up and the optimizer's metrics, as a record whose training totals and time the
/// loop fills in. A selection that measured no one-shot error gets the relaxed supernet's now.
fn evaluate_epoch(
    job: &Job<'_>,
    model: &OneShotModel,
    opt: &mut dyn SearchOptimizer,
    rng: &mut ChaCha8Rng,
    eval: &EvalInputs<'_>,
    epoch: usize,
    sel: (Selected, Option<serde_json::Value>),
) -> Result<EpochRecord, OneShotError> {
    let (
        Selected {
            architecture,
            one_shot_valid_error,
        },
        arch_weights,
    ) = sel;
    // With BN recalibration the one-shot error is the selected architecture's, measured anew.
    let one_shot_valid_error = match (eval.recalibration, one_shot_valid_error) {
        (Some(r), _) => r.error(model, &architecture, eval.valid)?,
        (None, Some(e)) => e,
        (None, None) => relaxed_error(model, opt, rng, eval.valid)?,
    };
    let hash = architecture.hash().ok();
    let errors = match (job.oracle, &hash) {
        (Some(o), Some(h)) => o.query(h)?,
        _ => None,
    };
    let errors = errors.unwrap_or_default();
    let nb101_train_seconds = mean(&errors.train_seconds);
    let (valid_errors, test_errors) = (errors.valid, errors.test);
    let reference = job.reference;
    Ok(EpochRecord {
        epoch,
        nb101_hash: hash.map(|h| h.to_string()),
        valid_regret: reference.and_then(|r| regret(&valid_errors, r.min_valid_error)),
        test_regret: reference.and_then(|r| regret(&test_errors, r.min_test_error)),
        nb101_train_seconds,
        // The search looks up 108 epochs only (the recorder and the import fill this).
        other_budgets: Default::default(),
        architecture,
        valid_errors,
        test_errors,
        one_shot_valid_error,
        train_loss: 0.0,
        train_accuracy: 0.0,
        lr: 0.0,
        metrics: opt.metrics(),
        arch_weights,
        seconds: 0.0,
    })
}

/// The rolling checkpoint of `state`, and its kept copy when the config asks for one.
fn save_checkpoint(
    job: &Job<'_>,
    model: &OneShotModel,
    opt: &dyn SearchOptimizer,
    sgd: &Sgd,
    state: &CheckpointState,
) -> Result<(), OneShotError> {
    let ck_dir = job.run.checkpoint_dir();
    let mut optimizers = sgd.state("sgd.");
    optimizers.extend(opt.state());
    checkpoint::save(
        &ck_dir,
        &CheckpointParts {
            weights: &model.weights,
            arch: &model.arch_store,
            controller: opt.own_store(),
            optimizers,
            state,
        },
    )?;
    if let Some(label) = state_label(job.cfg, state.next_epoch) {
        if job.cfg.keep_checkpoints.contains(&label) {
            checkpoint::keep(&ck_dir, &kept_dir(job.cfg, &job.run.root, label))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OptimizerKind;

    fn data() -> SearchData {
        SearchData {
            train: Arc::new(nb1s1_data::bench::synthetic_split(40, 1)),
            test: Arc::new(nb1s1_data::bench::synthetic_split(20, 2)),
            source: "synthetic".into(),
        }
    }

    /// Sum of |x| over every validation image.
    fn mass(cfg: &SearchConfig, how: DataSplit, epoch: usize) -> f64 {
        let p = plan(cfg, &data(), how).unwrap();
        valid_batches(cfg, &p, Device::Cpu, epoch)
            .unwrap()
            .iter()
            .map(|b| b.x.abs().sum(Kind::Double).double_value(&[]))
            .sum()
    }

    /// `faithful.augment_valid` puts the validation images through the epoch's training
    /// transform: a Cutout of side 64 (past the config's limit, unchecked here) and probability
    /// 1 blanks every image wherever its centre falls (0 after normalization). ENAS' validation images (the test set) stay un-augmented.
    #[test]
    fn augmented_valid_queue_uses_the_training_transform_except_for_enas() {
        let mut cfg = SearchConfig::defaults(OptimizerKind::Darts, 1);
        cfg.data.eval_batch_size = 8;
        (
            cfg.data.cutout,
            cfg.data.cutout_length,
            cfg.data.cutout_prob,
        ) = (true, 64, 1.0);
        cfg.faithful.cutout_constant = true;
        let (plain, enas) = (
            mass(&cfg, DataSplit::Halves, 0),
            mass(&cfg, DataSplit::Enas, 0),
        );
        assert!(plain > 0.0);
        cfg.faithful.augment_valid = true;
        assert_eq!(mass(&cfg, DataSplit::Halves, 0), 0.0);
        assert_eq!(mass(&cfg, DataSplit::Enas, 0), enas);
        // Crop and flip without Cutout: drawn afresh each epoch.
        cfg.data.cutout = false;
        cfg.faithful.augment_valid = true;
        let (e0, e1) = (
            mass(&cfg, DataSplit::Halves, 0),
            mass(&cfg, DataSplit::Halves, 1),
        );
        assert!(e0 != plain && e0 != e1, "{plain} {e0} {e1}");
    }
}
