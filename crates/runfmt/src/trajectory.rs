//! `trajectory.jsonl` of a black-box seed folder: one [`QueryRecord`] per table query.

use serde::{Deserialize, Serialize};

/// One line of a black-box run's `trajectory.jsonl` (fields beyond `query` and
/// `simulated_seconds` optional, so the format can grow).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryRecord {
    pub query: usize,
    /// Cumulative simulated NB-101 training seconds after this query.
    pub simulated_seconds: f64,
    #[serde(default)]
    pub architecture: Option<serde_json::Value>,
    #[serde(default)]
    pub hash: Option<String>,
    #[serde(default)]
    pub valid_error: Option<f64>,
    #[serde(default)]
    pub test_error: Option<f64>,
    #[serde(default)]
    pub incumbent_valid_error: Option<f64>,
    #[serde(default)]
    pub incumbent_test_error: Option<f64>,
    #[serde(default)]
    pub incumbent_test_regret: Option<f64>,
    #[serde(default)]
    pub incumbent_valid_regret: Option<f64>,
}
