//! tfrecord → store: a two-stage pipeline over segments of the file. Each segment is framed,
//! checked and decoded by one task, in parallel, while the previous step's segments are
//! merged into the table in file order. A task finds where its first record starts by the
//! length CRC; the merge proves it (the previous segment's records must end there) and reads
//! a segment again from the proven start where they do not, and reads the records longer
//! than a segment that tasks leave to it. So each byte is read from memory once, by the task
//! that decodes it, except where a guess was wrong. The first error reported is the first
//! bad record in file order.

use super::segment::{Fault, Scratch, Segment, MARKER};
use super::sink::Sink;
use super::table::{BuildError, TableBuilder};
use super::{ConvertSummary, Progress};
use crate::error::Nb101Error;
use crate::tfrecord::plausible_start;
use std::path::Path;

/// Bytes of the file whose records one task reads (they stay in its core's cache).
const SEGMENT: usize = 256 << 10;

/// Where a task starts reading `bytes[from..to]`.
type FindStart = fn(&[u8], usize, usize) -> Option<usize>;

/// How the pipeline cuts the file into segments.
#[derive(Clone, Copy)]
struct Cut {
    segment: usize,
    /// Records longer than this are left to the merge (which reads from proven starts only).
    longest: usize,
    /// Where a task starts reading `bytes[from..to]`: the first plausible record start (tests
    /// give wrong answers on purpose: the merge must not depend on them).
    find_start: FindStart,
}

fn first_plausible_start(bytes: &[u8], from: usize, to: usize) -> Option<usize> {
    (from..to).find(|&p| plausible_start(bytes, p))
}

const CUT: Cut = Cut {
    segment: SEGMENT,
    longest: SEGMENT,
    find_start: first_plausible_start,
};

/// Fewer bytes than any record in the released layout takes, framing included (the
/// smallest, a 2-vertex cell at 4 epochs, takes about 295; a 7-vertex one 417): a bound on
/// the number of records for reserving memory, whose untouched pages cost nothing.
pub(crate) const MIN_RECORD: usize = 290;

/// Segments per pipeline step: decoded while the previous step's are merged.
const STEP: usize = 32;

/// Reads the segments `first..first + segs.len()` of `bytes` in parallel.
fn read_segments<'a>(
    bytes: &'a [u8],
    cut: Cut,
    first: usize,
    verify_payload_crc: bool,
    segs: &mut [Segment<'a>],
) {
    use rayon::prelude::*;
    segs.par_iter_mut()
        .enumerate()
        .for_each_init(Scratch::new, |s, (i, seg)| {
            let from = (first + i) * cut.segment;
            let to = (from + cut.segment).min(bytes.len());
            let start = if from == 0 {
                Some(0)
            } else {
                (cut.find_start)(bytes, from, to)
            };
            seg.read(
                bytes,
                (from, to),
                start,
                (verify_payload_crc, cut.longest),
                s,
            );
        });
}

/// The serial stage's table: records added in file order.
struct Merge<'p, S: Sink> {
    table: TableBuilder<S>,
    path: &'p Path,
    out: &'p Path,
}

