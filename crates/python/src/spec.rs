//! The graph hash and batch spec hashing. Matrices travel as flat row-major `u8` bytes and
//! interior ops as label bytes, so a numpy batch crosses the boundary in one copy.

use nasbench101::{ModelSpec, Op, INPUT, OUTPUT};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rayon::prelude::*;

/// The official `config['available_ops']`, in label order.
pub const AVAILABLE_OPS: [&str; 3] = ["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"];

/// Status codes of [`spec_hashes`] (one byte per spec).
const OK: u8 = 0;

/// `graph_util.hash_module`: the isomorphism-invariant hash of a flat `n`×`n` matrix and its
/// vertex labels (-1 input, -2 output, op index otherwise).
#[pyfunction]
pub fn hash_module(matrix: &[u8], labels: Vec<i32>) -> PyResult<String> {
    let n = labels.len();
    if matrix.len() != n * n {
        return Err(PyValueError::new_err(format!(
            "matrix has {} entries but {n} labels were given (expected {})",
            matrix.len(),
            n * n
        )));
    }
    let rows: Vec<Vec<u8>> = matrix.chunks(n.max(1)).map(<[u8]>::to_vec).collect();
    Ok(nasbench101::hash_module(&rows, &labels).to_string())
}

/// Hashes `count` specs of `v` vertices at once without the GIL: `matrices` holds
/// `count`×`v`×`v` bytes, `ops` `count`×`v` op labels (0-2 as in `AVAILABLE_OPS`; the first
/// and last vertex are input and output whatever their byte). Returns (`count`×16 hash bytes,
/// `count` status bytes): 0 valid, otherwise 1 + the index of the engine's error in
/// `ERROR_CODES` (the hash bytes are then zero).
#[pyfunction]
pub fn spec_hashes<'py>(
    py: Python<'py>,
    matrices: &[u8],
    ops: &[u8],
    count: usize,
    v: usize,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    check_batch(matrices, ops, count, v)?;
    // Hashing dominates a batch (the graph hash is ~8 µs a cell): spread it over the cores.
    let (hashes, status) = py.detach(|| {
        let mut hashes = vec![0u8; count * 16];
        let mut status = vec![OK; count];
        hashes
            .par_chunks_mut(16)
            .zip(status.par_iter_mut())
            .enumerate()
            .for_each(|(i, (h, st))| {
                match hash_one(
                    &matrices[i * v * v..(i + 1) * v * v],
                    &ops[i * v..(i + 1) * v],
                ) {
                    Ok(x) => h.copy_from_slice(&x),
                    Err(code) => *st = code,
                }
            });
        (hashes, status)
    });
    Ok((PyBytes::new(py, &hashes), PyBytes::new(py, &status)))
}

/// The engine's spec error codes, in the order [`spec_hashes`] numbers them (from 1).
pub const ERROR_CODES: [&str; 10] = [
    "not_square",
    "ops_length",
    "not_upper_triangular",
    "not_binary",
    "disconnected",
    "too_many_vertices",
    "too_many_edges",
    "bad_input_output",
    "unsupported_op",
    "bad_op_label",
];

fn code(c: &str) -> u8 {
    1 + ERROR_CODES.iter().position(|&k| k == c).unwrap_or(0) as u8
}

/// Builds one cell of a batch; `Err` is a status code of [`spec_hashes`].
fn cell(matrix: &[u8], labels: &[u8]) -> Result<ModelSpec, u8> {
    let v = labels.len();
    let mut names = Vec::with_capacity(v);
    for (i, &l) in labels.iter().enumerate() {
        let name = if i == 0 {
            INPUT
        } else if i + 1 == v {
            OUTPUT
        } else {
            match Op::from_label(i32::from(l)) {
                Some(op) => op.name(),
                None => return Err(code("bad_op_label")),
            }
        };
        names.push(name.to_string());
    }
    let rows = matrix.chunks(v).map(<[u8]>::to_vec).collect();
    ModelSpec::new(rows, names).map_err(|e| code(e.code()))
}

fn hash_one(matrix: &[u8], labels: &[u8]) -> Result<[u8; 16], u8> {
    let spec = cell(matrix, labels)?;
    spec.hash().map(|h| h.0).map_err(|e| code(e.code()))
}

/// Every cell of a batch as a `ModelSpec`; ValueError naming the first bad one.
pub fn cells(matrices: &[u8], ops: &[u8], count: usize, v: usize) -> PyResult<Vec<ModelSpec>> {
    check_batch(matrices, ops, count, v)?;
    (0..count)
        .map(|i| {
            cell(
                &matrices[i * v * v..(i + 1) * v * v],
                &ops[i * v..(i + 1) * v],
            )
            .map_err(|c| {
                PyValueError::new_err(format!("spec {i}: {}", ERROR_CODES[usize::from(c) - 1]))
            })
        })
        .collect()
}

fn check_batch(matrices: &[u8], ops: &[u8], count: usize, v: usize) -> PyResult<()> {
    if v < 2 || matrices.len() != count * v * v || ops.len() != count * v {
        return Err(PyValueError::new_err(format!(
            "spec batch: {count} specs of {v} vertices need {} matrix and {} op bytes, got {} \
             and {}",
            count * v * v,
            count * v,
            matrices.len(),
            ops.len()
        )));
    }
    Ok(())
}
