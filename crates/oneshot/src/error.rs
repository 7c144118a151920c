//! Errors of the one-shot crate; each names the file, field or epoch it is about.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum OneShotError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config {file}: {msg}")]
    Config { file: String, msg: String },
    /// A flat `[options]` key of the layout before `[options.<part>]` that no part of the
    /// method takes now.
    #[error("config {file}: flat [options] key `{key}` (the layout before [options.<part>]) has no part of method `{method}` to move to; put it under [options.<part>] of the part that takes it, or remove it")]
    OldOption {
        file: String,
        method: String,
        key: String,
    },
    #[error("checkpoint {path}: {msg}")]
    Checkpoint { path: PathBuf, msg: String },
    #[error("run folder {path}: {msg}")]
    RunDir { path: PathBuf, msg: String },
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    #[error("libtorch failed while building {what}: {msg}")]
    TorchFailed { what: String, msg: String },
    #[error("data: {0}")]
    Data(String),
    #[error("NAS-Bench-101: {0}")]
    Nb101(String),
    #[error("epoch {epoch}: training diverged ({msg}); the checkpoint, if the run has one, holds the last good epoch")]
    Diverged { epoch: usize, msg: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    RunFormat(#[from] runfmt::RunFmtError),
}

impl OneShotError {
    /// The error with `file` named where it names a config file and has none yet.
    pub fn in_file(self, file: &str) -> Self {
        match self {
            OneShotError::OldOption { method, key, .. } => OneShotError::OldOption {
                file: file.to_string(),
                method,
                key,
            },
            OneShotError::Config { msg, .. } => OneShotError::Config {
                file: file.to_string(),
                msg,
            },
            other => other,
        }
    }

    pub fn io(path: &Path, source: std::io::Error) -> Self {
        OneShotError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
