//! NAS-Bench-101 without TensorFlow: the official `.tfrecord` format (TFRecord framing, JSON
//! payload, `ModelMetrics` protobuf), `ModelSpec` with the official pruning and validity rules,
//! the graph hash, a compact memory-mapped store, and queries that answer bit-identically to the
//! official Python API. No libtorch here.

mod api;
mod atomic;
pub mod audit;
pub mod bench;
mod dataset;
pub mod generate;
mod hash;
mod mt;
mod op;
pub mod proto;
pub mod record;
mod spec;
mod table;
pub mod tfrecord;

pub use api::{Api, ComputedMetrics, FixedMetrics, QueryResult, RepeatSampler, NUM_REPEATS};
pub use atomic::{atomic_write, atomic_write_with};
pub use dataset::{
    parse_tfrecord, DataPoint, Model, Nb101, Nb101Error, OpenOptions, Progress, QueryError,
    SourceKind,
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
