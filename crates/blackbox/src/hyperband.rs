//! HyperBand and BOHB (η = 3; spec §6), as hpbandster runs them. Brackets cycle
//! s = s_max..0 over the table's budgets (4/12/36/108 with the full file, else 108 only); bracket
//! s starts ⌊(s_max+1)/(s+1)⌋·η^s configurations at budget index s_max−s and keeps the best
//! ⌊n/η⌋ by validation error at each rung ([`schedule`]). Every evaluation is one query, from
//! scratch at its budget, as the original counts NB-101 training time. A run lasts a number of
//! brackets (the original's 280 `n_iterations`) or of queries. BOHB replaces HyperBand's random
//! configurations, except a `random_fraction` of them, with the best of `num_samples` draws
//! around good observations, scored by l(x)/g(x) of two Aitchison–Aitken kernel densities
//! (statsmodels' normal-reference bandwidths) fitted on the largest budget with enough
//! observations.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use searchspace::SearchSpace;

use crate::benchmark::QueryError;
use crate::trajectory::Tracker;

/// BOHB's model settings (the black-box runs' values).
#[derive(Clone, Copy, Debug)]
pub struct BohbSettings {
    pub top_n_percent: usize,
    pub num_samples: usize,
    pub random_fraction: f64,
    /// Widens continuous kernels only (hpbandster): there are none here, kept for the record.
    pub bandwidth_factor: f64,
    pub min_bandwidth: f64,
}

impl Default for BohbSettings {
    fn default() -> Self {
        BohbSettings {
            top_n_percent: 15,
            num_samples: 64,
            random_fraction: 1.0 / 3.0,
            bandwidth_factor: 3.0,
            min_bandwidth: 0.3,
        }
    }
}

/// HyperBand settings; `bohb: Some(..)` makes it BOHB.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub eta: usize,
    pub bohb: Option<BohbSettings>,
    /// Stop after this many brackets (else only the tracker's query budget stops the run).
    pub iterations: Option<usize>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            eta: 3,
            bohb: None,
            iterations: None,
        }
    }
}

/// One successive-halving bracket: the index of its first budget and the configurations per
/// rung.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bracket {
    pub first_budget: usize,
    pub configs: Vec<usize>,
}

/// hpbandster's bracket of iteration `iteration` over `budgets` budgets
/// (`get_next_iteration`): s = s_max − iteration mod (s_max+1), n0 = ⌊(s_max+1)/(s+1)⌋·η^s,
/// rung i keeps max(⌊n0·η^−i⌋, 1).
pub fn bracket(iteration: usize, budgets: usize, eta: usize) -> Bracket {
    let rungs = budgets.max(1);
    let s = rungs - 1 - iteration % rungs;
    let n0 = (rungs / (s + 1)) * eta.pow(s as u32);
    Bracket {
        first_budget: rungs - 1 - s,
        configs: (0..=s).map(|i| (n0 / eta.pow(i as u32)).max(1)).collect(),
    }
}

/// The brackets of one HyperBand cycle, in order.
pub fn schedule(budgets: usize, eta: usize) -> Vec<Bracket> {
    (0..budgets.max(1))
        .map(|i| bracket(i, budgets, eta))
        .collect()
}

/// Per-dimension categorical KDE: the observed value vectors and a bandwidth per dimension.
struct Kde {
    points: Vec<Vec<usize>>,
    bandwidth: Vec<f64>,
}

impl Kde {
    /// statsmodels' `normal_reference` bandwidth on the raw category indices (ConfigSpace's
    /// vector form), 1.06·σ·n^(−1/(4+d)), clipped below at `min_bw` as hpbandster does.
    fn fit(points: Vec<Vec<usize>>, cards: &[usize], min_bw: f64) -> Kde {
        let n = points.len().max(1) as f64;
        let d = cards.len() as f64;
        let bandwidth = (0..cards.len())
            .map(|dim| {
                let xs: Vec<f64> = points
                    .iter()
                    .map(|p| p.get(dim).copied().unwrap_or(0) as f64)
                    .collect();
                let mean = xs.iter().sum::<f64>() / n;
                let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
                (1.06 * sd * n.powf(-1.0 / (4.0 + d))).max(min_bw)
            })
            .collect();
        Kde { points, bandwidth }
    }

