//! One task's share of a tfrecord: the records that start in a byte range, framed, checked
//! (length and payload CRCs, four records at a time) and decoded into what the merge needs.
//! A record whose bytes repeat the previous record's up to the metrics is read only from the
//! metrics on. Nothing here knows the file's other segments; the caller proves where a
//! segment's first record starts (see `pipeline`).

use super::crc::masked_crc4;
use super::fast::{decode_fast, decode_fast_metrics, same_model_head, Layout};
use super::pack::{pack_model, PackedModel};
use crate::error::TableError;
use crate::hash::ModelHash;
use crate::layout::{le_u32, SYNTHETIC_MARKER};
use crate::record::PayloadError;
use crate::tfrecord::{frame_at, Frame, FrameError};

/// Records framed, then checked, then decoded together.
const BATCH: usize = 32;
/// How far ahead of the framing the bytes are prefetched (more than a batch).
const FRAME_PREFETCH_AHEAD: usize = 16 << 10;

/// The values of a run as the parallel stage leaves them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum RunValues {
    /// Every value is exactly an f32 (as in the released files).
    Narrow([f32; 8]),
    Wide([f64; 8]),
}

impl RunValues {
    /// Narrowed when that loses nothing.
    #[inline]
    pub(crate) fn new(v: [f64; 8]) -> RunValues {
        let f = v.map(|x| x as f32);
        // A fold, not `all`: no early exit, so the eight checks vectorize.
        let exact = f.iter().zip(&v).fold(true, |ok, (a, b)| {
            ok & (f64::from(*a).to_bits() == b.to_bits())
        });
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

/// One record decoded in the parallel stage: what the merge needs, in 60 bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rec {
    pub(crate) hash: ModelHash,
    pub(crate) epochs: u32,
    /// Flags: [`MARKER`], [`WIDE`].
    pub(crate) flags: u32,
    /// Position in the segment's `packed` of the record's model (for a record whose bytes
    /// repeat the previous record's, the model that record started).
    pub(crate) model: u32,
    /// The values narrowed to f32; with [`WIDE`], the first one's bits are the position of
    /// the values in the segment's `wide`.
    pub(crate) narrow: [f32; 8],
}

/// The record is the synthetic marker, not a run.
pub(crate) const MARKER: u32 = 1;
/// The values are not all exact f32s: they are kept whole in `Segment::wide`.
pub(crate) const WIDE: u32 = 2;

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
            super::crc::prefetch(
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

/// Buffers a task reuses from record to record.
pub(crate) struct Scratch {
    base64: Vec<u8>,
    proto: Vec<u8>,
}

impl Scratch {
    pub(crate) fn new() -> Scratch {
        Scratch {
            base64: Vec::with_capacity(512),
            proto: Vec::with_capacity(256),
        }
    }
}

/// A record read in the released layout, for the next one to compare against.
#[derive(Clone, Copy)]
struct Head {
    hash: ModelHash,
    layout: Layout,
    /// Its model's position in the segment's `packed`.
    model: u32,
}

/// The model of a decoded record.
enum ModelOf {
    /// Read in full and packed.
    New(PackedModel),
    /// The bytes repeat the previous record's: its model, already packed at this position.
    Packed(u32),
}

/// A record decoded: its hash, epochs, values and model.
struct Decoded {
    hash: ModelHash,
    epochs: u32,
    values: [f64; 8],
    model: ModelOf,
}

/// Decodes a record; for one in the released layout, also where its fields lie, for the next
/// record to compare against.
fn decode_rec(
    frame: &Frame<'_>,
    previous: Option<(&Frame<'_>, Head)>,
    s: &mut Scratch,
) -> Result<(Decoded, Option<Layout>), Fault> {
    // The marker's metrics are not a run: not checked, not kept.
    let values = |hash, v: &crate::proto::ApiValues| -> Result<[f64; 8], Fault> {
        if hash == SYNTHETIC_MARKER {
            return Ok([0.0; 8]);
        }
        if v.evaluations < 3 {
            let e = TableError::MissingEvaluations(v.evaluations);
            return Err(Fault::Record(e));
        }
        let [a, b, c, d] = v.halfway;
        let [e, f, g, h] = v.final_;
        Ok([a, b, c, d, e, f, g, h])
    };
    // Runs of one model differ only in epochs and metrics: skip re-reading the rest.
    if let Some((p, head)) = previous {
        if let Some((epochs, layout)) = same_model_head(frame.payload, p.payload, head.layout) {
            let (b64, proto) = (&mut s.base64, &mut s.proto);
            if let Some(v) = decode_fast_metrics(frame.payload, layout.base64_at, b64, proto) {
                let d = Decoded {
                    hash: head.hash,
                    epochs,
                    values: values(head.hash, &v)?,
                    model: ModelOf::Packed(head.model),
                };
                return Ok((d, Some(layout)));
            }
        }
    }
    let r = decode_fast(frame.payload, &mut s.base64, &mut s.proto).map_err(Fault::Payload)?;
    let v = &r.values;
    // Every record's adjacency and ops are checked, also those of a model seen before (whose
    // first record's are the ones kept, as in the official API).
    let packed =
        pack_model(r.hash, v.trainable_parameters, &r.matrix, &r.ops).map_err(Fault::Payload)?;
    let d = Decoded {
        hash: r.hash,
        epochs: r.epochs,
        values: values(r.hash, v)?,
        model: ModelOf::New(packed),
    };
    Ok((d, r.layout))
}

/// What is wrong with a record of a segment.
#[derive(Debug)]
pub(crate) enum Fault {
    Frame(FrameError),
    Payload(PayloadError),
    Record(TableError),
}

/// The records that start in `bytes[from..to]`, as one task read them.
#[derive(Default)]
pub(crate) struct Segment<'a> {
    pub(crate) from: usize,
    pub(crate) to: usize,
    /// Where the task started: a plausible record start, or none found in the range. The
    /// records are the file's only if this is where the previous segment's records end.
    pub(crate) start: Option<usize>,
    /// Frame indices count from the segment's first record.
    pub(crate) frames: Vec<Frame<'a>>,
    pub(crate) recs: Vec<Rec>,
    /// Models of records read in full.
    packed: Vec<PackedModel>,
    /// Values that are not all exact f32s.
    wide: Vec<[f64; 8]>,
    /// Where the next record starts when there is no fault: at or after `to`, or (deferred)
    /// at the record the task left to the merge.
    pub(crate) end: usize,
    /// The task stopped before a record longer than it reads ahead of the merge.
    pub(crate) deferred: bool,
    /// The first bad record: its position in the segment, byte offset and fault. Frames and
    /// records before it are good.
    pub(crate) fault: Option<(usize, u64, Fault)>,
}

impl<'a> Segment<'a> {
    /// Reads the records that start in `bytes[from..to]`, framing from `start`, up to the first
    /// record longer than `longest` bytes: a task that may have started at the wrong place
    /// leaves those to the merge, so a forged length cannot make it check the rest of the file.
    pub(crate) fn read(
        &mut self,
        bytes: &'a [u8],
        (from, to): (usize, usize),
        start: Option<usize>,
        (verify_payload_crc, longest): (bool, usize),
        s: &mut Scratch,
    ) {
        self.from = from;
        self.to = to;
        self.start = start;
        self.frames.clear();
        self.recs.clear();
        self.packed.clear();
        self.wide.clear();
        self.fault = None;
        self.deferred = false;
        let Some(mut pos) = start else {
            self.end = to;
            return;
        };
        let mut head: Option<Head> = None;
        let mut prefetched = pos;
        loop {
            // Frame a batch; its bytes are then in cache for the CRC and the decode. Each
            // record's length is read from a cold cache line and gives the next record's
            // place, so the bytes ahead are fetched early.
            let first = self.frames.len();
            let mut framing = None;
            super::crc::prefetch(bytes, prefetched, pos + FRAME_PREFETCH_AHEAD);
            prefetched = prefetched.max(pos + FRAME_PREFETCH_AHEAD);
            while pos < to && self.frames.len() - first < BATCH {
                match frame_at(bytes, pos, false) {
                    Ok((payload, _)) if payload.len() > longest => {
                        self.deferred = true;
                        break;
                    }
                    Ok((payload, next)) => {
                        self.frames.push(Frame {
                            index: self.frames.len() as u64,
                            offset: pos as u64,
                            payload,
                        });
                        pos = next;
                    }
                    Err(e) => {
                        framing = Some(e);
                        break;
                    }
                }
            }
            let batch = &self.frames[first..];
            let bad = check_crcs(bytes, batch, verify_payload_crc);
            let upto = bad.as_ref().map_or(batch.len(), |(k, _)| *k);
            for k in first..first + upto {
                // A segment's first record has no decoded predecessor: it is read in full.
                let previous = k
                    .checked_sub(1)
                    .and_then(|p| Some((&self.frames[p], head?)));
                match decode_rec(&self.frames[k], previous, s) {
                    Ok((d, layout)) => {
                        let hash = d.hash;
                        let model = self.push(d);
                        head = layout.map(|layout| Head {
                            hash,
                            layout,
                            model,
                        });
                    }
                    Err(e) => {
                        self.fault = Some((k, self.frames[k].offset, e));
                        return;
                    }
                }
            }
            if let Some((k, e)) = bad {
                let offset = self.frames[first + k].offset;
                self.fault = Some((first + k, offset, Fault::Frame(e)));
                return;
            }
            if let Some(e) = framing {
                self.fault = Some((self.frames.len(), pos as u64, Fault::Frame(e)));
                return;
            }
            if self.deferred || pos >= to {
                self.end = pos;
                return;
            }
        }
    }

    /// Adds a decoded record; returns the position of its model in `packed`.
    fn push(&mut self, d: Decoded) -> u32 {
        let model = match d.model {
            ModelOf::New(p) => {
                self.packed.push(p);
                self.packed.len() as u32 - 1
            }
            ModelOf::Packed(at) => at,
        };
        let mut flags = if d.hash == SYNTHETIC_MARKER {
            MARKER
        } else {
            0
        };
        let narrow = match RunValues::new(d.values) {
            RunValues::Narrow(f) => f,
            RunValues::Wide(v) => {
                flags |= WIDE;
                self.wide.push(v);
                let mut at = [0.0; 8];
                at[0] = f32::from_bits(self.wide.len() as u32 - 1);
                at
            }
        };
        self.recs.push(Rec {
            hash: d.hash,
            epochs: d.epochs,
            flags,
            model,
            narrow,
        });
        model
    }

    /// The values of a record.
    pub(crate) fn values(&self, r: &Rec) -> RunValues {
        if r.flags & WIDE == 0 {
            RunValues::Narrow(r.narrow)
        } else {
            RunValues::Wide(self.wide[r.narrow[0].to_bits() as usize])
        }
    }

    /// The packed model of record `k` (every record's `model` points at one this segment
    /// packed: its own, or the one its repeated bytes started).
    pub(crate) fn model(&self, k: usize) -> PackedModel {
        self.packed[self.recs[k].model as usize]
    }
}
