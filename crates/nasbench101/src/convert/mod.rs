//! tfrecord → store: the convert pipeline, fenced off from the reader. Nothing outside this
//! module sees its parts; the reader calls [`parse_tfrecord`] to open a tfrecord in memory,
//! and [`convert`] writes a store file. What the pipeline must produce is fixed by
//! [`crate::layout`] (the format) and [`crate::record`] (the reference decoder of a record):
//!
//! | module | owns |
//! |---|---|
//! | `pipeline` | segments of the file framed and decoded in parallel, merged in file order; the first bad record is the error |
//! | `segment` | one task's records: framing, CRCs four at a time, the fast decode of the released layout |
//! | `pack` | a record's cell packed for the models section (fast readings, checked against the plain ones) |
//! | `table` | the one table builder: values streamed to the data section, then models, index, directory and header |
//! | `sink` | where the bytes go: memory, or the temporary file of an atomic convert |
//! | `crc` | TFRecord's masked CRC32C over four records at once, and cache prefetching |

mod crc;
mod fast;
mod pack;
mod pipeline;
mod segment;
mod sink;
mod table;

use crate::error::Nb101Error;
use crate::layout::{DIR_LEN, HEADER_LEN, INDEX_LEN, MAGIC, MODEL_LEN};
use std::path::Path;

/// A callback told how many input bytes have been parsed so far.
pub type Progress<'a> = &'a mut dyn FnMut(u64);

/// What [`convert`] wrote (also what any store build reports).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ConvertSummary {
    pub models: usize,
    pub runs: u64,
    pub epochs: Vec<u32>,
    /// Values stored as f32 (every value round-trips exactly) rather than f64.
    pub f32_values: bool,
    pub synthetic: bool,
    pub store_bytes: u64,
}

/// Converts an official-format tfrecord into a store at `output` (written atomically).
/// Refuses an input that already is a store, and an output that is the input itself (by
/// device and inode, so through a symlink or a hard link too).
pub fn convert(
    input: &Path,
    output: &Path,
    opts: crate::OpenOptions,
    progress: Option<Progress<'_>>,
) -> Result<ConvertSummary, Nb101Error> {
    if crate::mapped::same_file(input, output) {
        return Err(Nb101Error::SameFile {
            input: input.to_path_buf(),
            output: output.to_path_buf(),
        });
    }
    let map = crate::mapped::map_input(input)?;
    let bytes: &[u8] = &map;
    if bytes.get(..16) == Some(&MAGIC[..]) {
        return Err(Nb101Error::AlreadyStore {
            path: input.to_path_buf(),
        });
    }
    let io_out = |error| Nb101Error::Io {
        path: output.to_path_buf(),
        error,
    };
    let tmp = crate::atomic::AtomicFile::create(output).map_err(io_out)?;
    let sink = sink::FileSink::new(tmp.file());
    let input_file = pipeline::Input::new(bytes, input, opts.verify_payload_crc);
    let (_, summary) = pipeline::build_store(input_file, output, progress, sink)
        .map_err(|e| e.or_unknown_format(input))?;
    // The input is unmapped (15-20 ms for 400 MB) while the store is fsynced and renamed.
    let committed = std::thread::scope(|scope| {
        let commit = scope.spawn(move || tmp.commit());
        drop(map);
        commit.join()
    });
    match committed {
        Ok(c) => c.map_err(io_out)?,
        Err(panic) => std::panic::resume_unwind(panic),
    }
    Ok(summary)
}

/// Parses tfrecord bytes (official format) into store bytes held in memory; `path` names
/// the file in errors.
pub fn parse_tfrecord(
    bytes: &[u8],
    path: &Path,
    verify_payload_crc: bool,
    progress: Option<Progress<'_>>,
) -> Result<Vec<u8>, Nb101Error> {
    // Reserve what the store will take at most (f32 values) so the vector does not regrow;
    // untouched reserved pages cost nothing.
    let records = bytes.len() / pipeline::MIN_RECORD + 16;
    let guess = HEADER_LEN + records * (32 + MODEL_LEN + INDEX_LEN) + DIR_LEN;
    let input = pipeline::Input::new(bytes, path, verify_payload_crc);
    let (table, _) = pipeline::build_store(input, path, progress, Vec::with_capacity(guess))?;
    Ok(table)
}
