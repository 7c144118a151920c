//! Atomic file output: write a sibling temporary file, flush it to disk, then rename it over the
//! target, so that a crash never leaves a half-written batch or manifest behind.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::DataError;

/// The temporary sibling used while `path` is being written (same folder, so rename is atomic).
pub(crate) fn temp_sibling(path: &Path, tag: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_string());
    path.with_file_name(format!(".{name}.{tag}.{}.tmp", std::process::id()))
}

/// Writes `path` atomically; `fill` writes the content into a buffered writer.
pub fn atomic_write<F>(path: &Path, fill: F) -> Result<(), DataError>
where
    F: FnOnce(&mut dyn Write) -> std::io::Result<()>,
{
    let tmp = temp_sibling(path, "write");
    let result = (|| {
        let file = File::create(&tmp)?;
        let mut w = BufWriter::new(file);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(DataError::io(path, e));
    }
    Ok(())
}
