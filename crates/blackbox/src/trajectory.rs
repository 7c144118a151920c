//! A run's trajectory: every query with the simulated wall-clock (the sum of NB-101 training
//! times so far) and the incumbent, the best architecture found so far. The incumbent is ranked
//! by budget first (a full-budget result beats any partial one), then by validation error.

use nasbench101::ModelHash;
use rand::RngCore;
use searchspace::Architecture;
use serde::{Deserialize, Serialize};

use crate::benchmark::{Benchmark, Evaluation, QueryError};

/// One line of `trajectory.jsonl` (schema in docs/searchspaces.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueryRecord {
    /// 1-based query number.
    pub query: usize,
    pub simulated_seconds: f64,
    pub epochs: u32,
    pub architecture: Architecture,
    pub hash: ModelHash,
    /// Errors of the queried repeat.
    pub valid_error: f64,
    pub test_error: f64,
    pub incumbent_valid_error: f64,
    pub incumbent_test_error: f64,
    pub incumbent_test_regret: f64,
    pub incumbent_valid_regret: f64,
}

/// Counts queries against a budget and records the trajectory.
pub struct Tracker<'a> {
    bench: &'a dyn Benchmark,
    max_queries: usize,
    seconds: f64,
    records: Vec<QueryRecord>,
    /// (epochs, valid error, test error) of the incumbent.
    incumbent: Option<(u32, f64, f64)>,
}

impl<'a> Tracker<'a> {
    /// A tracker allowing `max_queries` queries of `bench`.
    pub fn new(bench: &'a dyn Benchmark, max_queries: usize) -> Tracker<'a> {
        Tracker {
            bench,
            max_queries,
            seconds: 0.0,
            records: Vec::with_capacity(max_queries.min(1 << 14)),
            incumbent: None,
        }
    }

    /// The benchmark.
    pub fn bench(&self) -> &'a dyn Benchmark {
        self.bench
    }

    /// Whether the query budget is spent.
    pub fn done(&self) -> bool {
        self.records.len() >= self.max_queries
    }

    /// Queries `arch` at `epochs`; `None` once the budget is spent.
    pub fn evaluate(
        &mut self,
        arch: &Architecture,
        epochs: u32,
        rng: &mut dyn RngCore,
    ) -> Result<Option<Evaluation>, QueryError> {
        if self.done() {
            return Ok(None);
        }
        let e = self.bench.query(arch, epochs, rng)?;
        self.seconds += e.training_time;
        let (valid_error, test_error) = (1.0 - e.validation_accuracy, 1.0 - e.test_accuracy);
        let better = match self.incumbent {
            None => true,
            Some((ie, iv, _)) => epochs > ie || (epochs == ie && valid_error < iv),
        };
        if better {
            self.incumbent = Some((epochs, valid_error, test_error));
        }
        let (_, iv, it) = self.incumbent.unwrap_or((epochs, valid_error, test_error));
        let reference = self.bench.reference();
        self.records.push(QueryRecord {
            query: self.records.len() + 1,
            simulated_seconds: self.seconds,
            epochs,
            architecture: arch.clone(),
            hash: e.hash,
            valid_error,
            test_error,
            incumbent_valid_error: iv,
            incumbent_test_error: it,
            incumbent_test_regret: reference.test_regret(it),
            incumbent_valid_regret: reference.valid_regret(iv),
        });
        Ok(Some(e))
    }

    /// The records so far.
    pub fn records(&self) -> &[QueryRecord] {
        &self.records
    }

    /// The finished trajectory.
    pub fn into_records(self) -> Vec<QueryRecord> {
        self.records
    }
}
