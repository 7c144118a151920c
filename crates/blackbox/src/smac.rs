//! SMAC-style Bayesian optimization (spec §6): a random forest of 10 regression trees over the
//! categorical decisions predicts the loss (1 − validation accuracy); each step either draws a
//! random configuration (probability 0.33) or maximizes expected improvement over random
//! samples and the one-exchange neighbours of the best configurations so far. Simplified from
//! SMAC3: no intensification (each configuration is evaluated once).

use std::collections::HashSet;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::benchmark::QueryError;
use crate::trajectory::Tracker;

/// Settings of the SMAC-style optimizer.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub trees: usize,
    pub random_probability: f64,
    pub random_candidates: usize,
    /// Neighbourhoods of this many best configurations are scored too.
    pub local_starts: usize,
    pub min_samples_split: usize,
    pub max_depth: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            trees: 10,
            random_probability: 0.33,
            random_candidates: 500,
            local_starts: 5,
            min_samples_split: 3,
            max_depth: 20,
        }
    }
}

/// A regression tree node over categorical features: `x[feature] == value` goes left.
enum Node {
    Leaf(f64),
    Split {
        feature: usize,
        value: usize,
        left: Box<Node>,
        right: Box<Node>,
    },
}

impl Node {
    fn predict(&self, x: &[usize]) -> f64 {
        match self {
            Node::Leaf(v) => *v,
            Node::Split {
                feature,
                value,
                left,
                right,
            } => {
                if x.get(*feature) == Some(value) {
                    left.predict(x)
                } else {
                    right.predict(x)
                }
            }
        }
    }
}

struct TreeData<'a> {
    xs: &'a [Vec<usize>],
    ys: &'a [f64],
    cards: &'a [usize],
}

fn build(
    d: &TreeData<'_>,
    idx: &[usize],
    depth: usize,
    s: &Settings,
    rng: &mut ChaCha8Rng,
) -> Node {
    let n = idx.len() as f64;
    let mean = idx.iter().map(|&i| d.ys[i]).sum::<f64>() / n.max(1.0);
    if idx.len() < s.min_samples_split || depth >= s.max_depth {
        return Node::Leaf(mean);
    }
    let total_sum: f64 = idx.iter().map(|&i| d.ys[i]).sum();
    // Best (score, feature, value); score = between-group sum of squares to maximize.
    let mut best: Option<(f64, usize, usize)> = None;
    for (f, &card) in d.cards.iter().enumerate() {
        // SMAC considers 5/6 of the features at each split.
        if card < 2 || rng.gen::<f64>() > 5.0 / 6.0 {
            continue;
        }
        let mut count = vec![0usize; card];
        let mut sum = vec![0.0f64; card];
        for &i in idx {
            if let Some(&v) = d.xs[i].get(f) {
                if v < card {
                    count[v] += 1;
                    sum[v] += d.ys[i];
                }
            }
        }
        for v in 0..card {
            let (nl, nr) = (count[v] as f64, n - count[v] as f64);
            if nl == 0.0 || nr == 0.0 {
                continue;
            }
            let (sl, sr) = (sum[v], total_sum - sum[v]);
            let score = sl * sl / nl + sr * sr / nr;
            if best.is_none_or(|(b, _, _)| score > b + 1e-12) {
                best = Some((score, f, v));
            }
        }
    }
    let Some((_, feature, value)) = best else {
        return Node::Leaf(mean);
    };
    let (l, r): (Vec<usize>, Vec<usize>) = idx
        .iter()
        .partition(|&&i| d.xs[i].get(feature) == Some(&value));
    Node::Split {
        feature,
        value,
        left: Box::new(build(d, &l, depth + 1, s, rng)),
        right: Box::new(build(d, &r, depth + 1, s, rng)),
    }
}

/// Standard normal density and distribution function.
fn phi(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

fn big_phi(z: f64) -> f64 {
    // Abramowitz–Stegun 7.1.26 via erf.
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.3275911 * x.abs());
    let y = 1.0
        - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
            + 0.254829592)
            * t
            * (-x * x).exp();
    0.5 * (1.0 + if x >= 0.0 { y } else { -y })
}

fn expected_improvement(forest: &[Node], x: &[usize], best: f64) -> f64 {
    let preds: Vec<f64> = forest.iter().map(|t| t.predict(x)).collect();
    let n = preds.len().max(1) as f64;
    let mu = preds.iter().sum::<f64>() / n;
    let sd = (preds.iter().map(|p| (p - mu).powi(2)).sum::<f64>() / n).sqrt();
    if sd < 1e-12 {
        return (best - mu).max(0.0);
    }
    let z = (best - mu) / sd;
    (best - mu) * big_phi(z) + sd * phi(z)
}

/// Runs the SMAC-style optimizer until the tracker's budget is spent.
pub fn run(
    tracker: &mut Tracker<'_>,
    rng: &mut ChaCha8Rng,
    settings: Settings,
) -> Result<(), QueryError> {
    let bench = tracker.bench();
    let space = bench.space();
    let epochs = bench.max_budget();
    let cards: Vec<usize> = space.decisions().iter().map(|d| d.cardinality).collect();
    let mut xs: Vec<Vec<usize>> = Vec::new();
    let mut ys: Vec<f64> = Vec::new();
    let mut seen: HashSet<Vec<usize>> = HashSet::new();
    while !tracker.done() {
        let random = xs.len() < 2 || rng.gen::<f64>() < settings.random_probability;
        let values = if random {
            space.encode_categorical(&space.sample(rng))?
        } else {
            let data = TreeData {
                xs: &xs,
                ys: &ys,
                cards: &cards,
            };
            let forest: Vec<Node> = (0..settings.trees)
                .map(|_| {
                    let boot: Vec<usize> =
                        (0..xs.len()).map(|_| rng.gen_range(0..xs.len())).collect();
                    build(&data, &boot, 0, &settings, rng)
                })
                .collect();
            let best_y = ys.iter().copied().fold(f64::INFINITY, f64::min);
            let mut candidates: Vec<Vec<usize>> = (0..settings.random_candidates)
                .map(|_| space.encode_categorical(&space.sample(rng)))
                .collect::<Result<_, _>>()?;
            let mut order: Vec<usize> = (0..ys.len()).collect();
            order.sort_by(|&a, &b| ys[a].total_cmp(&ys[b]).then(a.cmp(&b)));
            for &i in order.iter().take(settings.local_starts) {
                for (f, &card) in cards.iter().enumerate() {
                    for v in 0..card {
                        if xs[i][f] != v {
                            let mut c = xs[i].clone();
                            c[f] = v;
                            candidates.push(c);
                        }
                    }
                }
            }
            let mut best: Option<(f64, Vec<usize>)> = None;
            for c in candidates {
                if seen.contains(&c) {
                    continue;
                }
                let ei = expected_improvement(&forest, &c, best_y);
                if best.as_ref().is_none_or(|(b, _)| ei > *b) {
                    best = Some((ei, c));
                }
            }
            match best {
                Some((_, c)) => c,
                None => space.encode_categorical(&space.sample(rng))?,
            }
        };
        let Ok(arch) = space.decode_categorical(&values) else {
            continue;
        };
        let Some(e) = tracker.evaluate(&arch, epochs, rng)? else {
            break;
        };
        seen.insert(values.clone());
        xs.push(values);
        ys.push(1.0 - e.validation_accuracy);
    }
    Ok(())
}
