//! The search spaces 1, 2 and 3 of NAS-Bench-1Shot1: architectures (an operation per choice
//! block and a parent set per node), their conversion to NAS-Bench-101 specs, enumeration,
//! sampling, mutation and encodings. No libtorch here.
