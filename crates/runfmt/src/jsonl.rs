//! Reading JSON and JSON-lines files with errors that name the file and line.

use std::path::Path;

use serde::Deserialize;

use crate::error::RunFmtError;

/// Reads a JSON-lines file into records; a torn last line (a run killed mid-write) is dropped,
/// any other bad line is an error naming the line. Blank lines are skipped.
pub fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, RunFmtError> {
    let text = std::fs::read_to_string(path).map_err(|e| RunFmtError::io(path, e))?;
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
    let text = std::fs::read_to_string(path).map_err(|e| RunFmtError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| RunFmtError::json(path, e.line(), e))
}

/// Reads an optional JSON file: `Ok(None)` when absent.
pub fn read_json_opt<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, RunFmtError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| RunFmtError::json(path, e.line(), e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RunFmtError::io(path, e)),
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
