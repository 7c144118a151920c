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

use crate::anytime::{regret, Nb101Oracle};
use crate::arch_update::ArchStepContext;
use crate::checkpoint::{self, CheckpointParts, CheckpointState};
use crate::config::{OptimizerKind, SearchConfig};
use crate::correlation::Inline;
use crate::error::OneShotError;
use crate::mixing::{MixContext, Relaxation};
use crate::model::{OneShotModel, TensorBatch};
use crate::optim::{clip_explicit, grads, Sgd};
use crate::optimizer::OneShotOptimizer;
use crate::run_dir::{now_unix, EpochRecord, RunDir, RunMeta, RunStatus, StatusFile};
use crate::schedule::{cosine_lr, cutout_prob, epoch_lr, gdas_tau};
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

/// The weight and architecture index sets, the validation split and its indices.
struct Plan {
    split: SearchSplit,
    valid: Arc<Split>,
    valid_indices: Vec<usize>,
}

fn plan(cfg: &SearchConfig, data: &SearchData) -> Result<Plan, OneShotError> {
    let n = data.train.len();
    let limit = |k: usize| (k > 0).then_some(k);
    let derr = |e: nb1s1_data::DataError| OneShotError::Data(e.to_string());
    let (split, valid, valid_indices) = if cfg.optimizer == OptimizerKind::Enas {
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

/// Error of the supernet on `batches` with the run's relaxation (eval-mode BatchNorm).
fn relaxed_error(
    model: &OneShotModel,
    relaxation: &mut dyn Relaxation,
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
        };
        let mut mix = relaxation.mixing(&mut cx)?;
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
/// `nb1s1 results tensorboard` where both have the value.
pub fn epoch_scalars(rec: &EpochRecord) -> Vec<(&'static str, f64)> {
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    [
        ("train/loss", Some(rec.train_loss)),
        ("train/accuracy", Some(rec.train_accuracy)),
        ("train/lr", Some(rec.lr)),
        ("one_shot/valid_error", Some(rec.one_shot_valid_error)),
        ("regret/valid", rec.valid_regret),
        ("regret/test", rec.test_regret),
        ("nb101/valid_error", mean(&rec.valid_errors)),
        ("nb101/test_error", mean(&rec.test_errors)),
        ("time/epoch_seconds", Some(rec.seconds)),
        ("gdas/tau", rec.tau),
    ]
    .into_iter()
    .filter_map(|(tag, v)| v.map(|v| (tag, v)))
    .collect()
}

fn all_finite(ts: &[(String, Tensor)]) -> bool {
    ts.iter()
        .all(|(_, t)| t.isfinite().all().int64_value(&[]) != 0)
}

/// Builds the optimizer of a run from its configuration and model.
pub type BuildOptimizer<'a> = &'a dyn Fn(&SearchConfig, &OneShotModel) -> OneShotOptimizer;

/// Runs (or resumes) a search into `out` with the optimizer `cfg.optimizer`. Writes
/// `status.json` `failed` or `diverged` with the reason before returning an error.
pub fn run_search(
    cfg: &SearchConfig,
    data: &SearchData,
    oracle: Option<&dyn Nb101Oracle>,
    out: &Path,
    opts: &SearchOptions,
) -> Result<SearchOutcome, OneShotError> {
    run_search_with(cfg, data, oracle, out, opts, &OneShotOptimizer::build)
}

/// [`run_search`] with an optimizer of your own composition (docs/new-variant.md); `cfg` still
/// supplies the supernet, data, weight-optimizer and schedule settings.
pub fn run_search_with(
    cfg: &SearchConfig,
    data: &SearchData,
    oracle: Option<&dyn Nb101Oracle>,
    out: &Path,
    opts: &SearchOptions,
    build: BuildOptimizer<'_>,
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
    crate::run_dir::atomic_write(&run.config_path(), cfg.to_toml().as_bytes())?;
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
            optimizer: cfg.optimizer.name().into(),
            space: cfg.space,
            seed: cfg.seed,
            device: format!("{:?}", opts.device),
            epochs: cfg.epochs,
            cifar10: data.source.clone(),
            nb101_path: oracle.map(|o| o.path()),
            nb101_synthetic: oracle.map(|o| o.is_synthetic()),
            regret_reference: reference.clone(),
            nb1s1_version: env!("CARGO_PKG_VERSION").into(),
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
    let mut done = 0usize;
    let result = search_loop(
        cfg,
        data,
        oracle,
        &run,
        opts,
        reference.as_ref(),
        build,
        &mut done,
    );
    match &result {
        Ok(o) if o.status == RunStatus::Complete => {
            status(RunStatus::Complete, "search finished".into(), done)?
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

#[allow(clippy::too_many_arguments)]
fn search_loop(
    cfg: &SearchConfig,
    data: &SearchData,
    oracle: Option<&dyn Nb101Oracle>,
    run: &RunDir,
    opts: &SearchOptions,
    reference: Option<&searchspace::Reference>,
    build: BuildOptimizer<'_>,
    done: &mut usize,
) -> Result<SearchOutcome, OneShotError> {
    let dev = opts.device;
    let plan = plan(cfg, data)?;
    let derr = |e: nb1s1_data::DataError| OneShotError::Data(e.to_string());
    tch::manual_seed(derive_seed(cfg.seed, 0, 0) as i64);
    let mut model = OneShotModel::new(&cfg.model, dev)?;
    let mut opt = build(cfg, &model);
    let w = &cfg.weights;
    let mut sgd = Sgd::new(model.weight_params(), w.lr, w.momentum, w.weight_decay);
    let train_seed = derive_seed(cfg.seed, 0, TAG_TRAIN);
    let mut state = CheckpointState {
        next_epoch: 0,
        global_step: 0,
        arch_loader: LoaderState {
            seed: derive_seed(cfg.seed, 0, TAG_ARCH),
            epoch: 0,
            cursor: 0,
        },
        seed: cfg.seed,
    };
    let ck_dir = run.checkpoint_dir();
    if let Some(dir) = checkpoint::locate(&ck_dir).filter(|_| opts.resume) {
        state = checkpoint::read_state(&dir)?;
        let tensors = checkpoint::load(
            &dir,
            &mut model.weights,
            &mut model.arch_store,
            opt.controller_store.as_mut(),
        )?;
        sgd.load_state("sgd.", &tensors);
        opt.arch_update.load_state(&tensors)?;
    }
    let mut records = run.truncate_epochs(state.next_epoch)?;
    *done = state.next_epoch;
    // A kill between the checkpoint and its kept copy: make the copy now.
    if let Some(last) = state.next_epoch.checked_sub(1) {
        let kept = run.kept_checkpoint_dir(last);
        if cfg.keep_checkpoints.contains(&last) && !kept.join("state.json").is_file() {
            if let Some(dir) = checkpoint::locate(&ck_dir) {
                checkpoint::keep(&dir, &kept)?;
            }
        }
    }
    let mut inline = match oracle {
        Some(o) if !cfg.correlation.epochs.is_empty() => {
            Some(Inline::new(&cfg.correlation, cfg.space, &data.test, o))
        }
        _ => None,
    };
    let mut events: Option<Events> = None;
    let valid_batches: Vec<TensorBatch> = {
        let mut l = Loader::eval(
            plan.valid.clone(),
            plan.valid_indices.clone(),
            cfg.data.eval_batch_size,
        )
        .map_err(derr)?;
        std::iter::from_fn(|| l.next_batch())
            .map(|b| TensorBatch::from_batch(&b, dev))
            .collect()
    };
    let batches_per_epoch = plan.split.weights.len().div_ceil(cfg.data.batch_size);
    let bar = if opts.progress {
        ProgressBar::with_draw_target(
            Some(((cfg.epochs - state.next_epoch.min(cfg.epochs)) * batches_per_epoch) as u64),
            ProgressDrawTarget::stderr(),
        )
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    for epoch in state.next_epoch..cfg.epochs {
        if opts.stop_after.is_some_and(|s| epoch >= s) {
            bar.abandon();
            return Ok(SearchOutcome {
                status: RunStatus::Running,
                records,
            });
        }
        if events.is_none() && cfg.tensorboard.enabled {
            events = Some(Events::open(&run.tensorboard_dir())?);
        }
        let t0 = Instant::now();
        bar.set_prefix(format!(
            "{} epoch {}/{}",
            cfg.optimizer.name(),
            epoch + 1,
            cfg.epochs
        ));
        tch::manual_seed(derive_seed(cfg.seed, epoch as u64, TAG_TORCH) as i64);
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(cfg.seed, epoch as u64, TAG_RNG));
        let lr = epoch_lr(
            epoch,
            cfg.epochs,
            w.lr,
            w.lr_min,
            cfg.faithful.scheduler_shift,
        );
        sgd.lr = lr;
        if let Some((hi, lo)) = opt.tau_schedule {
            opt.relaxation
                .set_temperature(gdas_tau(epoch, cfg.epochs, hi, lo));
        }
        let mut augment = Augment::darts();
        if cfg.data.cutout {
            let p = cutout_prob(
                epoch,
                cfg.epochs,
                cfg.data.cutout_prob,
                cfg.faithful.cutout_constant,
            );
            augment = augment.with_cutout(cfg.data.cutout_length, p);
        }
        let mut train_loader = Loader::new(
            data.train.clone(),
            plan.split.weights.clone(),
            cfg.data.batch_size,
            Some(augment),
            train_seed,
            true,
        )
        .map_err(derr)?;
        train_loader
            .resume(LoaderState {
                seed: train_seed,
                epoch: epoch as u64,
                cursor: 0,
            })
            .map_err(derr)?;
        let mut arch_loader = Loader::new(
            data.train.clone(),
            plan.split.arch.clone(),
            cfg.data.batch_size,
            Some(augment),
            state.arch_loader.seed,
            true,
        )
        .map_err(derr)?
        .cycling(true);
        arch_loader.resume(state.arch_loader).map_err(derr)?;
        let arch_steps =
            epoch >= cfg.arch.warm_start_epochs && opt.arch_update.wants_valid_batches();
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0i64, 0usize);
        while let Some(b) = train_loader.next_batch() {
            let tb = TensorBatch::from_batch(&b, dev);
            if arch_steps {
                let vb = arch_loader
                    .next_batch()
                    .ok_or_else(|| OneShotError::Data("architecture queue ran dry".into()))?;
                let vb = TensorBatch::from_batch(&vb, dev);
                let mut cx = ArchStepContext {
                    model: &model,
                    sgd: &sgd,
                    relaxation: opt.relaxation.as_mut(),
                    rng: &mut rng,
                };
                opt.arch_update.before_weight_step(&mut cx, &tb, &vb)?;
            }
            if cfg.optimizer == OptimizerKind::Enas && cfg.faithful.enas_per_batch_lr {
                sgd.lr = cosine_lr(state.global_step as f64, cfg.epochs as f64, w.lr, w.lr_min);
            }
            let mut cx = MixContext {
                arch: &model.arch,
                space: &model.space,
                rng: &mut rng,
                device: dev,
            };
            let mut mix = opt.relaxation.mixing(&mut cx)?;
            let (loss, c) = model.loss(&tb, mix.as_mut(), true);
            let lv = loss.double_value(&[]);
            if !lv.is_finite() || lv > cfg.divergence_loss {
                bar.abandon();
                return Err(OneShotError::Diverged {
                    epoch,
                    msg: format!(
                        "training loss {lv} at step {} (limit {})",
                        state.global_step, cfg.divergence_loss
                    ),
                });
            }
            let mut g = grads(&loss, &sgd.params);
            clip_explicit(&mut g, w.grad_clip);
            sgd.step_with(&g);
            state.global_step += 1;
            if let Some(ev) = events.as_mut() {
                let every = cfg.tensorboard.step_interval;
                if every > 0 && state.global_step % every == 0 {
                    ev.scalar("train/step_loss", state.global_step as i64, lv)?;
                }
            }
            loss_sum += lv * tb.len as f64;
            correct += c;
            seen += tb.len;
            bar.set_message(format!(
                "loss {:.3} acc {:.1}%",
                loss_sum / seen.max(1) as f64,
                100.0 * correct as f64 / seen.max(1) as f64
            ));
            bar.inc(1);
        }
        {
            let mut next = || -> Result<TensorBatch, OneShotError> {
                let b = arch_loader
                    .next_batch()
                    .ok_or_else(|| OneShotError::Data("architecture queue ran dry".into()))?;
                Ok(TensorBatch::from_batch(&b, dev))
            };
            let mut cx = ArchStepContext {
                model: &model,
                sgd: &sgd,
                relaxation: opt.relaxation.as_mut(),
                rng: &mut rng,
            };
            opt.arch_update.after_epoch(&mut cx, &mut next)?;
        }
        if !all_finite(&model.arch_params()) || !all_finite(&sgd.params) {
            bar.abandon();
            return Err(OneShotError::Diverged {
                epoch,
                msg: "weights or architecture weights are not finite".into(),
            });
        }
        let Selected {
            architecture,
            one_shot_valid_error,
        } = opt.selection.select(&mut SelectContext {
            model: &model,
            rng: &mut rng,
            valid: &valid_batches,
        })?;
        let one_shot_valid_error = match one_shot_valid_error {
            Some(e) => e,
            None => relaxed_error(&model, opt.relaxation.as_mut(), &mut rng, &valid_batches)?,
        };
        let hash = architecture.hash().ok();
        let errors = match (oracle, &hash) {
            (Some(o), Some(h)) => o.query(h)?,
            _ => None,
        };
        let (valid_errors, test_errors) = errors.map(|e| (e.valid, e.test)).unwrap_or_default();
        let rec = EpochRecord {
            epoch,
            nb101_hash: hash.map(|h| h.to_string()),
            valid_regret: reference.and_then(|r| regret(&valid_errors, r.min_valid_error)),
            test_regret: reference.and_then(|r| regret(&test_errors, r.min_test_error)),
            architecture,
            valid_errors,
            test_errors,
            one_shot_valid_error,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            lr: sgd.lr,
            tau: opt.relaxation.temperature(),
            arch_weights: opt
                .arch_update
                .learns_arch_weights()
                .then(|| arch_json(&model)),
            seconds: t0.elapsed().as_secs_f64(),
        };
        run.append_epoch(&rec)?;
        if let Some(ev) = events.as_mut() {
            for (tag, v) in epoch_scalars(&rec) {
                ev.scalar(tag, epoch as i64, v)?;
            }
            ev.flush()?;
        }
        records.push(rec);
        // Before the checkpoint: a kill during the evaluation repeats the epoch on resume.
        if let Some(inline) = inline.as_mut() {
            bar.set_message(format!("correlation evaluation of epoch {epoch}"));
            inline.maybe_evaluate(&run.root, &model.net, epoch)?;
        }
        state.next_epoch = epoch + 1;
        state.arch_loader = arch_loader.state();
        let mut optimizers = sgd.state("sgd.");
        optimizers.extend(opt.arch_update.state());
        checkpoint::save(
            &ck_dir,
            &CheckpointParts {
                weights: &model.weights,
                arch: &model.arch_store,
                controller: opt.controller_store.as_ref(),
                optimizers,
                state: &state,
            },
        )?;
        if cfg.keep_checkpoints.contains(&epoch) {
            checkpoint::keep(&ck_dir, &run.kept_checkpoint_dir(epoch))?;
        }
        *done = epoch + 1;
        run.write_status(&StatusFile {
            status: RunStatus::Running,
            message: format!("epoch {} of {} done", epoch + 1, cfg.epochs),
            epochs_done: epoch + 1,
            epochs_total: cfg.epochs,
            updated_unix: now_unix(),
        })?;
    }
    bar.finish_and_clear();
    Ok(SearchOutcome {
        status: RunStatus::Complete,
        records,
    })
}
