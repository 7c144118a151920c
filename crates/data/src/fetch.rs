//! The official downloads: the NAS-Bench-101 TFRecord files and the CIFAR-10 binary tarball,
//! with their published checksums, and unpacking of that tarball.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use crate::cifar::{Cifar10, OFFICIAL_DIR, TEST_FILE};
use crate::download::{download, Checksum, DownloadOptions};
use crate::DataError;

/// Where the NAS-Bench-101 files are published.
pub const NB101_BASE_URL: &str = "https://storage.googleapis.com/nasbench";
/// The 108-epoch-only file (~499 MB).
pub const NB101_ONLY108: &str = "nasbench_only108.tfrecord";
/// Its published SHA-256.
pub const NB101_ONLY108_SHA256: &str =
    "4c39c3936e36a85269881d659e44e61a245babcb72cb374eacacf75d0e5f4fd1";
/// The full file, all four epoch budgets (~1.95 GB).
pub const NB101_FULL: &str = "nasbench_full.tfrecord";
/// Its published SHA-256.
pub const NB101_FULL_SHA256: &str =
    "3d64db8180fb1b0207212f9032205064312b6907a3bbc81eabea10db2f5c7e9c";

/// Where the CIFAR-10 binary tarball is published.
pub const CIFAR10_BASE_URL: &str = "https://www.cs.toronto.edu/~kriz";
/// The tarball's file name.
pub const CIFAR10_ARCHIVE: &str = "cifar-10-binary.tar.gz";
/// Its published MD5 (no SHA-256 is published).
pub const CIFAR10_MD5: &str = "c32a1d4ab5d03f1284b67883e8d87530";

/// `base/name`, tolerating a trailing slash on `base`.
pub fn join_url(base: &str, name: &str) -> String {
    format!("{}/{name}", base.trim_end_matches('/'))
}

/// Downloads one NAS-Bench-101 file into `out` (the full file when `full`) from `base_url`,
/// verifying the published SHA-256. Returns the file's path.
pub fn fetch_nb101(
    full: bool,
    base_url: &str,
    out: &Path,
    options: &DownloadOptions,
) -> Result<PathBuf, DataError> {
    let (name, sha) = if full {
        (NB101_FULL, NB101_FULL_SHA256)
    } else {
        (NB101_ONLY108, NB101_ONLY108_SHA256)
    };
    let dest = out.join(name);
    download(
        &join_url(base_url, name),
        &dest,
        &Checksum::Sha256(sha.into()),
        options,
    )?;
    Ok(dest)
}

/// Downloads `cifar-10-binary.tar.gz` from `base_url` into `out`, verifies `checksum` (the
/// published MD5 for the official source) and unpacks it into `out/cifar-10-batches-bin/`.
/// Returns that folder. Does nothing when the folder already loads.
pub fn fetch_cifar10(
    base_url: &str,
    out: &Path,
    checksum: &Checksum,
    options: &DownloadOptions,
) -> Result<PathBuf, DataError> {
    let target = out.join(OFFICIAL_DIR);
    if target.join(TEST_FILE).is_file() && Cifar10::load(&target).is_ok() {
        return Ok(target);
    }
    let archive = out.join(CIFAR10_ARCHIVE);
    download(
        &join_url(base_url, CIFAR10_ARCHIVE),
        &archive,
        checksum,
        options,
    )?;
    unpack_cifar10(&archive, out)
}

/// Unpacks the official tarball into `out/cifar-10-batches-bin/`, all or nothing: it extracts
/// into a temporary sibling folder, checks that the batches load, then renames into place.
pub fn unpack_cifar10(archive: &Path, out: &Path) -> Result<PathBuf, DataError> {
    let target = out.join(OFFICIAL_DIR);
    if target.exists() {
        return Err(DataError::Layout {
            path: target,
            message: "already exists but does not hold a complete CIFAR-10 binary set; \
                      remove it and run again"
                .into(),
        });
    }
    let tmp = out.join(format!(".unpack-{}.tmp", std::process::id()));
    let result = (|| {
        std::fs::create_dir_all(&tmp).map_err(|e| DataError::io(&tmp, e))?;
        let file = File::open(archive).map_err(|e| DataError::io(archive, e))?;
        tar::Archive::new(GzDecoder::new(BufReader::new(file)))
            .unpack(&tmp)
            .map_err(|e| DataError::Archive {
                path: archive.to_path_buf(),
                message: e.to_string(),
            })?;
        let unpacked = tmp.join(OFFICIAL_DIR);
        Cifar10::load(&unpacked)?;
        std::fs::rename(&unpacked, &target).map_err(|e| DataError::io(&target, e))
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result.map(|()| target)
}
