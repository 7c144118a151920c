//! The run format: every file a run folder holds, as typed records, and the one way to write
//! them (atomic replacement, fsynced whole-line appends). The search writes these files, the
//! black-box runs' trajectories are read with them, and the results store ingests them; none of
//! them needs libtorch, so the tabular crates share the format without linking it.
//!
//! One-shot run folder (field by field in docs/oneshot.md): `config.toml`, [`RunMeta`]
//! (`run.json`), [`StatusFile`] (`status.json`), [`EpochRecord`]s (`epochs.jsonl`),
//! [`CorrelationPoint`]s (`correlation/epoch<E>.jsonl`). Black-box seed folder: `run.json` and
//! [`QueryRecord`]s (`trajectory.jsonl`). Stand-alone run folder (`nb1s1 train`):
//! [`StandaloneMeta`] (`run.json`), [`StandaloneEpoch`]s (`epochs.jsonl`), `status.json`.

pub mod atomic;
pub mod correlation;
pub mod epoch;
pub mod error;
pub mod jsonl;
pub mod lock;
pub mod meta;
pub mod name;
pub mod run_dir;
pub mod standalone;
pub mod status;
pub mod trajectory;

pub use atomic::{append_line, write_atomic};
pub use correlation::{correlation_path, CorrelationPoint};
pub use epoch::{BudgetErrors, EpochRecord, Metrics};
pub use error::RunFmtError;
pub use jsonl::{read_json, read_json_opt, read_jsonl};
pub use lock::{RunLock, LOCK_FILE};
pub use meta::{ExternalKind, ExternalOrigin, ExternalRunMeta, RunMeta};
pub use name::{NameError, SafeName};
/// The file primitives, for run-folder writers that need more than [`write_atomic`] (a
/// checkpoint folder staged and swapped in: `fsio::StagedDir`).
pub use nb1s1_fsio as fsio;
pub use run_dir::{check_epoch_order, check_epochs_complete, kept_checkpoint_dir, RunDir};
pub use standalone::{
    CellOrigin, StandaloneCell, StandaloneEpoch, StandaloneMeta, StandaloneNb101,
};
pub use status::{now_unix, RunStatus, StatusFile};
pub use trajectory::QueryRecord;
