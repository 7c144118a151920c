//! Tree-structured Parzen estimator over the categorical decisions (hyperopt-style, spec §6):
//! after 20 random startup evaluations, observations are split into the best
//! ⌈0.25·√n⌉ ("good") and the rest; per decision, smoothed category frequencies give
//! densities l (good) and g (rest); 24 candidates drawn from l are scored by Π l/g and the
//! best is evaluated.

use rand_chacha::ChaCha8Rng;

use crate::benchmark::QueryError;
use crate::reinforce::draw;
use crate::trajectory::Tracker;

/// Settings of TPE (hyperopt defaults).
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub startup: usize,
    pub gamma: f64,
    pub candidates: usize,
    /// Weight of the uniform prior added to each category count.
    pub prior_weight: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            startup: 20,
            gamma: 0.25,
            candidates: 24,
            prior_weight: 1.0,
        }
    }
}

/// Category densities of one decision from the given observations.
fn density(obs: &[&Vec<usize>], dim: usize, card: usize, prior: f64) -> Vec<f64> {
    let mut counts = vec![prior / card as f64; card];
    for o in obs {
        if let Some(c) = o.get(dim).and_then(|&v| counts.get_mut(v)) {
            *c += 1.0;
        }
    }
    let s: f64 = counts.iter().sum();
    counts.iter().map(|c| c / s).collect()
}

/// One model-based proposal: the best of `candidates` draws from the good densities l, by
/// Π l/g over the decisions.
fn propose(
    history: &[(Vec<usize>, f64)],
    cards: &[usize],
    settings: &Settings,
    rng: &mut ChaCha8Rng,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..history.len()).collect();
    order.sort_by(|&a, &b| history[a].1.total_cmp(&history[b].1).then(a.cmp(&b)));
    let n_good =
        ((settings.gamma * (history.len() as f64).sqrt()).ceil() as usize).clamp(1, history.len());
    let good: Vec<&Vec<usize>> = order[..n_good].iter().map(|&i| &history[i].0).collect();
    let bad: Vec<&Vec<usize>> = order[n_good..].iter().map(|&i| &history[i].0).collect();
    let l: Vec<Vec<f64>> = cards
        .iter()
        .enumerate()
        .map(|(d, &c)| density(&good, d, c, settings.prior_weight))
        .collect();
    let g: Vec<Vec<f64>> = cards
        .iter()
        .enumerate()
        .map(|(d, &c)| density(&bad, d, c, settings.prior_weight))
        .collect();
    let mut best: Option<(f64, Vec<usize>)> = None;
    for _ in 0..settings.candidates.max(1) {
        let cand: Vec<usize> = l.iter().map(|p| draw(p, rng)).collect();
        let score: f64 = cand
            .iter()
            .enumerate()
            .map(|(d, &v)| (l[d][v] / g[d][v]).ln())
            .sum();
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, cand));
        }
    }
    best.map(|b| b.1).unwrap_or_else(|| vec![0; cards.len()])
}

/// Runs TPE until the tracker's budget is spent.
pub fn run(
    tracker: &mut Tracker<'_>,
    rng: &mut ChaCha8Rng,
    settings: Settings,
) -> Result<(), QueryError> {
    let bench = tracker.bench();
    let space = bench.space();
    let epochs = bench.max_budget();
    let cards: Vec<usize> = space.decisions().iter().map(|d| d.cardinality).collect();
    // (values, loss)
    let mut history: Vec<(Vec<usize>, f64)> = Vec::new();
    while !tracker.done() {
        let values = if history.len() < settings.startup {
            let arch = space.sample(rng);
            space.encode_categorical(&arch)?
        } else {
            propose(&history, &cards, &settings, rng)
        };
        let Ok(arch) = space.decode_categorical(&values) else {
            continue;
        };
        let Some(e) = tracker.evaluate(&arch, epochs, rng)? else {
            break;
        };
        history.push((values, 1.0 - e.validation_accuracy));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn proposals_concentrate_where_the_good_observations_are() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let cards = [3, 3, 6, 10];
        // Dimension 0 decides the loss (value 2 is good, a third of the observations).
        let history: Vec<(Vec<usize>, f64)> = (0..100)
            .map(|_| {
                let v: Vec<usize> = cards.iter().map(|&c| rng.gen_range(0..c)).collect();
                let loss = if v[0] == 2 { 0.05 } else { 0.3 } + rng.gen::<f64>() * 0.01;
                (v, loss)
            })
            .collect();
        let n = 2000;
        let mut hits = 0;
        for _ in 0..n {
            let v = propose(&history, &cards, &Settings::default(), &mut rng);
            hits += usize::from(v[0] == 2);
        }
        let share = hits as f64 / n as f64;
        assert!(share > 0.9, "proposals with the good value: {share}");
    }
}
