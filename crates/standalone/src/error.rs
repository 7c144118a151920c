//! The crate's error type: every variant names the file or field it is about.

use std::path::PathBuf;

use nasbench101::network::NetworkError;

/// Why a stand-alone run cannot be built, continued or written.
#[derive(Debug, thiserror::Error)]
pub enum StandaloneError {
    /// A setting of the run is out of range.
    #[error("configuration field {field}: {why}")]
    Config { field: &'static str, why: String },
    /// The cell cannot be laid out as a network.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// The images are not what the run needs.
    #[error(transparent)]
    Data(#[from] nb1s1_data::DataError),
    /// An operating-system error on a named file or folder.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A run-folder file is unreadable or belongs to another run.
    #[error("{path}: {msg}")]
    RunFolder { path: PathBuf, msg: String },
    /// A tensor file (checkpoint or export) could not be written or read.
    #[error("{path}: {source}")]
    Tensors {
        path: PathBuf,
        #[source]
        source: tch::TchError,
    },
    /// The training loss is no longer finite.
    #[error("training diverged at step {step}: loss {loss}")]
    Diverged { step: u64, loss: f64 },
}

impl StandaloneError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StandaloneError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn run_folder(path: impl Into<PathBuf>, msg: impl std::fmt::Display) -> Self {
        StandaloneError::RunFolder {
            path: path.into(),
            msg: msg.to_string(),
        }
    }

    pub(crate) fn tensors(path: impl Into<PathBuf>, source: tch::TchError) -> Self {
        StandaloneError::Tensors {
            path: path.into(),
            source,
        }
    }
}
