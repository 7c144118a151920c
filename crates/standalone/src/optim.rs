//! The NB-101 optimizer: TensorFlow 1's `RMSPropOptimizer` (not PyTorch's RMSprop, which differs
//! in three ways: its mean square starts at 0 instead of 1, its epsilon is added outside the
//! square root, and its decay default is 0.99), with the L2 weight decay of the loss folded into
//! the gradient, and the cosine-by-step learning rate that is 0 at step 0.
//!
//! Per variable `w` with gradient `g`:
//! `g += weight_decay * w`; `ms = decay * ms + (1 - decay) * g^2`;
//! `mom = momentum * mom + lr * g / sqrt(ms + epsilon)`; `w -= mom`.

use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

/// Optimizer settings; the defaults are NB-101's.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RmsPropConfig {
    /// Peak learning rate. NB-101's `config.py` sets 0.1 and scales it by the 2 TPU shards.
    pub lr: f64,
    /// Decay of the mean square (TF default 0.9).
    pub decay: f64,
    /// Momentum (0.9).
    pub momentum: f64,
    /// Added under the square root (1.0).
    pub epsilon: f64,
    /// L2 factor of `weight_decay * sum(w^2) / 2` over every trainable variable (1e-4).
    pub weight_decay: f64,
}

impl Default for RmsPropConfig {
    fn default() -> Self {
        RmsPropConfig {
            lr: 0.2,
            decay: 0.9,
            momentum: 0.9,
            epsilon: 1.0,
            weight_decay: 1e-4,
        }
    }
}

/// `COSINE_BY_STEP`: `lr/2 * (1 + cos(pi * step / total))`, and 0 at step 0 (NB-101 takes its
/// first step with a zero rate to initialize the weights).
pub fn cosine_lr(base: f64, step: u64, total: u64) -> f64 {
    if step == 0 || total == 0 {
        return 0.0;
    }
    let progress = step as f64 / total as f64;
    0.5 * base * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// One trainable variable and its two slots.
struct Slot {
    name: String,
    var: Tensor,
    ms: Tensor,
    mom: Tensor,
}

/// TF-style RMSProp over every trainable variable of a var store, in name order.
pub struct RmsProp {
    cfg: RmsPropConfig,
    slots: Vec<Slot>,
}

impl RmsProp {
    /// Slots for the trainable variables of `vs`: mean squares at 1, momenta at 0.
    pub fn new(vs: &nn::VarStore, cfg: RmsPropConfig) -> RmsProp {
        let mut named: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let slots = named
            .into_iter()
            .map(|(name, var)| Slot {
                ms: tch::no_grad(|| var.ones_like()),
                mom: tch::no_grad(|| var.zeros_like()),
                name,
                var,
            })
            .collect();
        RmsProp { cfg, slots }
    }

    /// The settings.
    pub fn config(&self) -> &RmsPropConfig {
        &self.cfg
    }

    /// Applies the gradients with learning rate `lr`, then clears them.
    pub fn step(&mut self, lr: f64) {
        let c = self.cfg;
        tch::no_grad(|| {
            for s in &mut self.slots {
                let mut grad = s.var.grad();
                if !grad.defined() {
                    continue;
                }
                let g = &grad + &s.var * c.weight_decay;
                let _ = s.ms.g_mul_scalar_(c.decay);
                let _ = s.ms.g_add_(&(&g * &g * (1.0 - c.decay)));
                let _ = s.mom.g_mul_scalar_(c.momentum);
                let _ = s.mom.g_add_(&(g * lr / (&s.ms + c.epsilon).sqrt()));
                let _ = s.var.g_sub_(&s.mom);
                let _ = grad.zero_();
            }
        });
    }

    /// Clears the gradients without a step.
    pub fn zero_grad(&mut self) {
        for s in &mut self.slots {
            s.var.zero_grad();
        }
    }

    /// The slots as named tensors (`ms/<var>`, `mom/<var>`), contiguous, for a checkpoint.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        self.slots
            .iter()
            .flat_map(|s| {
                [
                    (format!("ms/{}", s.name), s.ms.contiguous()),
                    (format!("mom/{}", s.name), s.mom.contiguous()),
                ]
            })
            .collect()
    }

    /// Restores the slots from [`RmsProp::state`] tensors; names the first missing one.
    pub fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<(), String> {
        let find = |key: &str| {
            state
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, t)| t)
                .ok_or_else(|| format!("optimizer slot {key} is missing"))
        };
        for s in &mut self.slots {
            let ms = find(&format!("ms/{}", s.name))?;
            let mom = find(&format!("mom/{}", s.name))?;
            if ms.size() != s.ms.size() || mom.size() != s.mom.size() {
                return Err(format!(
                    "optimizer slots of {} have the wrong shape",
                    s.name
                ));
            }
            tch::no_grad(|| {
                s.ms.copy_(ms);
                s.mom.copy_(mom);
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_starts_at_zero_then_peaks_and_decays() {
        assert_eq!(cosine_lr(0.2, 0, 100), 0.0);
        assert!((cosine_lr(0.2, 1, 100) - 0.2).abs() < 1e-3);
        assert!((cosine_lr(0.2, 50, 100) - 0.1).abs() < 1e-12);
        assert!(cosine_lr(0.2, 100, 100).abs() < 1e-12);
    }

    /// One step by hand: w = 1, g = 2 (loss 2w), lr 0.5, defaults.
    #[test]
    fn one_step_matches_tensorflow_rmsprop() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let w = vs.root().var("w", &[1], nn::Init::Const(1.0));
        let mut opt = RmsProp::new(&vs, RmsPropConfig::default());
        (&w * 2.0).sum(tch::Kind::Float).backward();
        opt.step(0.5);
        let g: f64 = 2.0 + 1e-4;
        let ms = 0.9 + 0.1 * g * g;
        let want = 1.0 - 0.5 * g / (ms + 1.0).sqrt();
        let got = w.double_value(&[0]);
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        // The gradient was cleared.
        assert_eq!(w.grad().double_value(&[0]), 0.0);
    }
}
