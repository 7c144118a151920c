//! The fast path of `nasbench.api.NASBench.query`: the official `_check_spec`, `hash_spec`,
//! repeat draw and result dict in one native call.
//!
//! It answers only the common case and returns `None`, before any side effect (no repeat
//! drawn, no counter moved), whenever the spec or the API object is anything else, so the
//! Python code then takes the official path and raises the official errors. Hashes of
//! pruned cells are cached by content, so an edited `spec.matrix` or `spec.ops` is hashed
//! afresh.

use crate::store::Store;
use nasbench101::{hash_module, Nb101};
use pyo3::exceptions::{PyIndexError, PyKeyError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyDict, PyList, PyString, PyTuple, PyType};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Most cells remembered by the cache before it is cleared (a few MiB at most).
const CACHE_CAP: usize = 1 << 16;

/// A pruned cell of at most 7 vertices: vertex count, upper-triangle bits, op labels (3 bits
/// each, label + 1 so input/output are distinct from ops).
type CellKey = (u8, u32, u32);

/// The query fast path of one `NASBench` object (see the module doc).
#[pyclass(module = "nb1s1._native", frozen)]
pub struct FastQuery {
    db: Arc<Nb101>,
    /// pruned cell → model position (`None`: hashed, not in the file).
    cache: Mutex<HashMap<CellKey, Option<usize>>>,
    spec_class: Py<PyType>,
    ndarray: Py<PyType>,
    int8: Py<PyAny>,
    random: Py<PyAny>,
    /// `random.randint` and its instance's `getrandbits` when `randint` is the stock method
    /// of the module's `Random` instance (then its draw is replayed natively).
    stock_draw: Option<(Py<PyAny>, Py<PyAny>)>,
    /// numpy dtypes the matrix may have, with their item size (all native-endian integers
    /// or bool).
    dtypes: Vec<(Py<PyAny>, usize)>,
    /// `input`, `output`, then the stored op names (interned: shared by every result).
    names: Vec<Py<PyString>>,
}

#[pymethods]
impl FastQuery {
    /// `spec_class` is `nasbench.api.ModelSpec` (subclasses take the official path), `numpy`
    /// and `random` the modules.
    #[new]
    fn new(
        py: Python<'_>,
        store: &Store,
        spec_class: Bound<'_, PyType>,
        numpy: &Bound<'_, PyAny>,
        random: Bound<'_, PyAny>,
    ) -> PyResult<FastQuery> {
        let dtype = numpy.getattr("dtype")?;
        let mut dtypes = Vec::new();
        for (name, size) in [
            ("bool", 1),
            ("int8", 1),
            ("uint8", 1),
            ("int16", 2),
            ("int32", 4),
            ("int64", 8),
        ] {
            dtypes.push((dtype.call1((name,))?.unbind(), size));
        }
        let mut names = vec![
            PyString::intern(py, nasbench101::INPUT).unbind(),
            PyString::intern(py, nasbench101::OUTPUT).unbind(),
        ];
        for op in crate::spec::AVAILABLE_OPS {
            names.push(PyString::intern(py, op).unbind());
        }
        Ok(FastQuery {
            db: Arc::clone(store.db()),
            cache: Mutex::new(HashMap::new()),
            spec_class: spec_class.unbind(),
            ndarray: numpy.getattr("ndarray")?.cast_into::<PyType>()?.unbind(),
            int8: dtype.call1(("int8",))?.unbind(),
            stock_draw: stock_draw(&random)?,
            random: random.unbind(),
            dtypes,
            names,
        })
    }

    /// `nb.query(spec, epochs, stop_halfway)` for the common case, or `None` (nothing done)
    /// when the official path must answer.
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        nb: &Bound<'py, PyAny>,
        spec: &Bound<'py, PyAny>,
        epochs: &Bound<'py, PyAny>,
        stop_halfway: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        if !nb.getattr(intern!(py, "valid_epochs"))?.contains(epochs)? {
            return Ok(None);
        }
        let Ok(budget) = epochs.extract::<u32>() else {
            return Ok(None);
        };
        if !spec.get_type().is(self.spec_class.bind(py)) {
            return Ok(None);
        }
        let config = nb.getattr(intern!(py, "config"))?;
        let Ok(config) = config.cast::<PyDict>() else {
            return Ok(None);
        };
        let Some(key) = self.checked_cell(py, spec, config)? else {
            return Ok(None);
        };
        let Some(i) = self.lookup(key) else {
            return Ok(None);
        };
        let Some(repeats) = config.get_item(intern!(py, "num_repeats"))? else {
            return Ok(None);
        };
        let k = self.draw(py, &repeats)?;
        let Some(m) = self.db.model_at(i) else {
            return Ok(None);
        };
        if m.repeat_count(budget) == 0 {
            return Err(PyKeyError::new_err(budget));
        }
        let values = m
            .repeat(budget, k)
            .map_err(|_| PyIndexError::new_err("list index out of range"))?
            .to_array();
        let halfway = stop_halfway.is_truthy()?;
        let at = if halfway { 0 } else { 4 };
        let out = self.fixed_dict(py, &m)?;
        out.set_item(intern!(py, "training_time"), values[at])?;
        out.set_item(intern!(py, "train_accuracy"), values[at + 1])?;
        out.set_item(intern!(py, "validation_accuracy"), values[at + 2])?;
        out.set_item(intern!(py, "test_accuracy"), values[at + 3])?;
        let spent = intern!(py, "training_time_spent");
        nb.setattr(spent, nb.getattr(spent)?.add(values[at])?)?;
        let total = intern!(py, "total_epochs_spent");
        let add = if halfway { budget / 2 } else { budget };
        nb.setattr(total, nb.getattr(total)?.add(add)?)?;
        Ok(Some(out))
    }
}

