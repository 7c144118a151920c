//! `status.json`: how a run ended, or that it is still going.

use serde::{Deserialize, Serialize};

/// How a run ended (or that it is still going).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Complete,
    Failed,
    Diverged,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Complete => "complete",
            RunStatus::Failed => "failed",
            RunStatus::Diverged => "diverged",
        }
    }
}

/// `status.json`. Only `status` is required when reading, so hand-made and older files load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusFile {
    pub status: RunStatus,
    #[serde(default)]
    pub message: String,
    /// Epochs finished and recorded in `epochs.jsonl`.
    #[serde(default)]
    pub epochs_done: usize,
    #[serde(default)]
    pub epochs_total: usize,
    /// Seconds since the Unix epoch.
    #[serde(default)]
    pub updated_unix: u64,
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
