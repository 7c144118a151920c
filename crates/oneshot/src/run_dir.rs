//! The run folder: its files and their types live in the torch-free `runfmt` crate (shared with
//! the results store); this module re-exports them for the search loop.

pub use runfmt::{
    kept_checkpoint_dir, now_unix, write_atomic, EpochRecord, Metrics, RunDir, RunMeta, RunStatus,
    StatusFile,
};
