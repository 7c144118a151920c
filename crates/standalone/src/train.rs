//! The training loop: NB-101's protocol on a [`TrainConfig`], one epoch at a time, each followed
//! by a validation and a test pass, a record and a checkpoint. A rerun into the same folder
//! continues after the last checkpoint and, on CPU, produces bit for bit the weights and records
//! of an uninterrupted run: the loader is keyed by (seed, epoch, position), nothing else draws
//! random numbers after the initialization, and every optimizer slot is saved.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use nasbench101::network::NetworkPlan;
use nasbench101::ModelSpec;
use nb1s1_data::{Augment, HorizontalFlip, Loader, Normalize, RandomCrop, Split};
use tch::{nn, Device, Kind, Tensor};

use crate::config::{spread, TrainConfig, NB101_RGB_MEAN, NB101_RGB_STD, NB101_TRAIN_IMAGES};
use crate::model::{build, count_trainable, Nb101Network};
use crate::optim::{cosine_lr, RmsProp};
use crate::run::{
    write_tensors, CellInfo, EpochRecord, RunFolder, RunMeta, TrainState, MODEL_FILE, STATUS_FILE,
};
use crate::StandaloneError;

/// CIFAR-10 as loaded by `nb1s1-data`: the 50,000 training images in official order (the last
/// 10,000 validate) and the test images.
pub struct TrainData {
    pub train: Arc<Split>,
    pub test: Arc<Split>,
    /// Where they came from, for `run.json`.
    pub source: String,
}

/// How to run (not part of the run's identity).
#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub device: Device,
    /// NHWC activations; `None`: on CPU only. Keep it the same across a run's resumes.
    pub channels_last: Option<bool>,
    /// Show a progress bar.
    pub progress: bool,
    /// Stop after this many epochs in total (a later call continues).
    pub stop_after: Option<usize>,
    /// Where the cell came from, for `run.json` (the first call's is kept).
    pub origin: Option<runfmt::CellOrigin>,
    /// The cell's NAS-Bench-101 record, for `run.json` (the first call's is kept).
    pub nb101: Option<runfmt::StandaloneNb101>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            device: Device::Cpu,
            channels_last: None,
            progress: false,
            stop_after: None,
            origin: None,
            nb101: None,
        }
    }
}

/// What a call to [`train`] left in the run folder.
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    /// Every finished epoch, earlier calls' included.
    pub records: Vec<EpochRecord>,
    /// All epochs ran and the model was exported.
    pub complete: bool,
    pub trainable_parameters: u64,
}

/// NB-101's normalization (its own channel statistics).
pub fn nb101_normalize() -> Normalize {
    Normalize {
        mean: NB101_RGB_MEAN.map(|m| m / 255.0),
        std: NB101_RGB_STD.map(|s| s / 255.0),
    }
}

/// NB-101's training transform: pad 4 with zeros, random 32x32 crop, random flip, normalize.
pub fn nb101_augment(augment: bool) -> Augment {
    Augment {
        crop: augment.then_some(RandomCrop { padding: 4 }),
        flip: augment.then_some(HorizontalFlip { p: 0.5 }),
        normalize: nb101_normalize(),
        cutout: None,
    }
}

/// The images of a loader's batch as a tensor on `device`.
fn batch_tensors(images: &[f32], labels: &[i64], device: Device) -> (Tensor, Tensor) {
    let n = labels.len() as i64;
    let x = Tensor::from_slice(images)
        .view([n, 3, 32, 32])
        .to_device(device);
    (x, Tensor::from_slice(labels).to_device(device))
}

/// Top-1 accuracy of `net` (inference mode) on `indices` of `split`.
pub fn evaluate(
    net: &Nb101Network,
    split: &Arc<Split>,
    indices: Vec<usize>,
    batch_size: usize,
    device: Device,
) -> Result<f64, StandaloneError> {
    let aug = nb101_augment(false);
    let mut loader = Loader::new(Arc::clone(split), indices, batch_size, Some(aug), 0, false)?;
    let (mut right, mut seen) = (0i64, 0usize);
    tch::no_grad(|| {
        while let Some(b) = loader.next_batch() {
            let (x, y) = batch_tensors(&b.images, &b.labels, device);
            let pred = net.forward_t(&x, false).argmax(1, false);
            right += pred.eq_tensor(&y).sum(Kind::Int64).int64_value(&[]);
            seen += b.len;
        }
    });
    Ok(right as f64 / seen.max(1) as f64)
}

