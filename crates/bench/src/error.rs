//! The error type of the benchmark crate: every variant names the file (and where useful the
//! record or field) so a researcher can find the broken run folder without a debugger.

use std::path::PathBuf;

/// Everything that can go wrong while reading runs, running experiments, storing or reporting.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
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
    #[error("{path}: invalid TOML: {message}")]
    Toml { path: PathBuf, message: String },
    #[error("{path}: field `{field}`: {message}")]
    Field {
        path: PathBuf,
        field: String,
        message: String,
    },
    #[error("{path}: not a run folder (no epochs.jsonl/status.json or trajectory.jsonl/run.json)")]
    NotARun { path: PathBuf },
    #[error("results database {path}: {source}")]
    Sql {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("experiment {path}: {message}")]
    Experiment { path: PathBuf, message: String },
    /// An experiment file that does not expand into run units.
    #[error("experiment {path}: {source}")]
    Plan {
        path: PathBuf,
        #[source]
        source: Box<crate::experiment::ExperimentError>,
    },
    #[error("slurm: `{command}`: {message}")]
    Slurm { command: String, message: String },
    #[error("{context}: {source}")]
    Name {
        /// The file (or database) the name came from.
        context: String,
        #[source]
        source: runfmt::NameError,
    },
    #[error("results database {path}: {message}")]
    Schema { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Run { path: PathBuf, message: String },
    #[error("statistics: {0}")]
    Stats(String),
    #[error("plot {what}: {message}")]
    Plot { what: String, message: String },
    /// A run (or evaluation) whose recorded inputs differ from the ones asked for now.
    #[error("{what} was made with other inputs ({changes}); its results belong to those, so it is neither skipped nor resumed. {fresh}")]
    InputsChanged {
        what: String,
        changes: String,
        fresh: String,
    },
    /// A run folder in the results database that changed and no longer reads: its row was
    /// dropped (`cause` says why the folder does not read).
    #[error("{cause} (the run was in the results database: its row is dropped, since the folder no longer holds those numbers)")]
    Dropped { cause: Box<BenchError> },
    /// A run folder that is locked or whose files disagree.
    #[error(transparent)]
    RunFormat(runfmt::RunFmtError),
}

impl From<runfmt::RunFmtError> for BenchError {
    fn from(e: runfmt::RunFmtError) -> Self {
        match e {
            runfmt::RunFmtError::Io { path, source } => BenchError::Io { path, source },
            runfmt::RunFmtError::Json {
                path,
                line,
                message,
            } => BenchError::Json {
                path,
                line,
                message,
            },
            e => BenchError::RunFormat(e),
        }
    }
}

impl From<nb1s1_fsio::FsioError> for BenchError {
    fn from(e: nb1s1_fsio::FsioError) -> Self {
        runfmt::RunFmtError::from(e).into()
    }
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, BenchError>;

/// Wraps an I/O error with the path it concerns.
pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BenchError {
    let path = path.into();
    move |source| BenchError::Io { path, source }
}
