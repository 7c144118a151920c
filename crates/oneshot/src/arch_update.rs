//! Architecture updates: how the architecture state learns. First-order DARTS (the gradient of
//! the validation loss), the finite-difference second-order DARTS step, REINFORCE on the ENAS
//! controller, and none (Random-WS).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use crate::controller::{Controller, Reinforce};
use crate::error::OneShotError;
use crate::mixing::{one_hot, MixContext, Phase, Relaxation};
use crate::model::{OneShotModel, TensorBatch};
use crate::optim::{clip_explicit, grads_or_zeros, Adam, Sgd};
use crate::regularizer::Regularizer;
use supernet::SharedMixing;

/// Everything an architecture step may touch.
pub struct ArchStepContext<'a> {
    pub model: &'a OneShotModel,
    /// The weight optimizer (its lr and momentum buffers enter the second-order virtual step).
    pub sgd: &'a Sgd,
    pub relaxation: &'a mut dyn Relaxation,
    /// Terms [`ArchStepContext::arch_loss`] adds to the validation loss.
    pub regularizers: &'a mut [Box<dyn Regularizer>],
    pub rng: &'a mut ChaCha8Rng,
}

impl ArchStepContext<'_> {
    /// Loss of `batch` under a fresh draw of the relaxation (phase [`Phase::Arch`]), batch
    /// statistics in BatchNorm: what an architecture update differentiates.
    pub fn loss(&mut self, batch: &TensorBatch) -> Result<Tensor, OneShotError> {
        let mut cx = MixContext {
            arch: &self.model.arch,
            space: &self.model.space,
            rng: self.rng,
            device: self.model.device,
            phase: Phase::Arch,
        };
        let mut mix = self.relaxation.mixing(&mut cx)?;
        Ok(self.model.loss(batch, mix.as_mut(), true).0)
    }

    /// [`ArchStepContext::loss`] of the architecture batch plus every regularizer's term: what
    /// an architecture update minimizes (the plain loss when there are none).
    pub fn arch_loss(&mut self, batch: &TensorBatch) -> Result<Tensor, OneShotError> {
        let mut loss = self.loss(batch)?;
        for r in self.regularizers.iter_mut() {
            if let Some(t) = r.arch_term(self.model) {
                loss = loss.g_add(&t);
            }
        }
        Ok(loss)
    }
}

/// How the architecture state is updated.
pub trait ArchUpdate {
    /// Whether [`ArchUpdate::before_weight_step`] needs architecture batches (so the loop only
    /// loads them when they are used).
    fn wants_valid_batches(&self) -> bool {
        false
    }

    /// Whether this update trains the continuous architecture weights (so the run records them).
    fn learns_arch_weights(&self) -> bool {
        self.wants_valid_batches()
    }

    /// Runs before each weight step, with that step's training batch and the next batch of
    /// the architecture queue (DARTS, GDAS, PC-DARTS).
    fn before_weight_step(
        &mut self,
        _cx: &mut ArchStepContext<'_>,
        _train: &TensorBatch,
        _valid: &TensorBatch,
    ) -> Result<(), OneShotError> {
        Ok(())
    }

    /// Runs after the epoch's weight training, with a source of reward batches (ENAS).
    fn after_epoch(
        &mut self,
        _cx: &mut ArchStepContext<'_>,
        _batches: &mut dyn FnMut() -> Result<TensorBatch, OneShotError>,
    ) -> Result<(), OneShotError> {
        Ok(())
    }