    fn kernel(v: usize, x: usize, bw: f64, card: usize) -> f64 {
        if v == x {
            1.0 - bw
        } else {
            bw / (card.saturating_sub(1).max(1)) as f64
        }
    }

    fn pdf(&self, v: &[usize], cards: &[usize]) -> f64 {
        let s: f64 = self
            .points
            .iter()
            .map(|p| {
                v.iter()
                    .enumerate()
                    .map(|(d, &vd)| Kde::kernel(vd, p[d], self.bandwidth[d], cards[d]).max(1e-32))
                    .product::<f64>()
            })
            .sum();
        s / self.points.len().max(1) as f64
    }
}

/// Observations per budget: (values, loss).
type History = Vec<Vec<(Vec<usize>, f64)>>;

/// The good and bad densities of one budget's observations, if there are enough
/// (hpbandster's `new_result`): the best max(d+1, 15 %) are good, the next max(d+1, 85 %)
/// bad, and both sets need more points than dimensions.
fn fit_models(obs: &[(Vec<usize>, f64)], cards: &[usize], b: &BohbSettings) -> Option<(Kde, Kde)> {
    let d = cards.len();
    let n = obs.len();
    let min_points = d + 1;
    if n < min_points {
        return None;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| obs[x].1.total_cmp(&obs[y].1).then(x.cmp(&y)));
    let n_good = (b.top_n_percent * n / 100).max(min_points).min(n);
    let n_bad = ((100 - b.top_n_percent) * n / 100).max(min_points);
    let good: Vec<Vec<usize>> = order[..n_good].iter().map(|&i| obs[i].0.clone()).collect();
    let bad: Vec<Vec<usize>> = order[n_good..(n_good + n_bad).min(n)]
        .iter()
        .map(|&i| obs[i].0.clone())
        .collect();
    if good.len() <= d || bad.len() <= d {
        return None;
    }
    Some((
        Kde::fit(good, cards, b.min_bandwidth),
        Kde::fit(bad, cards, b.min_bandwidth),
    ))
}

/// A new configuration and whether the model picked it (else it is a uniform sample).
pub(crate) fn propose(
    space: &SearchSpace,
    history: &History,
    cards: &[usize],
    bohb: Option<BohbSettings>,
    rng: &mut ChaCha8Rng,
) -> Result<(Vec<usize>, bool), QueryError> {
    let random = |rng: &mut ChaCha8Rng| -> Result<(Vec<usize>, bool), QueryError> {
        Ok((space.encode_categorical(&space.sample(rng))?, false))
    };
    let Some(b) = bohb else {
        return random(rng);
    };
    // The largest budget with a model.
    let Some((good, bad)) = history.iter().rev().find_map(|o| fit_models(o, cards, &b)) else {
        return random(rng);
    };
    if rng.gen::<f64>() < b.random_fraction {
        return random(rng);
    }
    let mut best: Option<(f64, Vec<usize>)> = None;
    for _ in 0..b.num_samples.max(1) {
        let center = &good.points[rng.gen_range(0..good.points.len())];
        // Categorical dimensions keep the centre's value with probability 1 − bandwidth, else
        // draw uniformly (hpbandster widens only continuous kernels by the bandwidth factor).
        let cand: Vec<usize> = cards
            .iter()
            .enumerate()
            .map(|(d, &c)| {
                if rng.gen::<f64>() < 1.0 - good.bandwidth[d].min(1.0) {
                    center[d]
                } else {
                    rng.gen_range(0..c.max(1))
                }
            })
            .collect();
        let score = good.pdf(&cand, cards).max(1e-32) / bad.pdf(&cand, cards).max(1e-32);
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, cand));
        }
    }
    match best {
        Some((_, v)) => Ok((v, true)),
        None => random(rng),
    }
}

