//! The recorder and the import of the original's runs for Python (`nb1s1.Recorder`,
//! `nb1s1.import_original`): the `record` crate behind a thin layer. Arrays cross the boundary
//! as (shape, little-endian float64 bytes); records come back as the JSON line written.

use std::collections::BTreeMap;
use std::path::PathBuf;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use record::{Array, ImportOptions, Lookup, RecordError, RunSpec};
use runfmt::ExternalKind;
use searchspace::{SearchSpace, SpaceId, TopKTies};

use crate::store::Store;

fn record_error(e: RecordError) -> PyErr {
    match e {
        RecordError::Io { .. } => PyOSError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

fn ties(name: &str) -> PyResult<TopKTies> {
    match name {
        "lower_index" => Ok(TopKTies::LowerIndex),
        "argpartition" => Ok(TopKTies::Argpartition),
        other => Err(PyValueError::new_err(format!(
            "ties {other:?}: expected \"lower_index\" or \"argpartition\""
        ))),
    }
}

fn space_id(number: u8) -> PyResult<SpaceId> {
    SpaceId::try_from(number).map_err(|e| PyValueError::new_err(e.to_string()))
}

fn settings(json: &str) -> PyResult<serde_json::Value> {
    serde_json::from_str(json).map_err(|e| PyValueError::new_err(format!("settings: {e}")))
}

/// An open recorded run (`nb1s1.Recorder` wraps it).
#[pyclass(module = "nb1s1._native")]
pub struct Recorder {
    inner: Option<record::Recorder>,
    space: SearchSpace,
}

#[pymethods]
impl Recorder {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (run_dir, store, space, method, seed, settings_json, ties_name, original_reference, epochs))]
    fn new(
        py: Python<'_>,
        run_dir: PathBuf,
        store: &Store,
        space: u8,
        method: String,
        seed: u64,
        settings_json: &str,
        ties_name: &str,
        original_reference: bool,
        epochs: usize,
    ) -> PyResult<Recorder> {
        let spec = RunSpec {
            space: space_id(space)?,
            method,
            seed,
            settings: settings(settings_json)?,
            ties: ties(ties_name)?,
            original_reference,
            epochs_total: epochs,
            kind: ExternalKind::Recorded,
            source: None,
        };
        let lookup = Lookup::shared(store.db().clone());
        let inner = py
            .detach(|| record::Recorder::open(&run_dir, &spec, lookup))
            .map_err(record_error)?;
        Ok(Recorder {
            inner: Some(inner),
            space: SearchSpace::new(spec.space),
        })
    }

    /// Records one epoch from the arrays of the original's list layout, each as (shape,
    /// float64 little-endian bytes); returns the record's JSON line.
    fn record(
        &mut self,
        epoch: usize,
        arrays: Vec<(Vec<usize>, Vec<u8>)>,
        metrics: BTreeMap<String, f64>,
    ) -> PyResult<String> {
        let arrays: Vec<Array> = arrays
            .into_iter()
            .map(|(shape, bytes)| Array {
                shape,
                data: bytes
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
            })
            .collect();
        if let Some((i, a)) = arrays
            .iter()
            .enumerate()
            .find(|(_, a)| a.shape.iter().product::<usize>() != a.data.len())
        {
            return Err(PyValueError::new_err(format!(
                "epoch {epoch}: array {i}: shape {:?} does not match its {} values",
                a.shape,
                a.data.len()
            )));
        }
        let w = record::from_original(&self.space, epoch, &arrays).map_err(record_error)?;
        let rec = self
            .open()?
            .record(epoch, &w, metrics)
            .map_err(record_error)?;
        serde_json::to_string(&rec).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Marks the run complete.
    fn finish(&mut self) -> PyResult<()> {
        self.open()?.finish().map_err(record_error)
    }

    /// Releases the run folder's lock; the recorder is unusable afterwards.
    fn close(&mut self) {
        self.inner = None;
    }

    #[getter]
    fn next_epoch(&mut self) -> PyResult<usize> {
        Ok(self.open()?.next_epoch())
    }

    #[getter]
    fn complete(&mut self) -> PyResult<bool> {
        Ok(self.open()?.is_complete())
    }
}

impl Recorder {
    fn open(&mut self) -> PyResult<&mut record::Recorder> {
        self.inner
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("the recorder is closed"))
    }
}

/// Imports run folders of the original code; returns one dict per folder. The arguments are
/// the Python signature's.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (dirs, store, out, method=None, seed=None, ties_name="lower_index", original_reference=false))]
pub fn import_original(
    py: Python<'_>,
    dirs: Vec<PathBuf>,
    store: &Store,
    out: PathBuf,
    method: Option<String>,
    seed: Option<u64>,
    ties_name: &str,
    original_reference: bool,
) -> PyResult<Vec<BTreeMap<String, String>>> {
    let opts = ImportOptions {
        method,
        seed,
        ties: ties(ties_name)?,
        original_reference,
    };
    let mut lookup = Lookup::shared(store.db().clone());
    py.detach(|| {
        dirs.iter()
            .map(|d| {
                let got = record::import_folder(d, &out, &mut lookup, &opts)?;
                Ok(BTreeMap::from([
                    ("run_dir".to_string(), got.out.display().to_string()),
                    ("method".to_string(), got.method),
                    ("space".to_string(), got.space.number().to_string()),
                    ("seed".to_string(), got.seed.to_string()),
                    ("recorded".to_string(), got.recorded.to_string()),
                    ("kept".to_string(), got.kept.to_string()),
                ]))
            })
            .collect::<Result<Vec<_>, RecordError>>()
    })
    .map_err(record_error)
}
