//! `epochs.jsonl`: one [`EpochRecord`] per finished search epoch.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Named per-optimizer numbers of one epoch (GDAS' temperature `tau`, the Hessian's dominant
/// eigenvalue, …): open, so a new optimizer reports a metric without a new field, and the store
/// and the report take every metric without code per metric.
pub type Metrics = BTreeMap<String, f64>;

/// One line of `epochs.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "EpochRecordWire")]
pub struct EpochRecord {
    pub epoch: usize,
    /// The selected architecture: `space`, `ops` (NB-101 names of choice blocks 1..N) and
    /// `parents` (sorted parent sets of nodes 1..N+1, the output last).
    pub architecture: searchspace::Architecture,
    /// NB-101 hash (hex) of the pruned cell; null when the cell is invalid (no path to output).
    pub nb101_hash: Option<String>,
    /// Validation and test error of the 3 repeats at 108 epochs; empty when not in the table.
    pub valid_errors: Vec<f64>,
    pub test_errors: Vec<f64>,
    /// Mean of the 3 repeats minus the space reference; null without table or reference.
    pub valid_regret: Option<f64>,
    pub test_regret: Option<f64>,
    /// Mean NB-101 training seconds of the selected cell at 108 epochs (over the repeats): what
    /// training the result stand-alone costs, for the report's time axis; null when the table
    /// lacks the cell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nb101_train_seconds: Option<f64>,
    /// The selected cell at the NB-101 budgets other than 108 epochs that the table holds (4,
    /// 12 and 36 in `nasbench_full`), keyed by epochs. Empty for the 108-only file, for a cell
    /// the table lacks, for the search's own records and in records written before the field.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub other_budgets: BTreeMap<u32, BudgetErrors>,
    /// Error of the supernet on the architecture half, evaluated with the run's mixing. This and
    /// the next three are NaN (`null` in the file) where a run recorded outside nb1s1 did not
    /// report them.
    pub one_shot_valid_error: f64,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub lr: f64,
    /// The optimizer's own metrics of the epoch (empty for most).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: Metrics,
    /// Architecture weights after the epoch, softmax-normalized (gradient methods only).
    pub arch_weights: Option<serde_json::Value>,
    /// Wall-clock seconds of the epoch (training, selection and evaluation).
    pub seconds: f64,
}

/// The selected cell's NB-101 numbers at one training budget.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BudgetErrors {
    /// Validation and test error of every repeat at this budget, in file order.
    pub valid_errors: Vec<f64>,
    pub test_errors: Vec<f64>,
    /// Mean training seconds over the repeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_seconds: Option<f64>,
}

impl EpochRecord {
    /// A metric by name (`tau`, `hessian_eigenvalue`, …).
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics.get(name).copied()
    }
}

/// What files hold: the record as written now, or by versions before the metrics map, whose
/// GDAS temperature was the field `tau` (read into `metrics["tau"]`).
#[derive(Deserialize)]
struct EpochRecordWire {
    epoch: usize,
    architecture: searchspace::Architecture,
    #[serde(default)]
    nb101_hash: Option<String>,
    #[serde(default)]
    valid_errors: Vec<f64>,
    #[serde(default)]
    test_errors: Vec<f64>,
    #[serde(default)]
    valid_regret: Option<f64>,
    #[serde(default)]
    test_regret: Option<f64>,
    #[serde(default)]
    nb101_train_seconds: Option<f64>,
    #[serde(default)]
    other_budgets: BTreeMap<u32, BudgetErrors>,
    #[serde(deserialize_with = "null_as_nan")]
    one_shot_valid_error: f64,
    #[serde(deserialize_with = "null_as_nan")]
    train_loss: f64,
    #[serde(deserialize_with = "null_as_nan")]
    train_accuracy: f64,
    #[serde(deserialize_with = "null_as_nan")]
    lr: f64,
    #[serde(default)]
    tau: Option<f64>,
    #[serde(default)]
    metrics: Metrics,
    #[serde(default)]
    arch_weights: Option<serde_json::Value>,
    #[serde(deserialize_with = "null_as_nan")]
    seconds: f64,
}

