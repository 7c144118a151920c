//! REINFORCE (spec §6): one independent categorical distribution per ConfigSpace decision,
//! logits starting at 0, plain gradient ascent with learning rate 0.1 on
//! (reward − baseline) · ∇ log p, the baseline a bias-corrected moving average (momentum 0.9)
//! of the validation accuracy. Samples with reward ≤ 0.001 do not update the policy.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::benchmark::QueryError;
use crate::trajectory::Tracker;

/// Settings of REINFORCE.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub learning_rate: f64,
    pub momentum: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            learning_rate: 0.1,
            momentum: 0.9,
        }
    }
}

fn softmax(logits: &[f64]) -> Vec<f64> {
    let m = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = logits.iter().map(|&l| (l - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}

/// Draws an index from the categorical distribution `p` (shared with TPE).
pub(crate) fn draw(p: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let u: f64 = rng.gen();
    let mut acc = 0.0;
    for (i, &x) in p.iter().enumerate() {
        acc += x;
        if u < acc {
            return i;
        }
    }
    p.len().saturating_sub(1)
}

/// Runs REINFORCE until the tracker's budget is spent.
pub fn run(
    tracker: &mut Tracker<'_>,
    rng: &mut ChaCha8Rng,
    settings: Settings,
) -> Result<(), QueryError> {
    let bench = tracker.bench();
    let space = bench.space();
    let epochs = bench.max_budget();
    let decisions = space.decisions();
    let mut logits: Vec<Vec<f64>> = decisions.iter().map(|d| vec![0.0; d.cardinality]).collect();
    let mut ema = 0.0;
    let mut steps = 0i32;
    while !tracker.done() {
        let probs: Vec<Vec<f64>> = logits.iter().map(|l| softmax(l)).collect();
        let values: Vec<usize> = probs.iter().map(|p| draw(p, rng)).collect();
        let Ok(arch) = space.decode_categorical(&values) else {
            continue;
        };
        let Some(e) = tracker.evaluate(&arch, epochs, rng)? else {
            break;
        };
        let reward = e.validation_accuracy;
        if reward <= 0.001 {
            continue;
        }
        steps += 1;
        ema = settings.momentum * ema + (1.0 - settings.momentum) * reward;
        let baseline = ema / (1.0 - settings.momentum.powi(steps));
        let advantage = reward - baseline;
        for ((l, p), &v) in logits.iter_mut().zip(&probs).zip(&values) {
            for (j, (lj, pj)) in l.iter_mut().zip(p).enumerate() {
                let grad = if j == v { 1.0 - pj } else { -pj };
                *lj += settings.learning_rate * advantage * grad;
            }
        }
    }
    Ok(())
}
