//! Exhaustive statistics of a space against a NAS-Bench-101 table: every unique model with
//! its per-repeat and mean accuracies, the best models, the distribution of mean test error,
//! and the regret references next to the original constants (spec §1.5, §4.2).

use nasbench101::ModelHash;
use serde::{Deserialize, Serialize};

use crate::architecture::Architecture;
use crate::reference::Reference;
use crate::table::SpaceTable;

/// Accuracies of one model at one budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetStats {
    pub epochs: u32,
    pub validation_accuracy: Vec<f64>,
    pub test_accuracy: Vec<f64>,
    pub mean_validation_accuracy: f64,
    pub mean_test_accuracy: f64,
}

/// One unique model of the space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelStats {
    pub hash: ModelHash,
    /// Raw configurations that become this model.
    pub configurations: u64,
    /// Its first configuration.
    pub architecture: Architecture,
    pub budgets: Vec<BudgetStats>,
}

/// A best model under one criterion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Best {
    /// `mean_test`, `single_test`, `mean_valid` or `single_valid`.
    pub criterion: String,
    pub hash: ModelHash,
    pub architecture: Architecture,
    /// The error that ranks it first under the criterion.
    pub error: f64,
    pub mean_test_error: f64,
    pub mean_valid_error: f64,
}

/// A histogram of mean test errors over equal-width bins on `[lo, hi]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub lo: f64,
    pub hi: f64,
    pub counts: Vec<u64>,
}

/// Exact reference minus original constant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReferenceDifference {
    pub test: f64,
    pub valid: f64,
}

/// The summary of a space at its largest budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpaceStats {
    pub space: crate::SpaceId,
    pub nb101_file: String,
    pub synthetic: bool,
    pub epochs: u32,
    pub raw_configurations: u64,
    pub paper_count: u64,
    pub unique_nb101_models: usize,
    pub missing_models: usize,
    pub best: Vec<Best>,
    /// (quantile, mean test error) over unique models.
    pub quantiles: Vec<(f64, f64)>,
    pub histogram: Histogram,
    pub reference: Reference,
    pub original: Reference,
    pub difference: ReferenceDifference,
}

/// Quantiles reported by [`SpaceStats`].
pub const QUANTILES: [f64; 11] = [0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0];

/// (model id, mean test error, mean valid error, best single test error, best single valid error).
type Row = (u32, f64, f64, f64, f64);
/// A named ranking key over [`Row`]s.
type Criterion = (&'static str, fn(&Row) -> f64);

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Linear-interpolation quantile of sorted data.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let w = pos - lo as f64;
    sorted[lo] * (1.0 - w) + sorted[hi] * w
}

impl SpaceTable {
    /// Per-model statistics at every budget of the table, in model order; models absent
    /// from the table are skipped.
    pub fn model_stats(&self) -> Vec<ModelStats> {
        let index = self.index();
        index
            .models()
            .iter()
            .enumerate()
            .filter_map(|(id, m)| {
                let budgets: Vec<BudgetStats> = self
                    .epochs()
                    .iter()
                    .filter_map(|&e| {
                        let runs = self.runs(id as u32, e);
                        if runs.is_empty() {
                            return None;
                        }
                        let va: Vec<f64> = runs.iter().map(|r| r.validation_accuracy).collect();
                        let ta: Vec<f64> = runs.iter().map(|r| r.test_accuracy).collect();
                        Some(BudgetStats {
                            epochs: e,
                            mean_validation_accuracy: mean(&va),
                            mean_test_accuracy: mean(&ta),
                            validation_accuracy: va,
                            test_accuracy: ta,
                        })
                    })
                    .collect();
                if budgets.is_empty() {
                    return None;
                }
                Some(ModelStats {
                    hash: m.hash,
                    configurations: m.configurations,
                    architecture: index.representative(id as u32)?,
                    budgets,
                })
            })
            .collect()
    }

    /// The summary at the largest budget, with `bins` histogram bins.
    pub fn stats(&self, bins: usize) -> SpaceStats {
        let epochs = self.max_epochs();
        let space = self.space();
        let n = self.index().models().len();
        let mut rows: Vec<Row> = Vec::with_capacity(n);
        for id in 0..n as u32 {
            let runs = self.runs(id, epochs);
            if runs.is_empty() {
                continue;
            }
            let te: Vec<f64> = runs.iter().map(|r| 1.0 - r.test_accuracy).collect();
            let ve: Vec<f64> = runs.iter().map(|r| 1.0 - r.validation_accuracy).collect();
            rows.push((
                id,
                mean(&te),
                mean(&ve),
                te.iter().copied().fold(f64::INFINITY, f64::min),
                ve.iter().copied().fold(f64::INFINITY, f64::min),
            ));
        }
        let mut best = Vec::new();
        let criteria: [Criterion; 4] = [
            ("mean_test", |r| r.1),
            ("single_test", |r| r.3),
            ("mean_valid", |r| r.2),
            ("single_valid", |r| r.4),
        ];
        for (name, key) in criteria {
            // Ties go to the lower model id (first configuration), deterministic.
            let pick = rows
                .iter()
                .min_by(|a, b| key(a).total_cmp(&key(b)).then(a.0.cmp(&b.0)));
            if let Some(r) = pick {
                if let (Some(m), Some(arch)) = (
                    self.index().models().get(r.0 as usize),
                    self.index().representative(r.0),
                ) {
                    best.push(Best {
                        criterion: name.to_string(),
                        hash: m.hash,
                        architecture: arch,
                        error: key(r),
                        mean_test_error: r.1,
                        mean_valid_error: r.2,
                    });
                }
            }
        }
        let mut errs: Vec<f64> = rows.iter().map(|r| r.1).collect();
        errs.sort_by(f64::total_cmp);
        let quantiles = QUANTILES.iter().map(|&q| (q, quantile(&errs, q))).collect();
        let (lo, hi) = (
            errs.first().copied().unwrap_or(0.0),
            errs.last().copied().unwrap_or(1.0),
        );
        let bins = bins.max(1);
        let mut counts = vec![0u64; bins];
        let width = (hi - lo).max(f64::MIN_POSITIVE);
        for &e in &errs {
            let b = (((e - lo) / width) * bins as f64) as usize;
            counts[b.min(bins - 1)] += 1;
        }
        let reference = self.reference(epochs);
        let original = Reference::original(space.id());
        SpaceStats {
            space: space.id(),
            nb101_file: self.file().display().to_string(),
            synthetic: self.is_synthetic(),
            epochs,
            raw_configurations: space.raw_configurations(),
            paper_count: space.paper_count(),
            unique_nb101_models: n,
            missing_models: self.missing().len(),
            best,
            quantiles,
            histogram: Histogram { lo, hi, counts },
            difference: ReferenceDifference {
                test: reference.min_test_error - original.min_test_error,
                valid: reference.min_valid_error - original.min_valid_error,
            },
            reference,
            original,
        }
    }
}
