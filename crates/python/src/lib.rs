//! Python bindings of the torch-free crates (nasbench101, searchspace, blackbox, record), built by maturin into the `nb1s1` wheel as
//! `nb1s1._native`. The Python packages beside this crate (`python/`) build the official
//! `nasbench` API and the native numpy API on top of these few primitives: an opened
//! NAS-Bench-101 file ([`store::Store`]), the graph hash, batch spec hashing and the
//! tfrecord-to-store convert. Everything here works on plain bytes and lists, so the module
//! needs no numpy at build time and one abi3 wheel serves every CPython from 3.9.

use pyo3::prelude::*;

mod error;
mod generate;
mod query;
mod record;
mod space;
mod spec;
mod store;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("DataFileError", m.py().get_type::<error::DataFileError>())?;
    m.add_class::<store::Store>()?;
    m.add_class::<store::HashIter>()?;
    m.add_class::<query::FastQuery>()?;
    m.add_class::<space::Space>()?;
    m.add_class::<record::Recorder>()?;
    m.add_function(wrap_pyfunction!(record::import_original, m)?)?;
    m.add_function(wrap_pyfunction!(space::run_optimizer, m)?)?;
    m.add_function(wrap_pyfunction!(store::convert, m)?)?;
    m.add_function(wrap_pyfunction!(store::is_tfrecord, m)?)?;
    m.add_function(wrap_pyfunction!(spec::hash_module, m)?)?;
    m.add_function(wrap_pyfunction!(generate::generate, m)?)?;
    m.add_function(wrap_pyfunction!(generate::generate_from_specs, m)?)?;
    m.add_function(wrap_pyfunction!(spec::spec_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(spec::prune, m)?)?;
    m.add("AVAILABLE_OPS", spec::AVAILABLE_OPS.to_vec())?;
    m.add("SPEC_ERROR_CODES", spec::ERROR_CODES.to_vec())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
