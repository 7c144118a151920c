//! Runs of one-shot methods written outside nb1s1, judged by the same code as ours: the
//! [`Recorder`] (behind the Python wheel's `nb1s1.Recorder`) writes a run folder in the format
//! `nb1s1 search` writes, epoch by epoch from architecture weights, and [`import_folder`]
//! converts a run folder of the original NAS-Bench-1Shot1 code, reading its weight pickles
//! with a restricted unpickler ([`unpickle`]) that executes nothing. No libtorch here.

pub mod error;
pub mod original;
pub mod recorder;
pub mod unpickle;
pub mod weights;

pub use error::RecordError;
pub use original::{import_folder, read_weights, ImportOptions, Imported};
pub use recorder::{CellNumbers, Lookup, Recorder, RunSpec};
pub use unpickle::{Array, Item, PickleError};
pub use weights::from_original;