impl<S: Sink> Merge<'_, S> {
    /// Adds the first `upto` records of `seg`, the first of which is record `base` of the file.
    fn merge(&mut self, seg: &Segment<'_>, upto: usize, base: u64) -> Result<(), Nb101Error> {
        for (k, r) in seg.recs[..upto].iter().enumerate() {
            if r.flags & MARKER != 0 {
                self.table.set_synthetic();
                continue;
            }
            let added = self
                .table
                .add_run(&r.hash, || seg.model(k), r.epochs, seg.values(r));
            if let Err(e) = added {
                let frame = &seg.frames[k];
                return Err(match e {
                    BuildError::Table(error) => Nb101Error::Record {
                        path: self.path.to_path_buf(),
                        record: base + frame.index,
                        offset: frame.offset,
                        error,
                    },
                    e => build_error(e, self.path, self.out),
                });
            }
        }
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

/// The serial stage: where the merge stands (the proven start of the next record and its
/// index) and what it needs to read a segment again.
struct MergeStage<'a, 'p, S: Sink> {
    merger: Merge<'p, S>,
    input: Input<'a>,
    pos: usize,
    record: u64,
    scratch: Scratch,
}

impl<'a, S: Sink> MergeStage<'a, '_, S> {
    /// Merges segments in file order, reading again any whose start is not proven.
    fn merge(&mut self, segs: &mut [Segment<'a>]) -> Result<(), Nb101Error> {
        for seg in segs {
            if self.pos >= seg.to {
                // A record spans the whole segment: nothing starts in it.
                continue;
            }
            if seg.start != Some(self.pos) {
                self.reread(seg);
            }
            self.merge_read(seg)?;
            if seg.deferred && self.pos < seg.to {
                // On from the long record the task left, with no limit.
                self.reread(seg);
                self.merge_read(seg)?;
            }
        }
        Ok(())
    }

    /// Reads the records of `seg` from the proven position, however long they are.
    fn reread(&mut self, seg: &mut Segment<'a>) {
        let (input, s) = (&self.input, &mut self.scratch);
        let range = (seg.from, seg.to);
        let how = (input.verify_payload_crc, usize::MAX);
        seg.read(input.bytes, range, Some(self.pos), how, s);
    }

    /// Merges what `seg` read from the proven position; its fault, if any, is the error.
    fn merge_read(&mut self, seg: &mut Segment<'a>) -> Result<(), Nb101Error> {
        let upto = seg.fault.as_ref().map_or(seg.recs.len(), |(k, ..)| *k);
        self.merger.merge(seg, upto, self.record)?;
        if let Some((k, offset, fault)) = seg.fault.take() {
            let (path, record) = (self.input.path.to_path_buf(), self.record + k as u64);
            return Err(match fault {
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
            });
        }
        self.record += upto as u64;
        self.pos = seg.end;
        Ok(())
    }
}

/// A tfrecord's bytes, the file they were read from (for errors) and how to parse them.
#[derive(Clone, Copy)]
pub(crate) struct Input<'a> {
    bytes: &'a [u8],
    path: &'a Path,
    cut: Cut,
    verify_payload_crc: bool,
}

impl<'a> Input<'a> {
    pub(crate) fn new(bytes: &'a [u8], path: &'a Path, verify_payload_crc: bool) -> Input<'a> {
        Input {
            bytes,
            path,
            cut: CUT,
            verify_payload_crc,
        }
    }
}

/// Runs the pipeline over every record of the input.
fn run_pipeline<'p, S: Sink + Send>(
    input: Input<'p>,
    progress: &mut Option<Progress<'_>>,
    merger: Merge<'p, S>,
) -> Result<Merge<'p, S>, Nb101Error> {
    let Input {
        bytes,
        cut,
        verify_payload_crc,
        ..
    } = input;
    let segments = bytes.len().div_ceil(cut.segment);
    let mut stage = MergeStage {
        merger,
        input,
        pos: 0,
        record: 0,
        scratch: Scratch::new(),
    };
    let mut pending: Option<Vec<Segment<'_>>> = None;
    // Buffers cycle between the stages instead of being allocated per step.
    let mut spare: Vec<Vec<Segment<'_>>> = Vec::new();
    // Each step reads the segments from `first` on while the previous step's are merged; a
    // last step (`None`) only merges.
    let steps = (0..segments).step_by(STEP).map(Some).chain([None]);
    for first in steps {
        let mut segs = spare.pop().unwrap_or_default();
        let (merged, ()) = rayon::join(
            || match pending.take() {
                Some(mut p) => (stage.merge(&mut p), Some(p)),
                None => (Ok(()), None),
            },
            || {
                if let Some(first) = first {
                    segs.resize_with((segments - first).min(STEP), Segment::default);
                    read_segments(bytes, cut, first, verify_payload_crc, &mut segs);
                }
            },
        );
        let (merged, buf) = merged;
        merged?;
        // Progress once something was merged (the first step only reads).
        if let Some(buf) = buf {
            spare.push(buf);
            if let Some(p) = progress.as_mut() {
                p(stage.pos as u64);
            }
        }
        pending = first.is_some().then_some(segs);
    }
    Ok(stage.merger)
}

