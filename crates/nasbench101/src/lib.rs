//! NAS-Bench-101 without TensorFlow: the official `.tfrecord` format (TFRecord framing, JSON
//! payload, `ModelMetrics` protobuf), `ModelSpec` with the official pruning and validity rules,
//! the graph hash, a compact memory-mapped store, and queries that answer bit-identically to the
//! official Python API. No libtorch here.
//!
//! ```no_run
//! use nasbench101::{Api, ModelSpec, Nb101, Op, RepeatSampler};
//! use std::sync::Arc;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A tfrecord as published, or a store from `nb1s1 nb101 convert` (opens in milliseconds).
//! let db = Arc::new(Nb101::open("nasbench_only108.tfrecord")?);
//! let spec = ModelSpec::from_ops(
//!     vec![vec![0, 1, 1, 0], vec![0, 0, 0, 1], vec![0, 0, 0, 1], vec![0, 0, 0, 0]],
//!     &[Op::Conv3x3, Op::MaxPool3x3],
//! )?;
//! // Official semantics: one repeat drawn, budget counters advanced; `cpython(seed)` replays
//! // the official API's draws for `NASBench(file, seed)`.
//! let mut api = Api::with_sampler(Arc::clone(&db), RepeatSampler::cpython(0));
//! let r = api.query(&spec, 108, false)?;
//! println!("{} test accuracy {}", spec.hash()?, r.test_accuracy);
//! // NAS-Bench-1Shot1 averages over every repeat.
//! let all = api.query_all_repeats(&spec, 108)?;
//! let mean = all.iter().map(|p| p.final_test_accuracy).sum::<f64>() / all.len() as f64;
//! # let _ = mean;
//! # Ok(())
//! # }
//! ```

mod api;
mod atomic;
pub mod audit;
pub mod bench;
mod build;
mod crc;
mod dataset;
pub mod generate;
mod hash;
mod md5_lanes;
mod mt;
pub mod network;
pub mod official;
mod op;
pub mod proto;
pub mod record;
mod segment;
mod sink;
mod spec;
mod stream;
mod table;
pub mod tfrecord;

pub use api::{Api, ComputedMetrics, FixedMetrics, QueryResult, RepeatSampler, NUM_REPEATS};
pub use atomic::{atomic_write, atomic_write_with};
pub use dataset::{
    convert, parse_tfrecord, ConvertSummary, DataPoint, Model, Nb101, Nb101Error, OpenOptions,
    Progress, QueryError, SourceKind,
};
pub use hash::{hash_module, ModelHash, ParseHashError};
pub use mt::CPythonRandom;
pub use op::{Op, INPUT, OUTPUT};
pub use spec::{ModelSpec, SpecError, MAX_EDGES, MAX_VERTICES};
pub use table::{TableBuilder, TableError, MAX_BUDGETS, SYNTHETIC_MARKER};

/// `Nb101` and `Api` can be shared across threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Nb101>();
    assert_send_sync::<Api>();
};
