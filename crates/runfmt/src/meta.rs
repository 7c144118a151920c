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
    /// Content fingerprint of the NB-101 table (`Nb101::fingerprint`), the same for every copy
    /// of one table: a resume on another table is refused, and the results store keeps runs of
    /// different tables apart. Absent without a table and in runs from before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nb101_fingerprint: Option<String>,
    /// The space's best single-repeat errors that regrets are measured against, and where they
    /// come from (`exhaustive` over the table in use, or the paper's `original` constants).
    pub regret_reference: Option<searchspace::Reference>,
    pub nb1s1_version: String,
    /// The method's resolved composition (one-shot `[method]`: its parts), so a run of a
    /// composition of one's own says what it was; absent in runs from before compositions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<serde_json::Value>,
}

/// How a run recorded outside nb1s1 came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExternalKind {
    /// Written epoch by epoch by the Python recorder (`nb1s1.Recorder`) in the method's own loop.
    Recorded,
    /// Converted from a run folder of the original NAS-Bench-1Shot1 code
    /// (`one_shot_architecture_<e>.obj`) by `nb1s1 import original`.
    Imported,
}

/// `run.json`'s `external` object: the method ran outside nb1s1, which only discretized its
/// architecture weights and looked them up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExternalOrigin {
    pub kind: ExternalKind,
    /// The folder an imported run came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The tie-break its weights were discretized with.
    pub ties: searchspace::TopKTies,
    /// The method's settings as its author gave them (an imported run: its `config.json`).
    #[serde(default)]
    pub settings: serde_json::Value,
}

/// `run.json` of a run recorded outside nb1s1: the fields of [`RunMeta`] and `external`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExternalRunMeta {
    #[serde(flatten)]
    pub run: RunMeta,
    pub external: ExternalOrigin,
}
