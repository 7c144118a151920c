//! One-shot NAS optimizers built from small primitives (architecture-weight transforms, weight
//! and architecture updates, epoch selection): DARTS, GDAS, PC-DARTS, ENAS, random search with
//! weight sharing, Hessian tracking, DARTS-ES, SDARTS-RS and DrNAS; the search loop with checkpoints, anytime
//! NAS-Bench-101 evaluation and live TensorBoard scalars; and the correlation evaluation of
//! supernet checkpoints (spec §4.3).
//!
//! The loop drives a [`SearchOptimizer`] (data split, `new_epoch`, `step`, `end_epoch` →
//! continue or stop, selection, metrics, checkpoint state) and never looks at which one. The
//! default implementation, [`OneShotOptimizer`], composes a [`Relaxation`] (architecture state →
//! mixing weights), an [`ArchUpdate`] (how the architecture state learns) and a [`Selection`]
//! (the epoch's architecture). [`registry`] names every optimizer. See docs/new-variant.md.

pub mod anytime;
pub mod arch_update;
pub mod builtin;
pub mod checkpoint;
pub mod config;
pub mod controller;
pub mod correlation;
pub mod darts_es;
pub mod drnas;
pub mod error;
pub mod gumbel;
pub mod hessian;
pub mod mixing;
pub mod model;
pub mod optim;
pub mod optimizer;
pub mod registry;
pub mod run_dir;
pub mod sampler;
pub mod schedule;
pub mod sdarts;
pub mod search;
pub mod selection;
pub mod torch_guard;

pub use anytime::{BudgetErrors, Nb101Errors, Nb101Oracle, Nb101Table};
pub use arch_update::{ArchStepContext, ArchUpdate};
pub use config::{
    CorrelationConfig, CorrelationSet, EvalMixing, OptimizerKind, SearchConfig, TensorboardConfig,
};
pub use error::OneShotError;
pub use mixing::{MixContext, Phase, Relaxation};
pub use model::{OneShotModel, TensorBatch};
pub use optimizer::{
    DataSplit, EpochContext, EpochEnd, OneShotOptimizer, SearchOptimizer, StepStats,
};
pub use run_dir::{EpochRecord, RunStatus};
pub use search::{run_search, run_search_with, SearchData, SearchOptions, SearchOutcome, Variant};
pub use selection::{SelectContext, Selected, Selection};
