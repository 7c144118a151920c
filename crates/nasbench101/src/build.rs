//! tfrecord → store: a three-stage pipeline over windows of records. While window k+1 is
//! checked and decoded in parallel, window k is merged into the table in file order and
//! window k+2 is framed (both serial). The first error reported is the first bad record in
//! file order.
//!
//! The merge streams into [`StreamTable`] (values written as they come); a file whose records
//! of one model are not adjacent is rebuilt by the general [`TableBuilder`].

use crate::crc::masked_crc4;
use crate::dataset::{le_u32, ConvertSummary, Nb101Error, Progress};
use crate::hash::ModelHash;
use crate::record::{decode_fast, decode_fast_metrics, same_model_head, Layout};
use crate::sink::Sink;
use crate::stream::StreamTable;
use crate::table::{
    pack_model, BuildError, PackedModel, TableBuilder, TableError, SYNTHETIC_MARKER,
};
use crate::tfrecord::{Frame, FrameError, Frames};
use std::path::Path;

/// Records per window.
const WINDOW: usize = 1 << 15;

/// A model's fixed data as decoded in the parallel stage.
#[derive(Clone, Copy, Debug, Default)]
enum ModelText {
    /// Byte for byte the previous record's (already checked and packed).
    #[default]
    SameAsPrevious,
    Packed(PackedModel),
}

/// One record decoded in the parallel stage.
#[derive(Clone, Copy, Debug)]
struct Rec {
    hash: ModelHash,
    epochs: u32,
    evaluations: u32,
    /// Halfway then final: training time, train, validation and test accuracy.
    values: [f64; 8],
    model: ModelText,
}

impl Default for Rec {
    fn default() -> Rec {
        Rec {
            hash: ModelHash([0; 16]),
            epochs: 0,
            evaluations: 0,
            values: [0.0; 8],
            model: ModelText::SameAsPrevious,
        }
    }
}

/// How far ahead of the CRC the bytes are prefetched.
const CRC_PREFETCH_AHEAD: usize = 4096;