/// Runs HyperBand (or BOHB) until its brackets or the tracker's budget are spent.
pub fn run(
    tracker: &mut Tracker<'_>,
    rng: &mut ChaCha8Rng,
    settings: Settings,
) -> Result<(), QueryError> {
    let bench = tracker.bench();
    let space = bench.space();
    let budgets = bench.budgets().to_vec();
    let eta = settings.eta.max(2);
    let cards: Vec<usize> = space.decisions().iter().map(|d| d.cardinality).collect();
    let mut history: History = vec![Vec::new(); budgets.len()];
    let mut iteration = 0;
    while settings.iterations.is_none_or(|n| iteration < n) && !tracker.done() {
        let plan = bracket(iteration, budgets.len(), eta);
        iteration += 1;
        let mut rung: Vec<Vec<usize>> = Vec::with_capacity(plan.configs[0]);
        for _ in 0..plan.configs[0] {
            rung.push(propose(space, &history, &cards, settings.bohb, rng)?.0);
        }
        for (i, &epochs) in budgets[plan.first_budget..].iter().enumerate() {
            let mut results: Vec<(f64, Vec<usize>)> = Vec::with_capacity(rung.len());
            for values in rung {
                let Ok(arch) = space.decode_categorical(&values) else {
                    continue;
                };
                let Some(e) = tracker.evaluate(&arch, epochs, rng)? else {
                    return Ok(());
                };
                let loss = 1.0 - e.validation_accuracy;
                history[plan.first_budget + i].push((values.clone(), loss));
                results.push((loss, values));
            }
            let keep = plan.configs.get(i + 1).copied().unwrap_or(0);
            results.sort_by(|a, b| a.0.total_cmp(&b.0));
            rung = results.into_iter().take(keep).map(|r| r.1).collect();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use searchspace::SpaceId;

    #[test]
    fn brackets_follow_the_published_schedule() {
        // η = 3 over 4/12/36/108 (Li et al.; hpbandster with min 4, max 108).
        let hb = schedule(4, 3);
        let want = [
            (0, vec![27, 9, 3, 1]),
            (1, vec![9, 3, 1]),
            (2, vec![6, 2]),
            (3, vec![4]),
        ];
        for (b, (first, configs)) in hb.iter().zip(want) {
            assert_eq!((b.first_budget, &b.configs), (first, &configs));
        }
        let per_cycle: usize = hb.iter().flat_map(|b| &b.configs).sum();
        assert_eq!(per_cycle, 65);
        // The cycle repeats: iteration 4 is bracket s = 3 again.
        assert_eq!(bracket(4, 4, 3), hb[0]);
        // The BOHB tuning of the one-shot methods (η = 2, budgets 25/50/100; spec §5).
        let tuned = schedule(3, 2);
        assert_eq!(tuned[0].configs, vec![4, 2, 1]);
        assert_eq!(tuned[1].configs, vec![2, 1]);
        assert_eq!(tuned[2].configs, vec![3]);
        // One budget only: every bracket is a single evaluation.
        assert_eq!(
            schedule(1, 3),
            vec![Bracket {
                first_budget: 0,
                configs: vec![1]
            }]
        );
    }

    fn history_where_dim0_decides(space: &SearchSpace, n: usize, rng: &mut ChaCha8Rng) -> History {
        let obs = (0..n)
            .map(|_| {
                let v = space.encode_categorical(&space.sample(rng)).unwrap();
                let loss = if v[0] == 0 { 0.05 } else { 0.2 } + rng.gen::<f64>() * 0.01;
                (v, loss)
            })
            .collect();
        vec![obs]
    }

    #[test]
    fn bohb_picks_two_thirds_by_model_once_it_has_one() {
        let space = SearchSpace::new(SpaceId::Three);
        let cards: Vec<usize> = space.decisions().iter().map(|d| d.cardinality).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let b = Some(BohbSettings::default());
        // Too few observations for a model: every pick is random.
        let few = history_where_dim0_decides(&space, cards.len(), &mut rng);
        for _ in 0..50 {
            assert!(!propose(&space, &few, &cards, b, &mut rng).unwrap().1);
        }
        let hist = history_where_dim0_decides(&space, 200, &mut rng);
        let n = 3000;
        let mut model = 0;
        let mut good_dim0 = 0;
        for _ in 0..n {
            let (v, by_model) = propose(&space, &hist, &cards, b, &mut rng).unwrap();
            if by_model {
                model += 1;
                good_dim0 += usize::from(v[0] == 0);
            }
        }
        let frac = model as f64 / n as f64;
        assert!(
            (frac - 2.0 / 3.0).abs() < 0.03,
            "model-based fraction {frac}"
        );
        // The model's picks favour the value that the good observations share.
        let share = good_dim0 as f64 / model as f64;
        assert!(share > 0.8, "model picks with the good value: {share}");
        // HyperBand never uses a model.
        assert!(!propose(&space, &hist, &cards, None, &mut rng).unwrap().1);
    }
}
