//! How engine errors reach Python: I/O failures as `OSError` (with the errno kind, so a
//! missing file is `FileNotFoundError`), everything else about a data file as
//! `DataFileError` (a `ValueError`), each carrying the engine's message that names the file,
//! record and field.

use nasbench101::Nb101Error;
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyPermissionError, PyValueError};
use pyo3::PyErr;

pyo3::create_exception!(
    _native,
    DataFileError,
    PyValueError,
    "A NAS-Bench-101 data file (tfrecord or store) that cannot be read; the message names the \
     file and the record or byte."
);

/// The Python exception for an engine error.
pub fn data_error(e: Nb101Error) -> PyErr {
    match &e {
        Nb101Error::Io { error, .. } => match error.kind() {
            std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(e.to_string()),
            std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(e.to_string()),
            _ => PyOSError::new_err(e.to_string()),
        },
        _ => DataFileError::new_err(e.to_string()),
    }
}
