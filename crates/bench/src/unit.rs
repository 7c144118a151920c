//! A run unit: one launch of the `nb1s1` binary that an experiment or the tuner plans, and the
//! runner or the Slurm backend executes. Its own module so that planning (`experiment`) and
//! execution (`runner`, `slurm`) both use it without importing each other.

use crate::runs::RunKind;
use serde::Deserialize;
use std::path::PathBuf;

/// One launch of the `nb1s1` binary (serialized for the tuner's Slurm tasks).
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
pub struct RunUnit {
    /// Unique within the experiment, also its folder below the output root (one-shot).
    pub id: String,
    pub kind: RunKind,
    pub study: String,
    pub optimizer: String,
    pub space: u8,
    /// Grid point label (`default` without a grid).
    pub variant: String,
    pub seeds: Vec<u64>,
    /// One-shot: the run folder. Black-box: the `--out` root, seeds land in
    /// `<out>/<optimizer>/space<N>/seed<S>`.
    pub out: PathBuf,
    /// One-shot: the search configuration written to `run.toml` (base and overrides merged).
    pub config: Option<toml::Table>,
    /// One-shot: where the config started (`configs/darts.toml`, a path, or `none`).
    pub base: Option<String>,
    /// Arguments after the program (subcommand first).
    pub args: Vec<String>,
}

impl RunUnit {
    /// Whether the run trains a network (and so takes a GPU when there are any).
    pub fn needs_gpu(&self) -> bool {
        matches!(self.kind, RunKind::OneShot | RunKind::Standalone)
    }

    /// Where the config started, for display (`-` for black-box runs).
    pub fn base_label(&self) -> &str {
        self.base.as_deref().unwrap_or("-")
    }

    /// The folders whose status decides whether the unit is done.
    pub fn run_folders(&self) -> Vec<PathBuf> {
        match self.kind {
            RunKind::OneShot | RunKind::Standalone => vec![self.out.clone()],
            RunKind::BlackBox => self
                .seeds
                .iter()
                .map(|&s| blackbox::seed_dir(&self.out, &self.optimizer, self.space, s))
                .collect(),
        }
    }
}
