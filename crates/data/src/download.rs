//! A small resumable HTTP downloader: bytes go to `<file>.part`, an interrupted transfer resumes
//! with a `Range` request, and the finished file is checked against a published SHA-256 or MD5
//! before it is renamed into place. A checksum mismatch never deletes silently: the bad file is
//! moved aside to `<file>.bad-<hash prefix>` and the error names both sums.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use md5::Md5;
use sha2::{Digest, Sha256};

use crate::import::hex;
use crate::DataError;

/// A published checksum to verify a download against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checksum {
    /// Lower-case hex SHA-256.
    Sha256(String),
    /// Lower-case hex MD5 (only where no SHA-256 is published, e.g. CIFAR-10).
    Md5(String),
    /// No check.
    None,
}

impl Checksum {
    fn algorithm(&self) -> &'static str {
        match self {
            Checksum::Sha256(_) => "SHA-256",
            Checksum::Md5(_) => "MD5",
            Checksum::None => "none",
        }
    }

    fn expected(&self) -> Option<String> {
        match self {
            Checksum::Sha256(h) | Checksum::Md5(h) => Some(h.trim().to_ascii_lowercase()),
            Checksum::None => None,
        }
    }

    /// Hashes a file with this checksum's algorithm (`None` for [`Checksum::None`]).
    pub fn compute(&self, path: &Path) -> Result<Option<String>, DataError> {
        if *self == Checksum::None {
            return Ok(None);
        }
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut buf = vec![0u8; 1 << 20];
        let mut sha = Sha256::new();
        let mut md5 = Md5::new();
        loop {
            let n = reader.read(&mut buf).map_err(|e| DataError::io(path, e))?;
            if n == 0 {
                break;
            }
            let chunk = buf.get(..n).unwrap_or_default();
            match self {
                Checksum::Sha256(_) => sha.update(chunk),
                Checksum::Md5(_) => md5.update(chunk),
                Checksum::None => return Ok(None),
            }
        }
        Ok(match self {
            Checksum::Sha256(_) => Some(hex(&sha.finalize())),
            Checksum::Md5(_) => Some(hex(&md5.finalize())),
            Checksum::None => None,
        })
    }

    /// Checks `path`; on a mismatch moves it aside and returns [`DataError::Checksum`].
    pub fn verify(&self, path: &Path, report_as: &Path) -> Result<(), DataError> {
        let (Some(expected), Some(actual)) = (self.expected(), self.compute(path)?) else {
            return Ok(());
        };
        if expected == actual {
            return Ok(());
        }
        let name = report_as
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let aside = report_as.with_file_name(format!(
            "{name}.bad-{}",
            actual.get(..12).unwrap_or(&actual)
        ));
        std::fs::rename(path, &aside).map_err(|e| DataError::io(path, e))?;
        Err(DataError::Checksum {
            path: report_as.to_path_buf(),
            algorithm: self.algorithm(),
            expected,
            actual,
            moved_to: aside,
        })
    }
}

/// How to download.
#[derive(Clone, Debug)]
pub struct DownloadOptions {
    /// Extra attempts after an interrupted transfer or a server error (each resumes).
    pub retries: u32,
    /// Draw a progress bar on stderr.
    pub progress: bool,
    /// Connect and read timeout.
    pub timeout: Duration,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            retries: 3,
            progress: true,
            timeout: Duration::from_secs(60),
        }
    }
}

/// What [`download`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DownloadOutcome {
    /// The file was already there with the right checksum; nothing was fetched.
    AlreadyPresent,
    /// The file was fetched; `resumed_from` is how many bytes of an earlier `.part` file were
    /// kept (0 when the server sent everything anew).
    Downloaded { bytes: u64, resumed_from: u64 },
}

/// `<dest>.part`: where bytes accumulate until the download is complete and verified.
pub fn part_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!("{name}.part"))
}

/// Parses `Content-Range: bytes START-END/TOTAL` into `(start, total)`.
fn content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes")?.trim();
    let (range, total) = rest.split_once('/')?;
    let (start, _) = range.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()))
}

/// Result of one HTTP attempt.
enum Attempt {
    /// The part file now holds the whole body.
    Complete,
    /// The connection failed or ended early; worth another try.
    Retry(DataError),
}

