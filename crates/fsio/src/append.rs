//! Appends and lock files that refuse links and special files.

use crate::{special_kind, FsioError, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Opens `path` with `opts` plus `O_NOFOLLOW` (a symbolic link is refused, not followed) and
/// `O_NONBLOCK` (a FIFO never blocks the open), then checks that it is a regular file with one
/// link.
fn open_checked(path: &Path, opts: &mut OpenOptions, action: &'static str) -> Result<File> {
    let file = opts
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .mode(0o666)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => FsioError::NotRegular {
                path: path.to_path_buf(),
                kind: "symbolic link",
                action,
            },
            _ => FsioError::io(path, e),
        })?;
    let meta = file.metadata().map_err(|e| FsioError::io(path, e))?;
    if let Some(kind) = special_kind(&meta) {
        return Err(FsioError::NotRegular {
            path: path.to_path_buf(),
            kind,
            action,
        });
    }
    if meta.nlink() > 1 {
        return Err(FsioError::HardLinked {
            path: path.to_path_buf(),
            links: meta.nlink(),
        });
    }
    Ok(file)
}

/// Opens `path` for appending (created when missing); see the crate doc for what is refused.
pub fn open_append(path: &Path) -> Result<File> {
    open_checked(
        path,
        OpenOptions::new().create(true).append(true),
        "append to",
    )
}

/// Appends `bytes` in one write and fsyncs the file.
pub fn append(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = open_append(path)?;
    f.write_all(bytes).map_err(|e| FsioError::io(path, e))?;
    f.sync_all().map_err(|e| FsioError::io(path, e))
}

/// Opens (creating) a lock file, bookkeeping file or partial download for reading and writing, refusing links and
/// special files like [`open_append`]; the content is left as it is.
pub fn open_rw(path: &Path) -> Result<File> {
    open_checked(
        path,
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false),
        "lock",
    )
}
