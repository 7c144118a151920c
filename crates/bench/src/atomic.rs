//! Atomic file output through `nasbench101::atomic_write` (temp file in the same folder, fsync,
//! rename), with the destination folder created and the path named in errors.

use crate::error::{io_err, Result};
use std::path::Path;

/// Writes `bytes` to `path` atomically, creating the parent folder if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    nasbench101::atomic_write(path, bytes).map_err(io_err(path))
}
