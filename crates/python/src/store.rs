//! An opened NAS-Bench-101 file for Python: a compact store (memory-mapped, nothing loaded up
//! front) or a tfrecord parsed in memory, read one model at a time by file position, plus
//! batch look-ups and value gathers that run without the GIL.

use crate::error::data_error;
use nasbench101::{ModelHash, Nb101, OpenOptions};
use pyo3::exceptions::{PyIndexError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;

/// The official per-run keys, in `DataPoint::to_array` order.
const KEYS: [&str; 8] = [
    "halfway_training_time",
    "halfway_train_accuracy",
    "halfway_validation_accuracy",
    "halfway_test_accuracy",
    "final_training_time",
    "final_train_accuracy",
    "final_validation_accuracy",
    "final_test_accuracy",
];

/// An opened NAS-Bench-101 data file. Models are addressed by their position in file order.
#[pyclass(module = "nb1s1._native", frozen)]
pub struct Store {
    db: Arc<Nb101>,
}

impl Store {
    /// The opened file, shared with the query fast path.
    pub(crate) fn db(&self) -> &Arc<Nb101> {
        &self.db
    }

    fn model(&self, i: usize) -> PyResult<nasbench101::Model<'_>> {
        self.db.model_at(i).ok_or_else(|| {
            PyIndexError::new_err(format!("model index {i} out of range ({})", self.db.len()))
        })
    }
}

#[pymethods]
impl Store {
    /// Opens a store (memory-mapped) or an official tfrecord (parsed into memory; convert it
    /// once with `convert` for millisecond opens).
    #[new]
    #[pyo3(signature = (path, verify=false))]
    fn new(py: Python<'_>, path: PathBuf, verify: bool) -> PyResult<Store> {
        let opts = OpenOptions {
            verify_payload_crc: true,
            verify_store_data: verify,
        };
        let db = py
            .detach(|| Nb101::open_with(&path, opts, None))
            .map_err(data_error)?;
        Ok(Store { db: Arc::new(db) })
    }

    /// Reopens by path when unpickled.
    fn __reduce__(slf: &Bound<'_, Self>) -> PyResult<(Py<PyAny>, (PathBuf,))> {
        let cls = slf.get_type().into_any().unbind();
        Ok((cls, (slf.get().db.path().to_path_buf(),)))
    }

