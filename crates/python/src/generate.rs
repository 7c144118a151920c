//! Synthetic NAS-Bench-101 tfrecords (the engine's generator), for tests and benchmarks
//! without the official file. Every value is made up; the files carry the synthetic marker.

use crate::spec::cells;
use nb1s1_synthetic::{GenerateConfig, GenerateError};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use std::path::{Path, PathBuf};

fn gen_error(e: GenerateError) -> PyErr {
    match e {
        GenerateError::Io(e) => PyOSError::new_err(e.to_string()),
        other => PyValueError::new_err(other.to_string()),
    }
}

fn write(
    path: &Path,
    f: impl FnOnce(&mut dyn std::io::Write) -> Result<u64, GenerateError>,
) -> PyResult<u64> {
    let mut result = Ok(0);
    let io = nasbench101::atomic_write_with(path, |w| {
        result = f(w);
        match &result {
            Err(GenerateError::Io(e)) => Err(std::io::Error::new(e.kind(), e.to_string())),
            _ => Ok(()),
        }
    });
    let n = result.map_err(gen_error)?;
    io.map_err(|e| PyOSError::new_err(format!("{}: {e}", path.display())))?;
    Ok(n)
}

/// Writes a synthetic tfrecord of `models` random cells (with `true_hashes`, distinct valid
/// cells keyed by their real graph hash, so queries by spec find them). Returns the model count.
#[pyfunction]
#[pyo3(signature = (path, models, budgets=vec![108], repeats=3, seed=0, true_hashes=true))]
pub fn generate(
    py: Python<'_>,
    path: PathBuf,
    models: usize,
    budgets: Vec<u32>,
    repeats: usize,
    seed: u64,
    true_hashes: bool,
) -> PyResult<u64> {
    let cfg = GenerateConfig {
        models,
        budgets,
        repeats,
        seed,
        true_hashes,
        seven_vertices: false,
    };
    py.detach(|| {
        write(&path, |w| {
            nb1s1_synthetic::generate(w, &cfg, &mut |_| {}).map(|s| s.models as u64)
        })
    })
}

/// Writes a synthetic tfrecord holding one model per given cell (batch layout of
/// `spec_hashes`; duplicates by hash are kept once). Returns the model count.
#[pyfunction]
#[pyo3(signature = (path, matrices, ops, count, v, budgets=vec![108], repeats=3))]
#[allow(clippy::too_many_arguments)]
pub fn generate_from_specs(
    py: Python<'_>,
    path: PathBuf,
    matrices: &[u8],
    ops: &[u8],
    count: usize,
    v: usize,
    budgets: Vec<u32>,
    repeats: usize,
) -> PyResult<u64> {
    let specs = cells(matrices, ops, count, v)?;
    py.detach(|| {
        write(&path, |w| {
            nb1s1_synthetic::generate_from_specs(w, &specs, &budgets, repeats, &mut |_| {})
                .map(|s| s.models as u64)
        })
    })
}
