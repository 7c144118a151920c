//! SDARTS (Chen & Hsieh, ICML 2020, "Stabilizing differentiable architecture search via
//! perturbation-based regularization"): DARTS whose weight steps see perturbed architecture
//! weights, so the supernet is trained to be good in a neighbourhood of α and the loss landscape
//! in α stays flat. SDARTS-RS ([`sdarts_rs`]) adds U(−ε, ε) to softmax(α); SDARTS-ADV
//! ([`SdartsAdv`]) finds the perturbation by `steps` of L∞ PGD ascent on the training loss
//! (step 2ε/steps, random start, eval-mode BatchNorm), as the original. Both clip to [0, 1];
//! architecture steps and evaluation see the plain softmax ([`Phase`] tells them apart). ε grows
//! linearly from `epsilon_min` to `epsilon_max` over the run.

use std::collections::BTreeMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use supernet::{softmax_mixing, MixingSource, MixingWeights, SharedMixing};
use tch::Tensor;

use crate::arch_update::{ArchUpdate, FirstOrder};
use crate::config::SearchConfig;
use crate::error::OneShotError;
use crate::mixing::{MixContext, Phase, Relaxation, Softmax};
use crate::model::{OneShotModel, TensorBatch};
use crate::optimizer::{arch_adam, EpochContext, OneShotOptimizer, SearchOptimizer, StepStats};
use crate::run_dir::Metrics;
use crate::selection::{Argmax, SelectContext, Selected, Selection};

/// `[options]` of SDARTS-RS (the original's values).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SdartsConfig {
    /// ε in the first epoch.
    pub epsilon_min: f64,
    /// ε in the last epoch.
    pub epsilon_max: f64,
    /// PGD steps of SDARTS-ADV (unused by SDARTS-RS).
    pub steps: usize,
}

impl Default for SdartsConfig {
    fn default() -> Self {
        SdartsConfig {
            epsilon_min: 0.03,
            epsilon_max: 0.3,
            steps: 7,
        }
    }
}

impl SdartsConfig {
    /// ε of `epoch`: linear from `epsilon_min` (first epoch) to `epsilon_max` (last).
    pub fn epsilon(&self, epoch: usize, epochs: usize) -> f64 {
        let t = epoch as f64 / (epochs.max(2) - 1) as f64;
        // As a weighted mean, so the ends are exactly ε_min and ε_max.
        self.epsilon_min * (1.0 - t) + self.epsilon_max * t
    }
}

/// Softmax mixing, perturbed by uniform noise of half-width `epsilon` in weight steps; with a
/// `schedule`, `epsilon` follows it epoch by epoch and is reported as `sdarts_epsilon`.
pub struct RandomSmoothing {
    pub epsilon: f64,
    pub schedule: Option<SdartsConfig>,
}

/// `t` + U(−ε, ε) from `rng` (no gradient through the noise), clipped to [0, 1].
fn smooth(t: &Tensor, epsilon: f64, rng: &mut ChaCha8Rng) -> Tensor {
    let noise: Vec<f32> = (0..t.numel())
        .map(|_| rng.gen_range(-epsilon..=epsilon) as f32)
        .collect();
    let noise = Tensor::from_slice(&noise)
        .view(t.size().as_slice())
        .to_device(t.device());
    (t + noise).clamp(0.0, 1.0)
}

impl Relaxation for RandomSmoothing {
    fn mixing(&mut self, cx: &mut MixContext<'_>) -> Result<Box<dyn MixingSource>, OneShotError> {
        let w = softmax_mixing(cx.arch);
        if cx.phase != Phase::Weights || self.epsilon <= 0.0 {
            return Ok(Box::new(SharedMixing(w)));
        }
        let e = self.epsilon;
        let ops = smooth(&w.ops, e, cx.rng);
        let output = smooth(&w.output, e, cx.rng);
        let inputs = w
            .inputs
            .iter()
            .map(|t| t.as_ref().map(|t| smooth(t, e, cx.rng)))
            .collect();
        Ok(Box::new(SharedMixing(MixingWeights {
            ops,
            output,
            inputs,
            active_ops: None,
        })))
    }
    fn new_epoch(&mut self, epoch: usize, epochs: usize) {
        if let Some(s) = &self.schedule {
            self.epsilon = s.epsilon(epoch, epochs);
        }
    }
    fn metrics(&self) -> Metrics {
        self.schedule
            .iter()
            .map(|_| (EPSILON.to_string(), self.epsilon))
            .collect()
    }
}

/// The metric both variants report.
const EPSILON: &str = "sdarts_epsilon";

/// SDARTS-RS: random smoothing on the ε schedule, first-order DARTS updates and argmax,
/// composed by the shared [`OneShotOptimizer`].
pub fn sdarts_rs(
    cfg: &SearchConfig,
    model: &OneShotModel,
) -> Result<OneShotOptimizer, OneShotError> {
    let settings: SdartsConfig = cfg.options_as()?;
    Ok(OneShotOptimizer::new(
        Box::new(RandomSmoothing {
            epsilon: settings.epsilon_min,
            schedule: Some(settings),
        }),
        Box::new(FirstOrder(arch_adam(cfg, model))),
        Box::new(Argmax),
    ))
}