    fn __len__(&self) -> usize {
        self.db.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "Store({:?}, models={}, epochs={:?})",
            self.db.path(),
            self.db.len(),
            self.db.epochs()
        )
    }

    /// The file this was opened from, as a string (a `pathlib.Path` would import pathlib,
    /// 25 ms, on first use).
    #[getter]
    fn path(&self) -> std::ffi::OsString {
        self.db.path().as_os_str().to_os_string()
    }

    /// The epoch budgets present, ascending.
    #[getter]
    fn epochs(&self) -> Vec<u32> {
        self.db.epochs().to_vec()
    }

    /// True for a memory-mapped store, false for a tfrecord parsed in memory.
    #[getter]
    fn is_store(&self) -> bool {
        self.db.source_kind() == nasbench101::SourceKind::Store
    }

    /// True for a synthetic table (`nb1s1 nb101 generate`), never the official data.
    #[getter]
    fn synthetic(&self) -> bool {
        self.db.is_synthetic()
    }

    /// Total number of stored training runs.
    #[getter]
    fn num_datapoints(&self) -> u64 {
        self.db.num_datapoints()
    }

    /// The hash of model `i`.
    fn hash_at(&self, i: usize) -> PyResult<String> {
        Ok(self.model(i)?.hash().to_string())
    }

    /// An iterator over every hash in file order (strings made one at a time).
    fn hashes(&self) -> HashIter {
        HashIter {
            db: Arc::clone(&self.db),
            next: 0,
        }
    }

    /// The position of `hash`, or None when the file lacks it (or it is not 32 hex digits).
    fn index(&self, hash: &str) -> Option<usize> {
        let h = ModelHash::from_hex_bytes(hash.as_bytes())?;
        self.db.model(&h).map(|m| m.index())
    }

    /// Model `i`'s fixed statistics: (flat adjacency bytes, vertices, ops, trainable
    /// parameters).
    fn fixed<'py>(
        &self,
        py: Python<'py>,
        i: usize,
    ) -> PyResult<(Bound<'py, PyBytes>, usize, Vec<String>, i64)> {
        let m = self.model(i)?;
        let flat: Vec<u8> = m.adjacency().concat();
        Ok((
            PyBytes::new(py, &flat),
            m.num_vertices(),
            m.ops(),
            m.trainable_parameters(),
        ))
    }

    /// Model `i`'s computed statistics as the official nested structure
    /// `{epochs: [{key: value} per repeat]}` (fresh objects each call).
    fn computed<'py>(&self, py: Python<'py>, i: usize) -> PyResult<Bound<'py, PyDict>> {
        let m = self.model(i)?;
        let out = PyDict::new(py);
        for (epochs, runs) in m.computed_stats() {
            let list = PyList::empty(py);
            for p in runs {
                list.append(point_dict(py, &p.to_array())?)?;
            }
            out.set_item(epochs, list)?;
        }
        Ok(out)
    }

    /// How many repeats model `i` has at `epochs` (0 when the budget is absent).
    fn repeat_count(&self, i: usize, epochs: u32) -> PyResult<usize> {
        Ok(self.model(i)?.repeat_count(epochs))
    }

    /// The 8 values of repeat `k` of model `i` at `epochs`, in the official key order
    /// (`KEYS`); IndexError when that repeat is absent, as the official list indexing.
    fn point(&self, i: usize, epochs: u32, k: usize) -> PyResult<[f64; 8]> {
        let m = self.model(i)?;
        if k >= m.repeat_count(epochs) {
            return Err(PyIndexError::new_err("list index out of range"));
        }
        m.repeat(epochs, k)
            .map(|p| p.to_array())
            .map_err(|e| PyIndexError::new_err(e.to_string()))
    }

    /// Positions of many hashes given as `count`×16 raw bytes (-1 where absent), as
    /// little-endian i64 bytes.
    fn lookup_raw<'py>(&self, py: Python<'py>, hashes: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        if !hashes.len().is_multiple_of(16) {
            return Err(PyValueError::new_err("hash bytes must be a multiple of 16"));
        }
        let out = py.detach(|| {
            let mut out = vec![0u8; hashes.len() / 2];
            out.par_chunks_mut(8)
                .zip(hashes.par_chunks_exact(16))
                .for_each(|(o, h)| {
                    let key = ModelHash(h.try_into().unwrap_or([0; 16]));
                    let i = self.db.model(&key).map_or(-1, |m| m.index() as i64);
                    o.copy_from_slice(&i.to_le_bytes());
                });
            out
        });
        Ok(PyBytes::new(py, &out))
    }

    /// Positions of many hex hashes (-1 where absent or malformed), as little-endian i64 bytes.
    fn lookup<'py>(&self, py: Python<'py>, hashes: Vec<String>) -> Bound<'py, PyBytes> {
        let out = py.detach(|| {
            let mut out = Vec::with_capacity(hashes.len() * 8);
            for h in &hashes {
                let i = ModelHash::from_hex_bytes(h.as_bytes())
                    .and_then(|k| self.db.model(&k))
                    .map_or(-1, |m| m.index() as i64);
                out.extend_from_slice(&i.to_le_bytes());
            }
            out
        });
        PyBytes::new(py, &out)
    }

    /// Gathers every repeat's 8 values at `epochs` for many models: `indices` are
    /// little-endian i64 positions; returns `len`×`repeats`×8 little-endian f64 bytes, NaN
    /// where a model is -1 or lacks a repeat.
    fn gather<'py>(
        &self,
        py: Python<'py>,
        indices: &[u8],
        epochs: u32,
        repeats: usize,
    ) -> PyResult<Bound<'py, PyBytes>> {
        if !indices.len().is_multiple_of(8) {
            return Err(PyValueError::new_err("index bytes must be a multiple of 8"));
        }
        if !self.db.epochs().contains(&epochs) {
            return Err(PyValueError::new_err(format!(
                "epoch budget {epochs} is not in the data file (valid: {:?})",
                self.db.epochs()
            )));
        }
        let out = py.detach(|| {
            // Written straight as little-endian bytes, one model's rows per task.
            let row = repeats * 8 * 8;
            let mut out = vec![0u8; indices.len() / 8 * row];
            out.par_chunks_mut(row.max(1))
                .zip(indices.par_chunks_exact(8))
                .for_each(|(o, raw)| {
                    let i = i64::from_le_bytes(raw.try_into().unwrap_or([255; 8]));
                    let m = usize::try_from(i).ok().and_then(|i| self.db.model_at(i));
                    for (k, rep) in o.chunks_exact_mut(64).enumerate() {
                        let values = m
                            .filter(|m| k < m.repeat_count(epochs))
                            .and_then(|m| m.repeat(epochs, k).ok())
                            .map_or([f64::NAN; 8], |p| p.to_array());
                        for (b, v) in rep.chunks_exact_mut(8).zip(values) {
                            b.copy_from_slice(&v.to_le_bytes());
                        }
                    }
                });
            out
        });
        Ok(PyBytes::new(py, &out))
    }
}