/// One native-endian integer entry of 1, 2, 4 or 8 bytes, as unsigned (a negative entry is
/// then neither 0 nor 1).
fn native_uint(cell: &[u8]) -> u64 {
    match *cell {
        [a] => u64::from(a),
        [a, b] => u64::from(u16::from_ne_bytes([a, b])),
        [a, b, c, d] => u64::from(u32::from_ne_bytes([a, b, c, d])),
        [a, b, c, d, e, f, g, h] => u64::from_ne_bytes([a, b, c, d, e, f, g, h]),
        _ => u64::MAX,
    }
}

/// `random.randint` and `getrandbits` of the module's instance, when `randint` is the stock
/// bound method of a plain `random.Random`.
fn stock_draw(random: &Bound<'_, PyAny>) -> PyResult<Option<(Py<PyAny>, Py<PyAny>)>> {
    let (Ok(randint), Ok(getrandbits), Ok(class)) = (
        random.getattr("randint"),
        random.getattr("getrandbits"),
        random.getattr("Random"),
    ) else {
        return Ok(None);
    };
    let (Ok(inst), Ok(func)) = (randint.getattr("__self__"), randint.getattr("__func__")) else {
        return Ok(None);
    };
    let stock = inst.get_type().is(&class)
        && func.is(&class.getattr("randint")?)
        && getrandbits.getattr("__self__").is_ok_and(|s| s.is(&inst));
    Ok(stock.then(|| (randint.unbind(), getrandbits.unbind())))
}

impl FastQuery {
    /// The official draw, `random.randint(0, num_repeats - 1)` with `randint` looked up at
    /// each call. While it is the stock method, its steps (`randrange` → `_randbelow`: draw
    /// `n.bit_length()` bits until below `n`) run here on the same generator, so the stream
    /// and the result are the same.
    fn draw(&self, py: Python<'_>, repeats: &Bound<'_, PyAny>) -> PyResult<usize> {
        let randint = self.random.bind(py).getattr(intern!(py, "randint"))?;
        if let (Some((stock, getrandbits)), Ok(n)) = (&self.stock_draw, repeats.extract::<u32>()) {
            if n >= 1 && randint.is(stock.bind(py)) {
                let bits = 32 - n.leading_zeros();
                loop {
                    let r: u32 = getrandbits.bind(py).call1((bits,))?.extract()?;
                    if r < n {
                        return Ok(r as usize);
                    }
                }
            }
        }
        randint.call1((0, repeats.sub(1)?))?.extract()
    }