    /// Optimizer buffers and learned state as named tensors for the checkpoint.
    fn state(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// Restores [`ArchUpdate::state`].
    fn load_state(&mut self, _tensors: &BTreeMap<String, Tensor>) -> Result<(), OneShotError> {
        Ok(())
    }
}

/// Random-WS: the architecture distribution never changes.
pub struct NoArchUpdate;

impl ArchUpdate for NoArchUpdate {}

/// Adam on the architecture weights with an optional gradient-norm clip (GDAS: 5).
pub struct ArchAdam {
    pub adam: Adam,
    pub grad_clip: Option<f64>,
}

impl ArchAdam {
    /// One Adam step from explicit gradients (one per architecture tensor, in order), clipped
    /// first when `grad_clip` is set.
    pub fn apply(&mut self, mut grads: Vec<Option<Tensor>>) {
        if let Some(c) = self.grad_clip {
            clip_explicit(&mut grads, c);
        }
        self.adam.step_with(&grads);
    }
}

/// Gradients of `loss` with respect to `params`, zeros where it does not reach.
pub fn grads_of(loss: &Tensor, params: &[(String, Tensor)]) -> Vec<Tensor> {
    grads_or_zeros(loss, params, false)
}

/// First-order DARTS: one Adam step along ∇α L_valid(w, α).
pub struct FirstOrder(pub ArchAdam);

impl ArchUpdate for FirstOrder {
    fn wants_valid_batches(&self) -> bool {
        true
    }
    fn before_weight_step(
        &mut self,
        cx: &mut ArchStepContext<'_>,
        _train: &TensorBatch,
        valid: &TensorBatch,
    ) -> Result<(), OneShotError> {
        let loss = cx.arch_loss(valid)?;
        let grads = grads_of(&loss, &self.0.adam.params);
        self.0.apply(grads.into_iter().map(Some).collect());
        Ok(())
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        self.0.adam.state("arch_adam.")
    }
    fn load_state(&mut self, t: &BTreeMap<String, Tensor>) -> Result<(), OneShotError> {
        self.0.adam.load_state("arch_adam.", t);
        Ok(())
    }
}

/// Second-order DARTS (spec §3.1): the gradient of L_valid(w′, α) at the virtual step
/// w′ = w − η(μm + ∇w L_train + λw), with the Hessian-vector product by central differences,
/// ε = 0.01/‖dw′‖.
pub struct SecondOrder {
    pub arch: ArchAdam,
    /// Drop the momentum term of the virtual step (GDAS' `musl_` typo, faithful mode).
    pub no_momentum: bool,
}

/// The virtual weight step of second-order DARTS: w′ = w − lr·(momentum·m + g + weight_decay·w),
/// m the weight optimizer's momentum buffer (none before its first step, or when dropped).
pub struct VirtualStep<'a> {
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub buffers: Option<&'a Sgd>,
}

/// The unrolled DARTS hypergradient dα L_valid(w′, α) − lr·H·dw′, the Hessian-vector product
/// by central differences with ε = 0.01/‖dw′‖ (spec §3.1). `loss(valid)` evaluates the training
/// (`false`) or validation (`true`) loss at the current weights. The weights are restored.
pub fn unrolled_hypergradient(
    weights: &[(String, Tensor)],
    arch: &[(String, Tensor)],
    step: &VirtualStep<'_>,
    loss: &mut dyn FnMut(bool) -> Result<Tensor, OneShotError>,
) -> Result<Vec<Tensor>, OneShotError> {
    let eta = step.lr;
    let backup: Vec<Tensor> = tch::no_grad(|| weights.iter().map(|(_, w)| w.copy()).collect());
    // 1. Virtual step.
    let gw = grads_of(&loss(false)?, weights);
    tch::no_grad(|| {
        for ((name, w), g) in weights.iter().zip(&gw) {
            let mut d = g + w * step.weight_decay;
            if let Some(m) = step.buffers.and_then(|s| s.momentum_buffer(name)) {
                d += m * step.momentum;
            }
            let mut w = w.shallow_clone();
            let _ = w.g_sub_(&(d * eta));
        }
    });
    // 2. dα and dw′ of the validation loss at w′.
    let val = loss(true)?;
    let mut all: Vec<(String, Tensor)> = arch
        .iter()
        .map(|(n, t)| (n.clone(), t.shallow_clone()))
        .collect();
    all.extend(weights.iter().map(|(n, t)| (n.clone(), t.shallow_clone())));
    let g = grads_of(&val, &all);
    let (d_alpha, d_w) = g.split_at(arch.len());
    let norm = d_w
        .iter()
        .map(|t| t.square().sum(Kind::Double).double_value(&[]))
        .sum::<f64>()
        .sqrt();
    let eps = 0.01 / norm.max(1e-12);
    // 3. Hessian-vector product by central differences around w.
    let set_w = |sign: f64| {
        tch::no_grad(|| {
            for (((_, w), b), d) in weights.iter().zip(&backup).zip(d_w) {
                let mut w = w.shallow_clone();
                w.copy_(&(b + d * (sign * eps)));
            }
        })
    };
    set_w(1.0);
    let g_plus = grads_of(&loss(false)?, arch);
    set_w(-1.0);
    let g_minus = grads_of(&loss(false)?, arch);
    set_w(0.0);
    // 4. dα − η·Hv.
    Ok(d_alpha
        .iter()
        .zip(g_plus.iter().zip(&g_minus))
        .map(|(da, (gp, gm))| da - (gp - gm) * (eta / (2.0 * eps)))
        .collect())
}

