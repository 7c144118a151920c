//! SMAC-style Bayesian optimization (spec §6): a random forest of 10 regression trees over the
//! categorical decisions predicts the loss (1 − validation accuracy, averaged over a
//! configuration's runs); each iteration takes one challenger, a random configuration
//! (probability 0.33) or the maximizer of expected improvement over random samples and the
//! one-exchange neighbours of the best configurations so far, and intensifies it against the
//! incumbent as SMAC3 does for a non-deterministic target: the incumbent gets one more run
//! (up to `max_runs` = maxR 4), then the challenger runs 1, 2, 4, ... times until it is worse
//! than the incumbent on its runs so far (rejected) or has as many runs and is not worse (the
//! new incumbent). Each run is a query, so a repeat is drawn afresh. The first incumbent is a
//! random configuration.

use std::collections::{HashMap, HashSet};

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
    /// Most runs of one configuration (SMAC's `maxR`; the original set 4).
    pub max_runs: usize,
    /// Stop after this many intensification rounds (else only the query budget stops it).
    pub iterations: Option<usize>,
    /// Score the local-search starts themselves too, so expected improvement may propose a
    /// configuration that already ran, as SMAC3's local search does when no neighbour beats its
    /// start (the re-proposed one races the incumbent with more runs); `false`: only new ones.
    pub repropose_seen: bool,
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
            max_runs: 4,
            iterations: None,
            repropose_seen: true,
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

/// Runs of one configuration: count and summed loss.
#[derive(Clone, Copy, Debug, Default)]
struct Runs {
    n: usize,
    sum: f64,
}

impl Runs {
    fn mean(&self) -> f64 {
        self.sum / self.n.max(1) as f64
    }
}

/// The run history: every configuration's runs, in first-seen order for the model.
#[derive(Default)]
struct RunHistory {
    order: Vec<Vec<usize>>,
    runs: HashMap<Vec<usize>, Runs>,
}

impl RunHistory {
    fn get(&self, v: &[usize]) -> Runs {
        self.runs.get(v).copied().unwrap_or_default()
    }

    /// One more run of `values`; `false` once the query budget is spent.
    fn run(
        &mut self,
        values: &[usize],
        tracker: &mut Tracker<'_>,
        rng: &mut ChaCha8Rng,
    ) -> Result<bool, QueryError> {
        let space = tracker.bench().space();
        let Ok(arch) = space.decode_categorical(values) else {
            return Ok(true);
        };
        let epochs = tracker.bench().max_budget();
        let Some(e) = tracker.evaluate(&arch, epochs, rng)? else {
            return Ok(false);
        };
        let r = self.runs.entry(values.to_vec()).or_insert_with(|| {
            self.order.push(values.to_vec());
            Runs::default()
        });
        r.n += 1;
        r.sum += 1.0 - e.validation_accuracy;
        Ok(true)
    }
}

/// What became of one challenger.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Rejected,
    NewIncumbent,
    OutOfBudget,
}

/// SMAC3's `intensify` for one challenger (non-deterministic target, one instance).
fn intensify(
    hist: &mut RunHistory,
    incumbent: &[usize],
    challenger: &[usize],
    max_runs: usize,
    tracker: &mut Tracker<'_>,
    rng: &mut ChaCha8Rng,
) -> Result<Outcome, QueryError> {
    if hist.get(incumbent).n < max_runs && !hist.run(incumbent, tracker, rng)? {
        return Ok(Outcome::OutOfBudget);
    }
    let mut batch = 1;
    loop {
        let inc = hist.get(incumbent);
        let missing = inc.n.saturating_sub(hist.get(challenger).n);
        for _ in 0..batch.min(missing) {
            if !hist.run(challenger, tracker, rng)? {
                return Ok(Outcome::OutOfBudget);
            }
        }
        let chal = hist.get(challenger);
        if chal.n > 0 && chal.mean() > inc.mean() {
            return Ok(Outcome::Rejected);
        }
        if chal.n >= inc.n {
            return Ok(Outcome::NewIncumbent);
        }
        batch *= 2;
    }
}

