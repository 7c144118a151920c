//! Errors of reading and writing run files; each names the file (and the line of a JSON-lines
//! file).

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RunFmtError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}, line {line}: {message}")]
    Json {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: the run folder is being written by another process (pid {holder}); wait for it to end or stop it")]
    Locked { path: PathBuf, holder: String },
    #[error("{path}: {message}")]
    Inconsistent { path: PathBuf, message: String },
    /// A file refused by the file primitive: a link, a special file, too large.
    #[error(transparent)]
    Refused(nb1s1_fsio::FsioError),
}

impl From<nb1s1_fsio::FsioError> for RunFmtError {
    fn from(e: nb1s1_fsio::FsioError) -> Self {
        match e {
            nb1s1_fsio::FsioError::Io { path, source } => RunFmtError::Io { path, source },
            e => RunFmtError::Refused(e),
        }
    }
}

impl RunFmtError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        RunFmtError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn json(path: &Path, line: usize, e: impl std::fmt::Display) -> Self {
        RunFmtError::Json {
            path: path.to_path_buf(),
            line,
            message: e.to_string(),
        }
    }
}