/// The mixing tensors of `w` in a fixed order (ops, output, edges).
fn tensors(w: &MixingWeights) -> Vec<Tensor> {
    let mut v = vec![w.ops.shallow_clone(), w.output.shallow_clone()];
    v.extend(w.inputs.iter().flatten().map(Tensor::shallow_clone));
    v
}

/// `like` with its tensors replaced by `ts` (in [`tensors`]' order).
fn with_tensors(like: &MixingWeights, ts: &[Tensor]) -> MixingWeights {
    let mut it = ts[2..].iter();
    MixingWeights {
        ops: ts[0].shallow_clone(),
        output: ts[1].shallow_clone(),
        inputs: like
            .inputs
            .iter()
            .map(|t| {
                t.as_ref()
                    .and_then(|_| it.next().map(Tensor::shallow_clone))
            })
            .collect(),
        active_ops: None,
    }
}

/// SDARTS-ADV: first-order DARTS updates, weight steps on the PGD-perturbed softmax(α).
pub struct SdartsAdv {
    pub plain: Softmax,
    pub arch_update: Box<dyn ArchUpdate>,
    pub settings: SdartsConfig,
    pub epsilon: f64,
}

impl SdartsAdv {
    pub fn new(cfg: &SearchConfig, model: &OneShotModel) -> Result<Self, OneShotError> {
        let settings: SdartsConfig = cfg.options_as()?;
        Ok(SdartsAdv {
            plain: Softmax,
            arch_update: Box::new(FirstOrder(arch_adam(cfg, model))),
            epsilon: settings.epsilon_min,
            settings,
        })
    }

    /// The perturbed mixing weights: random start in the ε-ball, then `steps` signed-gradient
    /// ascent steps on the loss of `batch`, each projected back into the ball and [0, 1].
    fn attack(
        &self,
        cx: &mut EpochContext<'_>,
        batch: &TensorBatch,
    ) -> Result<MixingWeights, OneShotError> {
        let e = self.epsilon;
        let clean = tch::no_grad(|| softmax_mixing(&cx.model.arch));
        let base = tensors(&clean);
        let mut cur: Vec<Tensor> = base.iter().map(|t| smooth(t, e, cx.rng)).collect();
        let lr = 2.0 * e / self.settings.steps.max(1) as f64;
        for _ in 0..self.settings.steps {
            let leaves: Vec<Tensor> = cur
                .iter()
                .map(|t| t.detach().set_requires_grad(true))
                .collect();
            let (loss, _) = cx.model.loss(
                batch,
                &mut SharedMixing(with_tensors(&clean, &leaves)),
                false,
            );
            let refs: Vec<&Tensor> = leaves.iter().collect();
            let grads = Tensor::run_backward(&[loss], &refs, false, false);
            cur = tch::no_grad(|| {
                leaves
                    .iter()
                    .zip(&grads)
                    .zip(&base)
                    .map(|((p, g), b)| {
                        let step = if g.defined() {
                            p + g.sign() * lr
                        } else {
                            p.copy()
                        };
                        (b + (step - b).clamp(-e, e)).clamp(0.0, 1.0)
                    })
                    .collect()
            });
        }
        Ok(with_tensors(&clean, &cur))
    }
}

impl SearchOptimizer for SdartsAdv {
    fn new_epoch(&mut self, cx: &mut EpochContext<'_>) -> Result<(), OneShotError> {
        self.epsilon = self.settings.epsilon(cx.epoch, cx.epochs);
        Ok(())
    }
    fn wants_valid_batches(&self, _epoch: usize) -> bool {
        true
    }
    fn step(
        &mut self,
        cx: &mut EpochContext<'_>,
        train: &TensorBatch,
        valid: Option<&TensorBatch>,
    ) -> Result<StepStats, OneShotError> {
        if let Some(vb) = valid {
            let mut acx = cx.arch_context(&mut self.plain);
            self.arch_update.before_weight_step(&mut acx, train, vb)?;
        }
        let perturbed = self.attack(cx, train)?;
        cx.weight_step_with(train, &mut SharedMixing(perturbed))
    }
    fn select(&mut self, cx: &mut SelectContext<'_>) -> Result<Selected, OneShotError> {
        Argmax.select(cx)
    }
    fn mixing(&mut self, cx: &mut MixContext<'_>) -> Result<Box<dyn MixingSource>, OneShotError> {
        self.plain.mixing(cx)
    }
    fn metrics(&self) -> Metrics {
        [(EPSILON.to_string(), self.epsilon)].into_iter().collect()
    }
    fn learns_arch_weights(&self) -> bool {
        true
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        self.arch_update.state()
    }
    fn load_state(&mut self, tensors: &BTreeMap<String, Tensor>) -> Result<(), OneShotError> {
        self.arch_update.load_state(tensors)
    }
}
