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

/// The bias-corrected moving average of the rewards.
struct Baseline {
    momentum: f64,
    ema: f64,
    steps: i32,
}

impl Baseline {
    fn new(momentum: f64) -> Baseline {
        Baseline {
            momentum,
            ema: 0.0,
            steps: 0,
        }
    }

    /// Takes in `reward` and returns the baseline to compare it with.
    fn update(&mut self, reward: f64) -> f64 {
        self.steps += 1;
        self.ema = self.momentum * self.ema + (1.0 - self.momentum) * reward;
        self.ema / (1.0 - self.momentum.powi(self.steps))
    }
}

/// One gradient-ascent step on every decision's logits: ∂ log p(v)/∂ l_j = [j = v] − p_j.
fn ascend(logits: &mut [Vec<f64>], probs: &[Vec<f64>], values: &[usize], step: f64) {
    for ((l, p), &v) in logits.iter_mut().zip(probs).zip(values) {
        for (j, (lj, pj)) in l.iter_mut().zip(p).enumerate() {
            let grad = if j == v { 1.0 - pj } else { -pj };
            *lj += step * grad;
        }
    }
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
    let mut baseline = Baseline::new(settings.momentum);
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
        let advantage = reward - baseline.update(reward);
        ascend(
            &mut logits,
            &probs,
            &values,
            settings.learning_rate * advantage,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_baseline_is_bias_corrected() {
        let mut b = Baseline::new(0.9);
        // The first baseline equals the first reward, not 0.1 of it.
        assert!((b.update(0.8) - 0.8).abs() < 1e-12);
        let second = b.update(0.6);
        let want = (0.9 * 0.1 * 0.8 + 0.1 * 0.6) / (1.0 - 0.81);
        assert!((second - want).abs() < 1e-12, "{second} vs {want}");
    }

    #[test]
    fn the_policy_concentrates_on_the_rewarded_value() {
        // A bandit: value 1 of a 3-way decision pays 0.9, the others 0.5.
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut logits = vec![vec![0.0; 3], vec![0.0; 4]];
        let mut baseline = Baseline::new(0.9);
        for _ in 0..2000 {
            let probs: Vec<Vec<f64>> = logits.iter().map(|l| softmax(l)).collect();
            let values: Vec<usize> = probs.iter().map(|p| draw(p, &mut rng)).collect();
            let reward = if values[0] == 1 { 0.9 } else { 0.5 };
            let advantage = reward - baseline.update(reward);
            ascend(&mut logits, &probs, &values, 1.0 * advantage);
        }
        let p0 = softmax(&logits[0]);
        assert!(p0[1] > 0.9, "{p0:?}");
    }
}
