//! Epoch selection: which discrete architecture a search reports after an epoch. Gradient
//! methods discretize their architecture weights (argmax op, top-k parents); sampling methods
//! draw many candidates, rank them on a few batches and rescore the best on the whole valid set.

use rand_chacha::ChaCha8Rng;
use searchspace::Architecture;
use supernet::{discretize_with, SharedMixing, TopKTies};

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
    /// How [`Argmax`] breaks ties among parents (`faithful.argpartition_ties`).
    pub ties: TopKTies,
}

pub trait Selection {
    fn select(&mut self, cx: &mut SelectContext<'_>) -> Result<Selected, OneShotError>;
}

/// Gradient methods: argmax operation, top-k parents (spec §2.4).
pub struct Argmax;

impl Selection for Argmax {
    fn select(&mut self, cx: &mut SelectContext<'_>) -> Result<Selected, OneShotError> {
        let architecture = discretize_with(&cx.model.arch, &cx.model.space, cx.ties)
            .map_err(|e| OneShotError::Invalid(e.to_string()))?;
        Ok(Selected {
            architecture,
            one_shot_valid_error: None,
        })
    }
}

/// Random-WS and ENAS: `samples` candidates from `sampler`, each scored on `rank_batches`
/// validation batches, the `top_k` best rescored on all of them.
pub struct SampleAndRank {
    pub sampler: Box<dyn ArchSampler>,
    pub samples: usize,
    pub rank_batches: usize,
    pub top_k: usize,
    pub rank_on: RankOn,
}

/// Which validation batches a candidate is ranked on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RankOn {
    /// The first `rank_batches` for every candidate: all are compared on the same images.
    First,
    /// The next `rank_batches` of an iterator over the batches that cycles (the original's
    /// `next(valid_iter)`), reshuffled at every pass when `shuffled` (a `SubsetRandomSampler`),
    /// in order otherwise; it starts afresh at each selection.
    Next { shuffled: bool },
}

/// The cycling batch iterator of [`RankOn::Next`].
struct BatchCycle {
    order: Vec<usize>,
    pos: usize,
    shuffled: bool,
}

impl BatchCycle {
    fn new(n: usize, shuffled: bool) -> Self {
        BatchCycle {
            order: (0..n).collect(),
            pos: n,
            shuffled,
        }
    }

    fn next(&mut self, rng: &mut ChaCha8Rng) -> usize {
        if self.pos >= self.order.len() {
            if self.shuffled {
                use rand::seq::SliceRandom;
                self.order.shuffle(rng);
            }
            self.pos = 0;
        }
        self.pos += 1;
        self.order[self.pos - 1]
    }
}

/// Error of a discrete architecture (one-hot weights, eval-mode BatchNorm) on `batches`.
pub fn architecture_error(
    model: &OneShotModel,
    arch: &Architecture,
    batches: &[TensorBatch],
) -> Result<f64, OneShotError> {
    error_on(model, arch, batches.iter())
}

fn error_on<'a>(
    model: &OneShotModel,
    arch: &Architecture,
    batches: impl Iterator<Item = &'a TensorBatch>,
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
        let first = &cx.valid[..self.rank_batches.min(cx.valid.len())];
        let mut cycle = match self.rank_on {
            RankOn::Next { shuffled } => Some(BatchCycle::new(cx.valid.len(), shuffled)),
            RankOn::First => None,
        };
        let mut scored: Vec<(f64, Architecture)> = Vec::with_capacity(self.samples);
        for _ in 0..self.samples {
            let a = self.sampler.sample(&cx.model.space, cx.rng)?;
            let e = match cycle.as_mut() {
                None => architecture_error(cx.model, &a, first)?,
                Some(c) => {
                    let next: Vec<usize> = (0..self.rank_batches).map(|_| c.next(cx.rng)).collect();
                    error_on(cx.model, &a, next.iter().map(|&i| &cx.valid[i]))?
                }
            };
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

#[cfg(test)]
mod tests {
    use super::BatchCycle;
    use rand::SeedableRng;

    /// `rank_next_batches`: consecutive candidates get consecutive batches; a shuffled iterator
    /// visits every batch once per pass, in a new order each pass.
    #[test]
    fn ranking_iterator_cycles_and_reshuffles_per_pass() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut ordered = BatchCycle::new(3, false);
        let got: Vec<usize> = (0..7).map(|_| ordered.next(&mut rng)).collect();
        assert_eq!(got, [0, 1, 2, 0, 1, 2, 0]);
        let mut shuffled = BatchCycle::new(20, true);
        let passes: Vec<Vec<usize>> = (0..3)
            .map(|_| (0..20).map(|_| shuffled.next(&mut rng)).collect())
            .collect();
        for p in &passes {
            let mut sorted = p.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..20).collect::<Vec<_>>());
        }
        assert_ne!(passes[0], passes[1]);
        assert_ne!(passes[0], (0..20).collect::<Vec<_>>());
    }
}