impl SecondOrder {
    /// The hypergradient on the supernet: [`unrolled_hypergradient`] with the weight
    /// optimizer's lr, momentum buffers and weight decay.
    pub fn hypergradient(
        &self,
        cx: &mut ArchStepContext<'_>,
        train: &TensorBatch,
        valid: &TensorBatch,
    ) -> Result<Vec<Tensor>, OneShotError> {
        let weights = cx.model.weight_params();
        let step = VirtualStep {
            lr: cx.sgd.lr,
            momentum: cx.sgd.momentum,
            weight_decay: cx.sgd.weight_decay,
            buffers: (!self.no_momentum).then_some(cx.sgd),
        };
        let arch: Vec<(String, Tensor)> = self
            .arch
            .adam
            .params
            .iter()
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect();
        // The regularizers depend on α only: they enter dα of the validation loss at w′.
        unrolled_hypergradient(&weights, &arch, &step, &mut |v| match v {
            true => cx.arch_loss(valid),
            false => cx.loss(train),
        })
    }
}

impl ArchUpdate for SecondOrder {
    fn wants_valid_batches(&self) -> bool {
        true
    }
    fn before_weight_step(
        &mut self,
        cx: &mut ArchStepContext<'_>,
        train: &TensorBatch,
        valid: &TensorBatch,
    ) -> Result<(), OneShotError> {
        let g = self.hypergradient(cx, train, valid)?;
        self.arch.apply(g.into_iter().map(Some).collect());
        Ok(())
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        self.arch.adam.state("arch_adam.")
    }
    fn load_state(&mut self, t: &BTreeMap<String, Tensor>) -> Result<(), OneShotError> {
        self.arch.adam.load_state("arch_adam.", t);
        Ok(())
    }
}

/// ENAS: after each epoch, `steps` REINFORCE updates of the controller, each rewarded with the
/// child's accuracy (percent) on one reward batch, child in eval mode.
pub struct ControllerUpdate {
    pub controller: Rc<RefCell<Controller>>,
    pub adam: Adam,
    pub reinforce: Reinforce,
    pub steps: usize,
}

impl ArchUpdate for ControllerUpdate {
    fn after_epoch(
        &mut self,
        cx: &mut ArchStepContext<'_>,
        batches: &mut dyn FnMut() -> Result<TensorBatch, OneShotError>,
    ) -> Result<(), OneShotError> {
        for _ in 0..self.steps {
            let batch = batches()?;
            let sample = self.controller.borrow().sample(cx.rng)?;
            let w = one_hot(&sample.architecture, cx.model.device)?;
            let correct = tch::no_grad(|| cx.model.loss(&batch, &mut SharedMixing(w), false).1);
            let reward = 100.0 * correct as f64 / batch.len.max(1) as f64;
            let loss = self.reinforce.loss(&sample, reward);
            let grads = grads_of(&loss, &self.adam.params);
            self.adam
                .step_with(&grads.into_iter().map(Some).collect::<Vec<_>>());
        }
        Ok(())
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        let mut s = self.adam.state("controller_adam.");
        s.push((
            "reinforce.baseline".into(),
            Tensor::from_slice(&[self.reinforce.baseline]),
        ));
        s
    }
    fn load_state(&mut self, t: &BTreeMap<String, Tensor>) -> Result<(), OneShotError> {
        self.adam.load_state("controller_adam.", t);
        if let Some(b) = t.get("reinforce.baseline") {
            self.reinforce.baseline = b.double_value(&[0]);
        }
        Ok(())
    }
}
