//! tfrecord → store, a step of records at a time: the records are framed in file order (a
//! length and its CRC each, so a bad length stops the framing where it is), checked and
//! decoded in parallel (payload CRC, fields, cell), then added to the table in file order.
//! The first bad record in file order is the error, whichever task found it.

use super::fast::{decode_fast, decode_fast_metrics, same_model_head, Layout};
use super::pack::{pack_model, PackedModel};
use super::sink::Sink;
use super::table::{BuildError, TableBuilder};
use super::{ConvertSummary, Progress};
use crate::error::{Nb101Error, TableError};
use crate::hash::ModelHash;
use crate::layout::{le_u32, SYNTHETIC_MARKER};
use crate::record::PayloadError;
use crate::tfrecord::{frame_at, masked_crc, FrameError};
use rayon::prelude::*;
use std::path::Path;

/// Records framed per step: a few MB of the file, decoded while in cache.
const STEP: usize = 8192;
/// Records one task decodes in order (the runs of a model share the bytes before their
/// metrics, which a task reads once).
const CHUNK: usize = 64;

/// Fewer bytes than any record in the released layout takes, framing included (the
/// smallest, a 2-vertex cell at 4 epochs, takes about 295; a 7-vertex one 417): a bound on
/// the number of records for reserving memory, whose untouched pages cost nothing.
pub(crate) const MIN_RECORD: usize = 290;

/// The values of a run: narrowed to f32 when that loses nothing (as in the released files).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum RunValues {
    Narrow([f32; 8]),
    Wide([f64; 8]),
}

impl RunValues {
    #[inline]
    pub(crate) fn new(v: [f64; 8]) -> RunValues {
        let f = v.map(|x| x as f32);
        let exact = f
            .iter()
            .zip(&v)
            .all(|(a, b)| f64::from(*a).to_bits() == b.to_bits());
        if exact {
            RunValues::Narrow(f)
        } else {
            RunValues::Wide(v)
        }
    }

    pub(crate) fn wide(&self) -> [f64; 8] {
        match *self {
            RunValues::Narrow(f) => f.map(f64::from),
            RunValues::Wide(v) => v,
        }
    }
}

/// A tfrecord's bytes, the file they were read from (for errors) and how to parse them.
#[derive(Clone, Copy)]
pub(crate) struct Input<'a> {
    bytes: &'a [u8],
    path: &'a Path,
    verify_payload_crc: bool,
}

impl<'a> Input<'a> {
    pub(crate) fn new(bytes: &'a [u8], path: &'a Path, verify_payload_crc: bool) -> Input<'a> {
        Input {
            bytes,
            path,
            verify_payload_crc,
        }
    }
}

/// A framed record: where it starts, its payload and the payload's stored CRC.
struct Framed<'a> {
    offset: u64,
    payload: &'a [u8],
    stored_crc: u32,
}

/// What is wrong with a record.
enum Fault {
    Frame(FrameError),
    Payload(PayloadError),
    Record(TableError),
}

/// A record decoded: what the table needs.
struct Decoded {
    hash: ModelHash,
    epochs: u32,
    values: RunValues,
    model: PackedModel,
    /// Where its fields lie, for the next record to compare against (released layout only).
    layout: Option<Layout>,
}

/// Buffers a task reuses from record to record.
struct Scratch {
    base64: Vec<u8>,
    proto: Vec<u8>,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            base64: Vec::with_capacity(512),
            proto: Vec::with_capacity(256),
        }
    }
}

/// Frames up to [`STEP`] records from `*pos` on; returns the framing error that stopped it.
fn frame_step<'a>(
    bytes: &'a [u8],
    pos: &mut usize,
    out: &mut Vec<Framed<'a>>,
) -> Option<FrameError> {
    out.clear();
    while out.len() < STEP && *pos < bytes.len() {
        match frame_at(bytes, *pos) {
            Ok((payload, next)) => {
                let stored_crc = le_u32(bytes, next - 4);
                out.push(Framed {
                    offset: *pos as u64,
                    payload,
                    stored_crc,
                });
                *pos = next;
            }
            Err(e) => return Some(e),
        }
    }
    None
}

