//! The published identities of the two official files (google-research/nasbench README), so a
//! download can be recognised before it is trusted.

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// SHA-256 of `nasbench_full.tfrecord` as published.
pub const FULL_SHA256: &str = "3d64db8180fb1b0207212f9032205064312b6907a3bbc81eabea10db2f5c7e9c";
/// SHA-256 of `nasbench_only108.tfrecord` as published.
pub const ONLY108_SHA256: &str = "4c39c3936e36a85269881d659e44e61a245babcb72cb374eacacf75d0e5f4fd1";

/// Which official file a digest belongs to, if any.
pub fn official_name(sha256_hex: &str) -> Option<&'static str> {
    match sha256_hex {
        FULL_SHA256 => Some("nasbench_full.tfrecord"),
        ONLY108_SHA256 => Some("nasbench_only108.tfrecord"),
        _ => None,
    }
}

/// SHA-256 of a file as lowercase hex, streamed; `progress` is told the bytes read so far.
pub fn sha256_file(path: &Path, progress: &mut dyn FnMut(u64)) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n).unwrap_or(&[]));
        done += n as u64;
        progress(done);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_a_known_text_and_official_names() {
        let dir = std::env::temp_dir().join(format!("nb101-sha-{}", std::process::id()));
        std::fs::write(&dir, b"abc").unwrap();
        let got = sha256_file(&dir, &mut |_| {}).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(
            got,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(official_name(FULL_SHA256), Some("nasbench_full.tfrecord"));
        assert_eq!(
            official_name(ONLY108_SHA256),
            Some("nasbench_only108.tfrecord")
        );
        assert_eq!(official_name(&got), None);
    }
}
