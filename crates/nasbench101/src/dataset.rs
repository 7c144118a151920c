//! An opened NAS-Bench-101 data file, either a compact store (memory-mapped) or a tfrecord
//! (parsed into the same layout in memory), and read-only views of its models.

use crate::hash::ModelHash;
use crate::record::PayloadError;
use crate::spec::{ModelSpec, SpecError};
use crate::table::{
    self, unpack_adjacency, TableError, DIR_LEN, DIR_SLOTS, FLAG_F32, FLAG_SYNTHETIC, HEADER_LEN,
    INDEX_LEN, MAGIC, MAX_BUDGETS, MODEL_LEN, VERSION,
};
use crate::tfrecord::FrameError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The 8 values the official API keeps per training run: halfway and final
/// (training time, train, validation and test accuracy).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DataPoint {
    pub halfway_training_time: f64,
    pub halfway_train_accuracy: f64,
    pub halfway_validation_accuracy: f64,
    pub halfway_test_accuracy: f64,
    pub final_training_time: f64,
    pub final_train_accuracy: f64,
    pub final_validation_accuracy: f64,
    pub final_test_accuracy: f64,
}

impl DataPoint {
    /// The values in field order.
    pub fn to_array(&self) -> [f64; 8] {
        [
            self.halfway_training_time,
            self.halfway_train_accuracy,
            self.halfway_validation_accuracy,
            self.halfway_test_accuracy,
            self.final_training_time,
            self.final_train_accuracy,
            self.final_validation_accuracy,
            self.final_test_accuracy,
        ]
    }
    /// Inverse of [`DataPoint::to_array`].
    pub fn from_array(v: [f64; 8]) -> DataPoint {
        DataPoint {
            halfway_training_time: v[0],
            halfway_train_accuracy: v[1],
            halfway_validation_accuracy: v[2],
            halfway_test_accuracy: v[3],
            final_training_time: v[4],
            final_train_accuracy: v[5],
            final_validation_accuracy: v[6],
            final_test_accuracy: v[7],
        }
    }
}

/// Why a data file cannot be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum Nb101Error {
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: record {record} at byte {offset}: {error}")]
    Frame {
        path: PathBuf,
        record: u64,
        offset: u64,
        error: FrameError,
    },
    #[error("{path}: record {record} at byte {offset}: {error}")]
    Payload {
        path: PathBuf,
        record: u64,
        offset: u64,
        error: PayloadError,
    },
    #[error("{path}: record {record} at byte {offset}: {error}")]
    Record {
        path: PathBuf,
        record: u64,
        offset: u64,
        error: TableError,
    },
    #[error("{path}: {error}")]
    Table { path: PathBuf, error: TableError },
    #[error(
        "{path}: neither an nb1s1 NB-101 store (no magic) nor a TFRecord (the first record's \
         length CRC does not match)"
    )]
    UnknownFormat { path: PathBuf },
    #[error("{path}: already a store; convert reads official tfrecords")]
    AlreadyStore { path: PathBuf },
    #[error("{path}: not a valid nb1s1 NB-101 store (byte {offset}): {what}")]
    Store {
        path: PathBuf,
        offset: u64,
        what: String,
    },
}

/// Why a query has no answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("hash {0} is not in the data file")]
    UnknownHash(ModelHash),
    #[error("epoch budget {epochs} is not in the data file (valid: {valid:?})")]
    InvalidEpochs { epochs: u32, valid: Vec<u32> },
    #[error(
        "model {hash} has {available} repeat(s) at {epochs} epochs; repeat {repeat} requested"
    )]
    MissingRepeat {
        hash: ModelHash,
        epochs: u32,
        repeat: usize,
        available: usize,
    },
}

impl QueryError {
    /// A stable snake_case code (spec errors keep their own codes).
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::Spec(e) => e.code(),
            QueryError::UnknownHash(_) => "unknown_hash",
            QueryError::InvalidEpochs { .. } => "invalid_epochs",
            QueryError::MissingRepeat { .. } => "missing_repeat",
        }
    }
}

