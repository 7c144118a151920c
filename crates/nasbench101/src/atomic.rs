//! Atomic file output: readers never observe a half-written file. The workspace's one
//! file-creation primitive (`nb1s1-fsio`: exclusive unpredictable temp file, no symbolic link
//! followed, special targets refused, fsync and rename) with this crate's `io::Result`.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically: a temporary file in the same directory is written,
/// flushed to disk and renamed over `path`.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    Ok(nb1s1_fsio::write_atomic(path, bytes)?)
}

/// Like [`atomic_write`] but streams: `fill` writes the content into a buffered temp file.
pub fn atomic_write_with<F>(path: &Path, fill: F) -> std::io::Result<()>
where
    F: FnOnce(&mut dyn Write) -> std::io::Result<()>,
{
    Ok(nb1s1_fsio::write_atomic_with(path, fill)?)
}

/// A file written under a temporary name in the target's directory and renamed over the
/// target by [`AtomicFile::commit`] after an fsync; dropped uncommitted, it is removed.
pub(crate) struct AtomicFile(nb1s1_fsio::AtomicFile);

impl AtomicFile {
    pub(crate) fn create(path: &Path) -> std::io::Result<AtomicFile> {
        Ok(AtomicFile(nb1s1_fsio::AtomicFile::create(path)?))
    }

    pub(crate) fn file(&self) -> &std::fs::File {
        self.0.file()
    }

    /// Flushes the file to disk and renames it over the target.
    pub(crate) fn commit(self) -> std::io::Result<()> {
        Ok(self.0.commit()?)
    }
}
