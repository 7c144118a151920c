//! Bounded readers of run-folder files.

use crate::{special_kind, FsioError, Result};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Opens `path` for reading: no symbolic link as the last component, no FIFO, device or
/// socket (opened with `O_NONBLOCK`, so a FIFO does not hang the open), at most `limit` bytes.
pub fn open_regular(path: &Path, limit: u64) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => FsioError::NotRegular {
                path: path.to_path_buf(),
                kind: "symbolic link",
                action: "read",
            },
            _ => FsioError::io(path, e),
        })?;
    let meta = file.metadata().map_err(|e| FsioError::io(path, e))?;
    if let Some(kind) = special_kind(&meta) {
        return Err(FsioError::NotRegular {
            path: path.to_path_buf(),
            kind,
            action: "read",
        });
    }
    if meta.len() > limit {
        return Err(FsioError::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
            limit,
        });
    }
    Ok(file)
}

/// Reads the whole of `path` through [`open_regular`]; a file that grows past `limit` while
/// being read is refused too.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let file = open_regular(path, limit)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| FsioError::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(FsioError::TooLarge {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

/// The last `max` bytes of `path` (all of it when shorter), read through [`open_regular`]
/// (no link, FIFO or device): a log of any size costs at most `max` bytes of memory.
pub fn read_tail(path: &Path, max: u64) -> Result<Vec<u8>> {
    use std::io::{Seek, SeekFrom};
    let mut file = open_regular(path, u64::MAX)?;
    let len = file.metadata().map_err(|e| FsioError::io(path, e))?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(max)))
        .map_err(|e| FsioError::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(max)
        .read_to_end(&mut bytes)
        .map_err(|e| FsioError::io(path, e))?;
    Ok(bytes)
}

/// `path` resolved, checked to lie inside `root` (resolved too): links inside the folder are
/// fine, links leading out of it are refused.
fn resolve_in(root: &Path, path: &Path) -> Result<PathBuf> {
    let root = root.canonicalize().map_err(|e| FsioError::io(root, e))?;
    let real = path.canonicalize().map_err(|e| FsioError::io(path, e))?;
    if real.starts_with(&root) {
        Ok(real)
    } else {
        Err(FsioError::Escapes {
            path: path.to_path_buf(),
            root,
        })
    }
}

/// [`open_regular`] of `path`, which must lie inside `root` once links are resolved.
pub fn open_in(root: &Path, path: &Path, limit: u64) -> Result<File> {
    let real = resolve_in(root, path)?;
    open_regular(&real, limit).map_err(|e| rename_path(e, path))
}

/// [`read_limited`] of `path`, which must lie inside `root` once links are resolved.
pub fn read_in(root: &Path, path: &Path, limit: u64) -> Result<Vec<u8>> {
    let real = resolve_in(root, path)?;
    read_limited(&real, limit).map_err(|e| rename_path(e, path))
}

/// [`read_in`] as UTF-8 text.
pub fn read_to_string_in(root: &Path, path: &Path, limit: u64) -> Result<String> {
    let bytes = read_in(root, path, limit)?;
    String::from_utf8(bytes).map_err(|_| {
        let e = std::io::Error::new(std::io::ErrorKind::InvalidData, "not valid UTF-8");
        FsioError::io(path, e)
    })
}

/// Creates folder `dir` (and its parents) and checks that it lies inside `root` once links are
/// resolved: an output folder inside a run folder cannot be a link to somewhere else.
pub fn ensure_dir_in(root: &Path, dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| FsioError::io(dir, e))?;
    resolve_in(root, dir)
}

/// Errors name the path the caller gave, not its resolved form.
fn rename_path(e: FsioError, shown: &Path) -> FsioError {
    match e {
        FsioError::Io { source, .. } => FsioError::io(shown, source),
        FsioError::NotRegular { kind, action, .. } => FsioError::NotRegular {
            path: shown.to_path_buf(),
            kind,
            action,
        },
        FsioError::TooLarge { size, limit, .. } => FsioError::TooLarge {
            path: shown.to_path_buf(),
            size,
            limit,
        },
        e => e,
    }
}
