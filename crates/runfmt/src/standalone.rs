//! The files of a stand-alone training's run folder (`nb1s1 train`, crate `standalone`;
//! docs/standalone.md): `run.json` ([`StandaloneMeta`]) and `epochs.jsonl`
//! ([`StandaloneEpoch`]), plus `status.json` as every run writes it. Here, without libtorch,
//! so that the results store ingests them; the training configuration stays a type parameter
//! (the trainer's typed config, a JSON value for readers).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The cell a run trains, as given and as hashed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StandaloneCell {
    /// The adjacency matrix as given.
    pub matrix: Vec<Vec<u8>>,
    /// The full op names as given (`input`, `conv3x3-bn-relu`, ..., `output`).
    pub ops: Vec<String>,
    /// NB-101 hash of the pruned cell.
    pub hash: String,
}

/// Where the cell came from (not part of the run's identity: the cell is).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CellOrigin {
    /// `spec` (given as JSON), `nb101` (a hash of a table), `search` (a one-shot run's
    /// choice) or `sample` (drawn from a search space).
    pub source: String,
    /// The search space the cell belongs to (search and sample origins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space: Option<searchspace::SpaceId>,
    /// The one-shot run folder and its epoch (0-based) that chose the cell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<usize>,
    /// The one-shot optimizer of that run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<String>,
    /// A sample: `nb1s1 correlation --sample <sample> --seed <seed>`'s architecture `index`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
}

/// `run.json` of a stand-alone run; `C` is the training configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StandaloneMeta<C> {
    pub cell: StandaloneCell,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<CellOrigin>,
    pub config: C,
    /// The cell's NAS-Bench-101 errors, when the run was given a table (`--nb101`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nb101: Option<StandaloneNb101>,
    /// Trainable parameters of the network (the NB-101 field for the default network).
    pub trainable_parameters: u64,
    /// Vertex channels of the first cell of each stack.
    pub vertex_channels: Vec<Vec<usize>>,
    /// Where the images came from.
    pub data: String,
    pub nb1s1_version: String,
}

/// NAS-Bench-101's record of the trained cell: mean errors (1 - accuracy) over the repeats, per
/// training budget in epochs ("4", "12", "36", "108"), as the correlation files hold them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StandaloneNb101 {
    /// The table file.
    pub file: String,
    #[serde(default)]
    pub test_error: BTreeMap<String, f64>,
    #[serde(default)]
    pub valid_error: BTreeMap<String, f64>,
}

/// One line of `epochs.jsonl` of a stand-alone run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StandaloneEpoch {
    /// From 0.
    pub epoch: usize,
    /// Optimizer steps taken after this epoch.
    pub steps: u64,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Mean cross-entropy over the epoch's batches (without the L2 term).
    pub train_loss: f64,
    /// Accuracy on the epoch's augmented training batches, as they were trained on.
    pub train_accuracy: f64,
    pub valid_accuracy: f64,
    pub test_accuracy: f64,
    /// Wall-clock seconds of the epoch, training and evaluation.
    pub seconds: f64,
}

/// Whether a `run.json` (as JSON) is a stand-alone run's: it names a `cell` and a `config`.
pub fn is_standalone_meta(meta: &serde_json::Value) -> bool {
    meta.get("cell").is_some_and(|c| c.is_object()) && meta.get("config").is_some()
}