fn point_dict<'py>(py: Python<'py>, values: &[f64; 8]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in KEYS.iter().zip(values) {
        d.set_item(k, v)?;
    }
    Ok(d)
}

/// Iterates the hashes of a [`Store`] in file order.
#[pyclass(module = "nb1s1._native")]
pub struct HashIter {
    db: Arc<Nb101>,
    next: usize,
}

#[pymethods]
impl HashIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }
    fn __next__(mut slf: PyRefMut<'_, Self>) -> Option<String> {
        let h = slf.db.model_at(slf.next)?.hash().to_string();
        slf.next += 1;
        Some(h)
    }
    fn __len__(&self) -> usize {
        self.db.len().saturating_sub(self.next)
    }
}

/// True when `path` begins with a TFRecord frame header whose length CRC matches (the
/// official data files); a store or anything else gives false.
#[pyfunction]
pub fn is_tfrecord(path: PathBuf) -> PyResult<bool> {
    use std::io::Read;
    let mut head = [0u8; 12];
    let mut f = std::fs::File::open(&path)
        .map_err(|error| data_error(nasbench101::Nb101Error::Io { path, error }))?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let crc = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
    Ok(n == head.len() && nasbench101::tfrecord::masked_crc(&head[..8]) == crc)
}

/// Converts an official tfrecord into a store at `output`, atomically (temporary file then
/// rename), with a progress bar on stderr when it is a terminal. Returns a summary dict.
#[pyfunction]
#[pyo3(signature = (input, output, progress=true))]
pub fn convert<'py>(
    py: Python<'py>,
    input: PathBuf,
    output: PathBuf,
    progress: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let len = std::fs::metadata(&input).map(|m| m.len()).unwrap_or(0);
    let s = py
        .detach(|| {
            let bar = if progress {
                indicatif::ProgressBar::new(len)
            } else {
                indicatif::ProgressBar::hidden()
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "converting {msg} {bar:30} {bytes}/{total_bytes} ({eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_message(input.display().to_string());
            let mut cb = |done: u64| bar.set_position(done);
            let r = nasbench101::convert(&input, &output, OpenOptions::default(), Some(&mut cb));
            bar.finish_and_clear();
            r
        })
        .map_err(data_error)?;
    let d = PyDict::new(py);
    d.set_item("models", s.models)?;
    d.set_item("runs", s.runs)?;
    d.set_item("epochs", s.epochs)?;
    d.set_item("f32_values", s.f32_values)?;
    d.set_item("synthetic", s.synthetic)?;
    d.set_item("store_bytes", s.store_bytes)?;
    Ok(d)
}