fn progress_bar(show: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        None,
        if show {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// One GET (ranged when a part file exists), appending to the part file.
fn attempt(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    bar: &ProgressBar,
    kept: &mut Option<u64>,
) -> Result<Attempt, DataError> {
    let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut request = agent.get(url);
    if have > 0 {
        request = request.set("Range", &format!("bytes={have}-"));
    }
    let http = |message: String| DataError::Http {
        url: url.to_string(),
        message,
    };
    let response = match request.call() {
        Ok(r) => r,
        // Nothing left to send: the part file is already whole (the checksum will tell).
        Err(ureq::Error::Status(416, _)) if have > 0 => {
            kept.get_or_insert(have);
            return Ok(Attempt::Complete);
        }
        Err(ureq::Error::Status(code, r)) if code >= 500 => {
            return Ok(Attempt::Retry(http(format!(
                "server error {code} {}",
                r.status_text()
            ))))
        }
        Err(ureq::Error::Status(code, r)) => {
            return Err(http(format!("HTTP {code} {}", r.status_text())))
        }
        Err(e) => {
            // ureq's message starts with the URL, which the error already names.
            let text = e.to_string();
            let text = text.strip_prefix(&format!("{url}: ")).unwrap_or(&text);
            return Ok(Attempt::Retry(http(text.to_string())));
        }
    };
    let length: Option<u64> = response
        .header("Content-Length")
        .and_then(|v| v.parse().ok());
    let (start, total) = match response.status() {
        206 => {
            let (start, total) = response
                .header("Content-Range")
                .and_then(content_range)
                .ok_or_else(|| http("206 response without a valid Content-Range".into()))?;
            (start, total.or(length.map(|l| start + l)))
        }
        200 => (0, length),
        code => return Err(http(format!("unexpected HTTP status {code}"))),
    };
    if start != 0 && start != have {
        return Err(http(format!(
            "server resumed at byte {start}, but {} holds {have} bytes",
            part.display()
        )));
    }
    kept.get_or_insert(start);
    // A link or special file planted at the partial download is refused, not followed.
    let mut file = nb1s1_fsio::open_rw(part).map_err(|e| DataError::io(part, e.into()))?;
    // A 200 answer is the whole body: start over even if part data existed.
    file.set_len(start).map_err(|e| DataError::io(part, e))?;
    file.seek(SeekFrom::Start(start))
        .map_err(|e| DataError::io(part, e))?;
    if let Some(t) = total {
        bar.set_length(t);
    }
    bar.set_position(start);
    let mut received = start;
    let mut reader = response.into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let interrupted = |received: u64| DataError::Interrupted {
        url: url.to_string(),
        received,
        expected: total.unwrap_or(0),
        part: part.to_path_buf(),
    };
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => {
                file.flush().map_err(|e| DataError::io(part, e))?;
                return Ok(Attempt::Retry(interrupted(received)));
            }
        };
        file.write_all(buf.get(..n).unwrap_or_default())
            .map_err(|e| DataError::io(part, e))?;
        received += n as u64;
        bar.set_position(received);
    }
    file.sync_all().map_err(|e| DataError::io(part, e))?;
    match total {
        Some(t) if received < t => Ok(Attempt::Retry(interrupted(received))),
        _ => Ok(Attempt::Complete),
    }
}

/// Downloads `url` to `dest`, resuming `<dest>.part` when present, and verifies `checksum`.
/// A `dest` that already exists with the right checksum is left alone.
pub fn download(
    url: &str,
    dest: &Path,
    checksum: &Checksum,
    options: &DownloadOptions,
) -> Result<DownloadOutcome, DataError> {
    if dest.is_file() {
        checksum.verify(dest, dest)?;
        return Ok(DownloadOutcome::AlreadyPresent);
    }
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    }
    let part = part_path(dest);
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(options.timeout)
        .timeout_read(options.timeout)
        .build();
    let bar = progress_bar(options.progress);
    bar.set_message(
        dest.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    let mut tries = 0;
    let mut kept = None;
    loop {
        match attempt(&agent, url, &part, &bar, &mut kept)? {
            Attempt::Complete => break,
            Attempt::Retry(e) if tries >= options.retries => {
                bar.abandon();
                return Err(e);
            }
            Attempt::Retry(_) => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(200 * u64::from(tries)));
            }
        }
    }
    // Hashing a 2 GB file takes a while: say so rather than sit silent.
    bar.set_message(format!("verifying {}", checksum.algorithm()));
    let verified = checksum.verify(&part, dest);
    bar.finish_and_clear();
    verified?;
    let bytes = std::fs::metadata(&part)
        .map_err(|e| DataError::io(&part, e))?
        .len();
    std::fs::rename(&part, dest).map_err(|e| DataError::io(dest, e))?;
    Ok(DownloadOutcome::Downloaded {
        bytes,
        resumed_from: kept.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::content_range;

    #[test]
    fn parses_content_range() {
        assert_eq!(content_range("bytes 100-199/200"), Some((100, Some(200))));
        assert_eq!(content_range(" bytes 0-9/*"), Some((0, None)));
        assert_eq!(content_range("bytes */200"), None);
        assert_eq!(content_range("items 0-9/10"), None);
        assert_eq!(content_range("bytes x-9/10"), None);
    }
}