/// The run's description for `run.json`.
fn run_meta(
    spec: &ModelSpec,
    plan: &NetworkPlan,
    cfg: &TrainConfig,
    data: &TrainData,
    opts: &TrainOptions,
) -> Result<RunMeta, StandaloneError> {
    let hash = spec
        .hash()
        .map_err(|e| StandaloneError::Network(e.into()))?;
    Ok(RunMeta {
        cell: CellInfo {
            matrix: spec.original_matrix().to_vec(),
            ops: spec.original_ops().to_vec(),
            hash: hash.to_string(),
        },
        origin: opts.origin.clone(),
        config: cfg.clone(),
        nb101: opts.nb101.clone(),
        trainable_parameters: plan.trainable_parameters(),
        vertex_channels: plan
            .stacks
            .iter()
            .filter_map(|cells| cells.first().map(|c| c.vertex_channels.clone()))
            .collect(),
        data: data.source.clone(),
        nb1s1_version: env!("CARGO_PKG_VERSION").to_string(),
    })
}

/// Every variable of the store (BatchNorm averages included), contiguous, by name.
pub fn named_variables(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(k, t)| (k, t.contiguous()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

/// Copies `tensors` into the variables of `vs` (each must be there with its shape).
pub fn load_variables(
    vs: &nn::VarStore,
    tensors: &[(String, Tensor)],
    path: &Path,
) -> Result<(), StandaloneError> {
    let vars = vs.variables();
    for (name, var) in &vars {
        let Some((_, t)) = tensors.iter().find(|(k, _)| k == name) else {
            return Err(StandaloneError::run_folder(
                path,
                format!("tensor {name} is missing"),
            ));
        };
        if t.size() != var.size() {
            return Err(StandaloneError::run_folder(
                path,
                format!(
                    "tensor {name} has shape {:?}, the network needs {:?}",
                    t.size(),
                    var.size()
                ),
            ));
        }
        let mut var = var.shallow_clone();
        tch::no_grad(|| var.copy_(t));
    }
    Ok(())
}

fn progress_bar(show: bool, total: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} steps, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Trains the network of `spec` with `cfg` into the run folder `dir`, continuing what is there.
pub fn train(
    spec: &ModelSpec,
    cfg: &TrainConfig,
    data: &TrainData,
    dir: &Path,
    opts: &TrainOptions,
) -> Result<TrainOutcome, StandaloneError> {
    cfg.validate()?;
    let plan = NetworkPlan::new(spec, cfg.network)?;
    let valid_len = data.train.len().saturating_sub(NB101_TRAIN_IMAGES);
    if valid_len == 0 || data.test.is_empty() {
        return Err(StandaloneError::Config {
            field: "data",
            why: format!(
                "{} needs more than {NB101_TRAIN_IMAGES} training images (the rest validate) and a \
                 test split; it has {} and {}",
                data.source,
                data.train.len(),
                data.test.len()
            ),
        });
    }
    let folder = RunFolder::create(dir)?;
    // One writer per run folder: a second `train` on it is refused with the holder's pid.
    let _lock = runfmt::RunLock::acquire(dir).map_err(|e| StandaloneError::RunFolder {
        path: dir.to_path_buf(),
        msg: e.to_string(),
    })?;
    folder.claim(&run_meta(spec, &plan, cfg, data, opts)?)?;

    let device = opts.device;
    let nhwc = opts.channels_last.unwrap_or(device == Device::Cpu);
    let (vs, net) = build(&plan, &cfg.model, device, nhwc, cfg.seed);
    let trainable_parameters = count_trainable(&vs);
    let mut opt = RmsProp::new(&vs, cfg.optimizer);
    let mut loader = Loader::new(
        Arc::clone(&data.train),
        (0..cfg.train_images).collect(),
        cfg.batch_size,
        Some(nb101_augment(cfg.augment)),
        cfg.seed,
        true,
    )?;

    let mut records = folder.records()?;
    let state = folder.state()?;
    let (mut epoch, mut step, mut previous) = (0usize, 0u64, None);
    if let Some(st) = &state {
        let path = folder.path(&st.checkpoint);
        let tensors =
            Tensor::read_safetensors(&path).map_err(|e| StandaloneError::tensors(&path, e))?;
        let (optim, weights): (Vec<_>, Vec<_>) = tensors
            .into_iter()
            .partition(|(k, _)| k.starts_with("ms/") || k.starts_with("mom/"));
        load_variables(&vs, &weights, &path)?;
        opt.load_state(&optim)
            .map_err(|m| StandaloneError::run_folder(&path, m))?;
        loader.resume(st.loader)?;
        (epoch, step, previous) = (st.next_epoch, st.global_step, Some(st.checkpoint.clone()));
    }
    // Records written after the last checkpoint belong to epochs that run again.
    records.truncate(epoch);
    let running = |done: usize| {
        folder.write_status(runfmt::RunStatus::Running, String::new(), done, cfg.epochs)
    };
    if epoch < cfg.epochs {
        running(epoch)?;
    }

    let last = opts.stop_after.map_or(cfg.epochs, |s| s.min(cfg.epochs));
    let total = cfg.total_steps();
    let bar = progress_bar(opts.progress, total);
    bar.set_position(step);
    let valid_idx = spread(NB101_TRAIN_IMAGES, valid_len, cfg.valid_images);
    let test_idx = spread(0, data.test.len(), cfg.test_images);
    while epoch < last {
        let started = Instant::now();
        bar.set_message(format!("epoch {}/{}", epoch + 1, cfg.epochs));
        let (mut loss_sum, mut right, mut seen, mut batches, mut lr) =
            (0.0, 0i64, 0usize, 0u64, 0.0);
        while let Some(b) = loader.next_batch() {
            if b.len < cfg.batch_size {
                continue; // NB-101 drops the remainder
            }
            let (x, y) = batch_tensors(&b.images, &b.labels, device);
            let logits = net.forward_t(&x, true);
            let loss = logits.cross_entropy_for_logits(&y);
            loss.backward();
            lr = cosine_lr(cfg.optimizer.lr, step, total);
            opt.step(lr);
            let l = loss.double_value(&[]);
            if !l.is_finite() {
                let err = StandaloneError::Diverged { step, loss: l };
                // A result, not a failure: the store counts it and the runner does not retry.
                folder.write_status(
                    runfmt::RunStatus::Diverged,
                    err.to_string(),
                    epoch,
                    cfg.epochs,
                )?;
                return Err(err);
            }
            loss_sum += l;
            right += logits
                .argmax(1, false)
                .eq_tensor(&y)
                .sum(Kind::Int64)
                .int64_value(&[]);
            seen += b.len;
            batches += 1;
            step += 1;
            bar.inc(1);
        }
        let valid = evaluate(
            &net,
            &data.train,
            valid_idx.clone(),
            cfg.eval_batch_size,
            device,
        )?;
        let test = evaluate(
            &net,
            &data.test,
            test_idx.clone(),
            cfg.eval_batch_size,
            device,
        )?;
        records.push(EpochRecord {
            epoch,
            steps: step,
            lr,
            train_loss: loss_sum / batches.max(1) as f64,
            train_accuracy: right as f64 / seen.max(1) as f64,
            valid_accuracy: valid,
            test_accuracy: test,
            seconds: started.elapsed().as_secs_f64(),
        });
        epoch += 1;
        folder.write_records(&records)?;
        let mut tensors = named_variables(&vs);
        tensors.extend(opt.state());
        let st = TrainState {
            next_epoch: epoch,
            global_step: step,
            loader: loader.state(),
            checkpoint: format!("checkpoint-{epoch}.safetensors"),
            complete: false,
        };
        folder.checkpoint(&tensors, &st, previous.as_deref())?;
        previous = Some(st.checkpoint);
        if epoch < cfg.epochs {
            running(epoch)?;
        }
    }
    bar.finish_and_clear();
    let complete = epoch >= cfg.epochs;
    if complete {
        write_tensors(&folder.path(MODEL_FILE), &named_variables(&vs))?;
        let first_completion = folder.state()?.filter(|s| !s.complete);
        if first_completion.is_some() || !folder.path(STATUS_FILE).exists() {
            folder.write_status(
                runfmt::RunStatus::Complete,
                String::new(),
                epoch,
                cfg.epochs,
            )?;
        }
        if let Some(st) = first_completion {
            folder.write_state(&TrainState {
                complete: true,
                ..st
            })?;
        }
    }
    Ok(TrainOutcome {
        records,
        complete,
        trainable_parameters,
    })
}

/// Rebuilds the network of `plan` and loads exported weights (`model.safetensors` or a
/// checkpoint) into it.
pub fn load_exported(
    plan: &NetworkPlan,
    model: &crate::ModelOptions,
    path: &Path,
    device: Device,
    channels_last: bool,
) -> Result<(nn::VarStore, Nb101Network), StandaloneError> {
    let vs = nn::VarStore::new(device);
    let net = Nb101Network::zeroed(&vs.root(), plan, model, channels_last);
    let tensors = Tensor::read_safetensors(path).map_err(|e| StandaloneError::tensors(path, e))?;
    let weights: Vec<_> = tensors
        .into_iter()
        .filter(|(k, _)| !k.starts_with("ms/") && !k.starts_with("mom/"))
        .collect();
    load_variables(&vs, &weights, path)?;
    Ok((vs, net))
}
