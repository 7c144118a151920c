//! The graph hash and batch spec hashing. Matrices travel as flat row-major `u8` bytes and
//! interior ops as label bytes, so a numpy batch crosses the boundary in one copy.

use nasbench101::{ModelSpec, Op, INPUT, OUTPUT};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rayon::prelude::*;
use std::collections::HashMap;

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
    let (hashes, status) = py.detach(|| {
        let cell_of = |i: usize| {
            (
                &matrices[i * v * v..(i + 1) * v * v],
                &ops[i * v..(i + 1) * v],
            )
        };
        // Batches repeat cells (a space's configurations share cells): each distinct one is
        // hashed once.
        let mut first = HashMap::with_capacity(count);
        let rep: Vec<usize> = (0..count)
            .map(|i| *first.entry(cell_of(i)).or_insert(i))
            .collect();
        let distinct: Vec<usize> = (0..count).filter(|&i| rep[i] == i).collect();
        // The graph hash dominates (~8 µs a cell): spread it over the cores.
        let hashed: Vec<Result<[u8; 16], u8>> = distinct
            .par_iter()
            .map(|&i| {
                let (m, o) = cell_of(i);
                hash_one(m, o)
            })
            .collect();
        let mut slot = vec![0usize; count];
        for (j, &i) in distinct.iter().enumerate() {
            slot[i] = j;
        }
        let mut hashes = vec![0u8; count * 16];
        let mut status = vec![OK; count];
        for i in 0..count {
            match hashed[slot[rep[i]]] {
                Ok(x) => hashes[i * 16..(i + 1) * 16].copy_from_slice(&x),
                Err(code) => status[i] = code,
            }
        }
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

/// `ModelSpec`'s checks and the official `_prune` on a flat `n`×`n` matrix given as one
/// truth byte per entry (`matrix.astype(bool)`): `None` when an entry lies on or below the
/// diagonal, else the kept vertices (reachable from the input and reaching the output),
/// empty when fewer than two remain (no input-to-output path).
#[pyfunction]
pub fn prune(edges: &[u8], n: usize) -> PyResult<Option<Vec<usize>>> {
    if edges.len() != n * n {
        return Err(PyValueError::new_err(format!(
            "matrix has {} entries, expected {n}x{n}",
            edges.len()
        )));
    }
    let edge = |r: usize, c: usize| edges[r * n + c] != 0;
    if (0..n).any(|r| (0..=r).any(|c| edge(r, c))) {
        return Ok(None);
    }
    if n == 0 {
        return Ok(Some(Vec::new()));
    }
    let reach = |start: usize, forward: bool| {
        let mut seen = vec![false; n];
        seen[start] = true;
        let mut stack = vec![start];
        while let Some(v) = stack.pop() {
            for (w, seen_w) in seen.iter_mut().enumerate() {
                let linked = if forward { edge(v, w) } else { edge(w, v) };
                if linked && !*seen_w {
                    *seen_w = true;
                    stack.push(w);
                }
            }
        }
        seen
    };
    let (from_input, to_output) = (reach(0, true), reach(n - 1, false));
    let keep: Vec<usize> = (0..n).filter(|&v| from_input[v] && to_output[v]).collect();
    Ok(Some(if keep.len() < 2 { Vec::new() } else { keep }))
}