/// The eight values the table keeps of a run (the marker's metrics are not a run).
fn run_values(hash: ModelHash, v: &crate::proto::ApiValues) -> Result<RunValues, Fault> {
    if hash == SYNTHETIC_MARKER {
        return Ok(RunValues::Narrow([0.0; 8]));
    }
    if v.evaluations < 3 {
        return Err(Fault::Record(TableError::MissingEvaluations(v.evaluations)));
    }
    let [a, b, c, d] = v.halfway;
    let [e, f, g, h] = v.final_;
    Ok(RunValues::new([a, b, c, d, e, f, g, h]))
}

/// Checks and decodes a record; `previous` is the record before it in the same task.
fn decode(
    rec: &Framed<'_>,
    previous: Option<(&Framed<'_>, &Decoded)>,
    verify_payload_crc: bool,
    s: &mut Scratch,
) -> Result<Decoded, Fault> {
    if verify_payload_crc {
        let computed = masked_crc(rec.payload);
        if computed != rec.stored_crc {
            let stored = rec.stored_crc;
            return Err(Fault::Frame(FrameError::PayloadCrc { stored, computed }));
        }
    }
    // Runs of one model differ only in epochs and metrics: skip re-reading the rest.
    if let Some((p, d)) = previous {
        let head = d
            .layout
            .and_then(|l| same_model_head(rec.payload, p.payload, l));
        if let Some((epochs, layout)) = head {
            let (b64, proto) = (&mut s.base64, &mut s.proto);
            if let Some(v) = decode_fast_metrics(rec.payload, layout.base64_at, b64, proto) {
                return Ok(Decoded {
                    epochs,
                    values: run_values(d.hash, &v)?,
                    layout: Some(layout),
                    ..*d
                });
            }
        }
    }
    let r = decode_fast(rec.payload, &mut s.base64, &mut s.proto).map_err(Fault::Payload)?;
    // Every record's cell is checked, also that of a model seen before (whose first
    // record's is the one kept, as in the official API).
    let v = &r.values;
    let model =
        pack_model(r.hash, v.trainable_parameters, &r.matrix, &r.ops).map_err(Fault::Payload)?;
    Ok(Decoded {
        hash: r.hash,
        epochs: r.epochs,
        values: run_values(r.hash, v)?,
        model,
        layout: r.layout,
    })
}

/// Decodes a task's records in order, up to and including the first bad one.
fn decode_chunk(
    chunk: &[Framed<'_>],
    verify: bool,
    s: &mut Scratch,
) -> Vec<Result<Decoded, Fault>> {
    let mut out: Vec<Result<Decoded, Fault>> = Vec::with_capacity(chunk.len());
    for (k, rec) in chunk.iter().enumerate() {
        let previous = match (k.checked_sub(1), out.last()) {
            (Some(p), Some(Ok(d))) => Some((&chunk[p], d)),
            _ => None,
        };
        let d = decode(rec, previous, verify, s);
        let bad = d.is_err();
        out.push(d);
        if bad {
            break;
        }
    }
    out
}

fn record_error(fault: Fault, path: &Path, record: u64, offset: u64) -> Nb101Error {
    let path = path.to_path_buf();
    match fault {
        Fault::Frame(error) => Nb101Error::Frame {
            path,
            record,
            offset,
            error,
        },
        Fault::Payload(error) => Nb101Error::Payload {
            path,
            record,
            offset,
            error,
        },
        Fault::Record(error) => Nb101Error::Record {
            path,
            record,
            offset,
            error,
        },
    }
}

fn build_error(e: BuildError, path: &Path, out: &Path) -> Nb101Error {
    match e {
        BuildError::Io(error) => Nb101Error::Io {
            path: out.to_path_buf(),
            error,
        },
        BuildError::Table(error) => Nb101Error::Table {
            path: path.to_path_buf(),
            error,
        },
    }
}

/// Adds a step's decoded records to the table in file order; the first of them is record
/// `first` of the file. Stops at the first bad record.
fn merge<S: Sink>(
    table: &mut TableBuilder<S>,
    frames: &[Framed<'_>],
    decoded: Vec<Vec<Result<Decoded, Fault>>>,
    first: u64,
    (path, out): (&Path, &Path),
) -> Result<(), Nb101Error> {
    for (k, d) in decoded.into_iter().flatten().enumerate() {
        let (record, offset) = (first + k as u64, frames[k].offset);
        let d = d.map_err(|f| record_error(f, path, record, offset))?;
        if d.hash == SYNTHETIC_MARKER {
            table.set_synthetic();
            continue;
        }
        table
            .add_run(&d.hash, || d.model, d.epochs, d.values)
            .map_err(|e| match e {
                BuildError::Table(error) => {
                    record_error(Fault::Record(error), path, record, offset)
                }
                e => build_error(e, path, out),
            })?;
    }
    Ok(())
}

/// Parses tfrecord `bytes` into a store written to `sink` (the file `out`, for errors).
pub(crate) fn build_store<S: Sink + Send>(
    input: Input<'_>,
    out: &Path,
    mut progress: Option<Progress<'_>>,
    sink: S,
) -> Result<(S, ConvertSummary), Nb101Error> {
    let Input {
        bytes,
        path,
        verify_payload_crc: verify,
    } = input;
    // Enough rows that the table never regrows (a copy of every row so far): records in
    // the released layout are at least MIN_RECORD bytes, with 3 or 12 runs per model.
    let mut table = TableBuilder::new(sink, bytes.len() / MIN_RECORD / 3 + 16);
    let (mut pos, mut record) = (0usize, 0u64);
    let mut frames = Vec::with_capacity(STEP);
    loop {
        let framing = frame_step(bytes, &mut pos, &mut frames);
        let decoded: Vec<_> = frames
            .par_chunks(CHUNK)
            .map_init(Scratch::new, |s, chunk| decode_chunk(chunk, verify, s))
            .collect();
        merge(&mut table, &frames, decoded, record, (path, out))?;
        record += frames.len() as u64;
        if let Some(p) = progress.as_mut() {
            p(pos as u64);
        }
        if let Some(error) = framing {
            return Err(record_error(Fault::Frame(error), path, record, pos as u64));
        }
        if pos >= bytes.len() {
            break;
        }
    }
    table.finish().map_err(|e| build_error(e, path, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tfrecord::Frames;
    use nb1s1_synthetic::{generate, GenerateConfig, FULL_BUDGETS};

    fn sample(models: usize) -> Vec<u8> {
        let cfg = GenerateConfig {
            models,
            budgets: FULL_BUDGETS.to_vec(),
            seed: 5,
            ..GenerateConfig::default()
        };
        let mut out = Vec::new();
        generate(&mut out, &cfg, &mut |_| {}).unwrap();
        out
    }

    fn build(bytes: &[u8]) -> Result<Vec<u8>, String> {
        let path = Path::new("t.tfrecord");
        build_store(Input::new(bytes, path, true), path, None, Vec::new())
            .map(|(store, _)| store)
            .map_err(|e| e.to_string())
    }

    /// The file's records framed again in the order `order` gives (indices into them).
    fn reordered(bytes: &[u8], order: &[usize]) -> Vec<u8> {
        let payloads: Vec<&[u8]> = Frames::new(bytes, true)
            .map(|f| f.unwrap().payload)
            .collect();
        let mut out = Vec::new();
        for &i in order {
            crate::tfrecord::write_record(&mut out, payloads[i]).unwrap();
        }
        out
    }

    fn record_starts(bytes: &[u8]) -> Vec<usize> {
        Frames::new(bytes, true)
            .map(|f| f.unwrap().offset as usize)
            .collect()
    }

    /// A model whose records are not adjacent (one of its runs after the next models') gives
    /// the store of the file with that run moved back among its model's.
    #[test]
    fn a_split_model_is_merged_into_its_first_row() {
        let bytes = sample(40);
        let n = Frames::new(&bytes, true).count();
        // Record 0 is the synthetic marker; 1..13 are model 0's twelve runs.
        let mut split: Vec<usize> = (0..n).filter(|&i| i != 1).collect();
        split.insert(40, 1);
        let mut adjacent: Vec<usize> = (0..n).filter(|&i| i != 1).collect();
        adjacent.insert(12, 1);
        let want = build(&reordered(&bytes, &adjacent)).unwrap();
        assert_eq!(build(&reordered(&bytes, &split)).unwrap(), want);
        let db = crate::Nb101::from_store_bytes(want, Path::new("t")).unwrap();
        assert_eq!(db.len(), 40);
    }

    /// More records than a step and than a task: the store does not depend on where steps
    /// and tasks cut the file (each record decoded alone gives the same store).
    #[test]
    fn steps_and_tasks_do_not_change_the_store() {
        let bytes = sample(800); // 9,601 records: two steps, many tasks
        let whole = build(&bytes).unwrap();
        let db = crate::Nb101::from_store_bytes(whole, Path::new("t")).unwrap();
        assert_eq!(db.len(), 800);
        let frames: Vec<_> = Frames::new(&bytes, true).map(|f| f.unwrap()).collect();
        let mut s = Scratch::new();
        for (k, f) in frames.iter().enumerate().skip(1).step_by(97) {
            let rec = Framed {
                offset: f.offset,
                payload: f.payload,
                stored_crc: masked_crc(f.payload),
            };
            let alone = decode(&rec, None, true, &mut s).ok().unwrap();
            let prev = &frames[k - 1];
            let prev_rec = Framed {
                offset: prev.offset,
                payload: prev.payload,
                stored_crc: masked_crc(prev.payload),
            };
            let p = decode(&prev_rec, None, true, &mut s).ok().unwrap();
            let chained = decode(&rec, Some((&prev_rec, &p)), true, &mut s)
                .ok()
                .unwrap();
            assert_eq!((alone.hash, alone.epochs), (chained.hash, chained.epochs));
            assert_eq!(alone.values, chained.values);
        }
    }

    /// The error names the first bad record in file order, with its index and offset, also
    /// when a later record is bad too and when the bad record is in a later step.
    #[test]
    fn the_first_bad_record_is_the_error() {
        let clean = sample(800);
        let starts = record_starts(&clean);
        for &r in &[1usize, 200, 9000] {
            let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
            let mut b = clean.clone();
            b[starts[r] + 40] ^= 0x04; // payload byte: CRC error
            b[starts[r + 100] + 1] ^= 0x01; // a later length byte too
            cases.push(("payload CRC", b));
            let mut b = clean.clone();
            b[starts[r] + 2] ^= 0x10; // length byte
            cases.push(("length CRC", b));
            let mut b = clean.clone();
            b.truncate(starts[r] + 100);
            cases.push(("file ends", b));
            let mut b = clean.clone();
            let (at, end) = (starts[r] + 12, starts[r + 1] - 4);
            b[at] = b'{'; // broken JSON under a valid CRC
            let crc = masked_crc(&b[at..end]);
            b[end..end + 4].copy_from_slice(&crc.to_le_bytes());
            cases.push(("payload", b));
            for (what, bytes) in &cases {
                let e = build(bytes).unwrap_err();
                let want = format!("record {r} at byte {}:", starts[r]);
                assert!(e.contains(&want), "{what}: {e} (want {want})");
            }
        }
    }

    /// A record of 150 KB (a long checkpoint path) among ordinary ones reads as the short one.
    #[test]
    fn a_long_record() {
        let clean = sample(20);
        let starts = record_starts(&clean);
        let (at, end) = (starts[30], starts[31]);
        let rec = crate::record::decode_payload(&clean[at + 12..end - 4]).unwrap();
        let mut metrics = rec.metrics.clone();
        metrics.evaluation_data[0].checkpoint_path = "x".repeat(150_000);
        let long =
            crate::record::encode_payload(&rec.hash, rec.epochs, &rec.matrix, &rec.ops, &metrics);
        let mut bytes = clean[..at].to_vec();
        crate::tfrecord::write_record(&mut bytes, &long).unwrap();
        bytes.extend_from_slice(&clean[end..]);
        assert_eq!(build(&bytes).unwrap(), build(&clean).unwrap());
    }
}
