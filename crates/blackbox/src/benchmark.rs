//! The tabular benchmark the optimizers query, behind one trait so that a surrogate or another
//! table can stand in. A query draws one random repeat, as the official API does.

use nasbench101::ModelHash;
use rand::{Rng, RngCore};
use searchspace::{Architecture, Reference, SearchSpace, SpaceTable};
use serde::{Deserialize, Serialize};

/// The answer to one query.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub hash: ModelHash,
    pub epochs: u32,
    pub validation_accuracy: f64,
    pub test_accuracy: f64,
    /// Seconds NB-101 reports for training this repeat at this budget.
    pub training_time: f64,
}

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("architecture not in space: {0}")]
    Arch(#[from] searchspace::ArchError),
    #[error("space {space}: model {hash} has no data at {epochs} epochs in the table")]
    Missing {
        space: searchspace::SpaceId,
        hash: ModelHash,
        epochs: u32,
    },
}

/// A benchmark over one search space.
pub trait Benchmark: Sync {
    /// The search space queried.
    fn space(&self) -> &SearchSpace;
    /// Available epoch budgets, ascending; the last is the full budget.
    fn budgets(&self) -> &[u32];
    /// The regret reference.
    fn reference(&self) -> &Reference;
    /// Evaluates `arch` at `epochs`, drawing the repeat from `rng`.
    fn query(
        &self,
        arch: &Architecture,
        epochs: u32,
        rng: &mut dyn RngCore,
    ) -> Result<Evaluation, QueryError>;

    /// The largest budget.
    fn max_budget(&self) -> u32 {
        self.budgets().last().copied().unwrap_or(108)
    }
}

/// NAS-Bench-101 through a [`SpaceTable`]: a query is an index computation and an array read.
pub struct TabularBenchmark {
    table: SpaceTable,
    budgets: Vec<u32>,
    reference: Reference,
}

impl TabularBenchmark {
    /// Wraps a table; the reference defaults to the exact one at the largest budget.
    pub fn new(table: SpaceTable) -> TabularBenchmark {
        let mut budgets = table.epochs().to_vec();
        budgets.sort_unstable();
        let reference = table.reference(table.max_epochs());
        TabularBenchmark {
            table,
            budgets,
            reference,
        }
    }

    /// Uses another reference (e.g. the original constants).
    pub fn with_reference(mut self, reference: Reference) -> TabularBenchmark {
        self.reference = reference;
        self
    }

    /// The underlying table.
    pub fn table(&self) -> &SpaceTable {
        &self.table
    }
}

impl Benchmark for TabularBenchmark {
    fn space(&self) -> &SearchSpace {
        self.table.space()
    }

    fn budgets(&self) -> &[u32] {
        &self.budgets
    }

    fn reference(&self) -> &Reference {
        &self.reference
    }

    fn query(
        &self,
        arch: &Architecture,
        epochs: u32,
        rng: &mut dyn RngCore,
    ) -> Result<Evaluation, QueryError> {
        let config = self.space().configuration_index(arch)?;
        let index = self.table.index();
        let id = index.model_of(config).unwrap_or(u32::MAX);
        let hash = index
            .models()
            .get(id as usize)
            .map(|m| m.hash)
            .unwrap_or(ModelHash([0; 16]));
        let runs = self.table.runs(id, epochs);
        if runs.is_empty() {
            return Err(QueryError::Missing {
                space: self.space().id(),
                hash,
                epochs,
            });
        }
        let run = runs[rng.gen_range(0..runs.len())];
        Ok(Evaluation {
            hash,
            epochs,
            validation_accuracy: run.validation_accuracy,
            test_accuracy: run.test_accuracy,
            training_time: run.training_time,
        })
    }
}