/// The next challenger: random with probability `random_probability`, else the maximizer of
/// expected improvement over the incumbent's mean loss.
fn challenger(
    hist: &RunHistory,
    incumbent: &[usize],
    cards: &[usize],
    settings: &Settings,
    tracker: &Tracker<'_>,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<usize>, QueryError> {
    let space = tracker.bench().space();
    if hist.order.len() < 2 || rng.gen::<f64>() < settings.random_probability {
        return Ok(space.encode_categorical(&space.sample(rng))?);
    }
    let xs: Vec<Vec<usize>> = hist.order.clone();
    let ys: Vec<f64> = xs.iter().map(|x| hist.get(x).mean()).collect();
    let data = TreeData {
        xs: &xs,
        ys: &ys,
        cards,
    };
    let forest: Vec<Node> = (0..settings.trees)
        .map(|_| {
            let boot: Vec<usize> = (0..xs.len()).map(|_| rng.gen_range(0..xs.len())).collect();
            build(&data, &boot, 0, settings, rng)
        })
        .collect();
    let best_y = hist.get(incumbent).mean();
    let mut candidates: Vec<Vec<usize>> = (0..settings.random_candidates)
        .map(|_| space.encode_categorical(&space.sample(rng)))
        .collect::<Result<_, _>>()?;
    let mut order: Vec<usize> = (0..ys.len()).collect();
    order.sort_by(|&a, &b| ys[a].total_cmp(&ys[b]).then(a.cmp(&b)));
    for &i in order.iter().take(settings.local_starts) {
        // SMAC3's local search returns its start when no neighbour improves EI: a re-proposal.
        if settings.repropose_seen {
            candidates.push(xs[i].clone());
        }
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
    let seen: HashSet<&Vec<usize>> = xs.iter().collect();
    let mut best: Option<(f64, Vec<usize>)> = None;
    for c in candidates {
        if c.as_slice() == incumbent || (!settings.repropose_seen && seen.contains(&c)) {
            continue;
        }
        let ei = expected_improvement(&forest, &c, best_y);
        if best.as_ref().is_none_or(|(b, _)| ei > *b) {
            best = Some((ei, c));
        }
    }
    match best {
        Some((_, c)) => Ok(c),
        None => Ok(space.encode_categorical(&space.sample(rng))?),
    }
}

/// Runs the SMAC-style optimizer until its iterations or the tracker's budget are spent.
pub fn run(
    tracker: &mut Tracker<'_>,
    rng: &mut ChaCha8Rng,
    settings: Settings,
) -> Result<(), QueryError> {
    let space = tracker.bench().space();
    let cards: Vec<usize> = space.decisions().iter().map(|d| d.cardinality).collect();
    let mut hist = RunHistory::default();
    let mut incumbent = space.encode_categorical(&space.sample(rng))?;
    if !hist.run(&incumbent, tracker, rng)? {
        return Ok(());
    }
    let mut iteration = 0;
    while settings.iterations.is_none_or(|n| iteration < n) && !tracker.done() {
        iteration += 1;
        let c = challenger(&hist, &incumbent, &cards, &settings, tracker, rng)?;
        if c == incumbent {
            continue;
        }
        match intensify(&mut hist, &incumbent, &c, settings.max_runs, tracker, rng)? {
            Outcome::NewIncumbent => incumbent = c,
            Outcome::Rejected => {}
            Outcome::OutOfBudget => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::benchmark::TabularBenchmark;
    use rand::SeedableRng;
    use searchspace::{synthetic, SearchSpace, SpaceId, SpaceTable};
    use std::path::Path;

    fn bench() -> TabularBenchmark {
        let sp = SearchSpace::new(SpaceId::One);
        let nb = synthetic::space_table(&sp, &[108], 5, Path::new("synthetic")).unwrap();
        TabularBenchmark::new(SpaceTable::build(&sp, &nb).unwrap())
    }

    #[test]
    fn intensification_reruns_the_incumbent_up_to_max_r() {
        let b = bench();
        let mut tracker = Tracker::new(&b, 280);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        run(&mut tracker, &mut rng, Settings::default()).unwrap();
        let records = tracker.into_records();
        assert_eq!(records.len(), 280);
        let mut counts: HashMap<String, usize> = HashMap::new();
        for r in &records {
            *counts.entry(format!("{:?}", r.architecture)).or_default() += 1;
        }
        let most = counts.values().copied().max().unwrap();
        // Some incumbent reached maxR runs and no configuration went past it.
        assert_eq!(most, 4, "{counts:?}");
        // Re-runs happened, but most queries are still new configurations.
        assert!(counts.len() < 280 && counts.len() > 100, "{}", counts.len());
    }

    #[test]
    fn a_worse_challenger_is_rejected_after_one_run_and_a_better_one_replaces() {
        let b = bench();
        let space = b.table().space();
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        // Two configurations with clearly different losses on the table.
        let mut archs: Vec<(f64, Vec<usize>)> = (0..200)
            .map(|_| {
                let a = space.sample(&mut rng);
                let v = space.encode_categorical(&a).unwrap();
                let e = crate::Benchmark::query(&b, &a, 108, &mut rng).unwrap();
                (1.0 - e.validation_accuracy, v)
            })
            .collect();
        archs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (good, bad) = (archs[0].1.clone(), archs[199].1.clone());
        let mut tracker = Tracker::new(&b, 100);
        let mut hist = RunHistory::default();
        hist.run(&good, &mut tracker, &mut rng).unwrap();
        let out = intensify(&mut hist, &good, &bad, 4, &mut tracker, &mut rng).unwrap();
        assert_eq!(out, Outcome::Rejected);
        assert_eq!((hist.get(&good).n, hist.get(&bad).n), (2, 1));
        // Now the other way round: the good challenger catches up run by run (1, then 2).
        let mut tracker = Tracker::new(&b, 100);
        let mut hist = RunHistory::default();
        hist.run(&bad, &mut tracker, &mut rng).unwrap();
        hist.run(&bad, &mut tracker, &mut rng).unwrap();
        let out = intensify(&mut hist, &bad, &good, 4, &mut tracker, &mut rng).unwrap();
        assert_eq!(out, Outcome::NewIncumbent);
        assert_eq!((hist.get(&bad).n, hist.get(&good).n), (3, 3));
    }

    #[test]
    fn expected_improvement_reproposes_seen_configurations_only_when_asked() {
        let b = bench();
        let space = b.table().space();
        let cards: Vec<usize> = space.decisions().iter().map(|d| d.cardinality).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut tracker = Tracker::new(&b, 1000);
        let mut hist = RunHistory::default();
        for _ in 0..60 {
            let v = space.encode_categorical(&space.sample(&mut rng)).unwrap();
            hist.run(&v, &mut tracker, &mut rng).unwrap();
        }
        let incumbent = hist.order[0].clone();
        let seen_share = |repropose_seen: bool, rng: &mut ChaCha8Rng| {
            let settings = Settings {
                random_probability: 0.0,
                repropose_seen,
                ..Settings::default()
            };
            let picks: Vec<Vec<usize>> = (0..20)
                .map(|_| challenger(&hist, &incumbent, &cards, &settings, &tracker, rng).unwrap())
                .collect();
            assert!(picks.iter().all(|c| *c != incumbent));
            picks.iter().filter(|c| hist.runs.contains_key(*c)).count()
        };
        assert_eq!(seen_share(false, &mut rng), 0);
        assert!(
            seen_share(true, &mut rng) > 0,
            "SMAC3 re-proposes good configurations"
        );
    }
}
