//! NAS-Bench-101 without TensorFlow: the official `.tfrecord` format (TFRecord framing, JSON
//! payload, `ModelMetrics` protobuf), `ModelSpec` with the official pruning and validity rules,
//! the graph hash, a compact memory-mapped store, and queries that answer bit-identically to the
//! official Python API. No libtorch here.

mod atomic;
mod hash;
mod op;
pub mod proto;
mod spec;

pub use atomic::{atomic_write, atomic_write_with};
pub use hash::{hash_module, ModelHash, ParseHashError};
pub use op::{Op, INPUT, OUTPUT};
pub use spec::{ModelSpec, SpecError, MAX_EDGES, MAX_VERTICES};
