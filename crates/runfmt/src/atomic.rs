//! The one way run files are written, through the workspace's file primitive (`nb1s1-fsio`):
//! whole-file replacement through an exclusive, unpredictably named temp file in the same
//! folder, fsync and rename (a link or special file as target is refused), and appends of whole
//! fsynced lines that refuse links and special files. A kill at any moment leaves the old file
//! or the new one, and at worst a torn last line that the readers drop.

use std::path::Path;

use crate::error::RunFmtError;

/// Writes `bytes` to `path` atomically, creating the parent folder if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RunFmtError> {
    Ok(nb1s1_fsio::write_atomic(path, bytes)?)
}

/// Appends `line` and a newline in one write, then fsyncs the file.
pub fn append_line(path: &Path, line: &str) -> Result<(), RunFmtError> {
    let mut buf = String::with_capacity(line.len() + 1);
    buf.push_str(line);
    buf.push('\n');
    Ok(nb1s1_fsio::append(path, buf.as_bytes())?)
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
