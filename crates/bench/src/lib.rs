//! The benchmark around the optimizers: experiments, the results store, regret and correlation
//! analysis, and reports.
//!
//! This crate never links libtorch: runs are launched as subprocesses of the `nb1s1` binary and
//! read back from their run folders, which stay the source of truth.

pub mod atomic;
pub mod error;
pub mod significance;
pub mod stats;

pub use error::{BenchError, Result};
pub mod analysis;
pub mod base_config;
pub mod cell;
pub mod correlation;
pub mod experiment;
pub mod fingerprint;
pub mod heatmap;
pub mod html;
pub mod plots;
pub mod proxy_search;
pub mod query;
pub mod report;
pub mod runner;
pub mod runs;
pub mod slurm;
pub mod store;
pub mod table;
pub mod tensorboard;
pub mod transfer;
pub mod tune;
pub mod unit;
pub mod zerocost;
