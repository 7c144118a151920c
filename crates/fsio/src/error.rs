//! The error of every primitive: what went wrong, and with which path.

use std::path::{Path, PathBuf};

/// A refused or failed file operation.
#[derive(Debug, thiserror::Error)]
pub enum FsioError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: is a {kind}, not a regular file; refusing to {action} it")]
    NotRegular {
        path: PathBuf,
        kind: &'static str,
        action: &'static str,
    },
    #[error("{path}: is a {kind}, not a folder; refusing to replace it")]
    NotAFolder { path: PathBuf, kind: &'static str },
    #[error("{path}: has {links} hard links; refusing to append to it")]
    HardLinked { path: PathBuf, links: u64 },
    #[error("{path}: {size} bytes, more than the limit of {limit} bytes for this file")]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{path}: leads outside {root} (a symbolic link?); refusing to use it")]
    Escapes { path: PathBuf, root: PathBuf },
}

impl FsioError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> FsioError {
        FsioError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// I/O failures stay what they were (callers add the path themselves); refusals become
/// `InvalidInput` errors carrying the whole message.
impl From<FsioError> for std::io::Error {
    fn from(e: FsioError) -> Self {
        match e {
            FsioError::Io { source, .. } => source,
            e => std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()),
        }
    }
}

/// Result alias of the crate.
pub type Result<T> = std::result::Result<T, FsioError>;