/// Where the data came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// A compact store, memory-mapped.
    Store,
    /// An official-format tfrecord, parsed into memory.
    TfRecord,
}

enum Backing {
    Map(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Backing {
    fn bytes(&self) -> &[u8] {
        match self {
            Backing::Map(m) => m,
            Backing::Owned(v) => v,
        }
    }
}

#[derive(Clone, Debug)]
struct Header {
    flags: u32,
    n_models: usize,
    n_datapoints: u64,
    budgets: Vec<u32>,
    models_off: usize,
    index_off: usize,
    dir_off: usize,
    data_off: usize,
    meta_crc: u32,
    data_crc: u32,
}

pub(crate) fn le_u32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// Options for opening a data file.
#[derive(Clone, Copy, Debug)]
pub struct OpenOptions {
    /// Check the payload CRC of every tfrecord record (the length CRC is always checked).
    pub verify_payload_crc: bool,
    /// Check the CRC of a store's data section at open (its header and metadata sections are
    /// always checked). Costs a pass over the values.
    pub verify_store_data: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            verify_payload_crc: true,
            verify_store_data: false,
        }
    }
}

/// An opened NAS-Bench-101 data file. `Send + Sync`; share it behind an `Arc`.
pub struct Nb101 {
    data: Backing,
    path: PathBuf,
    header: Header,
    kind: SourceKind,
    width: usize,
}

/// A callback told how many input bytes have been parsed so far.
pub type Progress<'a> = &'a mut dyn FnMut(u64);

impl Nb101 {
    /// Opens a store or a tfrecord (told apart by the store's magic bytes).
    pub fn open(path: impl AsRef<Path>) -> Result<Nb101, Nb101Error> {
        Nb101::open_with(path, OpenOptions::default(), None)
    }

    /// [`Nb101::open`] with options and an optional progress callback (tfrecord parsing).
    pub fn open_with(
        path: impl AsRef<Path>,
        opts: OpenOptions,
        progress: Option<Progress<'_>>,
    ) -> Result<Nb101, Nb101Error> {
        let path = path.as_ref().to_path_buf();
        let Some(map) = map_input(&path)? else {
            return Nb101::from_tfrecord_bytes(&[], &path, opts, progress);
        };
        if map.get(..16) == Some(&MAGIC[..]) {
            Nb101::from_store(Backing::Map(map), path, opts.verify_store_data)
        } else {
            Nb101::from_tfrecord_bytes(&map, &path, opts, progress)
                .map_err(|e| unknown_format(e, &path))
        }
    }

    /// Parses tfrecord bytes (official format) into an in-memory table; `path` names the
    /// error in errors.
    pub fn from_tfrecord_bytes(
        bytes: &[u8],
        path: &Path,
        opts: OpenOptions,
        progress: Option<Progress<'_>>,
    ) -> Result<Nb101, Nb101Error> {
        let table = parse_tfrecord(bytes, path, opts.verify_payload_crc, progress)?;
        let mut db = Nb101::from_store(Backing::Owned(table), path.to_path_buf(), false)?;
        db.kind = SourceKind::TfRecord;
        Ok(db)
    }

    /// Wraps store bytes held in memory (e.g. read from elsewhere).
    pub fn from_store_bytes(bytes: Vec<u8>, path: &Path) -> Result<Nb101, Nb101Error> {
        Nb101::from_store(Backing::Owned(bytes), path.to_path_buf(), true)
    }

