//! Whole-file replacement through an exclusive, unpredictably named temp file.

use crate::{check_regular_or_absent, stale, FsioError, Result};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically, creating the parent folder if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Like [`write_atomic`] but streams: `fill` writes the content into a buffered temp file.
pub fn write_atomic_with<F>(path: &Path, fill: F) -> Result<()>
where
    F: FnOnce(&mut dyn Write) -> std::io::Result<()>,
{
    let mut tmp = AtomicFile::create(path)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.file_mut());
    fill(&mut w).map_err(|e| FsioError::io(path, e))?;
    w.flush().map_err(|e| FsioError::io(path, e))?;
    drop(w);
    tmp.commit()
}

/// A file written under a temporary name in the target's folder and renamed over the target
/// by [`AtomicFile::commit`] after an fsync; dropped uncommitted, the temp file is removed.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    target: PathBuf,
}

impl AtomicFile {
    /// Creates the temp file for `path` (and `path`'s folder when missing). Refuses a target
    /// that exists and is not a regular file; removes temp files of dead writers of `path`.
    pub fn create(path: &Path) -> Result<AtomicFile> {
        let name = path.file_name().ok_or_else(|| {
            let e = std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path");
            FsioError::io(path, e)
        })?;
        check_regular_or_absent(path, "replace")?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(|e| FsioError::io(&dir, e))?;
        stale::remove_stale(&dir, name);
        // Mode 0666 through open(2), so the umask applies as for any new file (tempfile's
        // default is 0600, which would hide results from a shared group).
        let tmp = tempfile::Builder::new()
            .prefix(&stale::temp_prefix(name))
            .rand_bytes(12)
            .permissions(std::fs::Permissions::from_mode(0o666))
            .tempfile_in(&dir)
            .map_err(|e| FsioError::io(&dir, e))?;
        Ok(AtomicFile {
            tmp,
            target: path.to_path_buf(),
        })
    }

    /// The temp file, for writing (and reading back what was written).
    pub fn file_mut(&mut self) -> &mut std::fs::File {
        self.tmp.as_file_mut()
    }

    pub fn file(&self) -> &std::fs::File {
        self.tmp.as_file()
    }

    /// The file that [`AtomicFile::commit`] will replace.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes the file to disk, renames it over the target (checked again: still absent or
    /// a regular file) and fsyncs the folder, so the rename survives a power cut.
    pub fn commit(self) -> Result<()> {
        let target = self.target;
        self.tmp
            .as_file()
            .sync_all()
            .map_err(|e| FsioError::io(&target, e))?;
        check_regular_or_absent(&target, "replace")?;
        self.tmp
            .persist(&target)
            .map_err(|e| FsioError::io(&target, e.error))?;
        sync_parent(&target)
    }
}

/// For writers that can only write to a path (a library that takes a file name): a fresh
/// folder created exclusively under an unpredictable name in the target's folder (mode 0700),
/// where the file is written at [`StagedPath::path`]; [`StagedPath::commit`] fsyncs it and
/// renames it over the target with the checks of [`AtomicFile`]. Dropped uncommitted, the
/// folder is removed.
#[derive(Debug)]
pub struct StagedPath {
    dir: tempfile::TempDir,
    file: PathBuf,
    target: PathBuf,
}

/// A private staging folder beside `target`, under an exclusive, unpredictable name (the
/// parent created when missing, stale staging folders of dead writers removed first), and
/// `target`'s file name; `not_a_path` is the error when `target` has none.
pub(crate) fn staging_folder<'a>(
    target: &'a Path,
    not_a_path: &str,
) -> Result<(&'a std::ffi::OsStr, tempfile::TempDir)> {
    let name = target.file_name().ok_or_else(|| {
        let e = std::io::Error::new(std::io::ErrorKind::InvalidInput, not_a_path);
        FsioError::io(target, e)
    })?;
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| FsioError::io(&parent, e))?;
    stale::remove_stale(&parent, name);
    let dir = tempfile::Builder::new()
        .prefix(&stale::temp_prefix(name))
        .rand_bytes(12)
        .tempdir_in(&parent)
        .map_err(|e| FsioError::io(&parent, e))?;
    Ok((name, dir))
}

impl StagedPath {
    pub fn new(target: &Path) -> Result<StagedPath> {
        check_regular_or_absent(target, "replace")?;
        let (name, dir) = staging_folder(target, "not a file path")?;
        let file = dir.path().join(name);
        Ok(StagedPath {
            dir,
            file,
            target: target.to_path_buf(),
        })
    }

    /// Where the writer writes the file.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// fsyncs the written file and renames it over the target (checked again).
    pub fn commit(self) -> Result<()> {
        let f = std::fs::File::open(&self.file).map_err(|e| FsioError::io(&self.file, e))?;
        if let Some(kind) =
            crate::special_kind(&f.metadata().map_err(|e| FsioError::io(&self.file, e))?)
        {
            return Err(FsioError::NotRegular {
                path: self.file.clone(),
                kind,
                action: "commit",
            });
        }
        f.sync_all().map_err(|e| FsioError::io(&self.file, e))?;
        check_regular_or_absent(&self.target, "replace")?;
        std::fs::rename(&self.file, &self.target).map_err(|e| FsioError::io(&self.target, e))?;
        sync_parent(&self.target)?;
        drop(self.dir);
        Ok(())
    }
}

/// fsyncs the folder holding `path` (file systems that cannot are not an error).
fn sync_parent(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let f = std::fs::File::open(dir).map_err(|e| FsioError::io(dir, e))?;
    match f.sync_all() {
        Err(e) if e.raw_os_error() != Some(libc::EINVAL) => Err(FsioError::io(dir, e)),
        _ => Ok(()),
    }
}
