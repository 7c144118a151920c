//! Temp files of writers that died: recognised by their name, removed by the next writer of the
//! same file.
//!
//! A temp file of target `f` is named `.f.nb1s1-tmp.<host>.<pid>.<random>`: `<host>` a digest
//! of the host name (run folders live on shared file systems), `<pid>` the writer. The next
//! writer of `f` removes it when the writer is known dead: same host and no process `<pid>`;
//! from another host, once it is older than [`FOREIGN_AGE`]. Temp files of the writer before
//! this crate (`.f.<pid>.tmp`) go when their process is gone and they are older than
//! [`LEGACY_AGE`]. Symbolic links and special files are never touched.

use std::ffi::OsStr;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// Age after which a temp file of another host counts as abandoned.
pub const FOREIGN_AGE: Duration = Duration::from_secs(24 * 3600);
/// Age after which a temp file of the old naming, with no live writer here, is removed.
pub const LEGACY_AGE: Duration = Duration::from_secs(3600);

const MARK: &str = "nb1s1-tmp";

/// This host's tag in temp names: 8 hex digits of an FNV-1a digest of the host name.
pub fn host_tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer outlives the call and its length is passed.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        let name = if rc == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            &buf[..end]
        } else {
            &b"unknown"[..]
        };
        let hash = name.iter().fold(0x811c_9dc5u32, |h, &b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        format!("{hash:08x}")
    })
}

/// The prefix of this process's temp files for target `name` (random characters follow).
pub fn temp_prefix(name: &OsStr) -> String {
    format!(
        ".{}.{MARK}.{}.{}.",
        name.to_string_lossy(),
        host_tag(),
        std::process::id()
    )
}

/// Whether a process `pid` exists on this host (EPERM: it does, owned by another user).
fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks for the process.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Whether the temp file named `file` (of target `name`), `age` old, is abandoned.
pub fn is_abandoned(name: &str, file: &str, age: Duration) -> bool {
    let Some(rest) = file.strip_prefix(&format!(".{name}.")) else {
        return false;
    };
    if let Some(tail) = rest.strip_prefix(&format!("{MARK}.")) {
        let mut parts = tail.splitn(3, '.');
        let (Some(host), Some(pid), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            return false;
        };
        return if host == host_tag() {
            pid != std::process::id() && !pid_alive(pid)
        } else {
            age > FOREIGN_AGE
        };
    }
    match rest.strip_suffix(".tmp").map(str::parse::<u32>) {
        Some(Ok(pid)) => pid != std::process::id() && !pid_alive(pid) && age > LEGACY_AGE,
        _ => false,
    }
}

/// Removes the abandoned temp files of target `name` in `dir`; best effort (a temp file that
/// cannot be removed is left for the next writer).
pub fn remove_stale(dir: &Path, name: &OsStr) {
    let name = name.to_string_lossy();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let lead = format!(".{name}.");
    for entry in entries.flatten() {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        if !file.starts_with(&lead) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        // Temp files, and the staging folders of `StagedPath`; never a link or special file.
        if !(meta.file_type().is_file() || meta.file_type().is_dir()) {
            continue;
        }
        let age = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .unwrap_or_default();
        if is_abandoned(&name, &file, age) {
            let _ = if meta.is_dir() {
                std::fs::remove_dir_all(entry.path())
            } else {
                std::fs::remove_file(entry.path())
            };
        }
    }
}
