//! Every error of the crate's readers and of a convert: what is wrong, and where (the file,
//! and for a record its index and byte offset).

use crate::hash::ModelHash;
use crate::layout::{MAX_BUDGETS, MAX_STORED_VERTICES};
use crate::record::PayloadError;
use crate::spec::SpecError;
use crate::tfrecord::FrameError;
use std::path::{Path, PathBuf};

/// Why a data file cannot be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum Nb101Error {
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: record {record} at byte {offset}: {error}")]
    Frame {
        path: PathBuf,
        record: u64,
        offset: u64,
        error: FrameError,
    },
    #[error("{path}: record {record} at byte {offset}: {error}")]
    Payload {
        path: PathBuf,
        record: u64,
        offset: u64,
        error: PayloadError,
    },
    #[error("{path}: record {record} at byte {offset}: {error}")]
    Record {
        path: PathBuf,
        record: u64,
        offset: u64,
        error: TableError,
    },
    #[error("{path}: {error}")]
    Table { path: PathBuf, error: TableError },
    #[error(
        "{path}: neither an nb1s1 NB-101 store (no magic) nor a TFRecord (the first record's \
         length CRC does not match)"
    )]
    UnknownFormat { path: PathBuf },
    #[error("{path}: the file is empty (0 bytes): neither an NB-101 store nor a tfrecord")]
    Empty { path: PathBuf },
    #[error("{path}: is a directory, not an NB-101 store or tfrecord")]
    IsDirectory { path: PathBuf },
    #[error("{output}: is the input file {input} itself; convert writes the store elsewhere")]
    SameFile { input: PathBuf, output: PathBuf },
    #[error("{path}: already a store; convert reads official tfrecords")]
    AlreadyStore { path: PathBuf },
    #[error("{path}: not a valid nb1s1 NB-101 store (byte {offset}): {what}")]
    Store {
        path: PathBuf,
        offset: u64,
        what: String,
    },
}

/// Why a query has no answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("hash {0} is not in the data file")]
    UnknownHash(ModelHash),
    #[error("epoch budget {epochs} is not in the data file (valid: {valid:?})")]
    InvalidEpochs { epochs: u32, valid: Vec<u32> },
    #[error(
        "model {hash} has {available} repeat(s) at {epochs} epochs; repeat {repeat} requested"
    )]
    MissingRepeat {
        hash: ModelHash,
        epochs: u32,
        repeat: usize,
        available: usize,
    },
}

impl QueryError {
    /// A stable snake_case code (spec errors keep their own codes).
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::Spec(e) => e.code(),
            QueryError::UnknownHash(_) => "unknown_hash",
            QueryError::InvalidEpochs { .. } => "invalid_epochs",
            QueryError::MissingRepeat { .. } => "missing_repeat",
        }
    }
}

/// Why a record cannot enter a table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("{0} vertices; at most {MAX_STORED_VERTICES} can be stored")]
    TooManyVertices(usize),
    #[error("op {0:?} is not an NB-101 op name")]
    UnknownOp(String),
    #[error("{ops} ops for {vertices} vertices")]
    OpsLength { vertices: usize, ops: usize },
    #[error("{0} evaluations in ModelMetrics; at least 3 (initial, halfway, final) needed")]
    MissingEvaluations(usize),
    #[error("more than {MAX_BUDGETS} distinct epoch budgets")]
    TooManyBudgets,
    #[error("more than 255 repeats of model {hash} at {epochs} epochs")]
    TooManyRepeats { hash: ModelHash, epochs: u32 },
}

impl Nb101Error {
    /// A file whose very first record does not frame is not a tfrecord at all.
    pub(crate) fn or_unknown_format(self, path: &Path) -> Nb101Error {
        match self {
            Nb101Error::Frame {
                record: 0,
                error: FrameError::LengthCrc { .. } | FrameError::Truncated { .. },
                ..
            } => Nb101Error::UnknownFormat {
                path: path.to_path_buf(),
            },
            other => other,
        }
    }
}
