//! TensorBoard scalar event files, written and read back without TensorFlow.
//!
//! This crate owns the `Event` protobuf encoding (by hand: the five fields a scalar needs), the
//! writer that the search loop appends to live and that `nb1s1 results tensorboard` exports
//! with, the conventional file name, and a decoder for the events it writes (tests, tools). It
//! is small and torch-free so that both the training side (`oneshot`) and the analysis side
//! (`nb1s1-bench`) can use it without depending on each other. Framing is TFRecord
//! (`nasbench101::tfrecord`).
//!
//! An event file is a TFRecord stream of `Event` messages: the first carries
//! `file_version = "brain.Event:2"`, each later one `wall_time`, `step` and a `Summary` holding
//! one `Value { tag, simple_value }`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The `file_version` of the first event of every file.
pub const FILE_VERSION: &str = "brain.Event:2";

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    varint(out, u64::from(field << 3 | 2));
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Encodes one `Event`; `scalar` is `(tag, value)`, absent for the file-version event.
pub fn encode_event(wall_time: f64, step: i64, scalar: Option<(&str, f32)>) -> Vec<u8> {
    let mut ev = Vec::with_capacity(64);
    ev.push(1 << 3 | 1); // wall_time: double
    ev.extend_from_slice(&wall_time.to_le_bytes());
    ev.push(2 << 3); // step: int64 varint
    varint(&mut ev, step as u64);
    match scalar {
        None => bytes_field(&mut ev, 3, FILE_VERSION.as_bytes()),
        Some((tag, value)) => {
            let mut val = Vec::with_capacity(tag.len() + 8);
            bytes_field(&mut val, 1, tag.as_bytes());
            val.push(2 << 3 | 5); // simple_value: float
            val.extend_from_slice(&value.to_le_bytes());
            let mut summary = Vec::with_capacity(val.len() + 2);
            bytes_field(&mut summary, 1, &val);
            bytes_field(&mut ev, 5, &summary);
        }
    }
    ev
}

/// Writes scalar events to any sink (a live file the search loop appends to, or a buffer).
pub struct EventWriter<W: Write> {
    out: W,
}

impl<W: Write> EventWriter<W> {
    /// Starts a stream with the file-version event.
    pub fn new(mut out: W, wall_time: f64) -> std::io::Result<Self> {
        nasbench101::tfrecord::write_record(&mut out, &encode_event(wall_time, 0, None))?;
        Ok(EventWriter { out })
    }

    /// Appends one scalar; non-finite values are written as they are (TensorBoard shows them).
    pub fn scalar(
        &mut self,
        tag: &str,
        step: i64,
        value: f64,
        wall_time: f64,
    ) -> std::io::Result<()> {
        let ev = encode_event(wall_time, step, Some((tag, value as f32)));
        nasbench101::tfrecord::write_record(&mut self.out, &ev)
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// A live event file: [`EventWriter`] over a buffered file opened for appending.
pub type EventFile = EventWriter<BufWriter<File>>;

impl EventFile {
    /// Creates `dir` if needed and opens `dir/`[`event_file_name`]`(wall_time)` in append mode
    /// (a second writer in the same second appends to the same file rather than truncating
    /// it), then writes the file-version event. Call [`EventWriter::flush`] to make the scalars
    /// written so far visible to TensorBoard.
    pub fn create_in(dir: &Path, wall_time: f64) -> std::io::Result<(EventFile, PathBuf)> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(event_file_name(wall_time));
        // A link or special file planted at the event file's name is refused, not followed.
        let file = nb1s1_fsio::open_append(&path)?;
        let mut w = EventWriter::new(BufWriter::new(file), wall_time)?;
        w.flush()?;
        Ok((w, path))
    }
}

/// The conventional file name `events.out.tfevents.<seconds>.<host>`.
pub fn event_file_name(wall_time: f64) -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && !h.contains('/'))
        .unwrap_or_else(|| "nb1s1".to_string());
    format!("events.out.tfevents.{}.{host}", wall_time.floor() as i64)
}

/// Whether `name` is a TensorBoard event file name (TensorBoard's own rule: it contains
/// `tfevents`).
pub fn is_event_file_name(name: &str) -> bool {
    name.contains("tfevents")
}

