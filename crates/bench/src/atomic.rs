//! Atomic file output: `runfmt::write_atomic` (temp file in the same folder, fsync, rename,
//! parent folder created) with the crate's error type.

use crate::error::Result;
use std::path::Path;

/// Writes `bytes` to `path` atomically, creating the parent folder if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(runfmt::write_atomic(path, bytes)?)
}
