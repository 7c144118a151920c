//! HyperBand and BOHB (η = 3; spec §6). Brackets cycle s = s_max..0 over the table's budgets
//! (4/12/36/108 with the full file, else 108 only); each runs successive halving, keeping the
//! best 1/η by validation error at each rung. Every evaluation is one query, from scratch at its
//! budget, as the original counts NB-101 training time. BOHB replaces HyperBand's random
//! configurations with samples from a kernel density model (Aitchison–Aitken kernels over the
//! categorical decisions) fitted on the largest budget with enough observations.

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
}

impl Default for Settings {
    fn default() -> Self {
        Settings { eta: 3, bohb: None }
    }
}

/// Per-dimension categorical KDE: the observed value vectors and a bandwidth per dimension.
struct Kde {
    points: Vec<Vec<usize>>,
    bandwidth: Vec<f64>,
}

impl Kde {
    fn fit(points: Vec<Vec<usize>>, cards: &[usize], min_bw: f64) -> Kde {
        let n = points.len().max(1) as f64;
        let bandwidth = cards
            .iter()
            .enumerate()
            .map(|(d, &c)| {
                let cap = (c.saturating_sub(1)) as f64 / c.max(1) as f64;
                if c <= 1 {
                    return 0.0;
                }
                let xs: Vec<f64> = points
                    .iter()
                    .map(|p| p.get(d).copied().unwrap_or(0) as f64 / (c - 1) as f64)
                    .collect();
                let mean = xs.iter().sum::<f64>() / n;
                let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
                (1.06 * sd * n.powf(-0.2)).max(min_bw).min(cap)
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

fn propose(
    space: &SearchSpace,
    history: &History,
    cards: &[usize],
    bohb: Option<BohbSettings>,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<usize>, QueryError> {
    let random = |rng: &mut ChaCha8Rng| space.encode_categorical(&space.sample(rng));
    let Some(b) = bohb else {
        return Ok(random(rng)?);
    };
    if rng.gen::<f64>() < b.random_fraction {
        return Ok(random(rng)?);
    }
    let min_points = cards.len() + 1;
    // The largest budget with enough observations.
    let Some(obs) = history.iter().rev().find(|o| o.len() >= min_points + 2) else {
        return Ok(random(rng)?);
    };
    let mut order: Vec<usize> = (0..obs.len()).collect();
    order.sort_by(|&a, &b| obs[a].1.total_cmp(&obs[b].1).then(a.cmp(&b)));
    let n = obs.len();
    let n_good = (b.top_n_percent * n / 100).max(min_points).min(n);
    let n_bad = ((100 - b.top_n_percent) * n / 100).max(min_points).min(n);
    let good = Kde::fit(
        order[..n_good].iter().map(|&i| obs[i].0.clone()).collect(),
        cards,
        b.min_bandwidth,
    );
    let bad = Kde::fit(
        order[n - n_bad..]
            .iter()
            .map(|&i| obs[i].0.clone())
            .collect(),
        cards,
        b.min_bandwidth,
    );
    let mut best: Option<(f64, Vec<usize>)> = None;
    for _ in 0..b.num_samples.max(1) {
        let center = &good.points[rng.gen_range(0..good.points.len())];
        let cand: Vec<usize> = cards
            .iter()
            .enumerate()
            .map(|(d, &c)| {
                let bw = (good.bandwidth[d] * b.bandwidth_factor).max(b.min_bandwidth);
                if rng.gen::<f64>() < 1.0 - bw.min(1.0) {
                    center[d]
                } else {
                    rng.gen_range(0..c.max(1))
                }
            })
            .collect();
        let score = good.pdf(&cand, cards) / bad.pdf(&cand, cards).max(1e-32);
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, cand));
        }
    }
    match best {
        Some((_, v)) => Ok(v),
        None => Ok(random(rng)?),
    }
}

/// Runs HyperBand (or BOHB) until the tracker's budget is spent.
pub fn run(
    tracker: &mut Tracker<'_>,
    rng: &mut ChaCha8Rng,
    settings: Settings,
) -> Result<(), QueryError> {
    let bench = tracker.bench();
    let space = bench.space();
    let budgets = bench.budgets().to_vec();
    let eta = settings.eta.max(2);
    let s_max = budgets.len().saturating_sub(1);
    let cards: Vec<usize> = space.decisions().iter().map(|d| d.cardinality).collect();
    let mut history: History = vec![Vec::new(); budgets.len()];
    'outer: loop {
        for s in (0..=s_max).rev() {
            let n0 = ((s_max + 1) / (s + 1)) * eta.pow(s as u32);
            let first = s_max - s;
            let mut rung: Vec<Vec<usize>> = Vec::with_capacity(n0);
            for _ in 0..n0 {
                rung.push(propose(space, &history, &cards, settings.bohb, rng)?);
            }
            for (i, &epochs) in budgets[first..].iter().enumerate() {
                let mut results: Vec<(f64, Vec<usize>)> = Vec::with_capacity(rung.len());
                for values in rung {
                    let Ok(arch) = space.decode_categorical(&values) else {
                        continue;
                    };
                    let Some(e) = tracker.evaluate(&arch, epochs, rng)? else {
                        break 'outer;
                    };
                    let loss = 1.0 - e.validation_accuracy;
                    history[first + i].push((values.clone(), loss));
                    results.push((loss, values));
                }
                let keep = (n0 / eta.pow(i as u32 + 1)).max(1);
                results.sort_by(|a, b| a.0.total_cmp(&b.0));
                rung = results.into_iter().take(keep).map(|r| r.1).collect();
            }
            if tracker.done() {
                break 'outer;
            }
        }
    }
    Ok(())
}
