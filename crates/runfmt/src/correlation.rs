//! `correlation/epoch<E>.jsonl`: one-shot against NAS-Bench-101 errors of evaluated
//! architectures at one checkpoint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One line of `correlation/epoch<E>.jsonl` (docs/report.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorrelationPoint {
    /// NB-101 hash (hex) of the architecture.
    pub hash: String,
    /// The one-shot epoch (0-based) of the evaluated weights; optional when reading (the file
    /// name says it too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<usize>,
    /// Top-1 error of the supernet with this architecture's mixing weights on the test images.
    pub one_shot_error: f64,
    /// Mean NB-101 test error over the repeats, per training budget ("4", "12", "36", "108").
    #[serde(default)]
    pub nb101_test_error: BTreeMap<String, f64>,
    /// Mean NB-101 validation error over the repeats, per training budget.
    #[serde(default)]
    pub nb101_valid_error: BTreeMap<String, f64>,
}

/// `<run>/correlation/epoch<E>.jsonl`.
pub fn correlation_path(run: &Path, epoch: usize) -> PathBuf {
    run.join("correlation").join(format!("epoch{epoch}.jsonl"))
}