    fn from_store(data: Backing, path: PathBuf, verify_data: bool) -> Result<Nb101, Nb101Error> {
        let header = parse_header(data.bytes(), &path)?;
        let b = data.bytes();
        let meta = b.get(header.models_off..).unwrap_or(&[]);
        if crc32c::crc32c(meta) != header.meta_crc {
            return Err(Nb101Error::Store {
                path,
                offset: header.models_off as u64,
                what: "metadata checksum mismatch (corrupt models, index or directory)".into(),
            });
        }
        let width = if header.flags & FLAG_F32 != 0 { 4 } else { 8 };
        let db = Nb101 {
            data,
            path,
            header,
            kind: SourceKind::Store,
            width,
        };
        if verify_data {
            db.verify()?;
        }
        Ok(db)
    }

    /// Checks the CRC of the data section (the header and metadata are checked at open).
    pub fn verify(&self) -> Result<(), Nb101Error> {
        let data = self
            .bytes()
            .get(self.header.data_off..self.header.models_off)
            .unwrap_or(&[]);
        if crc32c::crc32c(data) != self.header.data_crc {
            return Err(Nb101Error::Store {
                path: self.path.clone(),
                offset: self.header.data_off as u64,
                what: "data checksum mismatch (corrupt values)".into(),
            });
        }
        Ok(())
    }

    fn bytes(&self) -> &[u8] {
        self.data.bytes()
    }

    /// The table bytes in store format (what `convert` writes).
    pub fn store_bytes(&self) -> &[u8] {
        self.bytes()
    }

    /// The file this was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Store or tfrecord.
    pub fn source_kind(&self) -> SourceKind {
        self.kind
    }

    /// True when values are held as f32 (every value round-trips exactly).
    pub fn values_are_f32(&self) -> bool {
        self.width == 4
    }

    /// True for files written by the synthetic generator (they carry a marker record).
    pub fn is_synthetic(&self) -> bool {
        self.header.flags & FLAG_SYNTHETIC != 0
    }

    /// Epoch budgets present, ascending.
    pub fn epochs(&self) -> &[u32] {
        &self.header.budgets
    }

    /// Number of models.
    pub fn len(&self) -> usize {
        self.header.n_models
    }

    /// No models.
    pub fn is_empty(&self) -> bool {
        self.header.n_models == 0
    }

    /// Number of training runs (records) held, over all models and budgets.
    pub fn num_datapoints(&self) -> u64 {
        self.header.n_datapoints
    }

