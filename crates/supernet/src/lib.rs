//! The NAS-Bench-1Shot1 one-shot model (supernet) in tch: choice blocks, cells, stacks, the
//! architecture weights shared by all cells, and discretization to a search-space architecture.
//!
//! Typical DARTS use: build a [`Supernet`] in one `VarStore` and [`ArchParams`] in another, then
//! per step `net.forward(&x, &mut SharedMixing(softmax_mixing(&arch)), true)`.

mod arch;
mod cell;
mod config;
mod discretize;
mod error;
mod network;
mod ops;
mod runtime;
mod topology;

pub use arch::{
    one_hot_mixing, softmax_mixing, ArchParams, MixingSource, MixingWeights, SharedMixing,
};
pub use config::{SupernetConfig, WeightInit};
pub use discretize::{discretize, discretize_with, TopKTies};
pub use error::SupernetError;
pub use network::Supernet;
pub use ops::{channel_shuffle, to_channels_last, BnMode};
pub use runtime::load_cuda_runtime;
