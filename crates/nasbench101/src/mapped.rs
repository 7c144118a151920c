//! A data file mapped read-only, for the reader and for a convert.

use crate::error::Nb101Error;
use std::path::Path;

/// The file mapped read-only; `None` when it is empty (nothing to map).
pub(crate) fn map_input(path: &Path) -> Result<Option<memmap2::Mmap>, Nb101Error> {
    let io = |error| Nb101Error::Io {
        path: path.to_path_buf(),
        error,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.len() == 0 {
        return Ok(None);
    }
    // SAFETY: the file is opened read-only; like every mmap reader we assume nobody
    // truncates it while it is mapped (outputs are replaced by rename, not rewritten).
    unsafe { memmap2::Mmap::map(&file) }.map(Some).map_err(io)
}
