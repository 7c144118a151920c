//! The reader: an opened NAS-Bench-101 data file, either a compact store (memory-mapped) or a
//! tfrecord (converted into the same layout in memory), and read-only views of its models.

use crate::convert::{self, Progress};
use crate::error::{Nb101Error, QueryError};
use crate::hash::ModelHash;
use crate::layout::{
    op_name, unpack_adjacency, IndexEntry, ModelEntry, Sections, StoreHeader, INDEX_LEN, MAGIC,
    MAX_STORED_VERTICES, MODEL_LEN,
};
use crate::spec::{ModelSpec, SpecError};
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
    header: StoreHeader,
    at: Sections,
    kind: SourceKind,
    /// Bytes per value: 4 or 8.
    width: usize,
    n_models: usize,
}

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
        let map = crate::mapped::map_input(&path)?;
        if map.get(..16) == Some(&MAGIC[..]) {
            Nb101::from_store(Backing::Map(map), path, opts.verify_store_data)
        } else {
            Nb101::from_tfrecord_bytes(&map, &path, opts, progress)
                .map_err(|e| e.or_unknown_format(&path))
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
        let table = convert::parse_tfrecord(bytes, path, opts.verify_payload_crc, progress)?;
        let mut db = Nb101::from_store(Backing::Owned(table), path.to_path_buf(), false)?;
        db.kind = SourceKind::TfRecord;
        Ok(db)
    }

    /// Wraps store bytes held in memory (e.g. read from elsewhere).
    pub fn from_store_bytes(bytes: Vec<u8>, path: &Path) -> Result<Nb101, Nb101Error> {
        Nb101::from_store(Backing::Owned(bytes), path.to_path_buf(), true)
    }

    fn from_store(data: Backing, path: PathBuf, verify_data: bool) -> Result<Nb101, Nb101Error> {
        let (header, at) = match StoreHeader::decode(data.bytes()) {
            Ok(h) => h,
            Err(e) => {
                return Err(Nb101Error::Store {
                    path,
                    offset: e.offset,
                    what: e.what,
                })
            }
        };
        let meta = data.bytes().get(at.models as usize..).unwrap_or(&[]);
        if crc32c::crc32c(meta) != header.meta_crc {
            return Err(Nb101Error::Store {
                path,
                offset: at.models,
                what: "metadata checksum mismatch (corrupt models, index or directory)".into(),
            });
        }
        let db = Nb101 {
            data,
            path,
            width: header.width() as usize,
            n_models: header.n_models as usize,
            header,
            at,
            kind: SourceKind::Store,
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
            .get(self.at.data as usize..self.at.models as usize)
            .unwrap_or(&[]);
        if crc32c::crc32c(data) != self.header.data_crc {
            return Err(Nb101Error::Store {
                path: self.path.clone(),
                offset: self.at.data,
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

    /// A fingerprint of the table's content (its store bytes), the same whichever file or
    /// format it was opened from and wherever it lies: `sha256:` and 32 hex digits of the
    /// SHA-256 of the SHA-256 digests of its 4 MiB blocks (hashed in parallel). Results
    /// computed from the table record it, so two tables are never mistaken for one.
    pub fn fingerprint(&self) -> String {
        use rayon::prelude::*;
        use sha2::{Digest, Sha256};
        let blocks: Vec<[u8; 32]> = self
            .bytes()
            .par_chunks(4 << 20)
            .map(|c| Sha256::digest(c).into())
            .collect();
        let mut all = Sha256::new();
        for b in &blocks {
            all.update(b);
        }
        let digest = all.finalize();
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
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
        self.header.f32_values
    }

    /// True for files written by the synthetic generator (they carry a marker record).
    pub fn is_synthetic(&self) -> bool {
        self.header.synthetic
    }

    /// Epoch budgets present, ascending.
    pub fn epochs(&self) -> &[u32] {
        &self.header.budgets
    }

    /// Number of models.
    pub fn len(&self) -> usize {
        self.n_models
    }

    /// No models.
    pub fn is_empty(&self) -> bool {
        self.n_models == 0
    }

    /// Number of training runs (records) held, over all models and budgets.
    pub fn num_datapoints(&self) -> u64 {
        self.header.n_datapoints
    }

    /// The `i`-th model in file order.
    pub fn model_at(&self, i: usize) -> Option<Model<'_>> {
        if i >= self.n_models {
            return None;
        }
        let at = self.at.models as usize + i * MODEL_LEN;
        let entry = ModelEntry::decode(self.bytes().get(at..at + MODEL_LEN)?);
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
        let dir = self.at.dir as usize;
        let slot = |p: usize| crate::layout::le_u32(b, dir + p * 4) as usize;
        let (mut lo, mut hi) = (slot(prefix), slot(prefix + 1).min(self.n_models));
        let idx = self.at.index as usize;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let at = idx + mid * INDEX_LEN;
            let entry = b.get(at..at + INDEX_LEN)?;
            match entry[..16].cmp(&hash.0[..]) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    return self.model_at(IndexEntry::decode_model(entry) as usize);
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
        (0..self.n_models).filter_map(move |i| self.model_at(i))
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
        let from = self.at.models as usize;
        let models = self
            .bytes()
            .get(from..from + self.n_models * MODEL_LEN)
            .unwrap_or(&[]);
        for (i, e) in models.chunks_exact(MODEL_LEN).enumerate() {
            let e = ModelEntry::decode(e);
            let before: u64 = e.counts[..slot].iter().map(|&c| u64::from(c)).sum();
            let first = e.first_dp.saturating_add(before);
            for k in 0..usize::from(e.counts[slot]) {
                match self.read_value(first.saturating_add(k as u64), field) {
                    Some(v) => f(i, k, v),
                    None => break,
                }
            }
        }
    }

    fn budget_slot(&self, epochs: u32) -> Option<usize> {
        self.header.budgets.iter().position(|&e| e == epochs)
    }

    fn read_point(&self, dp: u64) -> Option<DataPoint> {
        let mut v = [0f64; 8];
        for (k, out) in v.iter_mut().enumerate() {
            *out = self.read_value(dp, k)?;
        }
        Some(DataPoint::from_array(v))
    }

    #[inline]
    fn read_value(&self, dp: u64, field: usize) -> Option<f64> {
        if dp >= self.header.n_datapoints || field >= 8 {
            return None;
        }
        let w = self.width;
        let at = self.at.data as usize + dp as usize * 8 * w + field * w;
        let s = self.bytes().get(at..at + w)?;
        if w == 4 {
            Some(f64::from(f32::from_le_bytes(s.try_into().ok()?)))
        } else {
            Some(f64::from_le_bytes(s.try_into().ok()?))
        }
    }
}

/// A read-only view of one model of an [`Nb101`].
#[derive(Clone, Copy)]
pub struct Model<'a> {
    db: &'a Nb101,
    index: usize,
    entry: ModelEntry,
}

impl<'a> Model<'a> {
    /// The module hash.
    pub fn hash(&self) -> ModelHash {
        self.entry.hash
    }
    /// Position in file order.
    pub fn index(&self) -> usize {
        self.index
    }
    /// `trainable_parameters` from the model's first record.
    pub fn trainable_parameters(&self) -> i64 {
        i64::from(self.entry.params)
    }
    /// Number of vertices of the stored cell.
    pub fn num_vertices(&self) -> usize {
        usize::from(self.entry.nv).min(MAX_STORED_VERTICES)
    }
    /// The stored adjacency matrix (the dataset's canonical form).
    pub fn adjacency(&self) -> Vec<Vec<u8>> {
        unpack_adjacency(self.entry.adj, self.num_vertices())
    }
    /// The stored op names, `input` and `output` included.
    pub fn ops(&self) -> Vec<String> {
        (0..self.num_vertices())
            .map(|v| op_name((self.entry.ops >> (3 * v)) & 7).to_string())
            .collect()
    }
    /// The stored cell as a `ModelSpec`.
    pub fn spec(&self) -> Result<ModelSpec, SpecError> {
        ModelSpec::new(self.adjacency(), self.ops())
    }
    fn count(&self, slot: usize) -> usize {
        usize::from(self.entry.counts.get(slot).copied().unwrap_or(0))
    }
    fn first_point(&self, slot: usize) -> u64 {
        let before: u64 = (0..slot).map(|s| self.count(s) as u64).sum();
        self.entry.first_dp.saturating_add(before)
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
