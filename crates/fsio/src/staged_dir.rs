//! Whole-folder replacement through an exclusive, unpredictably named staging folder.

use crate::{FsioError, Result};
use std::path::{Path, PathBuf};

/// A folder filled under a temporary name in the target's parent and swapped in for the
/// target by [`StagedDir::commit`]; dropped uncommitted, it is removed.
///
/// The staging folder is created exclusively (`mkdir` of a fresh random name,
/// `.<name>.nb1s1-tmp.<host>.<pid>.<random>`), so a planted link or folder at a guessable name
/// is never written through; staging folders of dead writers of the same target are removed
/// first ([`stale`]). A folder cannot be renamed over a non-empty one, so the swap goes through
/// `<target>.old`: at every moment the target or `<target>.old` is a complete folder
/// ([`previous`] names it for readers that find no target after a kill).
#[derive(Debug)]
pub struct StagedDir {
    dir: tempfile::TempDir,
    target: PathBuf,
}

/// Where the replaced folder lies during [`StagedDir::commit`]: `<target>.old`.
pub fn previous(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(".old");
    target.with_file_name(name)
}

/// Refuses `path` when it exists and is anything but a real folder (a link is not followed).
fn check_folder_or_absent(path: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_dir() => Ok(true),
        Ok(meta) => Err(FsioError::NotAFolder {
            path: path.to_path_buf(),
            kind: crate::special_kind(&meta).unwrap_or("regular file"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(FsioError::io(path, e)),
    }
}

impl StagedDir {
    /// Creates the staging folder of `target` (and `target`'s parent when missing). Refuses a
    /// target that exists and is not a folder (a symbolic link included).
    pub fn new(target: &Path) -> Result<StagedDir> {
        check_folder_or_absent(target)?;
        let (_, dir) = crate::atomic::staging_folder(target, "not a folder path")?;
        Ok(StagedDir {
            dir,
            target: target.to_path_buf(),
        })
    }

    /// The staging folder, to write the files into (the caller fsyncs them).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// fsyncs the staging folder and swaps it in for the target: the target (checked again:
    /// a real folder or absent) moves to `<target>.old`, the staging folder becomes the
    /// target, the parent is fsynced, and `<target>.old` is removed.
    pub fn commit(self) -> Result<()> {
        sync_dir(self.dir.path())?;
        let old = previous(&self.target);
        let replaces = check_folder_or_absent(&self.target)?;
        // From here a failure leaves the staging folder to the next writer's stale cleanup.
        let staged = self.dir.keep();
        if replaces {
            if std::fs::symlink_metadata(&old).is_ok() {
                remove(&old)?;
            }
            std::fs::rename(&self.target, &old).map_err(|e| FsioError::io(&self.target, e))?;
        }
        std::fs::rename(&staged, &self.target).map_err(|e| FsioError::io(&self.target, e))?;
        let parent = match self.target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        sync_dir(parent)?;
        if std::fs::symlink_metadata(&old).is_ok() {
            remove(&old)?;
        }
        Ok(())
    }
}

/// Removes a folder, or only the link or file planted under its name (never followed).
fn remove(path: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| FsioError::io(path, e))?;
    if meta.file_type().is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
    .map_err(|e| FsioError::io(path, e))
}

/// fsyncs a folder (file systems that cannot are not an error).
fn sync_dir(dir: &Path) -> Result<()> {
    let f = std::fs::File::open(dir).map_err(|e| FsioError::io(dir, e))?;
    match f.sync_all() {
        Err(e) if e.raw_os_error() != Some(libc::EINVAL) => Err(FsioError::io(dir, e)),
        _ => Ok(()),
    }
}
