//! Epoch selection: which discrete architecture a search reports after an epoch. Gradient
//! methods discretize their architecture weights (argmax op, top-k parents); sampling methods
//! draw many candidates, rank them on a few batches and rescore the best on the whole valid set.

use rand_chacha::ChaCha8Rng;
use searchspace::Architecture;
use supernet::{discretize, SharedMixing};

use crate::error::OneShotError;
use crate::mixing::one_hot;
use crate::model::{OneShotModel, TensorBatch};
use crate::sampler::ArchSampler;

/// The architecture chosen after an epoch, and its one-shot validation error when the
/// selection measured it (sampling methods), so the loop need not evaluate again.
pub struct Selected {
    pub architecture: Architecture,
    pub one_shot_valid_error: Option<f64>,
}

/// What a selection may use: the model, the run's generator, the validation batches.
pub struct SelectContext<'a> {
    pub model: &'a OneShotModel,
    pub rng: &'a mut ChaCha8Rng,
    /// All batches of the validation set, in a fixed order.
    pub valid: &'a [TensorBatch],
}

pub trait Selection {
    fn select(&mut self, cx: &mut SelectContext<'_>) -> Result<Selected, OneShotError>;
}

/// Gradient methods: argmax operation, top-k parents (spec §2.4).
pub struct Argmax;

impl Selection for Argmax {
    fn select(&mut self, cx: &mut SelectContext<'_>) -> Result<Selected, OneShotError> {
        let architecture = discretize(&cx.model.arch, &cx.model.space)
            .map_err(|e| OneShotError::Invalid(e.to_string()))?;
        Ok(Selected {
            architecture,
            one_shot_valid_error: None,
        })
    }
}

/// Random-WS and ENAS: `samples` candidates from `sampler`, each scored on the first
/// `rank_batches` validation batches, the `top_k` best rescored on all of them.
pub struct SampleAndRank {
    pub sampler: Box<dyn ArchSampler>,
    pub samples: usize,
    pub rank_batches: usize,
    pub top_k: usize,
}

/// Error of a discrete architecture (one-hot weights, eval-mode BatchNorm) on `batches`.
pub fn architecture_error(
    model: &OneShotModel,
    arch: &Architecture,
    batches: &[TensorBatch],
) -> Result<f64, OneShotError> {
    let w = one_hot(arch, model.device)?;
    let (mut correct, mut total) = (0i64, 0usize);
    tch::no_grad(|| {
        for b in batches {
            correct += model.loss(b, &mut SharedMixing(w.clone()), false).1;
            total += b.len;
        }
    });
    Ok(if total == 0 {
        1.0
    } else {
        1.0 - correct as f64 / total as f64
    })
}

impl Selection for SampleAndRank {
    fn select(&mut self, cx: &mut SelectContext<'_>) -> Result<Selected, OneShotError> {
        let rank_on = &cx.valid[..self.rank_batches.min(cx.valid.len())];
        let mut scored: Vec<(f64, Architecture)> = Vec::with_capacity(self.samples);
        for _ in 0..self.samples {
            let a = self.sampler.sample(&cx.model.space, cx.rng)?;
            let e = architecture_error(cx.model, &a, rank_on)?;
            scored.push((e, a));
        }
        // Stable sort: among equal errors the earlier draw wins (deterministic).
        scored.sort_by(|x, y| x.0.total_cmp(&y.0));
        scored.truncate(self.top_k);
        let mut best: Option<(f64, Architecture)> = None;
        for (_, a) in scored {
            let e = architecture_error(cx.model, &a, cx.valid)?;
            if best.as_ref().is_none_or(|(b, _)| e < *b) {
                best = Some((e, a));
            }
        }
        let (e, architecture) =
            best.ok_or_else(|| OneShotError::Invalid("selection drew no architecture".into()))?;
        Ok(Selected {
            architecture,
            one_shot_valid_error: Some(e),
        })
    }
}
