//! One-shot NAS methods as compositions of typed parts (relaxations, architecture updates,
//! regularizers, perturbations, epoch hooks, selections): DARTS, GDAS, PC-DARTS, ENAS, random
//! search with weight sharing, Hessian tracking, DARTS-ES, SDARTS-RS/ADV, DrNAS, β-DARTS,
//! Fair-DARTS and DARTS-PT; the search loop with checkpoints, anytime NAS-Bench-101 evaluation
//! and live TensorBoard scalars; and the correlation evaluation of supernet checkpoints (spec §4.3).
//!
//! The loop drives a [`SearchOptimizer`] (data split, `new_epoch`, `step`, `end_epoch` →
//! continue or stop, selection, metrics, checkpoint state) and never looks at which one. Its one
//! implementation, [`OneShotOptimizer`], holds a part at every seam; a method is a
//! [`method::Composition`] (TOML `[method]`), [`registry`] maps names to compositions, and
//! [`compose`] builds them. See docs/new-variant.md.

pub mod anytime;
pub mod arch_update;
pub mod beta_decay;
pub mod checkpoint;
pub mod compose;
pub mod config;
pub mod controller;
pub mod correlation;
pub mod darts_es;
pub mod drnas;
pub mod error;
pub mod evaluation;
pub mod gumbel;
pub mod hessian;
pub mod hook;
pub mod method;
pub mod mixing;
pub mod model;
pub mod optim;
pub mod optimizer;
pub mod perturbation;
pub mod projection;
pub mod registry;
pub mod regularizer;
pub mod run_dir;
pub mod sampler;
pub mod schedule;
pub mod sdarts;
pub mod search;
pub mod selection;
pub mod settings;
pub mod sigmoid;
pub mod torch_guard;
pub mod zero_one;

pub use anytime::{BudgetErrors, Nb101Errors, Nb101Oracle, Nb101Table};
pub use arch_update::{ArchStepContext, ArchUpdate};
pub use config::{
    CorrelationConfig, CorrelationSet, EvalMixing, OptimizerKind, SearchConfig, TensorboardConfig,
};
pub use error::OneShotError;
pub use hook::EpochHook;
pub use method::Composition;
pub use mixing::{MixContext, Phase, Relaxation};
pub use model::{OneShotModel, TensorBatch};
pub use optimizer::{
    DataSplit, EpochContext, EpochEnd, OneShotOptimizer, SearchOptimizer, StepStats,
};
pub use perturbation::Perturbation;
pub use regularizer::Regularizer;
pub use run_dir::{EpochRecord, RunStatus};
pub use search::{run_search, run_search_with, SearchData, SearchOptions, SearchOutcome, Variant};
pub use selection::{SelectContext, Selected, Selection};
