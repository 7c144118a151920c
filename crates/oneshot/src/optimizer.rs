//! The optimizer life cycle the search loop drives, and its default implementation.
//!
//! The loop owns the data, the schedules of the weight optimizer, the run folder, checkpoints
//! and evaluation; a [`SearchOptimizer`] owns everything that makes one method differ from
//! another. Per epoch the loop calls [`SearchOptimizer::new_epoch`], then
//! [`SearchOptimizer::step`] once per training batch (with an architecture batch when
//! [`SearchOptimizer::wants_valid_batches`]), then [`SearchOptimizer::end_epoch`], which may stop
//! the run, then [`SearchOptimizer::select`]; [`SearchOptimizer::metrics`] go into the epoch
//! record and [`SearchOptimizer::state`] into the checkpoint.
//!
//! [`OneShotOptimizer`] is the default and the only implementation in the crate: a
//! [`Relaxation`] (how the architecture state becomes mixing weights), an [`ArchUpdate`] (how
//! the architecture state learns), [`Regularizer`]s on the architecture loss, an optional
//! [`Perturbation`] of the weight step's mixing weights, [`EpochHook`]s, and a [`Selection`]
//! (which architecture an epoch reports). The methods are listed in [`crate::registry`] and
//! built by [`crate::compose`].

use std::collections::BTreeMap;

use rand_chacha::ChaCha8Rng;
use supernet::{MixingSource, SharedMixing};
use tch::{nn, Tensor};

use crate::arch_update::{ArchAdam, ArchStepContext, ArchUpdate};
use crate::config::{SearchConfig, WeightConfig};
use crate::error::OneShotError;
use crate::hook::EpochHook;
pub use crate::method::DataSplit;
use crate::mixing::{MixContext, Phase, Relaxation};
use crate::model::{OneShotModel, TensorBatch};
use crate::optim::{clip_explicit, grads, Adam, Sgd};
use crate::perturbation::Perturbation;
use crate::regularizer::Regularizer;
use crate::run_dir::Metrics;
use crate::schedule::{cosine_lr, gdas_tau};
use crate::selection::{SelectContext, Selected, Selection};

/// What [`SearchOptimizer::end_epoch`] decides.
#[derive(Clone, Debug, PartialEq)]
pub enum EpochEnd {
    Continue,
    /// Stop the search after this epoch (recorded and checkpointed); the run is complete and
    /// `status.json` gives the reason.
    Stop(String),
}

/// What one weight step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    pub loss: f64,
    /// Correct predictions on the batch.
    pub correct: i64,
    pub len: usize,
}

/// Everything an optimizer may touch during an epoch.
pub struct EpochContext<'a> {
    pub model: &'a OneShotModel,
    /// The weight optimizer; its lr is the loop's schedule for the epoch (an optimizer may
    /// change it per step, as ENAS' faithful schedule does).
    pub sgd: &'a mut Sgd,
    /// The run's generator, reseeded from (seed, epoch): all architecture randomness.
    pub rng: &'a mut ChaCha8Rng,
    pub epoch: usize,
    pub epochs: usize,
    /// Weight steps taken before this one.
    pub global_step: u64,
    pub weights: &'a WeightConfig,
    /// A training loss above this (or not finite) is divergence.
    pub divergence_loss: f64,
    /// All validation batches in a fixed order (what selection and evaluation use).
    pub valid: &'a [TensorBatch],
}

impl EpochContext<'_> {
    /// A mixing context for one forward pass in `phase`.
    pub fn mix_context(&mut self, phase: Phase) -> MixContext<'_> {
        MixContext {
            arch: &self.model.arch,
            space: &self.model.space,
            rng: &mut *self.rng,
            device: self.model.device,
            phase,
        }
    }

    /// The architecture-step context for `relaxation` and `regularizers`.
    pub fn arch_context<'b>(
        &'b mut self,
        relaxation: &'b mut dyn Relaxation,
        regularizers: &'b mut [Box<dyn Regularizer>],
    ) -> ArchStepContext<'b> {
        ArchStepContext {
            model: self.model,
            sgd: &*self.sgd,
            relaxation,
            regularizers,
            rng: &mut *self.rng,
        }
    }

    /// The standard weight step: forward `batch` under `mixing` (train-mode BatchNorm),
    /// divergence check, gradients of the weights, norm clip, SGD step.
    pub fn weight_step_with(
        &mut self,
        batch: &TensorBatch,
        mixing: &mut dyn MixingSource,
    ) -> Result<StepStats, OneShotError> {
        let (loss, correct) = self.model.loss(batch, mixing, true);
        let lv = loss.double_value(&[]);
        if !lv.is_finite() || lv > self.divergence_loss {
            return Err(OneShotError::Diverged {
                epoch: self.epoch,
                msg: format!(
                    "training loss {lv} at step {} (limit {})",
                    self.global_step, self.divergence_loss
                ),
            });
        }
        let mut g = grads(&loss, &self.sgd.params);
        clip_explicit(&mut g, self.weights.grad_clip);
        self.sgd.step_with(&g);
        Ok(StepStats {
            loss: lv,
            correct,
            len: batch.len,
        })
    }

    /// [`EpochContext::weight_step_with`] under a fresh draw of `relaxation` in phase
    /// [`Phase::Weights`].
    pub fn weight_step(
        &mut self,
        relaxation: &mut dyn Relaxation,
        batch: &TensorBatch,
    ) -> Result<StepStats, OneShotError> {
        let mut mix = relaxation.mixing(&mut self.mix_context(Phase::Weights))?;
        self.weight_step_with(batch, mix.as_mut())
    }
}

