//! One-shot NAS optimizers built from small primitives (architecture-weight transforms, weight
//! and architecture updates, epoch selection): DARTS, GDAS, PC-DARTS, ENAS and random search with
//! weight sharing; the search loop with checkpoints, anytime NAS-Bench-101 evaluation and live
//! TensorBoard scalars; and the correlation evaluation of supernet checkpoints (spec §4.3).
//!
//! An optimizer is a [`OneShotOptimizer`]: a [`Relaxation`] (architecture state → mixing
//! weights), an [`ArchUpdate`] (how the architecture state learns) and a [`Selection`] (the
//! epoch's architecture). See docs/new-variant.md for a new variant built from these parts.

pub mod anytime;
pub mod arch_update;
pub mod checkpoint;
pub mod config;
pub mod controller;
pub mod correlation;
pub mod error;
pub mod gumbel;
pub mod mixing;
pub mod model;
pub mod optim;
pub mod optimizer;
pub mod run_dir;
pub mod sampler;
pub mod schedule;
pub mod search;
pub mod selection;

pub use anytime::{BudgetErrors, Nb101Errors, Nb101Oracle, Nb101Table};
pub use arch_update::{ArchStepContext, ArchUpdate};
pub use config::{CorrelationConfig, EvalMixing, OptimizerKind, SearchConfig, TensorboardConfig};
pub use error::OneShotError;
pub use mixing::{MixContext, Relaxation};
pub use model::{OneShotModel, TensorBatch};
pub use optimizer::OneShotOptimizer;
pub use run_dir::{EpochRecord, RunStatus};
pub use search::{run_search, run_search_with, SearchData, SearchOptions, SearchOutcome};
pub use selection::{SelectContext, Selected, Selection};
