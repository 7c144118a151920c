//! The search spaces 1, 2 and 3 of NAS-Bench-1Shot1: architectures (an operation per choice
//! block and a parent set per node), their conversion to NAS-Bench-101 specs, enumeration,
//! sampling, mutation and encodings. No libtorch here.

mod architecture;
pub mod discretize;
mod encoding;
mod enumerate;
mod graph;
mod index;
mod original_enumeration;
mod reference;
mod sampling;
mod space;
mod stats;
pub mod synthetic;
mod table;

pub use architecture::{ArchError, Architecture};
pub use discretize::{discretize_scores, discretize_weights, DiscretizeError, Scores, TopKTies};
pub use encoding::{ArchitectureWeights, Decision, EncodingError};
pub use graph::PrunedGraph;
pub use index::{ModelIndex, UniqueModel};
pub use original_enumeration::original_enumeration;
pub use reference::{Reference, ReferenceSource};
pub use sampling::Mutation;
pub use space::{
    nb101_label, op_from_name, op_name, primitive_index, SearchSpace, SpaceId, UnknownSpace,
    PRIMITIVES,
};
pub use stats::{
    Best, BudgetStats, Histogram, ModelStats, ReferenceDifference, SpaceStats, QUANTILES,
};
pub use table::{Run, SpaceTable, TableError};
