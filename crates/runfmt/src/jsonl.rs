//! Reading JSON and JSON-lines files with errors that name the file and line.

use std::path::Path;

use serde::Deserialize;

use crate::error::RunFmtError;

/// Largest JSON-lines file of a run folder the readers accept (a trajectory of 500 000 queries
/// is about 150 MB).
pub const MAX_JSONL_BYTES: u64 = 1 << 30;
/// Largest single JSON file (`run.json`, `status.json`, bookkeeping) the readers accept.
pub const MAX_JSON_BYTES: u64 = 64 << 20;

/// Reads a run-folder file as text: a link must stay inside the file's folder, a FIFO, device
/// or socket is refused (never waited on or read forever), and so is a file over `limit`.
pub fn read_run_file(path: &Path, limit: u64) -> Result<String, RunFmtError> {
    let bytes = read_run_bytes(path, limit)?;
    String::from_utf8(bytes).map_err(|e| RunFmtError::Inconsistent {
        path: path.to_path_buf(),
        message: format!("not UTF-8 text ({e})"),
    })
}

/// [`read_run_file`] as bytes.
pub fn read_run_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, RunFmtError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Ok(nb1s1_fsio::read_in(dir, path, limit)?)
}

fn is_not_found(e: &RunFmtError) -> bool {
    matches!(e, RunFmtError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
}

/// Reads a JSON-lines file into records; a torn last line (a run killed mid-write) is dropped,
/// any other bad line is an error naming the line. Blank lines are skipped.
pub fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, RunFmtError> {
    let text = read_run_file(path, MAX_JSONL_BYTES)?;
    let lines: Vec<&str> = text.lines().collect();
    let complete_last = text.ends_with('\n');
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(v) => out.push(v),
            Err(_) if i + 1 == lines.len() && !complete_last => break,
            Err(e) => return Err(RunFmtError::json(path, i + 1, e)),
        }
    }
    Ok(out)
}

/// Reads a JSON file into `T`.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, RunFmtError> {
    let text = read_run_file(path, MAX_JSON_BYTES)?;
    serde_json::from_str(&text).map_err(|e| RunFmtError::json(path, e.line(), e))
}

/// Reads an optional JSON file: `Ok(None)` when absent.
pub fn read_json_opt<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, RunFmtError> {
    match read_run_file(path, MAX_JSON_BYTES) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| RunFmtError::json(path, e.line(), e)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_last_line_is_dropped_but_a_bad_middle_line_names_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        std::fs::write(&p, "1\n2\n{\"to").unwrap();
        assert_eq!(read_jsonl::<u32>(&p).unwrap(), vec![1, 2]);
        std::fs::write(&p, "1\nnope\n3\n").unwrap();
        let e = read_jsonl::<u32>(&p).unwrap_err().to_string();
        assert!(e.contains("x.jsonl") && e.contains("line 2"), "{e}");
        assert_eq!(
            read_json_opt::<u32>(&dir.path().join("none")).unwrap(),
            None
        );
    }
}