/// Checks the length and (if asked) payload CRCs of `frames`, four records at a time;
/// returns the first bad record's position in `frames` and what is wrong.
fn check_crcs(
    bytes: &[u8],
    frames: &[Frame<'_>],
    verify_payload_crc: bool,
) -> Option<(usize, FrameError)> {
    for (g, group) in frames.chunks(4).enumerate() {
        // The CRC is the first pass over these bytes: fetch those a few records on while
        // this group is summed.
        if let (Some(first), Some(last)) = (group.first(), group.last()) {
            let (from, to) = (first.offset as usize, last.offset as usize + 16);
            crate::crc::prefetch(
                bytes,
                from + CRC_PREFETCH_AHEAD,
                to + last.payload.len() + CRC_PREFETCH_AHEAD,
            );
        }
        let mut lens: [&[u8]; 4] = [&[]; 4];
        let mut payloads: [&[u8]; 4] = [&[]; 4];
        for (k, f) in group.iter().enumerate() {
            let at = f.offset as usize;
            lens[k] = bytes.get(at..at + 8).unwrap_or(&[]);
            payloads[k] = f.payload;
        }
        let len_crcs = masked_crc4(lens);
        let payload_crcs = if verify_payload_crc {
            masked_crc4(payloads)
        } else {
            [0; 4]
        };
        for (k, f) in group.iter().enumerate() {
            let at = f.offset as usize;
            let (stored, computed) = (le_u32(bytes, at + 8), len_crcs[k]);
            if stored != computed {
                return Some((4 * g + k, FrameError::LengthCrc { stored, computed }));
            }
            let (stored, computed) = (le_u32(bytes, at + 12 + f.payload.len()), payload_crcs[k]);
            if verify_payload_crc && stored != computed {
                return Some((4 * g + k, FrameError::PayloadCrc { stored, computed }));
            }
        }
    }
    None
}

fn payload_error(
    path: &Path,
    frame: &Frame<'_>,
) -> impl Fn(crate::record::PayloadError) -> Nb101Error {
    let path = path.to_path_buf();
    let (record, offset) = (frame.index, frame.offset);
    move |error| Nb101Error::Payload {
        path: path.clone(),
        record,
        offset,
        error,
    }
}

struct Scratch {
    base64: Vec<u8>,
    proto: Vec<u8>,
}

/// A record read in the released layout, for the next one to compare against.
#[derive(Clone, Copy)]
struct Head {
    hash: ModelHash,
    layout: Layout,
}

fn decode_rec(
    frame: &Frame<'_>,
    previous: Option<(&Frame<'_>, Head)>,
    path: &Path,
    s: &mut Scratch,
) -> Result<(Rec, Option<Head>), Nb101Error> {
    let rec = |hash, epochs, v: &crate::proto::ApiValues, model| {
        let [a, b, c, d] = v.halfway;
        let [e, f, g, h] = v.final_;
        Rec {
            hash,
            epochs,
            evaluations: u32::try_from(v.evaluations).unwrap_or(u32::MAX),
            values: [a, b, c, d, e, f, g, h],
            model,
        }
    };
    // Runs of one model differ only in epochs and metrics: skip re-reading the rest.
    if let Some((p, head)) = previous {
        if let Some((epochs, layout)) = same_model_head(frame.payload, p.payload, head.layout) {
            let (b64, proto) = (&mut s.base64, &mut s.proto);
            if let Some(v) = decode_fast_metrics(frame.payload, layout.base64_at, b64, proto) {
                let head = Head {
                    hash: head.hash,
                    layout,
                };
                let r = rec(head.hash, epochs, &v, ModelText::SameAsPrevious);
                return Ok((r, Some(head)));
            }
        }
    }
    let err = payload_error(path, frame);
    let r = decode_fast(frame.payload, &mut s.base64, &mut s.proto).map_err(&err)?;
    let v = &r.values;
    // Every record's adjacency and ops are checked, also those of a model seen before (whose
    // first record's are the ones kept, as in the official API).
    let packed = pack_model(r.hash, v.trainable_parameters, &r.matrix, &r.ops).map_err(err)?;
    let model = ModelText::Packed(packed);
    let head = r.layout.map(|layout| Head {
        hash: r.hash,
        layout,
    });
    Ok((rec(r.hash, r.epochs, v, model), head))
}

/// Records per task of the parallel stage.
const CHUNK: usize = 256;

/// Checks and decodes a window into `recs` (reused between windows); returns the first error
/// in file order, with its position in the window. Records after it are not meaningful.
fn decode_window(
    bytes: &[u8],
    frames: &[Frame<'_>],
    verify_payload_crc: bool,
    path: &Path,
    recs: &mut Vec<Rec>,
) -> Option<(usize, Nb101Error)> {
    use rayon::prelude::*;
    let first_error = std::sync::Mutex::new(None::<(usize, Nb101Error)>);
    let note = |i: usize, e: Nb101Error| {
        let mut first = first_error.lock().unwrap_or_else(|p| p.into_inner());
        if first.as_ref().is_none_or(|(j, _)| i < *j) {
            *first = Some((i, e));
        }
    };
    // Every slot is overwritten, so a reused buffer only changes length for the last window.
    recs.resize(frames.len(), Rec::default());
    recs.par_chunks_mut(CHUNK)
        .zip(frames.par_chunks(CHUNK))
        .enumerate()
        .for_each_init(
            || Scratch {
                base64: Vec::with_capacity(512),
                proto: Vec::with_capacity(256),
            },
            |s, (c, (out, chunk))| {
                let base = c * CHUNK;
                let bad = check_crcs(bytes, chunk, verify_payload_crc);
                let upto = bad.as_ref().map_or(chunk.len(), |(k, _)| *k);
                // The chunk's first record has no decoded predecessor: it is read in full.
                let mut previous: Option<(&Frame<'_>, Option<Head>)> = None;
                for (k, (slot, f)) in out.iter_mut().zip(chunk).take(upto).enumerate() {
                    let prev = previous.and_then(|(p, h)| h.map(|h| (p, h)));
                    match decode_rec(f, prev, path, s) {
                        Ok((r, head)) => {
                            *slot = r;
                            previous = Some((f, head));
                        }
                        Err(e) => return note(base + k, e),
                    }
                }
                if let Some((k, error)) = bad {
                    let f = &chunk[k];
                    note(
                        base + k,
                        Nb101Error::Frame {
                            path: path.to_path_buf(),
                            record: f.index,
                            offset: f.offset,
                            error,
                        },
                    );
                }
            },
        );
    first_error.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// The model of a record that adds one: packed in the parallel stage (a record that shares
/// the previous record's bytes adds a model only after that one, so this rereads it only in
/// theory).
fn model_of(rec: &Rec, frame: &Frame<'_>, path: &Path) -> Result<PackedModel, Nb101Error> {
    if let ModelText::Packed(p) = rec.model {
        return Ok(p);
    }
    let mut base64 = Vec::new();
    let mut proto = Vec::new();
    let err = payload_error(path, frame);
    let r = decode_fast(frame.payload, &mut base64, &mut proto).map_err(&err)?;
    pack_model(r.hash, r.values.trainable_parameters, &r.matrix, &r.ops).map_err(err)
}

fn record_error(path: &Path, frame: &Frame<'_>, error: TableError) -> Nb101Error {
    Nb101Error::Record {
        path: path.to_path_buf(),
        record: frame.index,
        offset: frame.offset,
        error,
    }
}

/// The serial stage: adds decoded records to a table in file order.
trait Merge {
    fn set_synthetic(&mut self);
    /// Adds one checked run (not the synthetic marker).
    fn add(&mut self, r: &Rec, f: &Frame<'_>) -> Result<(), Nb101Error>;
    fn path(&self) -> &Path;

    fn merge(&mut self, frames: &[Frame<'_>], recs: &[Rec]) -> Result<(), Nb101Error> {
        for (r, f) in recs.iter().zip(frames) {
            if r.hash == SYNTHETIC_MARKER {
                self.set_synthetic();
                continue;
            }
            if r.evaluations < 3 {
                let e = TableError::MissingEvaluations(r.evaluations as usize);
                return Err(record_error(self.path(), f, e));
            }
            self.add(r, f)?;
        }
        Ok(())
    }
}

struct StreamMerge<'p, S: Sink> {
    table: StreamTable<S>,
    path: &'p Path,
    out: &'p Path,
}

impl<S: Sink + Send> Merge for StreamMerge<'_, S> {
    fn set_synthetic(&mut self) {
        self.table.set_synthetic();
    }

    fn path(&self) -> &Path {
        self.path
    }

    fn add(&mut self, r: &Rec, f: &Frame<'_>) -> Result<(), Nb101Error> {
        let path = self.path;
        if self.table.current() != Some(&r.hash) {
            let packed = model_of(r, f, path)?;
            self.table
                .start_model(packed)
                .map_err(|e| build_error(e, path, self.out))?;
        }
        self.table
            .add_run(r.epochs, r.values)
            .map_err(|e| record_error(path, f, e))
    }
}

struct GeneralMerge<'p> {
    builder: TableBuilder,
    last: Option<(ModelHash, u32)>,
    path: &'p Path,
}

impl Merge for GeneralMerge<'_> {
    fn set_synthetic(&mut self) {
        self.builder.set_synthetic();
    }

    fn path(&self) -> &Path {
        self.path
    }

    fn add(&mut self, r: &Rec, f: &Frame<'_>) -> Result<(), Nb101Error> {
        let cached = self.last.filter(|(h, _)| *h == r.hash).map(|(_, m)| m);
        let model = match cached.or_else(|| self.builder.model_number(&r.hash)) {
            Some(m) => m,
            None => self.builder.add_model(model_of(r, f, self.path)?),
        };
        self.last = Some((r.hash, model));
        self.builder.add_values(model, r.epochs, r.values);
        Ok(())
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

/// A window of frames cut by the serial framing scan, with the framing error that ended it.
struct Window<'a> {
    frames: Vec<Frame<'a>>,
    error: Option<(u64, u64, FrameError)>,
    /// Byte position after the window (for progress).
    end: u64,
}

impl Window<'_> {
    /// The last window: the file or its framing ended inside it.
    fn is_last(&self) -> bool {
        self.error.is_some() || self.frames.len() < WINDOW
    }
}

fn next_window<'a>(frames: &mut Frames<'a>, mut buf: Vec<Frame<'a>>) -> Window<'a> {
    buf.clear();
    let mut w = Window {
        frames: buf,
        error: None,
        end: 0,
    };
    for f in frames.by_ref() {
        match f {
            Ok(fr) => {
                w.frames.push(fr);
                if w.frames.len() == WINDOW {
                    break;
                }
            }
            Err(e) => {
                w.error = Some(e);
                break;
            }
        }
    }
    w.end = Frames::position(frames);
    w
}

/// A decoded window waiting for the merge.
struct Decoded<'a> {
    window: Window<'a>,
    recs: Vec<Rec>,
    bad: Option<(usize, Nb101Error)>,
}

/// Merges a decoded window; hands back its buffers for reuse.
fn merge_decoded<'a, M: Merge>(
    merger: &mut M,
    d: Decoded<'a>,
    path: &Path,
) -> (Result<u64, Nb101Error>, Vec<Frame<'a>>, Vec<Rec>) {
    let Decoded { window, recs, bad } = d;
    let upto = bad.as_ref().map_or(recs.len(), |(i, _)| *i);
    let result = (|| {
        merger.merge(&window.frames[..upto], &recs[..upto])?;
        if let Some((_, e)) = bad {
            return Err(e);
        }
        match window.error {
            Some((record, offset, error)) => Err(Nb101Error::Frame {
                path: path.to_path_buf(),
                record,
                offset,
                error,
            }),
            None => Ok(window.end),
        }
    })();
    (result, window.frames, recs)
}

/// Runs the pipeline over every record of `bytes`.
fn run_pipeline<M: Merge + Send>(
    bytes: &[u8],
    path: &Path,
    verify_payload_crc: bool,
    progress: &mut Option<Progress<'_>>,
    merger: &mut M,
) -> Result<(), Nb101Error> {
    let mut frames = Frames::unchecked_lengths(bytes);
    let mut next = Some(next_window(&mut frames, Vec::with_capacity(WINDOW)));
    let mut pending: Option<Decoded<'_>> = None;
    // Buffers cycle between the stages instead of being allocated per window.
    let mut spare_recs: Vec<Vec<Rec>> = Vec::new();
    while let Some(window) = next.take() {
        let last = window.is_last();
        let mut recs = spare_recs.pop().unwrap_or_default();
        let (merged, bad) = rayon::join(
            || {
                let (merged, frames_buf, recs_buf) = match pending.take() {
                    Some(d) => {
                        let (r, f, b) = merge_decoded(merger, d, path);
                        (r.map(Some), f, Some(b))
                    }
                    None => (Ok(None), Vec::with_capacity(WINDOW), None),
                };
                if !last && merged.is_ok() {
                    next = Some(next_window(&mut frames, frames_buf));
                }
                (merged, recs_buf)
            },
            || decode_window(bytes, &window.frames, verify_payload_crc, path, &mut recs),
        );
        let (merged, recs_buf) = merged;
        spare_recs.extend(recs_buf);
        if let (Some(end), Some(p)) = (merged?, progress.as_mut()) {
            p(end);
        }
        pending = Some(Decoded { window, recs, bad });
    }
    if let Some(d) = pending {
        let end = merge_decoded(merger, d, path).0?;
        if let Some(p) = progress.as_mut() {
            p(end);
        }
    }
    Ok(())
}

/// Parses tfrecord `bytes` (read from `path`) into a store written to `sink` (the file
/// `out`, for errors). Streams when the records of each model are adjacent; otherwise parses
/// again into the general builder.
pub(crate) fn build_store<S: Sink + Send>(
    bytes: &[u8],
    path: &Path,
    out: &Path,
    verify_payload_crc: bool,
    mut progress: Option<Progress<'_>>,
    sink: S,
) -> Result<(S, ConvertSummary), Nb101Error> {
    // Real records are 330-420 bytes with 3 or 12 runs per model.
    let models = bytes.len() / 330 / 3 + 16;
    let mut merger = StreamMerge {
        table: StreamTable::new(sink, models),
        path,
        out,
    };
    run_pipeline(bytes, path, verify_payload_crc, &mut progress, &mut merger)?;
    let done = merger.table.finish();
    let mut sink = merger.table.into_sink();
    match done {
        Ok(summary) => Ok((sink, summary)),
        // A model's records are not adjacent: the general builder merges them.
        Err(BuildError::Table(TableError::DuplicateHash(_))) => {
            let mut general = GeneralMerge {
                builder: TableBuilder::with_capacity(bytes.len() / 330 + 16),
                last: None,
                path,
            };
            run_pipeline(bytes, path, verify_payload_crc, &mut progress, &mut general)?;
            let summary = general
                .builder
                .finish_into(&mut sink)
                .map_err(|e| build_error(e, path, out))?;
            Ok((sink, summary))
        }
        Err(e) => Err(build_error(e, path, out)),
    }
}
