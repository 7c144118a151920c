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
//!
//! # Where each concept lives
//!
//! The public face is the format and its semantics; the convert machinery is private.
//!
//! | module | owns |
//! |---|---|
//! | `op`, `spec` | NB-101 ops; `ModelSpec` with the official pruning and validity rules |
//! | `hash` (+ `md5_lanes`) | `ModelHash` and the graph hash (eight MD5s side by side in `wide` SIMD lanes; tested against a plain reference) |
//! | [`tfrecord`] | TFRecord framing and its masked CRC |
//! | [`record`] | a record's JSON payload: the reference decoder, and the encoder |
//! | [`proto`] | the `ModelMetrics` protobuf: the reference decoder, its fixed-layout fast path, the encoder |
//! | `layout` | the store format: header, model and index entries, each with `encode` and `decode` |
//! | `dataset` | the reader: `Nb101` (open, verify, lookup, scan) and the `Model` view |
//! | `api` (+ `mt`) | queries with the official API's semantics and its seeded repeat draws |
//! | `error` | every error type, naming the file, record and byte offset |
//! | `convert` | tfrecord → store: the parallel pipeline, the fast record decode, the one table builder |
//! | [`audit`], [`official`] | whole-file checks, the official constants |
//! | `atomic`, `mapped` | atomic output files; read-only mappings |
//!
//! Dependencies run one way: the reader uses `layout` and (to open a tfrecord) `convert`;
//! `convert` uses `layout`, `record`, `proto` and `tfrecord`, never the reader.

mod api;
mod atomic;
pub mod audit;
mod convert;
mod dataset;
mod error;
mod hash;
mod layout;
mod mapped;
mod md5_lanes;
mod mt;
pub mod network;
pub mod official;
mod op;
pub mod proto;
pub mod record;
mod spec;
pub mod tfrecord;

pub use api::{Api, ComputedMetrics, FixedMetrics, QueryResult, RepeatSampler, NUM_REPEATS};
pub use atomic::{atomic_write, atomic_write_with};
pub use convert::{convert, parse_tfrecord, ConvertSummary, Progress};
pub use dataset::{DataPoint, Model, Nb101, OpenOptions, SourceKind};
pub use error::{Nb101Error, QueryError, TableError};
pub use hash::{hash_module, ModelHash, ParseHashError};
pub use layout::{MAX_BUDGETS, SYNTHETIC_MARKER};
pub use mt::CPythonRandom;
pub use op::{Op, INPUT, OUTPUT};
pub use spec::{ModelSpec, SpecError, MAX_EDGES, MAX_VERTICES};

/// `Nb101` and `Api` can be shared across threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Nb101>();
    assert_send_sync::<Api>();
};
