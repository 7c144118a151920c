//! HyperBand and BOHB (η = 3; spec §6), as hpbandster runs them. Brackets cycle
//! s = s_max..0 over the table's budgets (4/12/36/108 with the full file, else 108 only); bracket
//! s starts ⌊(s_max+1)/(s+1)⌋·η^s configurations at budget index s_max−s and keeps the best
//! ⌊n/η⌋ by validation error at each rung ([`schedule`]). Every evaluation is one query, from
//! scratch at its budget, as the original counts NB-101 training time. A run lasts a number of
//! brackets (the original's 280 `n_iterations`) or of queries. BOHB replaces HyperBand's random
//! configurations, except a `random_fraction` of them, with the best of `num_samples` draws
//! around good observations, scored by l(x)/g(x) of two Aitchison–Aitken kernel densities
//! (statsmodels' normal-reference bandwidths) fitted on the largest budget with enough
//! observations: the model of [`crate::kde`], which the BOHB tuning of one-shot
//! hyperparameters shares (`nb1s1 tune`, with its numeric dimensions).

use rand_chacha::ChaCha8Rng;
use searchspace::SearchSpace;

use crate::benchmark::QueryError;
use crate::kde::{self, Dim};
use crate::trajectory::Tracker;

pub use crate::kde::BohbSettings;

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

/// hpbandster's budgets from `min` to `max`: s_max + 1 = ⌊log_η(max/min)⌋ + 1 of them,
/// max·η^−k, smallest first (25/50/100 for η = 2 over 25..100).
pub fn budgets(min: f64, max: f64, eta: usize) -> Vec<f64> {
    let eta = eta.max(2) as f64;
    let steps = ((max / min).ln() / eta.ln() + 1e-9).floor().max(0.0) as i32;
    (0..=steps).rev().map(|k| max * eta.powi(-k)).collect()
}

/// The brackets of one HyperBand cycle, in order.
pub fn schedule(budgets: usize, eta: usize) -> Vec<Bracket> {
    (0..budgets.max(1))
        .map(|i| bracket(i, budgets, eta))
        .collect()
}

/// Observations per budget: (values as floats, loss), the model's vector form.
type History = Vec<Vec<kde::Observation>>;

/// The cell decisions as the model's dimensions (all categorical).
fn dims(cards: &[usize]) -> Vec<Dim> {
    cards.iter().map(|&c| Dim::Categorical(c)).collect()
}

fn to_vector(values: &[usize]) -> Vec<f64> {
    values.iter().map(|&v| v as f64).collect()
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
    match kde::propose(history, &dims(cards), &b, rng) {
        Some(v) => Ok((v.iter().map(|&x| x as usize).collect(), true)),
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
                history[plan.first_budget + i].push((to_vector(&values), loss));
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
    use rand::{Rng, SeedableRng};
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
                (to_vector(&v), loss)
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
