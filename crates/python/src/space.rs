//! The NAS-Bench-1Shot1 search spaces and the black-box optimizers for Python. Architectures
//! cross the boundary as the JSON the CLI writes (`{"space": 1, "ops": [...], "parents":
//! [[0], ...]}`), so Python sees plain dicts and trajectories match `trajectory.jsonl`.

use crate::error::data_error;
use blackbox::{OptimizerKind, TabularBenchmark};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use searchspace::{Architecture, Reference, SearchSpace, SpaceId, SpaceTable};
use std::path::PathBuf;

fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn space_id(number: u8) -> PyResult<SpaceId> {
    SpaceId::try_from(number).map_err(value_error)
}

fn to_json(arch: &Architecture) -> PyResult<String> {
    serde_json::to_string(arch).map_err(value_error)
}

/// A search space (1, 2 or 3) of NAS-Bench-1Shot1.
#[pyclass(module = "nb1s1._native", frozen, name = "SearchSpace")]
pub struct Space {
    space: SearchSpace,
}

impl Space {
    fn parse(&self, arch: &str) -> PyResult<Architecture> {
        let a: Architecture =
            serde_json::from_str(arch).map_err(|e| value_error(format!("architecture: {e}")))?;
        if a.space != self.space.id() {
            return Err(value_error(format!(
                "architecture of space {} given to space {}",
                a.space,
                self.space.id()
            )));
        }
        a.validate().map_err(value_error)?;
        Ok(a)
    }
}

#[pymethods]
impl Space {
    #[new]
    fn new(number: u8) -> PyResult<Space> {
        Ok(Space {
            space: SearchSpace::new(space_id(number)?),
        })
    }

    fn __reduce__(slf: &Bound<'_, Self>) -> PyResult<(Py<PyAny>, (u8,))> {
        Ok((
            slf.get_type().into_any().unbind(),
            (slf.get().space.id().number(),),
        ))
    }

    /// The space number.
    #[getter]
    fn number(&self) -> u8 {
        self.space.id().number()
    }

    /// Number of choice blocks N.
    #[getter]
    fn num_choice_blocks(&self) -> usize {
        self.space.num_choice_blocks()
    }

    /// Parents of nodes 1..N and of the output.
    #[getter]
    fn parents_per_node(&self) -> Vec<usize> {
        self.space.parents_per_node().to_vec()
    }

    /// Number of configurations (op choices × parent choices).
    fn num_configurations(&self) -> u64 {
        self.space.raw_configurations()
    }

    /// Configuration `index` (0-based, the enumeration order) as architecture JSON.
    fn configuration(&self, index: u64) -> PyResult<String> {
        let a = self.space.configuration(index).ok_or_else(|| {
            value_error(format!(
                "configuration {index} out of range ({} in space {})",
                self.space.raw_configurations(),
                self.space.id()
            ))
        })?;
        to_json(&a)
    }

    /// The enumeration index of an architecture.
    fn configuration_index(&self, arch: &str) -> PyResult<u64> {
        let a = self.parse(arch)?;
        self.space.configuration_index(&a).map_err(value_error)
    }

    /// `count` uniform random architectures from `seed`.
    fn sample(&self, seed: u64, count: usize) -> PyResult<Vec<String>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..count)
            .map(|_| to_json(&self.space.sample(&mut rng)))
            .collect()
    }

    /// One random mutation (an op or a parent set) of an architecture.
    fn mutate(&self, arch: &str, seed: u64) -> PyResult<String> {
        let a = self.parse(arch)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        to_json(&self.space.mutate(&a, &mut rng))
    }

    /// The 7-vertex NB-101 cell before pruning: (flat matrix bytes, ops).
    fn to_nb101<'py>(
        &self,
        py: Python<'py>,
        arch: &str,
    ) -> PyResult<(Bound<'py, PyBytes>, Vec<String>)> {
        let (m, ops) = self.parse(arch)?.raw_nb101();
        Ok((PyBytes::new(py, &m.concat()), ops))
    }

    /// The NB-101 graph hash of an architecture.
    fn hash(&self, arch: &str) -> PyResult<String> {
        Ok(self.parse(arch)?.hash().map_err(value_error)?.to_string())
    }

    /// Every unique NB-101 model of the space: (hash, a representative architecture JSON).
    fn unique_models(&self, py: Python<'_>) -> PyResult<Vec<(String, String)>> {
        let models = py.detach(|| self.space.unique_models());
        models
            .iter()
            .map(|(h, a)| Ok((h.to_string(), to_json(a)?)))
            .collect()
    }
}

/// Runs a black-box optimizer (rs, re, reinforce, tpe, hb, bohb, smac) on a space over an
/// NB-101 file holding every model of the space, for `queries` queries from `seed`. Returns the
/// trajectory as JSON lines (the schema of `trajectory.jsonl`).
#[pyfunction]
#[pyo3(signature = (optimizer, space, nb101, queries, seed=0, reference="exact"))]
pub fn run_optimizer(
    py: Python<'_>,
    optimizer: &str,
    space: u8,
    nb101: PathBuf,
    queries: usize,
    seed: u64,
    reference: &str,
) -> PyResult<Vec<String>> {
    let kind: OptimizerKind = optimizer.parse().map_err(value_error)?;
    let id = space_id(space)?;
    let records = py.detach(|| -> PyResult<_> {
        let nb = nasbench101::Nb101::open(&nb101).map_err(data_error)?;
        let sp = SearchSpace::new(id);
        let table = SpaceTable::build(&sp, &nb).map_err(value_error)?;
        if let Some(h) = table.missing().first() {
            return Err(value_error(format!(
                "{}: {} of the {} models of space {id} are missing (first: {h})",
                nb101.display(),
                table.missing().len(),
                table.index().models().len()
            )));
        }
        let mut bench = TabularBenchmark::new(table);
        match reference {
            "exact" => {}
            "original" => bench = bench.with_reference(Reference::original(id)),
            other => {
                return Err(value_error(format!(
                    "reference {other:?}: expected exact or original"
                )))
            }
        }
        blackbox::run(kind, &bench, queries, seed).map_err(value_error)
    })?;
    records
        .iter()
        .map(|r| serde_json::to_string(r).map_err(value_error))
        .collect()
}
