//! NAS-Bench-101 without TensorFlow: the official `.tfrecord` format (TFRecord framing, JSON
//! payload, `ModelMetrics` protobuf), `ModelSpec` with the official pruning and validity rules,
//! the graph hash, a compact memory-mapped store, and queries that answer bit-identically to the
//! official Python API. No libtorch here.
