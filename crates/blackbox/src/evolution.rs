//! Regularized evolution (Real et al.; spec §6): a population of 100 architectures aged out
//! first-in first-out; each cycle a tournament of 10 members drawn at random picks the parent
//! with the best validation accuracy, whose mutant (identity, hidden-state or operation
//! mutation, chosen uniformly as in the original) replaces the oldest member.

use std::collections::VecDeque;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use searchspace::{Architecture, Mutation};

use crate::benchmark::QueryError;
use crate::trajectory::Tracker;

/// Settings of regularized evolution.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub population: usize,
    pub tournament: usize,
    /// Draw the identity mutation too (as the original does).
    pub identity: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            population: 100,
            tournament: 10,
            identity: true,
        }
    }
}

/// Runs regularized evolution until the tracker's budget is spent.
pub fn run(
    tracker: &mut Tracker<'_>,
    rng: &mut ChaCha8Rng,
    settings: Settings,
) -> Result<(), QueryError> {
    run_from(tracker, rng, settings, &[])
}

/// Regularized evolution whose initial population starts with `initial` (queried in order,
/// at most a population's worth), filled up with random architectures: the warm start of
/// NAS-Bench-Suite-Zero (Krishnakumar et al. 2022) hands it the cells a proxy ranks best.
pub fn run_from(
    tracker: &mut Tracker<'_>,
    rng: &mut ChaCha8Rng,
    settings: Settings,
    initial: &[Architecture],
) -> Result<(), QueryError> {
    let bench = tracker.bench();
    let space = bench.space();
    let epochs = bench.max_budget();
    let mut population: VecDeque<(Architecture, f64)> =
        VecDeque::with_capacity(settings.population);
    let mut given = initial.iter();
    while population.len() < settings.population.max(1) && !tracker.done() {
        let arch = match given.next() {
            Some(a) => a.clone(),
            None => space.sample(rng),
        };
        if let Some(e) = tracker.evaluate(&arch, epochs, rng)? {
            population.push_back((arch, e.validation_accuracy));
        }
    }
    let kinds: &[Mutation] = if settings.identity {
        &[Mutation::Identity, Mutation::HiddenState, Mutation::Op]
    } else {
        &[Mutation::HiddenState, Mutation::Op]
    };
    while !tracker.done() && !population.is_empty() {
        let mut parent = rng.gen_range(0..population.len());
        for _ in 1..settings.tournament.max(1) {
            let c = rng.gen_range(0..population.len());
            if population[c].1 > population[parent].1 {
                parent = c;
            }
        }
        let kind = kinds[rng.gen_range(0..kinds.len())];
        let child = space.mutate_with(&population[parent].0, kind, rng);
        if let Some(e) = tracker.evaluate(&child, epochs, rng)? {
            population.push_back((child, e.validation_accuracy));
            population.pop_front();
        }
    }
    Ok(())
}
