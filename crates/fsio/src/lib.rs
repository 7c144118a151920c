//! The one way nb1s1 creates, replaces, appends to and reads back its files.
//!
//! Every output of the workspace (run files, NB-101 stores, reports, data sets, experiment
//! bookkeeping) goes through this crate, so that a hostile or careless environment cannot turn
//! a write into something else:
//!
//! * [`write_atomic`] / [`AtomicFile`]: the content goes into a temp file created exclusively
//!   (`O_CREAT|O_EXCL`) under an unpredictable name in the target's folder, is fsynced and
//!   renamed over the target, and the folder is fsynced. A target that is a symbolic link, a
//!   device node, a FIFO, a socket or a folder is refused (never written through, never
//!   replaced). A kill at any moment leaves the old file or the new one; the temp files of
//!   writers that died are removed by the next writer of the same file ([`stale`]).
//! * [`StagedDir`]: the same for a whole folder (a checkpoint): filled under an exclusive,
//!   unpredictable name, fsynced and swapped in for the target through `<target>.old`.
//! * [`append`] / [`open_append`]: appends that refuse symbolic links (`O_NOFOLLOW`), hard
//!   links and non-regular files, and never block on a FIFO.
//! * [`read_limited`], [`read_in`], [`open_in`]: readers of run-folder files that refuse links
//!   leading out of the folder, special files (FIFOs, devices: `/dev/zero` cannot be read until
//!   memory runs out) and files over a stated size; [`read_tail`] reads the end of a file of
//!   any size (a log) in bounded memory.
//!
//! Errors are [`FsioError`], which names the path; it converts into [`std::io::Error`] for
//! callers that speak `io::Result`.

mod append;
mod atomic;
mod error;
mod read;
mod staged_dir;
pub mod stale;

pub use append::{append, open_append, open_rw};
pub use atomic::{write_atomic, write_atomic_with, AtomicFile, StagedPath};
pub use error::{FsioError, Result};
pub use read::{
    ensure_dir_in, open_in, open_regular, read_in, read_limited, read_tail, read_to_string_in,
};
pub use staged_dir::{previous, StagedDir};

use std::path::Path;

/// What `meta` is, in words, when it is not a regular file.
pub(crate) fn special_kind(meta: &std::fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_symlink() {
        Some("symbolic link")
    } else if t.is_dir() {
        Some("folder")
    } else if t.is_fifo() {
        Some("FIFO")
    } else if t.is_socket() {
        Some("socket")
    } else if t.is_block_device() || t.is_char_device() {
        Some("device node")
    } else {
        Some("special file")
    }
}

/// Refuses `path` when it exists and is not a regular file (a symbolic link included, which
/// is not followed).
pub(crate) fn check_regular_or_absent(path: &Path, action: &'static str) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => match special_kind(&meta) {
            None => Ok(()),
            Some(kind) => Err(FsioError::NotRegular {
                path: path.to_path_buf(),
                kind,
                action,
            }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FsioError::io(path, e)),
    }
}
