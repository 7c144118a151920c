//! The one error type of this crate. Every variant names the file (and, where it applies, the
//! record index or byte offset) so that a user can find the broken input without a debugger.

use std::path::PathBuf;

/// Everything that can go wrong while reading, importing, downloading or batching CIFAR-10.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// An operating-system error on a named file or folder.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A CIFAR-10 binary batch whose size is not a whole number of 3,073-byte records.
    #[error(
        "{path}: truncated CIFAR-10 batch: {len} bytes is not a multiple of 3073; \
         record {record} (byte offset {offset}) has only {partial} of 3073 bytes"
    )]
    Truncated {
        path: PathBuf,
        len: u64,
        record: usize,
        offset: u64,
        partial: u64,
    },

    /// A record whose label byte is not one of the ten classes.
    #[error("{path}: record {record} (byte offset {offset}): label {label} is not in 0..10")]
    BadLabel {
        path: PathBuf,
        record: usize,
        offset: u64,
        label: u8,
    },

    /// A file or folder that must exist is absent.
    #[error("{path}: not found ({what})")]
    Missing { path: PathBuf, what: &'static str },

    /// An image file that could not be decoded.
    #[error("{path}: cannot decode image: {message}")]
    Decode { path: PathBuf, message: String },

    /// An image that is not 32x32 RGB.
    #[error("{path}: image is {width}x{height} {color}, expected 32x32 RGB")]
    ImageShape {
        path: PathBuf,
        width: u32,
        height: u32,
        color: String,
    },

    /// A folder (or archive member) that does not follow `train|test/<class>/<file>`.
    #[error("{path}: {message}")]
    Layout { path: PathBuf, message: String },

    /// A malformed `.tar.gz` archive.
    #[error("{path}: bad archive: {message}")]
    Archive { path: PathBuf, message: String },

    /// An HTTP failure while downloading.
    #[error("{url}: {message}")]
    Http { url: String, message: String },

    /// The transfer ended before the announced length; the `.part` file is kept for resuming.
    #[error(
        "{url}: transfer interrupted after {received} of {expected} bytes; \
         partial data kept in {part}, run again to resume"
    )]
    Interrupted {
        url: String,
        received: u64,
        expected: u64,
        part: PathBuf,
    },

    /// The downloaded bytes do not hash to the published sum.
    #[error(
        "{path}: {algorithm} mismatch: expected {expected}, got {actual}; \
         the bad download was moved to {moved_to}"
    )]
    Checksum {
        path: PathBuf,
        algorithm: &'static str,
        expected: String,
        actual: String,
        moved_to: PathBuf,
    },

    /// A caller-supplied setting that cannot work (empty batch size, out-of-range index, ...).
    #[error("invalid {field}: {message}")]
    Config {
        field: &'static str,
        message: String,
    },
}

impl DataError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn config(field: &'static str, message: impl Into<String>) -> Self {
        DataError::Config {
            field,
            message: message.into(),
        }
    }
}
