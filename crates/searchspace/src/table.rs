//! A search space joined with a NAS-Bench-101 table: for every unique model of the space, the
//! final metrics of every repeat at every budget, in file order. Looking up a configuration is
//! then an array access, which is what the exhaustive statistics and the black-box optimizers
//! need (one lookup per query instead of a graph hash).

use std::path::PathBuf;

use nasbench101::{ModelHash, Nb101};
use serde::{Deserialize, Serialize};

use crate::index::ModelIndex;
use crate::reference::{Reference, ReferenceSource};
use crate::space::SearchSpace;

/// The final metrics of one training run (one repeat at one budget).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub validation_accuracy: f64,
    pub test_accuracy: f64,
    /// NB-101 `final_training_time` in seconds.
    pub training_time: f64,
}

/// Why a space table cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{file}: model {hash} (space {space}) has no data at {epochs} epochs: {source}")]
    Query {
        file: PathBuf,
        space: crate::SpaceId,
        hash: ModelHash,
        epochs: u32,
        #[source]
        source: nasbench101::QueryError,
    },
    #[error("{file}: no epoch budget in the table")]
    NoBudgets { file: PathBuf },
}

/// Every unique model of a space with its NB-101 runs.
#[derive(Clone, Debug)]
pub struct SpaceTable {
    index: ModelIndex,
    epochs: Vec<u32>,
    /// `runs[model][budget]`: the repeats, in file order (empty when the model is absent).
    runs: Vec<Vec<Vec<Run>>>,
    missing: Vec<ModelHash>,
    file: PathBuf,
    synthetic: bool,
}

impl SpaceTable {
    /// Enumerates `space` and looks up every unique model in `nb101`.
    pub fn build(space: &SearchSpace, nb101: &Nb101) -> Result<SpaceTable, TableError> {
        SpaceTable::from_index(ModelIndex::build(space), nb101)
    }

    /// Looks up every model of an existing index in `nb101`. Models absent from the table
    /// (possible with synthetic tables) are listed by [`Self::missing`] and have no runs.
    pub fn from_index(index: ModelIndex, nb101: &Nb101) -> Result<SpaceTable, TableError> {
        let file = nb101.path().to_path_buf();
        let epochs = nb101.epochs().to_vec();
        if epochs.is_empty() {
            return Err(TableError::NoBudgets { file });
        }
        let mut runs = Vec::with_capacity(index.models().len());
        let mut missing = Vec::new();
        for m in index.models() {
            let Some(model) = nb101.model(&m.hash) else {
                missing.push(m.hash);
                runs.push(vec![Vec::new(); epochs.len()]);
                continue;
            };
            let mut per_budget = Vec::with_capacity(epochs.len());
            for &e in &epochs {
                let reps = model.repeats(e).map_err(|source| TableError::Query {
                    file: file.clone(),
                    space: index.space_id(),
                    hash: m.hash,
                    epochs: e,
                    source,
                })?;
                per_budget.push(
                    reps.iter()
                        .map(|d| Run {
                            validation_accuracy: d.final_validation_accuracy,
                            test_accuracy: d.final_test_accuracy,
                            training_time: d.final_training_time,
                        })
                        .collect(),
                );
            }
            runs.push(per_budget);
        }
        Ok(SpaceTable {
            index,
            epochs,
            runs,
            missing,
            file,
            synthetic: nb101.is_synthetic(),
        })
    }

    /// The configuration → model index.
    pub fn index(&self) -> &ModelIndex {
        &self.index
    }

    /// The search space.
    pub fn space(&self) -> &SearchSpace {
        self.index.space()
    }

    /// Epoch budgets of the table, ascending as the file gives them.
    pub fn epochs(&self) -> &[u32] {
        &self.epochs
    }

    /// Largest budget (108 for the real files).
    pub fn max_epochs(&self) -> u32 {
        self.epochs.iter().copied().max().unwrap_or(108)
    }

    /// Models of the space that the table lacks.
    pub fn missing(&self) -> &[ModelHash] {
        &self.missing
    }

    /// The NB-101 file the table came from.
    pub fn file(&self) -> &std::path::Path {
        &self.file
    }

    /// Whether the NB-101 file is synthetic.
    pub fn is_synthetic(&self) -> bool {
        self.synthetic
    }

    /// The repeats of model `id` at `epochs` (empty when absent).
    pub fn runs(&self, id: u32, epochs: u32) -> &[Run] {
        let Some(slot) = self.epochs.iter().position(|&e| e == epochs) else {
            return &[];
        };
        self.runs
            .get(id as usize)
            .and_then(|b| b.get(slot))
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    }

    /// The exact reference of the space at `epochs` (spec §4.2): minima over single repeats
    /// (as the original) and over 3-repeat means, across every model present.
    pub fn reference(&self, epochs: u32) -> Reference {
        let mut r = Reference {
            space: self.index.space_id(),
            source: ReferenceSource::Exhaustive,
            epochs,
            min_test_error: f64::INFINITY,
            min_valid_error: f64::INFINITY,
            min_mean_test_error: None,
            min_mean_valid_error: None,
            nb101_file: Some(self.file.display().to_string()),
            synthetic: Some(self.synthetic),
        };
        let (mut mt, mut mv) = (f64::INFINITY, f64::INFINITY);
        for id in 0..self.index.models().len() as u32 {
            let runs = self.runs(id, epochs);
            if runs.is_empty() {
                continue;
            }
            for run in runs {
                r.min_test_error = r.min_test_error.min(1.0 - run.test_accuracy);
                r.min_valid_error = r.min_valid_error.min(1.0 - run.validation_accuracy);
            }
            let n = runs.len() as f64;
            mt = mt.min(runs.iter().map(|x| 1.0 - x.test_accuracy).sum::<f64>() / n);
            mv = mv.min(
                runs.iter()
                    .map(|x| 1.0 - x.validation_accuracy)
                    .sum::<f64>()
                    / n,
            );
        }
        r.min_mean_test_error = mt.is_finite().then_some(mt);
        r.min_mean_valid_error = mv.is_finite().then_some(mv);
        r
    }
}