    /// The `i`-th model in file order.
    pub fn model_at(&self, i: usize) -> Option<Model<'_>> {
        if i >= self.header.n_models {
            return None;
        }
        let at = self.header.models_off + i * MODEL_LEN;
        let entry = self.bytes().get(at..at + MODEL_LEN)?;
        Some(Model {
            db: self,
            index: i,
            entry,
        })
    }

    /// Looks a model up by hash: directory slot by 16-bit prefix, then binary search.
    pub fn model(&self, hash: &ModelHash) -> Option<Model<'_>> {
        let b = self.bytes();
        let prefix = usize::from(hash.0[0]) << 8 | usize::from(hash.0[1]);
        let dir = self.header.dir_off;
        let mut lo = le_u32(b, dir + prefix * 4) as usize;
        let mut hi = (le_u32(b, dir + (prefix + 1) * 4) as usize).min(self.header.n_models);
        let idx = self.header.index_off;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let at = idx + mid * INDEX_LEN;
            let key = b.get(at..at + 16)?;
            match key.cmp(&hash.0[..]) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    let i = le_u32(b, at + 16) as usize;
                    return self.model_at(i);
                }
            }
        }
        None
    }

    /// Checks and hashes `spec`, then looks the hash up.
    pub fn model_by_spec(&self, spec: &ModelSpec) -> Result<Model<'_>, QueryError> {
        let hash = spec.hash()?;
        self.model(&hash).ok_or(QueryError::UnknownHash(hash))
    }

    /// All models in file order (the official `hash_iterator` order).
    pub fn models(&self) -> impl Iterator<Item = Model<'_>> + '_ {
        (0..self.header.n_models).filter_map(move |i| self.model_at(i))
    }

    /// Hashes in file order.
    pub fn hashes(&self) -> impl Iterator<Item = ModelHash> + '_ {
        self.models().map(|m| m.hash())
    }

    /// Calls `f(model index, repeat, value)` for one field (index into
    /// [`DataPoint::to_array`]) of every repeat at `epochs`, in file order. The fast path for
    /// whole-table statistics; nothing is called when the budget is absent.
    pub fn scan(&self, epochs: u32, field: usize, mut f: impl FnMut(usize, usize, f64)) {
        let Some(slot) = self.budget_slot(epochs) else {
            return;
        };
        if field >= 8 {
            return;
        }
        let b = self.bytes();
        let w = self.width;
        let n_dp = self.header.n_datapoints;
        let models = b
            .get(self.header.models_off..self.header.models_off + self.header.n_models * MODEL_LEN)
            .unwrap_or(&[]);
        for (i, e) in models.chunks_exact(MODEL_LEN).enumerate() {
            let counts = e.get(37..37 + MAX_BUDGETS).unwrap_or(&[]);
            let before: u64 = counts.iter().take(slot).map(|&c| u64::from(c)).sum();
            let first = le_u64(e, 16).saturating_add(before);
            let count = usize::from(counts.get(slot).copied().unwrap_or(0));
            for k in 0..count {
                let dp = first.saturating_add(k as u64);
                if dp >= n_dp {
                    break;
                }
                let at = self.header.data_off + dp as usize * 8 * w + field * w;
                let v = if w == 4 {
                    b.get(at..at + 4)
                        .and_then(|s| s.try_into().ok())
                        .map(|x| f64::from(f32::from_le_bytes(x)))
                } else {
                    b.get(at..at + 8)
                        .and_then(|s| s.try_into().ok())
                        .map(f64::from_le_bytes)
                };
                if let Some(v) = v {
                    f(i, k, v);
                }
            }
        }
    }

    fn budget_slot(&self, epochs: u32) -> Option<usize> {
        self.header.budgets.iter().position(|&e| e == epochs)
    }

    fn read_point(&self, dp: u64) -> Option<DataPoint> {
        if dp >= self.header.n_datapoints {
            return None;
        }
        let w = self.width;
        let at = self.header.data_off + dp as usize * 8 * w;
        let s = self.bytes().get(at..at + 8 * w)?;
        let mut v = [0f64; 8];
        for (k, out) in v.iter_mut().enumerate() {
            *out = if w == 4 {
                f64::from(f32::from_le_bytes(
                    s.get(4 * k..4 * k + 4)?.try_into().ok()?,
                ))
            } else {
                f64::from_le_bytes(s.get(8 * k..8 * k + 8)?.try_into().ok()?)
            };
        }
        Some(DataPoint::from_array(v))
    }

    fn read_value(&self, dp: u64, field: usize) -> Option<f64> {
        if dp >= self.header.n_datapoints || field >= 8 {
            return None;
        }
        let w = self.width;
        let at = self.header.data_off + dp as usize * 8 * w + field * w;
        let s = self.bytes().get(at..at + w)?;
        if w == 4 {
            Some(f64::from(f32::from_le_bytes(s.try_into().ok()?)))
        } else {
            Some(f64::from_le_bytes(s.try_into().ok()?))
        }
    }
}

/// What [`convert`] wrote (also what any store build reports).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ConvertSummary {
    pub models: usize,
    pub runs: u64,
    pub epochs: Vec<u32>,
    /// Values stored as f32 (every value round-trips exactly) rather than f64.
    pub f32_values: bool,
    pub synthetic: bool,
    pub store_bytes: u64,
}

