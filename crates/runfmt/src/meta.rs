//! `run.json` of a one-shot run: what was run, on what, against which NB-101 table.

use serde::{Deserialize, Serialize};

/// `run.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    /// The optimizer's registered name (a custom composition's own name, not the config's
    /// base optimizer), under which the run is stored and reported.
    pub optimizer: String,
    pub space: searchspace::SpaceId,
    pub seed: u64,
    pub device: String,
    pub epochs: usize,
    pub cifar10: String,
    pub nb101_path: Option<String>,
    pub nb101_synthetic: Option<bool>,
    /// The space's best single-repeat errors that regrets are measured against, and where they
    /// come from (`exhaustive` over the table in use, or the paper's `original` constants).
    pub regret_reference: Option<searchspace::Reference>,
    pub nb1s1_version: String,
    /// The method's resolved composition (one-shot `[method]`: its parts), so a run of a
    /// composition of one's own says what it was; absent in runs from before compositions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<serde_json::Value>,
}