    /// The official `_check_spec` on `spec.matrix`/`spec.ops`, returning the cell's key when
    /// every check passes; `None` for anything else (invalid, unusual types, another config).
    fn checked_cell(
        &self,
        py: Python<'_>,
        spec: &Bound<'_, PyAny>,
        config: &Bound<'_, PyDict>,
    ) -> PyResult<Option<CellKey>> {
        if !spec.getattr(intern!(py, "valid_spec"))?.is_truthy()? {
            return Ok(None);
        }
        let ops = spec.getattr(intern!(py, "ops"))?;
        let Ok(ops) = ops.cast::<PyList>() else {
            return Ok(None);
        };
        let n = ops.len();
        let limit = |k: &Bound<'_, PyString>| -> PyResult<Option<usize>> {
            Ok(config.get_item(k)?.and_then(|v| v.extract().ok()))
        };
        let (Some(max_v), Some(max_e)) = (
            limit(intern!(py, "module_vertices"))?,
            limit(intern!(py, "max_edges"))?,
        ) else {
            return Ok(None);
        };
        if !(2..=7).contains(&n) || n > max_v {
            return Ok(None);
        }
        let Some(adj) = self.adjacency_bits(py, spec, n)? else {
            return Ok(None);
        };
        if adj.count_ones() as usize > max_e {
            return Ok(None);
        }
        let Some(available) = config.get_item(intern!(py, "available_ops"))? else {
            return Ok(None);
        };
        let Some(labels) = self.op_labels(py, ops, &available)? else {
            return Ok(None);
        };
        Ok(Some((n as u8, adj, labels)))
    }

    /// The strict upper triangle of an `n`×`n` 0/1 integer ndarray as bits (row-major);
    /// `None` for another type, shape or value, or an entry on or below the diagonal.
    fn adjacency_bits(
        &self,
        py: Python<'_>,
        spec: &Bound<'_, PyAny>,
        n: usize,
    ) -> PyResult<Option<u32>> {
        let matrix = spec.getattr(intern!(py, "matrix"))?;
        if !matrix.get_type().is(self.ndarray.bind(py)) {
            return Ok(None);
        }
        let dtype = matrix.getattr(intern!(py, "dtype"))?;
        let Some(size) = self
            .dtypes
            .iter()
            .find(|(d, _)| d.bind(py).is(&dtype))
            .map(|&(_, s)| s)
        else {
            return Ok(None);
        };
        let shape = matrix.getattr(intern!(py, "shape"))?;
        if shape.extract::<(usize, usize)>().ok() != Some((n, n)) {
            return Ok(None);
        }
        let raw = matrix.call_method0(intern!(py, "tobytes"))?;
        let Ok(raw) = raw.cast::<pyo3::types::PyBytes>() else {
            return Ok(None);
        };
        let bytes = raw.as_bytes();
        if bytes.len() != n * n * size {
            return Ok(None);
        }
        let mut bits = 0u32;
        let mut bit = 0;
        for (at, cell) in bytes.chunks_exact(size).enumerate() {
            let (r, c) = (at / n, at % n);
            let one = match native_uint(cell) {
                0 => false,
                1 if c > r => true,
                _ => return Ok(None),
            };
            if c > r {
                bits |= u32::from(one) << bit;
                bit += 1;
            }
        }
        Ok(Some(bits))
    }

    /// `input`, interior ops found in `available` (the official `canonical_ops.index`), then
    /// `output`, as 3-bit codes (label + 1; input 0, output 7). `None` when one does not fit.
    fn op_labels(
        &self,
        py: Python<'_>,
        ops: &Bound<'_, PyList>,
        available: &Bound<'_, PyAny>,
    ) -> PyResult<Option<u32>> {
        let Ok(available) = available.cast::<PyList>() else {
            return Ok(None);
        };
        if available.len() > 6 {
            return Ok(None);
        }
        let n = ops.len();
        let same = |a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>| -> PyResult<bool> {
            Ok(a.is(b) || a.eq(b)?)
        };
        if !same(&ops.get_item(0)?, self.names[0].bind(py).as_any())?
            || !same(&ops.get_item(n - 1)?, self.names[1].bind(py).as_any())?
        {
            return Ok(None);
        }
        let mut codes = 7u32 << (3 * (n - 1));
        for v in 1..n - 1 {
            let op = ops.get_item(v)?;
            let mut label = None;
            for (j, a) in available.iter().enumerate() {
                if same(&op, &a)? {
                    label = Some(j as u32);
                    break;
                }
            }
            let Some(label) = label else {
                return Ok(None);
            };
            codes |= (label + 1) << (3 * v);
        }
        Ok(Some(codes))
    }

    /// The model position of a checked cell, hashing it on its first sighting.
    fn lookup(&self, key: CellKey) -> Option<usize> {
        if let Ok(cache) = self.cache.lock() {
            if let Some(&hit) = cache.get(&key) {
                return hit;
            }
        }
        let (n, adj, codes) = key;
        let n = usize::from(n);
        let mut rows = vec![vec![0u8; n]; n];
        let mut bit = 0;
        for (r, row) in rows.iter_mut().enumerate() {
            for cell in row.iter_mut().skip(r + 1) {
                *cell = u8::from(adj >> bit & 1 == 1);
                bit += 1;
            }
        }
        let labels: Vec<i32> = (0..n)
            .map(|v| match (codes >> (3 * v)) & 7 {
                0 => -1,
                7 => -2,
                c => c as i32 - 1,
            })
            .collect();
        let found = self
            .db
            .model(&hash_module(&rows, &labels))
            .map(|m| m.index());
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_CAP {
                cache.clear();
            }
            cache.insert(key, found);
        }
        found
    }

    /// The official fixed statistics of model `m`: `module_adjacency` (a writable int8
    /// ndarray), `module_operations`, `trainable_parameters`.
    fn fixed_dict<'py>(
        &self,
        py: Python<'py>,
        m: &nasbench101::Model<'_>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let n = m.num_vertices();
        let flat: Vec<u8> = m.adjacency().concat();
        let buffer = PyByteArray::new(py, &flat);
        let shape = PyTuple::new(py, [n, n])?;
        let adjacency = self
            .ndarray
            .bind(py)
            .call1((shape, self.int8.bind(py), buffer))?;
        let ops = PyList::empty(py);
        for name in m.ops() {
            let known = match name.as_str() {
                nasbench101::INPUT => Some(0),
                nasbench101::OUTPUT => Some(1),
                op => crate::spec::AVAILABLE_OPS
                    .iter()
                    .position(|&a| a == op)
                    .map(|j| j + 2),
            };
            match known {
                Some(j) => ops.append(self.names[j].bind(py))?,
                None => ops.append(name)?,
            }
        }
        let out = PyDict::new(py);
        out.set_item(intern!(py, "module_adjacency"), adjacency)?;
        out.set_item(intern!(py, "module_operations"), ops)?;
        out.set_item(
            intern!(py, "trainable_parameters"),
            m.trainable_parameters(),
        )?;
        Ok(out)
    }
}
