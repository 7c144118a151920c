//! The optimizers by name, and one deterministic run per (optimizer, seed).

use std::fmt;
use std::str::FromStr;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::benchmark::{Benchmark, QueryError};
use crate::trajectory::{QueryRecord, Tracker};
use crate::{evolution, hyperband, random_search, reinforce, smac, tpe};

/// A black-box optimizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Random search (`rs`).
    Rs,
    /// Regularized evolution (`re`).
    Re,
    /// REINFORCE (`reinforce`, also `rl`).
    Reinforce,
    /// Tree-structured Parzen estimator (`tpe`).
    Tpe,
    /// HyperBand (`hb`).
    Hb,
    /// BOHB (`bohb`).
    Bohb,
    /// SMAC-style random-forest Bayesian optimization (`smac`).
    Smac,
}

impl OptimizerKind {
    /// Every optimizer.
    pub const ALL: [OptimizerKind; 7] = [
        OptimizerKind::Rs,
        OptimizerKind::Re,
        OptimizerKind::Reinforce,
        OptimizerKind::Tpe,
        OptimizerKind::Hb,
        OptimizerKind::Bohb,
        OptimizerKind::Smac,
    ];

    /// The short name used on the command line and in output paths.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Rs => "rs",
            OptimizerKind::Re => "re",
            OptimizerKind::Reinforce => "reinforce",
            OptimizerKind::Tpe => "tpe",
            OptimizerKind::Hb => "hb",
            OptimizerKind::Bohb => "bohb",
            OptimizerKind::Smac => "smac",
        }
    }
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown optimizer name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown optimizer {0:?}: expected one of rs, re, reinforce, tpe, hb, bohb, smac")]
pub struct UnknownOptimizer(pub String);

impl FromStr for OptimizerKind {
    type Err = UnknownOptimizer;
    fn from_str(s: &str) -> Result<Self, UnknownOptimizer> {
        match s.trim().to_ascii_lowercase().as_str() {
            "rs" | "random" | "random_search" => Ok(OptimizerKind::Rs),
            "re" | "evolution" | "regularized_evolution" => Ok(OptimizerKind::Re),
            "reinforce" | "rl" => Ok(OptimizerKind::Reinforce),
            "tpe" => Ok(OptimizerKind::Tpe),
            "hb" | "hyperband" => Ok(OptimizerKind::Hb),
            "bohb" => Ok(OptimizerKind::Bohb),
            "smac" => Ok(OptimizerKind::Smac),
            _ => Err(UnknownOptimizer(s.to_string())),
        }
    }
}

/// What a run's budget counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetUnit {
    /// Queries (evaluations) of the benchmark.
    Queries,
    /// Optimizer iterations: a successive-halving bracket for HyperBand and BOHB
    /// (hpbandster's `run(n_iterations)`), an intensification round for SMAC, one query for
    /// the others.
    Iterations,
}

impl BudgetUnit {
    /// How the original scripts counted their `--n_iters 280` (spec §6): HyperBand and BOHB
    /// ran 280 brackets, every other optimizer 280 evaluations (SMAC's `runcount-limit`).
    pub fn original(kind: OptimizerKind) -> BudgetUnit {
        match kind {
            OptimizerKind::Hb | OptimizerKind::Bohb => BudgetUnit::Iterations,
            _ => BudgetUnit::Queries,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BudgetUnit::Queries => "queries",
            BudgetUnit::Iterations => "iterations",
        }
    }
}

impl FromStr for BudgetUnit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "queries" => Ok(BudgetUnit::Queries),
            "iterations" => Ok(BudgetUnit::Iterations),
            _ => Err(format!(
                "unknown budget unit {s:?}: expected queries or iterations"
            )),
        }
    }
}

/// How long a run lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub count: usize,
    pub unit: BudgetUnit,
}

/// Largest budget a run may be given, in its unit: far beyond the paper's 280 and the spaces'
/// sizes, small enough that a typo is refused instead of exhausting memory.
pub const MAX_BUDGET: usize = 1_000_000;

impl Budget {
    /// Refuses a budget of 0 (a complete but empty run) or above [`MAX_BUDGET`].
    pub fn check(&self) -> Result<(), String> {
        match self.count {
            0 => Err("the budget must be at least 1".into()),
            n if n > MAX_BUDGET => Err(format!(
                "the budget {n} is larger than the limit of {MAX_BUDGET}"
            )),
            _ => Ok(()),
        }
    }

    pub fn queries(count: usize) -> Budget {
        Budget {
            count,
            unit: BudgetUnit::Queries,
        }
    }

    pub fn iterations(count: usize) -> Budget {
        Budget {
            count,
            unit: BudgetUnit::Iterations,
        }
    }
}

/// Runs `kind` for `queries` queries with the given seed; the same inputs always give the same
/// trajectory.
pub fn run(
    kind: OptimizerKind,
    bench: &dyn Benchmark,
    queries: usize,
    seed: u64,
) -> Result<Vec<QueryRecord>, QueryError> {
    run_with(kind, bench, Budget::queries(queries), seed)
}

/// Runs `kind` until `budget` is spent, with the given seed.
pub fn run_with(
    kind: OptimizerKind,
    bench: &dyn Benchmark,
    budget: Budget,
    seed: u64,
) -> Result<Vec<QueryRecord>, QueryError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let iterations = match budget.unit {
        BudgetUnit::Queries => None,
        BudgetUnit::Iterations => Some(budget.count),
    };
    let max_queries = match (kind, iterations) {
        // These spend one query per iteration.
        (OptimizerKind::Hb | OptimizerKind::Bohb | OptimizerKind::Smac, Some(_)) => usize::MAX,
        _ => budget.count,
    };
    let mut tracker = Tracker::new(bench, max_queries);
    match kind {
        OptimizerKind::Rs => random_search::run(&mut tracker, &mut rng)?,
        OptimizerKind::Re => evolution::run(&mut tracker, &mut rng, Default::default())?,
        OptimizerKind::Reinforce => reinforce::run(&mut tracker, &mut rng, Default::default())?,
        OptimizerKind::Tpe => tpe::run(&mut tracker, &mut rng, Default::default())?,
        OptimizerKind::Hb => hyperband::run(
            &mut tracker,
            &mut rng,
            hyperband::Settings {
                iterations,
                ..Default::default()
            },
        )?,
        OptimizerKind::Bohb => hyperband::run(
            &mut tracker,
            &mut rng,
            hyperband::Settings {
                eta: 3,
                bohb: Some(Default::default()),
                iterations,
            },
        )?,
        OptimizerKind::Smac => smac::run(
            &mut tracker,
            &mut rng,
            smac::Settings {
                iterations,
                ..Default::default()
            },
        )?,
    }
    Ok(tracker.into_records())
}
