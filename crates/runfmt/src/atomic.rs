//! The one way run files are written: whole-file replacement through a temp file in the same
//! folder, fsync and rename (`nasbench101::atomic_write`, which removes the temp file on
//! failure), and appends of whole fsynced lines. A kill at any moment leaves the old file or
//! the new one, and at worst a torn last line that the readers drop.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use crate::error::RunFmtError;

/// Writes `bytes` to `path` atomically, creating the parent folder if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RunFmtError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| RunFmtError::io(dir, e))?;
    }
    nasbench101::atomic_write(path, bytes).map_err(|e| RunFmtError::io(path, e))
}

/// Appends `line` and a newline in one write, then fsyncs the file.
pub fn append_line(path: &Path, line: &str) -> Result<(), RunFmtError> {
    let io = |e| RunFmtError::io(path, e);
    let mut buf = String::with_capacity(line.len() + 1);
    buf.push_str(line);
    buf.push('\n');
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    f.write_all(buf.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_creates_the_folder_and_replaces_and_append_adds_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/file.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1, "a temp file was left behind");
        let l = dir.path().join("lines.jsonl");
        append_line(&l, "{}").unwrap();
        append_line(&l, "[1]").unwrap();
        assert_eq!(std::fs::read_to_string(&l).unwrap(), "{}\n[1]\n");
    }
}
