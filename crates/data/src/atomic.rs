//! Atomic file output through the workspace's file primitive (`nb1s1-fsio`): an exclusive,
//! unpredictably named temp file in the target's folder, fsynced and renamed over the target,
//! so that a crash never leaves a half-written batch or manifest behind and a link or special
//! file planted at the target is refused.

use std::io::Write;
use std::path::Path;

use crate::DataError;

/// Writes `path` atomically; `fill` writes the content into a buffered writer.
pub fn atomic_write<F>(path: &Path, fill: F) -> Result<(), DataError>
where
    F: FnOnce(&mut dyn Write) -> std::io::Result<()>,
{
    nb1s1_fsio::write_atomic_with(path, fill).map_err(|e| DataError::io(path, e.into()))
}
