//! Anytime evaluation against NAS-Bench-101 (spec §4.1–4.2): the selected cell's three repeats
//! at 108 epochs, and the regret relative to the best single repeat of the space; and the mean
//! errors at every budget that the correlation evaluation compares with (§4.3).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nasbench101::{Api, ModelHash, Nb101};
use searchspace::{Reference, ReferenceSource, SearchSpace, SpaceId};

use crate::error::OneShotError;

/// The NB-101 record of one cell: errors (1 − accuracy) of its repeats at 108 epochs, and
/// their training seconds (empty where a table does not know them).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Nb101Errors {
    pub valid: Vec<f64>,
    pub test: Vec<f64>,
    pub train_seconds: Vec<f64>,
}

/// A NAS-Bench-101 table as the search sees it. The CLI implements it over `nasbench101`;
/// tests use small in-memory tables.
pub trait Nb101Oracle {
    /// The file the table came from (for `run.json`).
    fn path(&self) -> String;
    /// Whether the table is a synthetic stand-in rather than the official data.
    fn is_synthetic(&self) -> bool;
    /// The table's content fingerprint (`Nb101::fingerprint`), recorded in `run.json`; `None`
    /// for a table that has none (a test's stand-in).
    fn fingerprint(&self) -> Option<String> {
        None
    }
    /// The repeats of `hash` at 108 epochs, or `None` when the table lacks the cell.
    fn query(&self, hash: &ModelHash) -> Result<Option<Nb101Errors>, OneShotError>;
    /// The regret reference of `space` in this table.
    fn reference(&self, space: SpaceId) -> Option<Reference>;
    /// Mean errors over the repeats at every budget the table holds, or `None` when the table
    /// lacks the cell. The default knows only 108 epochs (from [`Nb101Oracle::query`]).
    fn query_budgets(&self, hash: &ModelHash) -> Result<Option<BudgetErrors>, OneShotError> {
        Ok(self.query(hash)?.map(|e| {
            let at_108 = |v: &[f64]| -> BTreeMap<u32, f64> {
                mean(v).map(|m| (108, m)).into_iter().collect()
            };
            BudgetErrors {
                valid: at_108(&e.valid),
                test: at_108(&e.test),
            }
        }))
    }
    /// Every repeat's errors at every budget the table holds (`correlation.set = "original"`).
    /// The default knows only 108 epochs.
    fn query_repeats(&self, hash: &ModelHash) -> Result<Option<RepeatErrors>, OneShotError> {
        Ok(self
            .query(hash)?
            .map(|e| [(108, (e.valid, e.test))].into_iter().collect()))
    }
}

/// Validation and test errors of every repeat, per training budget in epochs.
pub type RepeatErrors = BTreeMap<u32, (Vec<f64>, Vec<f64>)>;

/// Mean NB-101 errors (1 − accuracy, averaged over the repeats) per training budget in epochs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BudgetErrors {
    pub valid: BTreeMap<u32, f64>,
    pub test: BTreeMap<u32, f64>,
}

pub(crate) fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Validation errors, test errors and training seconds of the repeats at one budget.
type Repeats = (Vec<f64>, Vec<f64>, Vec<f64>);

/// A NAS-Bench-101 file (converted store or official tfrecord) as the search sees it: the three
/// repeats at 108 epochs through the official API's `get_metrics_from_hash`, all budgets of the
/// file for the correlation evaluation, and regret references computed over every unique model
/// of the space in this table.
pub struct Nb101Table {
    path: PathBuf,
    api: Api,
}

impl Nb101Table {
    /// Opens the file.
    pub fn open(path: &Path) -> Result<Self, OneShotError> {
        let nb = Nb101::open(path)
            .map_err(|e| OneShotError::Nb101(format!("opening {}: {e}", path.display())))?;
        Ok(Self::new(path, Arc::new(nb)))
    }