/// A one-shot optimizer as the search loop sees it. Only [`SearchOptimizer::step`],
/// [`SearchOptimizer::select`] and [`SearchOptimizer::mixing`] have no default.
pub trait SearchOptimizer {
    /// How the images are split (default: DARTS' halves).
    fn data_split(&self) -> DataSplit {
        DataSplit::Halves
    }

    /// Before the epoch's first step: schedules, temperature.
    fn new_epoch(&mut self, _cx: &mut EpochContext<'_>) -> Result<(), OneShotError> {
        Ok(())
    }

    /// Whether [`SearchOptimizer::step`] gets an architecture batch in `epoch` (so the loop
    /// only loads them when they are used).
    fn wants_valid_batches(&self, _epoch: usize) -> bool {
        false
    }

    /// One training step on `train` (and the architecture batch `valid` when wanted),
    /// usually ending with [`EpochContext::weight_step`].
    fn step(
        &mut self,
        cx: &mut EpochContext<'_>,
        train: &TensorBatch,
        valid: Option<&TensorBatch>,
    ) -> Result<StepStats, OneShotError>;

    /// After the epoch's steps, with a source of further architecture batches (ENAS' reward
    /// batches): continue, or stop the search.
    fn end_epoch(
        &mut self,
        _cx: &mut EpochContext<'_>,
        _batches: &mut dyn FnMut() -> Result<TensorBatch, OneShotError>,
    ) -> Result<EpochEnd, OneShotError> {
        Ok(EpochEnd::Continue)
    }