/// Seconds since the Unix epoch, as event wall times are (0 if the clock is before it).
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// What one decoded event holds.
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// The first event of a file.
    FileVersion(String),
    /// One scalar.
    Scalar { tag: String, value: f32 },
}

/// A decoded `Event` of the kinds this crate writes.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub wall_time: f64,
    pub step: i64,
    pub kind: EventKind,
}

/// Why an event file or record cannot be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The TFRecord framing is broken (a torn write, a flipped byte).
    #[error("record {index} at byte {offset}: {error}")]
    Frame {
        index: u64,
        offset: u64,
        error: nasbench101::tfrecord::FrameError,
    },
    /// The payload is not an `Event` of the kinds written here.
    #[error("record {index}: {message}")]
    Protobuf { index: u64, message: String },
}

/// One field of a protobuf message: field number, wire type, payload bytes.
type Field<'a> = (u32, u8, &'a [u8]);

/// The fields of a protobuf message, in order.
fn fields(mut b: &[u8]) -> Result<Vec<Field<'_>>, String> {
    fn read_varint(b: &mut &[u8]) -> Result<u64, String> {
        let (mut v, mut shift) = (0u64, 0u32);
        loop {
            let (&byte, rest) = b.split_first().ok_or("truncated varint")?;
            *b = rest;
            if shift >= 64 {
                return Err("varint longer than 10 bytes".into());
            }
            v |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte < 0x80 {
                return Ok(v);
            }
        }
    }
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
        if b.len() < n {
            return Err(format!("field needs {n} bytes, {} left", b.len()));
        }
        let (head, rest) = b.split_at(n);
        *b = rest;
        Ok(head)
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = read_varint(&mut b)?;
        let (field, wire) = ((key >> 3) as u32, (key & 7) as u8);
        let payload: &[u8] = match wire {
            0 => {
                let start = b;
                read_varint(&mut b)?;
                &start[..start.len() - b.len()]
            }
            1 => take(&mut b, 8)?,
            5 => take(&mut b, 4)?,
            2 => {
                let n = read_varint(&mut b)? as usize;
                take(&mut b, n)?
            }
            w => return Err(format!("field {field}: unsupported wire type {w}")),
        };
        out.push((field, wire, payload));
    }
    Ok(out)
}

fn varint_value(mut b: &[u8]) -> u64 {
    let (mut v, mut shift) = (0u64, 0u32);
    while let Some((&byte, rest)) = b.split_first() {
        b = rest;
        if shift < 64 {
            v |= u64::from(byte & 0x7f) << shift;
        }
        shift += 7;
    }
    v
}

/// Decodes one `Event` payload (wall time, step, and a file version or one scalar).
pub fn decode_event(payload: &[u8]) -> Result<Event, String> {
    let (mut wall_time, mut step, mut kind) = (0.0, 0, None);
    for (field, wire, p) in fields(payload)? {
        match (field, wire) {
            (1, 1) => wall_time = f64::from_le_bytes(p.try_into().map_err(|_| "wall_time")?),
            (2, 0) => step = varint_value(p) as i64,
            (3, 2) => {
                let v = String::from_utf8(p.to_vec()).map_err(|e| e.to_string())?;
                kind = Some(EventKind::FileVersion(v));
            }
            (5, 2) => {
                let values = fields(p)?;
                let [(1, 2, value)] = values[..] else {
                    return Err("summary must hold exactly one value".into());
                };
                let (mut tag, mut simple) = (None, None);
                for (f, w, q) in fields(value)? {
                    match (f, w) {
                        (1, 2) => {
                            tag = Some(String::from_utf8(q.to_vec()).map_err(|e| e.to_string())?)
                        }
                        (2, 5) => {
                            simple = Some(f32::from_le_bytes(
                                q.try_into().map_err(|_| "simple_value")?,
                            ))
                        }
                        _ => {}
                    }
                }
                match (tag, simple) {
                    (Some(tag), Some(value)) => kind = Some(EventKind::Scalar { tag, value }),
                    _ => return Err("summary value without tag or simple_value".into()),
                }
            }
            _ => {}
        }
    }
    let kind = kind.ok_or("event holds neither a file version nor a summary")?;
    Ok(Event {
        wall_time,
        step,
        kind,
    })
}

