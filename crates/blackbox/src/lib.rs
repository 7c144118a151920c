//! Discrete (black-box) NAS optimizers over a search space and a tabular benchmark: random
//! search, regularized evolution, REINFORCE, TPE, HyperBand, BOHB and SMAC-style random-forest
//! BO with intensification. No libtorch here. A run's budget counts queries or iterations
//! ([`BudgetUnit`]; by default as the original counted for each optimizer).
//!
//! Library functions are pure and deterministic per seed; parallelism over seeds and progress
//! display belong to the caller (the CLI).

mod benchmark;
pub mod evolution;
pub mod hyperband;
pub mod kde;
mod optimizer;
mod output;
pub mod random_search;
pub mod reinforce;
pub mod smac;
pub mod tpe;
mod trajectory;

pub use benchmark::{Benchmark, Evaluation, QueryError, TabularBenchmark};
pub use optimizer::{
    run, run_with, Budget, BudgetUnit, OptimizerKind, UnknownOptimizer, MAX_BUDGET,
};
pub use output::{
    input_changes, is_complete, read_run_info, read_trajectory, run_dir, seed_dir, write_run,
    OutputError, RunInfo,
};
pub use trajectory::{QueryRecord, Tracker};
