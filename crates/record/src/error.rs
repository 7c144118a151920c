//! Errors of recording and importing, each naming the run folder, file, epoch or array.

use std::path::PathBuf;

use crate::unpickle::PickleError;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("epoch {epoch}: {array}: {reason}")]
    Weights {
        epoch: usize,
        array: String,
        reason: String,
    },
    #[error("{path}: {message}")]
    Run { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Pickle {
        path: PathBuf,
        #[source]
        source: PickleError,
    },
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("opening NAS-Bench-101 file {path}: {source}")]
    Nb101 {
        path: PathBuf,
        #[source]
        source: nasbench101::Nb101Error,
    },
    #[error("{path}: regret reference: {source}")]
    Table {
        path: PathBuf,
        #[source]
        source: searchspace::TableError,
    },
    #[error("epoch {epoch}: {source}")]
    Discretize {
        epoch: usize,
        #[source]
        source: searchspace::DiscretizeError,
    },
    #[error(transparent)]
    RunFmt(#[from] runfmt::RunFmtError),
    /// An input file refused by the bounded reader (a link, a FIFO or device, too large).
    #[error(transparent)]
    File(#[from] nb1s1_fsio::FsioError),
}