/// Converts an official-format tfrecord into a store at `output` (written atomically).
/// Refuses an input that already is a store.
pub fn convert(
    input: &Path,
    output: &Path,
    opts: OpenOptions,
    progress: Option<Progress<'_>>,
) -> Result<ConvertSummary, Nb101Error> {
    let map = map_input(input)?;
    let bytes: &[u8] = map.as_deref().unwrap_or(&[]);
    if bytes.get(..16) == Some(&MAGIC[..]) {
        return Err(Nb101Error::AlreadyStore {
            path: input.to_path_buf(),
        });
    }
    let io_out = |error| Nb101Error::Io {
        path: output.to_path_buf(),
        error,
    };
    let tmp = crate::atomic::AtomicFile::create(output).map_err(io_out)?;
    let sink = crate::sink::FileSink::new(tmp.file());
    let (_, s) = crate::build::build_store(
        bytes,
        input,
        output,
        opts.verify_payload_crc,
        progress,
        sink,
    )
    .map_err(|e| unknown_format(e, input))?;
    // While the store is fsynced and renamed, the input is unmapped: its page tables (15-20 ms
    // for 400 MB on one core) are first cleared by two threads, half the file each.
    let committed = std::thread::scope(|scope| {
        let commit = scope.spawn(move || tmp.commit());
        if let Some(m) = &map {
            clear_page_tables(m);
        }
        drop(map);
        commit.join()
    });
    match committed {
        Ok(c) => c.map_err(io_out)?,
        Err(panic) => std::panic::resume_unwind(panic),
    }
    Ok(s)
}

/// Drops the page-table entries of a read-only file mapping in two halves at once, so that
/// unmapping it is left little to do.
fn clear_page_tables(map: &memmap2::Mmap) {
    // 64 KiB: a multiple of the page size on every platform we build for.
    let half = (map.len() / 2) & !0xffff;
    let clear = |from: usize, to: usize| {
        // SAFETY: the mapping is shared and read-only, and nothing borrows it any more:
        // MADV_DONTNEED only drops page-table entries (a later read would fault the same
        // page-cache pages back in). A failure only leaves the work to munmap.
        let _ = unsafe {
            map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, to - from)
        };
    };
    rayon::join(|| clear(0, half), || clear(half, map.len()));
}