    /// The epoch's architecture.
    fn select(&mut self, cx: &mut SelectContext<'_>) -> Result<Selected, OneShotError>;

    /// Mixing weights for an evaluation pass (the one-shot validation error when the selection
    /// did not measure one, Hessian tracking).
    fn mixing(&mut self, cx: &mut MixContext<'_>) -> Result<Box<dyn MixingSource>, OneShotError>;

    /// Named numbers of the epoch for `epochs.jsonl`, TensorBoard and the store.
    fn metrics(&self) -> Metrics {
        Metrics::new()
    }

    /// Whether the continuous architecture weights are trained (so the run records them).
    fn learns_arch_weights(&self) -> bool {
        false
    }

    /// Optimizer buffers and learned state as named tensors for the checkpoint.
    fn state(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// Restores [`SearchOptimizer::state`].
    fn load_state(&mut self, _tensors: &BTreeMap<String, Tensor>) -> Result<(), OneShotError> {
        Ok(())
    }

    /// Weights of the optimizer's own network (the ENAS controller), checkpointed with the run.
    fn own_store(&self) -> Option<&nn::VarStore> {
        None
    }

    fn own_store_mut(&mut self) -> Option<&mut nn::VarStore> {
        None
    }
}

/// The default optimizer, and the only one the crate needs: a part at every seam a method
/// changes. Every registered method is a composition of these ([`crate::compose`]); nothing
/// wraps it.
pub struct OneShotOptimizer {
    pub data_split: DataSplit,
    pub relaxation: Box<dyn Relaxation>,
    pub arch_update: Box<dyn ArchUpdate>,
    /// Terms added to the architecture loss.
    pub regularizers: Vec<Box<dyn Regularizer>>,
    /// The weight step's mixing weights instead of the relaxation's, if any.
    pub perturbation: Option<Box<dyn Perturbation>>,
    /// Run after each epoch, in order.
    pub hooks: Vec<Box<dyn EpochHook>>,
    pub selection: Box<dyn Selection>,
    /// The weights of a network the update trains (the ENAS controller), if any.
    pub controller_store: Option<nn::VarStore>,
    /// The temperature schedule (τ_max, τ_min), linear over the run (GDAS).
    pub tau_schedule: Option<(f64, f64)>,
    /// Epochs of weight training before the first architecture step.
    pub warm_start_epochs: usize,
    /// (lr, lr_min) of a cosine schedule stepped every minibatch with period `epochs` (ENAS'
    /// faithful schedule), instead of the loop's per-epoch one.
    pub per_batch_lr: Option<(f64, f64)>,
}

impl OneShotOptimizer {
    /// The three main parts; no regularizer, perturbation, hook, controller, temperature
    /// schedule or warm start, DARTS' data split.
    pub fn new(
        relaxation: Box<dyn Relaxation>,
        arch_update: Box<dyn ArchUpdate>,
        selection: Box<dyn Selection>,
    ) -> Self {
        OneShotOptimizer {
            data_split: DataSplit::Halves,
            relaxation,
            arch_update,
            regularizers: Vec::new(),
            perturbation: None,
            hooks: Vec::new(),
            selection,
            controller_store: None,
            tau_schedule: None,
            warm_start_epochs: 0,
            per_batch_lr: None,
        }
    }
}

impl SearchOptimizer for OneShotOptimizer {
    fn data_split(&self) -> DataSplit {
        self.data_split
    }

    fn new_epoch(&mut self, cx: &mut EpochContext<'_>) -> Result<(), OneShotError> {
        if let Some((hi, lo)) = self.tau_schedule {
            self.relaxation
                .set_temperature(gdas_tau(cx.epoch, cx.epochs, hi, lo));
        }
        let (e, n) = (cx.epoch, cx.epochs);
        self.relaxation.new_epoch(e, n);
        self.regularizers.iter_mut().for_each(|r| r.new_epoch(e, n));
        if let Some(p) = self.perturbation.as_mut() {
            p.new_epoch(e, n);
        }
        self.hooks.iter_mut().for_each(|h| h.new_epoch(e, n));
        for h in self.hooks.iter_mut() {
            h.start_epoch(cx)?;
        }
        Ok(())
    }

    fn wants_valid_batches(&self, epoch: usize) -> bool {
        epoch >= self.warm_start_epochs && self.arch_update.wants_valid_batches()
    }

    fn step(
        &mut self,
        cx: &mut EpochContext<'_>,
        train: &TensorBatch,
        valid: Option<&TensorBatch>,
    ) -> Result<StepStats, OneShotError> {
        if let Some((hi, lo)) = self.per_batch_lr {
            cx.sgd.lr = cosine_lr(cx.global_step as f64, cx.epochs as f64, hi, lo);
        }
        if let Some(vb) = valid {
            let mut acx = cx.arch_context(self.relaxation.as_mut(), &mut self.regularizers);
            self.arch_update.before_weight_step(&mut acx, train, vb)?;
        }
        match self.perturbation.as_mut() {
            Some(p) => {
                let w = p.weights(cx, train)?;
                cx.weight_step_with(train, &mut SharedMixing(w))
            }
            None => cx.weight_step(self.relaxation.as_mut(), train),
        }
    }

    fn end_epoch(
        &mut self,
        cx: &mut EpochContext<'_>,
        batches: &mut dyn FnMut() -> Result<TensorBatch, OneShotError>,
    ) -> Result<EpochEnd, OneShotError> {
        let mut acx = cx.arch_context(self.relaxation.as_mut(), &mut self.regularizers);
        self.arch_update.after_epoch(&mut acx, batches)?;
        let mut seen = Metrics::new();
        let mut end = EpochEnd::Continue;
        for h in self.hooks.iter_mut() {
            let e = h.end_epoch(cx, self.relaxation.as_mut(), &seen)?;
            seen.extend(h.metrics());
            if end == EpochEnd::Continue {
                end = e;
            }
        }
        Ok(end)
    }

    fn select(&mut self, cx: &mut SelectContext<'_>) -> Result<Selected, OneShotError> {
        self.selection.select(cx)
    }

    fn mixing(&mut self, cx: &mut MixContext<'_>) -> Result<Box<dyn MixingSource>, OneShotError> {
        self.relaxation.mixing(cx)
    }

    fn metrics(&self) -> Metrics {
        let mut m = self.relaxation.metrics();
        if let Some(t) = self.relaxation.temperature() {
            m.insert("tau".to_string(), t);
        }
        self.regularizers.iter().for_each(|r| m.extend(r.metrics()));
        if let Some(p) = self.perturbation.as_ref() {
            m.extend(p.metrics());
        }
        self.hooks.iter().for_each(|h| m.extend(h.metrics()));
        m
    }

    fn learns_arch_weights(&self) -> bool {
        self.arch_update.learns_arch_weights()
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut s = self.arch_update.state();
        self.hooks.iter().for_each(|h| s.extend(h.state()));
        s
    }

    fn load_state(&mut self, tensors: &BTreeMap<String, Tensor>) -> Result<(), OneShotError> {
        self.arch_update.load_state(tensors)?;
        for h in self.hooks.iter_mut() {
            h.load_state(tensors)?;
        }
        Ok(())
    }

    fn own_store(&self) -> Option<&nn::VarStore> {
        self.controller_store.as_ref()
    }

    fn own_store_mut(&mut self) -> Option<&mut nn::VarStore> {
        self.controller_store.as_mut()
    }
}

/// Adam on the model's architecture weights with the configuration's `[arch]` settings.
pub fn arch_adam(cfg: &SearchConfig, model: &OneShotModel) -> ArchAdam {
    let a = &cfg.arch;
    ArchAdam {
        adam: Adam::new(
            model.arch_params(),
            a.lr,
            (a.beta1, a.beta2),
            1e-8,
            a.weight_decay,
        ),
        grad_clip: a.grad_clip,
    }
}
