//! SDARTS (Chen & Hsieh, ICML 2020, "Stabilizing differentiable architecture search via
//! perturbation-based regularization"): DARTS whose weight steps see perturbed architecture
//! weights, so the supernet is trained to be good in a neighbourhood of α and the loss landscape
//! in α stays flat. Two [`Perturbation`]s: [`RandomSmoothing`] (SDARTS-RS) adds U(−ε, ε) to
//! softmax(α); [`Adversarial`] (SDARTS-ADV) finds the perturbation by `steps` of L∞ PGD ascent
//! on the training loss (step 2ε/steps, random start, eval-mode BatchNorm), as the original.
//! Both clip to [0, 1]; architecture steps and evaluation see the plain softmax (a perturbation
//! only replaces the weight step's mixing). ε grows linearly from `epsilon_min` to
//! `epsilon_max` over the run.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use supernet::{softmax_mixing, MixingWeights, SharedMixing};
use tch::Tensor;

use crate::error::OneShotError;
use crate::model::TensorBatch;
use crate::optimizer::EpochContext;
use crate::perturbation::Perturbation;
use crate::run_dir::Metrics;
pub use crate::settings::SdartsConfig;

/// The metric both variants report.
const EPSILON: &str = "sdarts_epsilon";

/// ε of the epoch, from the schedule.
fn epsilon_metric(epsilon: f64) -> Metrics {
    [(EPSILON.to_string(), epsilon)].into_iter().collect()
}

/// SDARTS-RS: softmax(α) + U(−ε, ε) in weight steps, ε on the schedule of `settings`.
pub struct RandomSmoothing {
    pub epsilon: f64,
    pub settings: SdartsConfig,
}

impl RandomSmoothing {
    pub fn new(settings: SdartsConfig) -> Self {
        RandomSmoothing {
            epsilon: settings.epsilon_min,
            settings,
        }
    }
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

impl Perturbation for RandomSmoothing {
    fn new_epoch(&mut self, epoch: usize, epochs: usize) {
        self.epsilon = self.settings.epsilon(epoch, epochs);
    }
    fn weights(
        &mut self,
        cx: &mut EpochContext<'_>,
        _batch: &TensorBatch,
    ) -> Result<MixingWeights, OneShotError> {
        let w = softmax_mixing(&cx.model.arch);
        let e = self.epsilon;
        if e <= 0.0 {
            return Ok(w);
        }
        let rng = &mut *cx.rng;
        let ops = smooth(&w.ops, e, rng);
        let output = smooth(&w.output, e, rng);
        let inputs = w
            .inputs
            .iter()
            .map(|t| t.as_ref().map(|t| smooth(t, e, rng)))
            .collect();
        Ok(MixingWeights {
            ops,
            output,
            inputs,
            active_ops: None,
        })
    }
    fn metrics(&self) -> Metrics {
        epsilon_metric(self.epsilon)
    }
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

/// SDARTS-ADV: the weight step sees softmax(α) perturbed by PGD, ε on the schedule.
pub struct Adversarial {
    pub settings: SdartsConfig,
    pub epsilon: f64,
}

impl Adversarial {
    pub fn new(settings: SdartsConfig) -> Self {
        Adversarial {
            epsilon: settings.epsilon_min,
            settings,
        }
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

impl Perturbation for Adversarial {
    fn new_epoch(&mut self, epoch: usize, epochs: usize) {
        self.epsilon = self.settings.epsilon(epoch, epochs);
    }
    fn weights(
        &mut self,
        cx: &mut EpochContext<'_>,
        batch: &TensorBatch,
    ) -> Result<MixingWeights, OneShotError> {
        self.attack(cx, batch)
    }
    fn metrics(&self) -> Metrics {
        epsilon_metric(self.epsilon)
    }
}
