//! Helpers shared by the integration tests: a self-removing temporary folder, a tiny bounded
//! HTTP server on 127.0.0.1, and synthetic CIFAR-10 data.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nb1s1_data::cifar::{Split, IMAGE_BYTES};

/// A temporary folder removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "nb1s1-data-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The workspace's `../shared` folder, if present.
pub fn shared_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// A split of `n` images whose pixels encode their index and position (so mix-ups show).
pub fn pattern_split(n: usize) -> Split {
    let mut split = Split::default();
    for i in 0..n {
        let mut img = [0u8; IMAGE_BYTES];
        for (p, v) in img.iter_mut().enumerate() {
            *v = ((i * 31 + p * 7) % 251) as u8;
        }
        split.push(&img, (i % 10) as u8);
    }
    split
}

/// How the test server answers one connection.
#[derive(Clone, Copy, Debug)]
pub enum Reply {
    /// Honour `Range` (206) or send everything (200).
    Normal,
    /// Announce the whole length but close after this many body bytes.
    CutAfter(usize),
    /// Answer with this status and no body.
    Status(u16),
    /// Ignore `Range` and send the whole body with 200.
    IgnoreRange,
}

/// A bounded HTTP/1.1 server serving one body: it answers `replies.len()` connections, one
/// reply each, then stops (or stops after 20 s, whichever comes first).
pub struct Server {
    pub url: String,
    pub ranges: Arc<Mutex<Vec<Option<String>>>>,
    handle: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(body: Vec<u8>, replies: Vec<Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let ranges = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&ranges);
        let handle = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut replies = replies.into_iter();
            let mut next = replies.next();
            while let Some(reply) = next {
                if Instant::now() > deadline {
                    return;
                }
                match listener.accept() {
                    Ok((stream, _)) => {
                        let range = serve(stream, &body, reply);
                        seen.lock().unwrap().push(range);
                        next = replies.next();
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server {
            url,
            ranges,
            handle: Some(handle),
        }
    }

    /// The `Range` header of each request served so far.
    pub fn ranges(&self) -> Vec<Option<String>> {
        self.ranges.lock().unwrap().clone()
    }

    /// Waits for the server thread to finish its replies.
    pub fn join(mut self) -> Vec<Option<String>> {
        if let Some(h) = self.handle.take() {
            h.join().unwrap();
        }
        self.ranges()
    }
}

fn serve(stream: TcpStream, body: &[u8], reply: Reply) -> Option<String> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    let mut out = stream;
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|s| s.parse::<usize>().ok());
    let total = body.len();
    let _ = match (reply, start) {
        (Reply::Status(code), _) => write!(
            out,
            "HTTP/1.1 {code} Test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
        (Reply::Normal | Reply::CutAfter(_), Some(s)) if s >= total => write!(
            out,
            "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{total}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        ),
        (Reply::Normal, Some(s)) => write!(
            out,
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {s}-{}/{total}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            total - 1,
            total - s
        )
        .and_then(|()| out.write_all(&body[s..])),
        (Reply::Normal, None) | (Reply::IgnoreRange, _) => write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n"
        )
        .and_then(|()| out.write_all(body)),
        (Reply::CutAfter(n), s) => {
            let s = s.unwrap_or(0);
            let head = if s > 0 {
                format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {s}-{}/{total}\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n",
                    total - 1,
                    total - s
                )
            } else {
                format!("HTTP/1.1 200 OK\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n")
            };
            out.write_all(head.as_bytes())
                .and_then(|()| out.write_all(&body[s..(s + n).min(total)]))
        }
    };
    let _ = out.flush();
    let _ = out.shutdown(std::net::Shutdown::Both);
    range
}