/// Parses tfrecord `bytes` into a store written to `sink` (the file `out`, for errors).
pub(crate) fn build_store<S: Sink + Send>(
    input: Input<'_>,
    out: &Path,
    mut progress: Option<Progress<'_>>,
    sink: S,
) -> Result<(S, ConvertSummary), Nb101Error> {
    let Input { bytes, path, .. } = input;
    // Enough rows that the table never regrows (a copy of every row so far): records in
    // the released layout are at least MIN_RECORD bytes, with 3 or 12 runs per model.
    let models = bytes.len() / MIN_RECORD / 3 + 16;
    let merger = Merge {
        table: TableBuilder::new(sink, models),
        path,
        out,
    };
    let merger = run_pipeline(input, &mut progress, merger)?;
    merger.table.finish().map_err(|e| build_error(e, path, out))
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

    fn build(bytes: &[u8], cut: Cut) -> Result<Vec<u8>, String> {
        let path = Path::new("t.tfrecord");
        let input = Input {
            bytes,
            path,
            cut,
            verify_payload_crc: true,
        };
        build_store(input, path, None, Vec::new())
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

    /// A model whose records are not adjacent (one of its runs after the next models') gives
    /// the store of the file with that run moved back among its model's, at any cut.
    #[test]
    fn a_split_model_is_merged_into_its_first_row() {
        let bytes = sample(40);
        let n = Frames::new(&bytes, true).count();
        // Record 0 is the synthetic marker; 1..13 are model 0's twelve runs.
        let mut split: Vec<usize> = (0..n).filter(|&i| i != 1).collect();
        split.insert(40, 1);
        let mut adjacent: Vec<usize> = (0..n).filter(|&i| i != 1).collect();
        adjacent.insert(12, 1);
        let want = build(&reordered(&bytes, &adjacent), CUT).unwrap();
        let split = reordered(&bytes, &split);
        assert_eq!(build(&split, CUT).unwrap(), want);
        assert_eq!(build(&split, uncut(&split)).unwrap(), want);
        let db = crate::Nb101::from_store_bytes(want, Path::new("t")).unwrap();
        assert_eq!(db.len(), 40);
    }

    /// Starts that are wrong in every way: inside a record, past the real one, none at all.
    fn wrong_starts() -> [FindStart; 4] {
        [
            |_, from, _| Some(from),
            |_, _, _| None,
            |b, from, to| first_plausible_start(b, (from + 1).min(to), to),
            |_, from, to| Some((from + 13).min(to.saturating_sub(1))),
        ]
    }

    /// Segments from smaller than a record to many records; tasks that read records of any
    /// length, none, or (as in `CUT`) up to a segment's worth; every way of starting.
    fn cuts() -> Vec<Cut> {
        let mut cuts = Vec::new();
        for segment in [5, 64, 333, 1000, 4096, 70_000] {
            for longest in [usize::MAX, 16, segment] {
                let finders = std::iter::once(first_plausible_start as FindStart);
                for find_start in finders.chain(wrong_starts()) {
                    cuts.push(Cut {
                        segment,
                        longest,
                        find_start,
                    });
                }
            }
        }
        cuts
    }

    fn record_starts(bytes: &[u8]) -> Vec<usize> {
        Frames::new(bytes, true)
            .map(|f| f.unwrap().offset as usize)
            .collect()
    }

    /// One segment: the file read as by a single task.
    fn uncut(bytes: &[u8]) -> Cut {
        Cut {
            segment: bytes.len(),
            longest: usize::MAX,
            find_start: first_plausible_start,
        }
    }

    #[test]
    fn plausible_starts_are_exactly_the_record_starts() {
        let bytes = sample(40);
        let starts = record_starts(&bytes);
        let found: Vec<usize> = (0..bytes.len())
            .filter(|&p| plausible_start(&bytes, p))
            .collect();
        assert_eq!(found, starts);
    }

    /// Segments smaller than a record, records spanning several segments, and tasks that
    /// start at the wrong place all give the store of one uncut pass, byte for byte.
    #[test]
    fn any_cut_gives_the_same_store() {
        let bytes = sample(150);
        let reference = build(&bytes, uncut(&bytes)).unwrap();
        assert_eq!(build(&bytes, CUT).unwrap(), reference);
        for cut in cuts() {
            assert_eq!(
                build(&bytes, cut).unwrap(),
                reference,
                "segment {}",
                cut.segment
            );
        }
    }

    /// Whatever the cut, the error is the first bad record's, with its index and offset.
    #[test]
    fn any_cut_reports_the_first_error_in_file_order() {
        let clean = sample(60);
        let starts = record_starts(&clean);
        let mut broken: Vec<(&str, Vec<u8>)> = Vec::new();
        for &r in &[1usize, 200, 500] {
            let mut b = clean.clone();
            b[starts[r] + 40] ^= 0x04; // payload byte: CRC error
            b[starts[r + 100] + 1] ^= 0x01; // a later length byte too
            broken.push(("payload crc", b));
            let mut b = clean.clone();
            b[starts[r] + 2] ^= 0x10; // length byte
            broken.push(("length", b));
            let mut b = clean.clone();
            b.truncate(starts[r] + 100);
            broken.push(("truncated", b));
            let mut b = clean.clone();
            let (at, end) = (starts[r] + 12, starts[r + 1] - 4);
            b[at] = b'{'; // broken JSON under a valid CRC
            let crc = crate::tfrecord::masked_crc(&b[at..end]);
            b[end..end + 4].copy_from_slice(&crc.to_le_bytes());
            broken.push(("json", b));
        }
        for (what, bytes) in &broken {
            let expected = build(bytes, uncut(bytes)).unwrap_err();
            for cut in cuts() {
                let got = build(bytes, cut).unwrap_err();
                assert_eq!(got, expected, "{what}, segment {}", cut.segment);
            }
        }
    }

    /// A record of 150 KB (a long checkpoint path) among ordinary ones spans many segments
    /// and is longer than the tasks read ahead: the merge reads it, with the same result.
    #[test]
    fn a_long_record_spanning_segments() {
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
        let reference = build(&bytes, uncut(&bytes)).unwrap();
        assert_eq!(reference, build(&clean, uncut(&clean)).unwrap());
        assert_eq!(build(&bytes, CUT).unwrap(), reference);
        for cut in cuts() {
            assert_eq!(build(&bytes, cut).unwrap(), reference, "{}", cut.segment);
        }
    }

    /// Forged record headers (a length reaching the end of the file, with its CRC) planted
    /// throughout a file whose first record is broken: whatever a task makes of them, the
    /// error is the first record's.
    #[test]
    fn forged_headers_do_not_change_the_error() {
        let mut bytes = sample(60);
        let starts = record_starts(&bytes);
        bytes[starts[0] + 20] ^= 0x01;
        let n = bytes.len();
        for p in (1000..n - 16).step_by(700) {
            let len = (n - p - 16) as u64;
            bytes[p..p + 8].copy_from_slice(&len.to_le_bytes());
            let crc = crate::tfrecord::masked_crc(&bytes[p..p + 8]);
            bytes[p + 8..p + 12].copy_from_slice(&crc.to_le_bytes());
        }
        let expected = build(&bytes, uncut(&bytes)).unwrap_err();
        assert!(expected.contains("record 0 "), "{expected}");
        for cut in cuts() {
            assert_eq!(build(&bytes, cut).unwrap_err(), expected, "{}", cut.segment);
        }
    }
}