    /// Wraps an open table; `path` names it in `run.json`.
    pub fn new(path: &Path, nb: Arc<Nb101>) -> Self {
        Nb101Table {
            path: path.to_path_buf(),
            api: Api::new(nb, 0),
        }
    }

    /// The table.
    pub fn data(&self) -> &Arc<Nb101> {
        self.api.data()
    }

    /// Every repeat at every budget, as 1 − accuracy and training seconds; `None` for an
    /// unknown cell.
    fn errors(&self, hash: &ModelHash) -> Option<BTreeMap<u32, Repeats>> {
        let (_, computed) = self.api.get_metrics_from_hash(hash).ok()?;
        Some(
            computed
                .into_iter()
                .map(|(epochs, reps)| {
                    let valid = reps.iter().map(|d| 1.0 - d.final_validation_accuracy);
                    let test = reps.iter().map(|d| 1.0 - d.final_test_accuracy);
                    let seconds = reps.iter().map(|d| d.final_training_time);
                    (epochs, (valid.collect(), test.collect(), seconds.collect()))
                })
                .collect(),
        )
    }
}

impl Nb101Oracle for Nb101Table {
    fn path(&self) -> String {
        self.path.display().to_string()
    }
    fn is_synthetic(&self) -> bool {
        self.data().is_synthetic()
    }
    fn fingerprint(&self) -> Option<String> {
        Some(self.data().fingerprint())
    }
    fn query(&self, hash: &ModelHash) -> Result<Option<Nb101Errors>, OneShotError> {
        let Some(mut all) = self.errors(hash) else {
            return Ok(None);
        };
        let (valid, test, train_seconds) = all.remove(&108).ok_or_else(|| {
            OneShotError::Nb101(format!(
                "{}: model {hash} has no repeats at 108 epochs",
                self.path.display()
            ))
        })?;
        Ok(Some(Nb101Errors {
            valid,
            test,
            train_seconds,
        }))
    }
    fn query_budgets(&self, hash: &ModelHash) -> Result<Option<BudgetErrors>, OneShotError> {
        Ok(self.errors(hash).map(|all| {
            let mut out = BudgetErrors::default();
            for (epochs, (valid, test, _)) in all {
                if let (Some(v), Some(t)) = (mean(&valid), mean(&test)) {
                    out.valid.insert(epochs, v);
                    out.test.insert(epochs, t);
                }
            }
            out
        }))
    }
    fn query_repeats(&self, hash: &ModelHash) -> Result<Option<RepeatErrors>, OneShotError> {
        Ok(self.errors(hash).map(|all| {
            all.into_iter()
                .map(|(epochs, (valid, test, _))| (epochs, (valid, test)))
                .collect()
        }))
    }
    fn reference(&self, space: SpaceId) -> Option<Reference> {
        let (mut valid, mut test) = (f64::INFINITY, f64::INFINITY);
        for (hash, _) in SearchSpace::new(space).unique_models() {
            if let Ok(Some(e)) = self.query(&hash) {
                valid = e.valid.iter().copied().fold(valid, f64::min);
                test = e.test.iter().copied().fold(test, f64::min);
            }
        }
        (valid.is_finite() && test.is_finite()).then(|| Reference {
            source: ReferenceSource::Exhaustive,
            min_valid_error: valid,
            min_test_error: test,
            nb101_file: Some(self.path()),
            synthetic: Some(self.is_synthetic()),
            ..Reference::original(space)
        })
    }
}

/// Mean of the repeats minus the reference; `None` without repeats.
pub fn regret(errors: &[f64], reference: f64) -> Option<f64> {
    if errors.is_empty() {
        return None;
    }
    Some(errors.iter().sum::<f64>() / errors.len() as f64 - reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regret_is_mean_minus_reference() {
        let r = regret(&[0.06, 0.07, 0.08], 0.05).unwrap();
        assert!((r - 0.02).abs() < 1e-12);
        assert_eq!(regret(&[], 0.05), None);
    }
}
