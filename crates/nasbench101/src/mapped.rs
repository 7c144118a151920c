//! A data file mapped read-only, for the reader and for a convert.

use crate::error::Nb101Error;
use crate::layout::MAGIC;
use std::path::Path;

/// The file mapped read-only. A folder, an empty file and the first bytes of a store's magic
/// (a store cut short inside its header) are refused here, naming the file: each would
/// otherwise read as an empty table of 0 models.
pub(crate) fn map_input(path: &Path) -> Result<memmap2::Mmap, Nb101Error> {
    let io = |error| Nb101Error::Io {
        path: path.to_path_buf(),
        error,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if meta.is_dir() {
        return Err(Nb101Error::IsDirectory {
            path: path.to_path_buf(),
        });
    }
    if meta.len() == 0 {
        return Err(Nb101Error::Empty {
            path: path.to_path_buf(),
        });
    }
    // SAFETY: the file is opened read-only; like every mmap reader we assume nobody
    // truncates it while it is mapped (outputs are replaced by rename, not rewritten).
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    if map.len() < MAGIC.len() && MAGIC.starts_with(&map) {
        return Err(Nb101Error::Store {
            path: path.to_path_buf(),
            offset: map.len() as u64,
            what: format!("truncated header ({} bytes of the magic)", map.len()),
        });
    }
    Ok(map)
}

/// Whether `a` and `b` are one file (the same device and inode, so symlinks and hard links
/// count); `false` when `b` does not exist yet.
pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_empty_files_and_cut_headers_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let e = map_input(dir.path()).unwrap_err();
        assert!(matches!(e, Nb101Error::IsDirectory { .. }), "{e}");
        assert!(e.to_string().contains("is a directory"), "{e}");
        let empty = dir.path().join("empty.store");
        std::fs::write(&empty, b"").unwrap();
        let e = map_input(&empty).unwrap_err();
        assert!(e.to_string().contains("empty.store") && e.to_string().contains("0 bytes"));
        let cut = dir.path().join("cut.store");
        std::fs::write(&cut, &MAGIC[..7]).unwrap();
        let e = map_input(&cut).unwrap_err();
        assert!(e.to_string().contains("truncated header"), "{e}");
        // Through the public reader too, and a store cut inside its header.
        assert!(crate::Nb101::open(&empty).is_err());
        std::fs::write(&cut, &MAGIC[..]).unwrap();
        let e = crate::Nb101::open(&cut).err().unwrap().to_string();
        assert!(
            e.contains("cut.store") && e.contains("truncated header"),
            "{e}"
        );
    }

    #[test]
    fn links_to_one_file_are_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, b"x").unwrap();
        let hard = dir.path().join("hard");
        std::fs::hard_link(&a, &hard).unwrap();
        let soft = dir.path().join("soft");
        std::os::unix::fs::symlink(&a, &soft).unwrap();
        assert!(same_file(&a, &hard) && same_file(&a, &soft) && same_file(&a, &a));
        assert!(!same_file(&a, &dir.path().join("new")));
    }
}