/// The file mapped read-only; `None` when it is empty (nothing to map).
fn map_input(path: &Path) -> Result<Option<memmap2::Mmap>, Nb101Error> {
    let io = |error| Nb101Error::Io {
        path: path.to_path_buf(),
        error,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.len() == 0 {
        return Ok(None);
    }
    // SAFETY: the file is opened read-only; like every mmap reader we assume nobody
    // truncates it while it is mapped (outputs are replaced by rename, not rewritten).
    unsafe { memmap2::Mmap::map(&file) }.map(Some).map_err(io)
}

/// A file whose very first record does not frame is not a tfrecord at all.
fn unknown_format(e: Nb101Error, path: &Path) -> Nb101Error {
    match e {
        Nb101Error::Frame {
            record: 0,
            error: FrameError::LengthCrc { .. } | FrameError::Truncated { .. },
            ..
        } => Nb101Error::UnknownFormat {
            path: path.to_path_buf(),
        },
        other => other,
    }
}

fn parse_header(b: &[u8], path: &Path) -> Result<Header, Nb101Error> {
    let bad = |offset: u64, what: String| Nb101Error::Store {
        path: path.to_path_buf(),
        offset,
        what,
    };
    if b.len() < HEADER_LEN {
        return Err(bad(
            b.len() as u64,
            format!("truncated header ({} of {HEADER_LEN} bytes)", b.len()),
        ));
    }
    if b.get(..16) != Some(&MAGIC[..]) {
        return Err(bad(0, "wrong magic".into()));
    }
    let version = le_u32(b, 16);
    if version != VERSION {
        return Err(bad(
            16,
            format!(
                "unsupported version {version} (this build reads {VERSION}); convert the \
                 tfrecord again (`nb1s1 nb101 convert`)"
            ),
        ));
    }
    let header_crc = le_u32(b, 124);
    if crc32c::crc32c(b.get(..124).unwrap_or(&[])) != header_crc {
        return Err(bad(124, "header checksum mismatch".into()));
    }
    let flags = le_u32(b, 20);
    let n_models = le_u64(b, 24);
    let n_datapoints = le_u64(b, 32);
    let nb = le_u32(b, 40) as usize;
    if nb > MAX_BUDGETS {
        return Err(bad(40, format!("{nb} budgets, at most {MAX_BUDGETS}")));
    }
    let budgets: Vec<u32> = (0..nb).map(|s| le_u32(b, 44 + 4 * s)).collect();
    if budgets.windows(2).any(|w| w[0] >= w[1]) {
        return Err(bad(44, "budgets not strictly ascending".into()));
    }
    let width: u64 = if flags & FLAG_F32 != 0 { 4 } else { 8 };
    let overflow = || bad(24, "section sizes overflow".into());
    let data_off = HEADER_LEN as u64;
    let models_off = n_datapoints
        .checked_mul(8 * width)
        .and_then(|x| x.checked_add(data_off))
        .ok_or_else(overflow)?;
    let index_off = n_models
        .checked_mul(MODEL_LEN as u64)
        .and_then(|x| x.checked_add(models_off))
        .ok_or_else(overflow)?;
    let dir_off = n_models
        .checked_mul(INDEX_LEN as u64)
        .and_then(|x| x.checked_add(index_off))
        .ok_or_else(overflow)?;
    let file_len = dir_off.checked_add(DIR_LEN as u64).ok_or_else(overflow)?;
    let stated = [
        (80, models_off),
        (88, index_off),
        (96, dir_off),
        (104, data_off),
        (112, file_len),
    ];
    for (at, want) in stated {
        if le_u64(b, at) != want {
            return Err(bad(at as u64, "inconsistent section offsets".into()));
        }
    }
    if (b.len() as u64) < file_len {
        return Err(bad(
            b.len() as u64,
            format!("truncated: {} bytes, header says {file_len}", b.len()),
        ));
    }
    if (b.len() as u64) > file_len {
        return Err(bad(
            file_len,
            format!("{} trailing bytes", b.len() as u64 - file_len),
        ));
    }
    let _ = DIR_SLOTS;
    Ok(Header {
        flags,
        n_models: n_models as usize,
        n_datapoints,
        budgets,
        models_off: models_off as usize,
        index_off: index_off as usize,
        dir_off: dir_off as usize,
        data_off: data_off as usize,
        meta_crc: le_u32(b, 76),
        data_crc: le_u32(b, 120),
    })
}

/// Parses tfrecord bytes (official format) into store bytes held in memory; `path` names
/// the file in errors.
pub fn parse_tfrecord(
    bytes: &[u8],
    path: &Path,
    verify_payload_crc: bool,
    progress: Option<Progress<'_>>,
) -> Result<Vec<u8>, Nb101Error> {
    // Reserve what the store will take at most (f32 values) so the vector does not regrow;
    // untouched reserved pages cost nothing.
    let records = bytes.len() / crate::build::MIN_RECORD + 16;
    let guess = HEADER_LEN + records * (32 + MODEL_LEN + INDEX_LEN) + DIR_LEN;
    let (table, _) = crate::build::build_store(
        bytes,
        path,
        path,
        verify_payload_crc,
        progress,
        Vec::with_capacity(guess),
    )?;
    Ok(table)
}

/// A read-only view of one model of an [`Nb101`].
#[derive(Clone, Copy)]
pub struct Model<'a> {
    db: &'a Nb101,
    index: usize,
    entry: &'a [u8],
}

