//! TensorBoard scalar event files, so searches can be watched live with the tool researchers
//! already use. An event file is a TFRecord stream of `Event` protobufs: the first carries
//! `file_version = "brain.Event:2"`, each later one `wall_time`, `step` and a `Summary` holding
//! one `Value { tag, simple_value }`. The protobuf is encoded by hand (five fields).

use crate::error::{io_err, Result};
use crate::runs::{self, EpochRecord};
use std::io::Write;
use std::path::{Path, PathBuf};

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
        None => bytes_field(&mut ev, 3, b"brain.Event:2"),
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

/// The conventional file name `events.out.tfevents.<seconds>.<host>`.
pub fn event_file_name(wall_time: f64) -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "nb1s1".to_string());
    format!("events.out.tfevents.{}.{host}", wall_time.floor() as i64)
}

/// The scalars of one epoch record, with their TensorBoard tags.
pub fn epoch_scalars(e: &EpochRecord) -> Vec<(&'static str, f64)> {
    let mut s = Vec::new();
    let mut push = |tag, v: Option<f64>| {
        if let Some(v) = v {
            s.push((tag, v));
        }
    };
    push("regret/test", e.test_regret);
    push("regret/valid", e.valid_regret);
    push("one_shot/valid_error", e.one_shot_valid_error);
    push("train/loss", e.train_loss);
    push("time/epoch_seconds", e.seconds);
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    push("nb101/test_error", mean(&e.test_errors));
    push("nb101/valid_error", mean(&e.valid_errors));
    s
}

/// Writes `<run>/tensorboard/events.out.tfevents.*` from the run's `epochs.jsonl` (replacing
/// the file atomically); the wall time of each event is the start time plus the cumulative
/// epoch seconds. Returns the file written.
pub fn write_run_events(run_dir: &Path, start_wall_time: f64) -> Result<PathBuf> {
    let epochs: Vec<EpochRecord> = runs::read_jsonl(&run_dir.join("epochs.jsonl"))?;
    let mut w = EventWriter::new(Vec::new(), start_wall_time).map_err(io_err(run_dir))?;
    let mut t = start_wall_time;
    for e in &epochs {
        t += e.seconds.unwrap_or(0.0);
        for (tag, v) in epoch_scalars(e) {
            w.scalar(tag, e.epoch as i64, v, t)
                .map_err(io_err(run_dir))?;
        }
    }
    let dir = run_dir.join("tensorboard");
    // One file per run: earlier exports are replaced rather than accumulated.
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with("events.out.tfevents.")
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    let path = dir.join(event_file_name(start_wall_time));
    crate::atomic::write_atomic(&path, &w.into_inner())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimal protobuf reader for the test: (field, wire type, payload or number).
    fn fields(mut b: &[u8]) -> Vec<(u32, u8, Vec<u8>)> {
        let read_varint = |b: &mut &[u8]| {
            let (mut v, mut shift) = (0u64, 0);
            loop {
                let byte = b[0];
                *b = &b[1..];
                v |= u64::from(byte & 0x7f) << shift;
                shift += 7;
                if byte < 0x80 {
                    return v;
                }
            }
        };
        let mut out = Vec::new();
        while !b.is_empty() {
            let key = read_varint(&mut b);
            let (field, wire) = ((key >> 3) as u32, (key & 7) as u8);
            let payload = match wire {
                0 => read_varint(&mut b).to_le_bytes().to_vec(),
                1 => {
                    let p = b[..8].to_vec();
                    b = &b[8..];
                    p
                }
                5 => {
                    let p = b[..4].to_vec();
                    b = &b[4..];
                    p
                }
                2 => {
                    let n = read_varint(&mut b) as usize;
                    let p = b[..n].to_vec();
                    b = &b[n..];
                    p
                }
                w => panic!("unexpected wire type {w}"),
            };
            out.push((field, wire, payload));
        }
        out
    }

    #[test]
    fn events_round_trip_through_tfrecord_and_protobuf() {
        let mut w = EventWriter::new(Vec::new(), 1000.5).unwrap();
        w.scalar("regret/test", 300, 0.0125, 1010.25).unwrap();
        let bytes = w.into_inner();
        let frames: Vec<_> = nasbench101::tfrecord::Frames::new(&bytes, true)
            .collect::<std::result::Result<Vec<_>, _>>()
            .unwrap();
        assert_eq!(frames.len(), 2);
        let first = fields(frames[0].payload);
        assert_eq!(first[0].2, 1000.5f64.to_le_bytes());
        assert_eq!(
            (first[2].0, first[2].2.as_slice()),
            (3, &b"brain.Event:2"[..])
        );
        let ev = fields(frames[1].payload);
        assert_eq!(ev[0].2, 1010.25f64.to_le_bytes());
        assert_eq!(u64::from_le_bytes(ev[1].2.clone().try_into().unwrap()), 300);
        assert_eq!(ev[2].0, 5);
        let value = fields(&fields(&ev[2].2)[0].2);
        assert_eq!(value[0].2, b"regret/test");
        assert_eq!((value[1].0, value[1].1), (2, 5));
        assert_eq!(
            f32::from_le_bytes(value[1].2.clone().try_into().unwrap()),
            0.0125f32
        );
    }
}