/// Decodes every record of an event file held in memory; the CRCs of lengths and payloads are
/// checked. A torn last record is an error too (a file being written may end in one).
pub fn read_events(bytes: &[u8]) -> Result<Vec<Event>, DecodeError> {
    nasbench101::tfrecord::Frames::new(bytes, true)
        .map(|frame| {
            let frame = frame.map_err(|(index, offset, error)| DecodeError::Frame {
                index,
                offset,
                error,
            })?;
            decode_event(frame.payload).map_err(|message| DecodeError::Protobuf {
                index: frame.index,
                message,
            })
        })
        .collect()
}

/// The scalars of decoded events as `(tag, step, value)`, in file order.
pub fn scalars(events: &[Event]) -> Vec<(String, i64, f32)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Scalar { tag, value } => Some((tag.clone(), e.step, *value)),
            EventKind::FileVersion(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_tfrecord_and_protobuf() {
        let mut w = EventWriter::new(Vec::new(), 1000.5).unwrap();
        w.scalar("regret/test", 300, 0.0125, 1010.25).unwrap();
        w.scalar("train/loss", 1 << 40, -2.5, 1011.0).unwrap();
        let events = read_events(&w.into_inner()).unwrap();
        assert_eq!(
            events,
            vec![
                Event {
                    wall_time: 1000.5,
                    step: 0,
                    kind: EventKind::FileVersion(FILE_VERSION.into()),
                },
                Event {
                    wall_time: 1010.25,
                    step: 300,
                    kind: EventKind::Scalar {
                        tag: "regret/test".into(),
                        value: 0.0125,
                    },
                },
                Event {
                    wall_time: 1011.0,
                    step: 1 << 40,
                    kind: EventKind::Scalar {
                        tag: "train/loss".into(),
                        value: -2.5,
                    },
                },
            ]
        );
    }

    /// The encoding byte for byte, as TensorFlow's `tf.summary` writes a scalar `Event`.
    #[test]
    fn scalar_event_bytes_are_the_protobuf_encoding() {
        let ev = encode_event(1.0, 5, Some(("a", 0.5)));
        let mut want = vec![0x09];
        want.extend_from_slice(&1.0f64.to_le_bytes());
        want.extend_from_slice(&[0x10, 5, 0x2a, 10, 0x0a, 8, 0x0a, 1, b'a', 0x15]);
        want.extend_from_slice(&0.5f32.to_le_bytes());
        assert_eq!(ev, want);
    }

    #[test]
    fn corrupt_and_torn_files_are_errors() {
        let mut w = EventWriter::new(Vec::new(), 1.0).unwrap();
        w.scalar("x", 1, 2.0, 3.0).unwrap();
        let bytes = w.into_inner();
        let mut flipped = bytes.clone();
        let last = flipped.len() - 6;
        flipped[last] ^= 0x40;
        assert!(matches!(
            read_events(&flipped),
            Err(DecodeError::Frame { index: 1, .. })
        ));
        assert!(matches!(
            read_events(&bytes[..bytes.len() - 3]),
            Err(DecodeError::Frame { index: 1, .. })
        ));
        assert!(decode_event(&[0x2a, 3, 0x0a, 1]).is_err());
    }

    #[test]
    fn live_file_appends_and_is_readable_after_each_flush() {
        let dir = tempfile::tempdir().unwrap();
        let tb = dir.path().join("tensorboard");
        let (mut w, path) = EventFile::create_in(&tb, 1_700_000_000.7).unwrap();
        assert!(path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("events.out.tfevents.1700000000."));
        assert!(is_event_file_name(
            &path.file_name().unwrap().to_string_lossy()
        ));
        w.scalar("train/loss", 0, 2.0, 1_700_000_001.0).unwrap();
        w.flush().unwrap();
        let seen = scalars(&read_events(&std::fs::read(&path).unwrap()).unwrap());
        assert_eq!(seen, vec![("train/loss".to_string(), 0, 2.0)]);
        // A second writer in the same second appends instead of truncating.
        drop(w);
        let (mut w2, path2) = EventFile::create_in(&tb, 1_700_000_000.2).unwrap();
        assert_eq!(path2, path);
        w2.scalar("train/loss", 1, 1.5, 1_700_000_002.0).unwrap();
        w2.flush().unwrap();
        let events = read_events(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(events.len(), 4);
        assert_eq!(scalars(&events).len(), 2);
    }
}