impl<'a> Model<'a> {
    /// The module hash.
    pub fn hash(&self) -> ModelHash {
        let mut h = [0u8; 16];
        if let Some(s) = self.entry.get(..16) {
            h.copy_from_slice(s);
        }
        ModelHash(h)
    }
    /// Position in file order.
    pub fn index(&self) -> usize {
        self.index
    }
    /// `trainable_parameters` from the model's first record.
    pub fn trainable_parameters(&self) -> i64 {
        i64::from(le_u32(self.entry, 24) as i32)
    }
    /// Number of vertices of the stored cell.
    pub fn num_vertices(&self) -> usize {
        usize::from(self.entry.get(36).copied().unwrap_or(0)).min(table::MAX_STORED_VERTICES)
    }
    /// The stored adjacency matrix (the dataset's canonical form).
    pub fn adjacency(&self) -> Vec<Vec<u8>> {
        unpack_adjacency(le_u32(self.entry, 28), self.num_vertices())
    }
    /// The stored op names, `input` and `output` included.
    pub fn ops(&self) -> Vec<String> {
        let codes = le_u32(self.entry, 32);
        (0..self.num_vertices())
            .map(|v| table::op_name((codes >> (3 * v)) & 7).to_string())
            .collect()
    }
    /// The stored cell as a `ModelSpec`.
    pub fn spec(&self) -> Result<ModelSpec, SpecError> {
        ModelSpec::new(self.adjacency(), self.ops())
    }
    fn count(&self, slot: usize) -> usize {
        usize::from(self.entry.get(37 + slot).copied().unwrap_or(0))
    }
    fn first_point(&self, slot: usize) -> u64 {
        le_u64(self.entry, 16).saturating_add((0..slot).map(|s| self.count(s) as u64).sum::<u64>())
    }
    /// How many repeats this model has at `epochs` (0 when the budget is absent).
    pub fn repeat_count(&self, epochs: u32) -> usize {
        self.db.budget_slot(epochs).map_or(0, |s| self.count(s))
    }
    /// Repeat `k` (the k-th record in file order) at `epochs`.
    pub fn repeat(&self, epochs: u32, k: usize) -> Result<DataPoint, QueryError> {
        let slot = self
            .db
            .budget_slot(epochs)
            .ok_or_else(|| QueryError::InvalidEpochs {
                epochs,
                valid: self.db.epochs().to_vec(),
            })?;
        let available = self.count(slot);
        let missing = QueryError::MissingRepeat {
            hash: self.hash(),
            epochs,
            repeat: k,
            available,
        };
        if k >= available {
            return Err(missing);
        }
        self.db
            .read_point(self.first_point(slot).saturating_add(k as u64))
            .ok_or(missing)
    }
    /// One value of repeat `k` at `epochs` without building a [`DataPoint`] (fast scans);
    /// `field` indexes [`DataPoint::to_array`].
    pub fn value(&self, epochs: u32, k: usize, field: usize) -> Option<f64> {
        let slot = self.db.budget_slot(epochs)?;
        if k >= self.count(slot) {
            return None;
        }
        self.db
            .read_value(self.first_point(slot).saturating_add(k as u64), field)
    }
    /// Every repeat at `epochs`, in file order.
    pub fn repeats(&self, epochs: u32) -> Result<Vec<DataPoint>, QueryError> {
        let slot = self
            .db
            .budget_slot(epochs)
            .ok_or_else(|| QueryError::InvalidEpochs {
                epochs,
                valid: self.db.epochs().to_vec(),
            })?;
        let first = self.first_point(slot);
        (0..self.count(slot))
            .map(|k| {
                self.db.read_point(first.saturating_add(k as u64)).ok_or(
                    QueryError::MissingRepeat {
                        hash: self.hash(),
                        epochs,
                        repeat: k,
                        available: self.count(slot),
                    },
                )
            })
            .collect()
    }
    /// Every budget this model has, with its repeats (the official `computed_stats`).
    pub fn computed_stats(&self) -> BTreeMap<u32, Vec<DataPoint>> {
        let mut out = BTreeMap::new();
        for &e in self.db.epochs() {
            if let Ok(r) = self.repeats(e) {
                if !r.is_empty() {
                    out.insert(e, r);
                }
            }
        }
        out
    }
}

impl std::fmt::Debug for Model<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("hash", &self.hash())
            .field("index", &self.index)
            .finish()
    }
}
