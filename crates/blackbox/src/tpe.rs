//! Tree-structured Parzen estimator over the categorical decisions, as hyperopt's `tpe.suggest`
//! (spec §6): after 20 random startup evaluations, observations are split into the best
//! ⌈0.25·√n⌉ ("good", at most 25) and the rest; per decision, category counts plus a prior
//! pseudocount per category give densities l (good) and g (rest), where each set's older
//! observations are weighed down linearly once it holds more than 25 (hyperopt's linear
//! forgetting); 24 candidates drawn from l are scored by Π l/g and the best is evaluated.

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
    /// Pseudocount of the uniform prior added to each category count.
    pub prior_weight: f64,
    /// hyperopt's linear forgetting: in a set of more than this many observations, the
    /// oldest ones weigh 1/N rising to 1; `None` weighs all equally.
    pub linear_forgetting: Option<usize>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            startup: 20,
            gamma: 0.25,
            candidates: 24,
            prior_weight: 1.0,
            linear_forgetting: Some(25),
        }
    }
}

/// hyperopt's `linear_forgetting_weights(n, lf)`: the oldest `n − lf` observations ramp
/// linearly from 1/n to 1, the newest `lf` weigh 1.
fn forgetting_weights(n: usize, lf: Option<usize>) -> Vec<f64> {
    match lf {
        Some(lf) if n >= lf && lf > 0 => {
            let ramp = n - lf;
            let start = 1.0 / n as f64;
            let step = |i: usize| match ramp {
                1 => start,
                _ => start + (1.0 - start) * i as f64 / (ramp - 1) as f64,
            };
            (0..ramp)
                .map(step)
                .chain(std::iter::repeat_n(1.0, lf))
                .collect()
        }
        _ => vec![1.0; n],
    }
}

/// Category densities of one decision from the given observations (oldest first).
fn density(obs: &[&Vec<usize>], dim: usize, card: usize, settings: &Settings) -> Vec<f64> {
    let mut counts = vec![settings.prior_weight; card];
    let weights = forgetting_weights(obs.len(), settings.linear_forgetting);
    for (o, w) in obs.iter().zip(weights) {
        if let Some(c) = o.get(dim).and_then(|&v| counts.get_mut(v)) {
            *c += w;
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
    let n_good = ((settings.gamma * (history.len() as f64).sqrt()).ceil() as usize)
        .min(settings.linear_forgetting.unwrap_or(usize::MAX))
        .clamp(1, history.len());
    // Each set in the order the observations were made, for the forgetting weights.
    let mut good: Vec<usize> = order[..n_good].to_vec();
    let mut bad: Vec<usize> = order[n_good..].to_vec();
    good.sort_unstable();
    bad.sort_unstable();
    let good: Vec<&Vec<usize>> = good.iter().map(|&i| &history[i].0).collect();
    let bad: Vec<&Vec<usize>> = bad.iter().map(|&i| &history[i].0).collect();
    let l: Vec<Vec<f64>> = cards
        .iter()
        .enumerate()
        .map(|(d, &c)| density(&good, d, c, settings))
        .collect();
    let g: Vec<Vec<f64>> = cards
        .iter()
        .enumerate()
        .map(|(d, &c)| density(&bad, d, c, settings))
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
    fn forgetting_weights_are_hyperopts() {
        assert_eq!(forgetting_weights(3, Some(25)), vec![1.0; 3]);
        assert_eq!(forgetting_weights(30, None), vec![1.0; 30]);
        // np.linspace(1/30, 1, 5) then 25 ones.
        let w = forgetting_weights(30, Some(25));
        assert_eq!(w.len(), 30);
        let ramp = [
            1.0 / 30.0,
            0.275,
            0.5166666666666666,
            0.7583333333333333,
            1.0,
        ];
        for (a, b) in w[..5].iter().zip(ramp) {
            assert!((a - b).abs() < 1e-12, "{w:?}");
        }
        assert!(w[5..].iter().all(|&x| x == 1.0));
        assert_eq!(forgetting_weights(26, Some(25))[0], 1.0 / 26.0);
    }

    #[test]
    fn old_observations_count_less_than_new_ones() {
        // 40 observations of a one-decision space: the 20 oldest pick 0, the 20 newest pick 1.
        let obs: Vec<Vec<usize>> = (0..40).map(|i| vec![usize::from(i >= 20)]).collect();
        let refs: Vec<&Vec<usize>> = obs.iter().collect();
        let forget = density(&refs, 0, 2, &Settings::default());
        assert!(forget[1] > 0.6, "{forget:?}");
        let equal = Settings {
            linear_forgetting: None,
            ..Settings::default()
        };
        let flat = density(&refs, 0, 2, &equal);
        assert!((flat[0] - 0.5).abs() < 1e-12, "{flat:?}");
        // hyperopt's prior: one pseudocount per category.
        let none = density(&[], 0, 4, &Settings::default());
        assert_eq!(none, vec![0.25; 4]);
        let one = density(&refs[..1], 0, 2, &Settings::default());
        assert!((one[0] - 2.0 / 3.0).abs() < 1e-12, "{one:?}");
    }

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