/// `null` as NaN: a run recorded outside nb1s1 may not measure its supernet's error, loss,
/// accuracy, rate or time, and JSON writes the NaN it records for them as `null`.
fn null_as_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

impl From<EpochRecordWire> for EpochRecord {
    fn from(w: EpochRecordWire) -> Self {
        let mut metrics = w.metrics;
        if let Some(t) = w.tau {
            metrics.entry("tau".into()).or_insert(t);
        }
        EpochRecord {
            epoch: w.epoch,
            architecture: w.architecture,
            nb101_hash: w.nb101_hash,
            valid_errors: w.valid_errors,
            test_errors: w.test_errors,
            valid_regret: w.valid_regret,
            test_regret: w.test_regret,
            nb101_train_seconds: w.nb101_train_seconds,
            other_budgets: w.other_budgets,
            one_shot_valid_error: w.one_shot_valid_error,
            train_loss: w.train_loss,
            train_accuracy: w.train_accuracy,
            lr: w.lr,
            metrics,
            arch_weights: w.arch_weights,
            seconds: w.seconds,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn rec(epoch: usize) -> EpochRecord {
        EpochRecord {
            epoch,
            architecture: searchspace::SearchSpace::new(searchspace::SpaceId::One)
                .sample(&mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1)),
            nb101_hash: None,
            valid_errors: vec![],
            test_errors: vec![],
            valid_regret: None,
            test_regret: None,
            nb101_train_seconds: None,
            other_budgets: BTreeMap::new(),
            one_shot_valid_error: 0.5,
            train_loss: 1.0,
            train_accuracy: 0.3,
            lr: 0.1,
            metrics: Metrics::new(),
            arch_weights: None,
            seconds: 1.0,
        }
    }

    #[test]
    fn metrics_round_trip_and_an_old_tau_field_becomes_a_metric() {
        let mut r = rec(0);
        r.metrics.insert("hessian_eigenvalue".into(), 0.25);
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("\"tau\""), "{text}");
        assert_eq!(serde_json::from_str::<EpochRecord>(&text).unwrap(), r);
        // A line as written before the metrics map (GDAS, with `tau`).
        let mut v: serde_json::Value = serde_json::to_value(rec(3)).unwrap();
        v["tau"] = serde_json::json!(7.5);
        let old: EpochRecord = serde_json::from_value(v).unwrap();
        assert_eq!(old.metric("tau"), Some(7.5));
        assert_eq!(old.metrics.len(), 1);
        // Records without metrics write no `metrics` key (older readers stay happy).
        assert!(!serde_json::to_string(&rec(1)).unwrap().contains("metrics"));
    }

    #[test]
    fn unmeasured_numbers_are_written_as_null_and_read_as_nan() {
        let mut r = rec(2);
        r.one_shot_valid_error = f64::NAN;
        r.lr = f64::NAN;
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("\"one_shot_valid_error\":null"), "{text}");
        let back: EpochRecord = serde_json::from_str(&text).unwrap();
        assert!(back.one_shot_valid_error.is_nan() && back.lr.is_nan());
        assert_eq!(back.train_loss, 1.0);
    }

    #[test]
    fn other_budgets_round_trip_and_old_records_read_without_them() {
        let mut r = rec(4);
        // Records without other budgets write no key: older readers and files stay as they were.
        let plain = serde_json::to_string(&r).unwrap();
        assert!(!plain.contains("other_budgets"), "{plain}");
        assert!(serde_json::from_str::<EpochRecord>(&plain)
            .unwrap()
            .other_budgets
            .is_empty());
        r.other_budgets.insert(
            12,
            BudgetErrors {
                valid_errors: vec![0.2, 0.25],
                test_errors: vec![0.21, 0.26],
                train_seconds: Some(300.5),
            },
        );
        r.other_budgets.insert(4, BudgetErrors::default());
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("\"other_budgets\":{\"4\":"), "{text}");
        assert_eq!(serde_json::from_str::<EpochRecord>(&text).unwrap(), r);
        // A key that is no budget is an error, not silently dropped.
        let bad = text.replace("\"4\":", "\"four\":");
        assert!(serde_json::from_str::<EpochRecord>(&bad).is_err());
    }
}
