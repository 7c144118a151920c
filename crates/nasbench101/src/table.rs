//! The compact store format, also used as the in-memory layout of a parsed tfrecord, so both
//! sources answer through the same code.
//!
//! Layout (all integers little-endian, offsets u64):
//!
//! | part | size | content |
//! |---|---|---|
//! | header | 128 | magic `NB1S1-NB101STORE`, version 2, flags (bit 0: values are f32, bit 1: synthetic), counts, budgets, section offsets, CRC32C of the metadata sections, of the data section and of the header |
//! | data | 8 values × (4 or 8) × data points | per model, budgets ascending, repeats in file order |
//! | models | 48 × models | file order: hash, first data point, params, adjacency bits, op codes, vertex count, repeats per budget |
//! | index | 20 × models | (hash, model number) sorted by hash |
//! | directory | 4 × 65537 | first index slot per 16-bit hash prefix |
//!
//! The data section comes first so that a convert streams values to disk while it parses
//! (version 1 had it last).

use crate::dataset::ConvertSummary;
use crate::hash::ModelHash;
use crate::op::{Op, INPUT, OUTPUT};
use crate::sink::{SectionWriter, Sink};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

pub(crate) const MAGIC: &[u8; 16] = b"NB1S1-NB101STORE";
/// Version 2 puts the data section first, so a convert can write values as it parses.
pub(crate) const VERSION: u32 = 2;
pub(crate) const HEADER_LEN: usize = 128;
pub(crate) const MODEL_LEN: usize = 48;
pub(crate) const INDEX_LEN: usize = 20;
pub(crate) const DIR_SLOTS: usize = 65537;
pub(crate) const DIR_LEN: usize = DIR_SLOTS * 4;
/// Most distinct epoch budgets a table can hold.
pub const MAX_BUDGETS: usize = 8;
/// Most vertices a stored model may have.
pub const MAX_STORED_VERTICES: usize = 7;
pub(crate) const FLAG_F32: u32 = 1;
pub(crate) const FLAG_SYNTHETIC: u32 = 2;

/// The reserved hash of the marker record that labels a file as synthetic
/// (md5 of "nb1s1 synthetic NAS-Bench-101 data"); readers skip it.
pub const SYNTHETIC_MARKER: ModelHash = ModelHash([
    0x13, 0xb1, 0xfa, 0xd9, 0x68, 0x52, 0x2d, 0x39, 0x1f, 0x7f, 0x32, 0x29, 0x5e, 0x0d, 0x8c, 0xc9,
]);

/// Op code of a vertex in the store: interior ops by label, then input and output.
pub(crate) fn op_code(name: &str) -> Option<u32> {
    op_code_bytes(name.as_bytes())
}

/// [`op_code`] of a name given as bytes (the names are [`INPUT`], [`OUTPUT`] and
/// [`Op::name`]; the unit test checks they agree).
fn op_code_bytes(name: &[u8]) -> Option<u32> {
    match name {
        b"input" => Some(3),
        b"output" => Some(4),
        b"conv3x3-bn-relu" => Some(Op::Conv3x3.label() as u32),
        b"conv1x1-bn-relu" => Some(Op::Conv1x1.label() as u32),
        b"maxpool3x3" => Some(Op::MaxPool3x3.label() as u32),
        _ => None,
    }
}

pub(crate) fn op_name(code: u32) -> &'static str {
    match code {
        3 => INPUT,
        4 => OUTPUT,
        c => Op::from_label(c as i32).map_or("?", Op::name),
    }
}

/// Why a record cannot enter a table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("{0} vertices; at most {MAX_STORED_VERTICES} can be stored")]
    TooManyVertices(usize),
    #[error("op {0:?} is not an NB-101 op name")]
    UnknownOp(String),
    #[error("{ops} ops for {vertices} vertices")]
    OpsLength { vertices: usize, ops: usize },
    #[error("{0} evaluations in ModelMetrics; at least 3 (initial, halfway, final) needed")]
    MissingEvaluations(usize),
    #[error("more than {MAX_BUDGETS} distinct epoch budgets")]
    TooManyBudgets,
    /// Two models with one hash (the streaming builder then falls back to the general one).
    #[error("model {0} appears twice")]
    DuplicateHash(ModelHash),
    #[error("more than 255 repeats of model {hash} at {epochs} epochs")]
    TooManyRepeats { hash: ModelHash, epochs: u32 },
}

/// A model's fixed data packed for the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PackedModel {
    pub hash: ModelHash,
    pub params: i32,
    pub adj: u32,
    pub ops: u32,
    pub nv: u8,
}

/// Packs an adjacency (flattened 0/1 text or rows) and op names.
pub(crate) fn pack_model(
    hash: ModelHash,
    params: i32,
    matrix_text: &str,
    ops_text: &str,
) -> Result<PackedModel, crate::record::PayloadError> {
    use crate::record::PayloadError;
    let len = matrix_text.len();
    let n = (1..=len).take_while(|k| k * k <= len).last().unwrap_or(0);
    if n == 0 || n * n != len {
        return Err(PayloadError::Matrix("length is not a positive square"));
    }
    if n > MAX_STORED_VERTICES {
        return Err(PayloadError::Matrix("more than 7 vertices"));
    }
    let bytes = matrix_text.as_bytes();
    // Eight cells at a time: '0'/'1' become bits of a row-major mask; anything else, or a 1
    // on or below the diagonal, goes to the cell-by-cell loop below, which names the first
    // fault in reading order.
    let (mut mask, mut bad) = (0u64, 0u64);
    for (k, chunk) in bytes.chunks(8).enumerate() {
        let mut w = [b'0'; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        let d = u64::from_le_bytes(w) ^ 0x3030_3030_3030_3030;
        bad |= d & 0xfefe_fefe_fefe_fefe;
        // Gathers bit 0 of every byte into one byte (byte i to bit i; no carries).
        let bits = (d & 0x0101_0101_0101_0101).wrapping_mul(0x0102_0408_1020_4080) >> 56;
        mask |= bits << (8 * k);
    }
    if bad == 0 && mask & LOWER_TRIANGLE[n] == 0 {
        let (mut adj, mut bit) = (0u32, 0);
        for r in 0..n {
            let row = (mask >> (r * n)) & ((1 << n) - 1);
            adj |= ((row >> (r + 1)) as u32) << bit;
            bit += n - r - 1;
        }
        return pack_ops(hash, params, adj, n, ops_text);
    }
    let mut adj = 0u32;
    let mut bit = 0;
    for r in 0..n {
        for c in 0..n {
            let v = bytes.get(r * n + c).copied().unwrap_or(b'0');
            match (v, c > r) {
                (b'0', _) => {}
                (b'1', true) => adj |= 1 << bit,
                (b'1', false) => return Err(PayloadError::Matrix("not strictly upper triangular")),
                _ => return Err(PayloadError::Matrix("characters other than 0 and 1")),
            }
            if c > r {
                bit += 1;
            }
        }
    }
    pack_ops(hash, params, adj, n, ops_text)
}

/// Bits (r, c) with c ≤ r of an n × n row-major mask, for n up to 7.
const LOWER_TRIANGLE: [u64; MAX_STORED_VERTICES + 1] = {
    let mut t = [0u64; MAX_STORED_VERTICES + 1];
    let mut n = 1;
    while n <= MAX_STORED_VERTICES {
        let mut r = 0;
        while r < n {
            let mut c = 0;
            while c <= r {
                t[n] |= 1 << (r * n + c);
                c += 1;
            }
            r += 1;
        }
        n += 1;
    }
    t
};

/// The op codes part of [`pack_model`].
fn pack_ops(
    hash: ModelHash,
    params: i32,
    adj: u32,
    n: usize,
    ops_text: &str,
) -> Result<PackedModel, crate::record::PayloadError> {
    if let Some(ops) = ops_fast(ops_text.as_bytes(), n) {
        return Ok(PackedModel {
            hash,
            params,
            adj,
            ops,
            nv: n as u8,
        });
    }
    use crate::record::PayloadError;
    let mut ops = 0u32;
    let mut count = 0usize;
    // A byte split: op names are short, a memchr call per name costs more than it saves.
    for (v, name) in ops_text.as_bytes().split(|&c| c == b',').enumerate() {
        let code = op_code_bytes(name).ok_or(PayloadError::Ops("unknown op name"))?;
        if v < MAX_STORED_VERTICES {
            ops |= code << (3 * v);
        }
        count += 1;
    }
    if count != n {
        return Err(PayloadError::Ops("op count differs from vertex count"));
    }
    Ok(PackedModel {
        hash,
        params,
        adj,
        ops,
        nv: n as u8,
    })
}

/// Op codes of exactly `n` comma-separated known names, matched by first byte and fixed-length
/// comparisons; `None` for anything else (then [`pack_ops`] names the fault).
fn ops_fast(b: &[u8], n: usize) -> Option<u32> {
    let (mut ops, mut i, mut v) = (0u32, 0usize, 0usize);
    // Fixed-size comparisons compile to a few word compares, not memcmp calls.
    fn is<const N: usize>(b: &[u8], i: usize, name: &[u8; N]) -> bool {
        b.get(i..i + N).is_some_and(|s| s == name)
    }
    loop {
        let (code, len) = match b.get(i)? {
            b'i' if is(b, i, b"input") => (3, 5),
            b'o' if is(b, i, b"output") => (4, 6),
            b'c' if is(b, i, b"conv3x3-bn-relu") => (0, 15),
            b'c' if is(b, i, b"conv1x1-bn-relu") => (1, 15),
            b'm' if is(b, i, b"maxpool3x3") => (2, 10),
            _ => return None,
        };
        if v >= MAX_STORED_VERTICES {
            return None;
        }
        ops |= code << (3 * v);
        v += 1;
        i += len;
        match b.get(i) {
            None => return (v == n).then_some(ops),
            Some(b',') => i += 1,
            Some(_) => return None,
        }
    }
}

/// Rows of a packed adjacency.
pub(crate) fn unpack_adjacency(adj: u32, nv: usize) -> Vec<Vec<u8>> {
    let mut m = vec![vec![0u8; nv]; nv];
    let mut bit = 0;
    for (r, row) in m.iter_mut().enumerate() {
        for cell in row.iter_mut().skip(r + 1) {
            *cell = ((adj >> bit) & 1) as u8;
            bit += 1;
        }
    }
    m
}

/// Hashes a [`ModelHash`] by its first eight bytes: it is an MD5 digest already, so SipHash
/// would only spend time re-mixing uniformly random bits.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // `ModelHash` hashes as one 16-byte slice (after a length prefix for arrays in some
        // std versions): fold everything so any byte feed still works.
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(b);
        }
    }
}

/// Collects records (any order) and lays them out as a table.
#[derive(Default)]
pub struct TableBuilder {
    models: Vec<PackedModel>,
    by_hash: HashMap<ModelHash, u32, BuildHasherDefault<DigestHasher>>,
    /// (model number, epochs, 8 values) in file order.
    records: Vec<(u32, u32, [f64; 8])>,
    synthetic: bool,
}

impl TableBuilder {
    /// An empty builder.
    pub fn new() -> TableBuilder {
        TableBuilder::default()
    }

    /// An empty builder expecting about `records` records.
    pub fn with_capacity(records: usize) -> TableBuilder {
        TableBuilder {
            records: Vec::with_capacity(records),
            ..TableBuilder::default()
        }
    }

    /// Marks the table as synthetic (the marker record was seen).
    pub fn set_synthetic(&mut self) {
        self.synthetic = true;
    }

    /// True when `hash` was already added (its fixed data is then taken from the first record).
    pub(crate) fn model_number(&self, hash: &ModelHash) -> Option<u32> {
        self.by_hash.get(hash).copied()
    }

    pub(crate) fn add_model(&mut self, m: PackedModel) -> u32 {
        let id = self.models.len() as u32;
        self.models.push(m);
        self.by_hash.insert(m.hash, id);
        id
    }

    pub(crate) fn add_values(&mut self, model: u32, epochs: u32, values: [f64; 8]) {
        self.records.push((model, epochs, values));
    }

    /// Number of distinct models so far.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// No model added.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// Lays out the table; values are stored as f32 only when every one round-trips exactly.
    pub fn finish(self) -> Result<Vec<u8>, TableError> {
        let mut out = Vec::new();
        match self.finish_into(&mut out) {
            Ok(_) => Ok(out),
            Err(BuildError::Table(e)) => Err(e),
            Err(BuildError::Io(e)) => unreachable!("writes into memory do not fail: {e}"),
        }
    }

    /// Lays out the table into `sink` (from offset 0).
    pub(crate) fn finish_into<S: Sink + Send>(
        self,
        sink: &mut S,
    ) -> Result<ConvertSummary, BuildError> {
        let mut budgets: Vec<u32> = self.records.iter().map(|r| r.1).collect();
        budgets.sort_unstable();
        budgets.dedup();
        if budgets.len() > MAX_BUDGETS {
            return Err(TableError::TooManyBudgets.into());
        }
        let nb = budgets.len();
        let slot_of = |e: u32| budgets.binary_search(&e).unwrap_or(0);
        let n = self.models.len();
        let mut rows: Vec<ModelRow> = self
            .models
            .iter()
            .map(|&packed| ModelRow {
                packed,
                first_dp: 0,
                counts: [0; MAX_BUDGETS],
            })
            .collect();
        for &(m, e, _) in &self.records {
            let row = &mut rows[m as usize];
            let c = &mut row.counts[slot_of(e)];
            *c = c.checked_add(1).ok_or(TableError::TooManyRepeats {
                hash: row.packed.hash,
                epochs: e,
            })?;
        }
        // First data point of every (model, budget), in model order then budget order.
        let mut cursor = vec![0u64; n * nb];
        let mut next = 0u64;
        for (m, row) in rows.iter_mut().enumerate() {
            row.first_dp = next;
            for s in 0..nb {
                cursor[m * nb + s] = next;
                next += u64::from(row.counts[s]);
            }
        }
        let n_dp = next as usize;
        let all_f32 = self.records.iter().all(|r| {
            r.2.iter()
                .all(|&v| f64::from(v as f32).to_bits() == v.to_bits())
        });
        let width = if all_f32 { 4 } else { 8 };
        // Data, placed by (model, budget) cursors so repeats keep file order.
        let mut data = vec![0u8; n_dp * 8 * width];
        for &(m, e, values) in &self.records {
            let slot = m as usize * nb + slot_of(e);
            let dp = cursor[slot] as usize;
            cursor[slot] += 1;
            let at = dp * 8 * width;
            for (k, v) in values.iter().enumerate() {
                let p = at + k * width;
                if all_f32 {
                    data[p..p + 4].copy_from_slice(&(*v as f32).to_le_bytes());
                } else {
                    data[p..p + 8].copy_from_slice(&v.to_le_bytes());
                }
            }
        }
        sink.write_at(HEADER_LEN as u64, &data)?;
        let tail = Tail {
            rows: &rows,
            budgets: &budgets,
            n_dp: n_dp as u64,
            data_crc: crc32c::crc32c(&data),
            f32_values: all_f32,
            synthetic: self.synthetic,
        };
        write_tail(sink, &tail)
    }
}

/// Why building a store stopped.
#[derive(Debug)]
pub(crate) enum BuildError {
    Io(std::io::Error),
    Table(TableError),
}

impl From<std::io::Error> for BuildError {
    fn from(e: std::io::Error) -> Self {
        BuildError::Io(e)
    }
}

impl From<TableError> for BuildError {
    fn from(e: TableError) -> Self {
        BuildError::Table(e)
    }
}

/// A model's entry of the models section before it is written.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ModelRow {
    pub packed: PackedModel,
    pub first_dp: u64,
    /// Repeats per budget slot.
    pub counts: [u8; MAX_BUDGETS],
}

impl ModelRow {
    /// The hash as a big-endian integer: the index's sort key.
    fn key(&self) -> u128 {
        u128::from_be_bytes(self.packed.hash.0)
    }
}

/// Everything after the data section, and the header.
pub(crate) struct Tail<'a> {
    pub rows: &'a [ModelRow],
    /// Ascending; `rows[i].counts` are indexed like it.
    pub budgets: &'a [u32],
    pub n_dp: u64,
    pub data_crc: u32,
    pub f32_values: bool,
    pub synthetic: bool,
}

/// (hash as a big-endian integer, model number), sorted by hash: a counting sort on the
/// 16-bit prefix (the directory's buckets), then each small bucket sorted on its own.
fn sorted_keys(rows: &[ModelRow]) -> Vec<(u128, u32)> {
    let mut keys: Vec<(u128, u32)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.key(), i as u32))
        .collect();
    let mut start = vec![0usize; DIR_SLOTS];
    for k in &keys {
        start[(k.0 >> 112) as usize + 1] += 1;
    }
    for p in 1..DIR_SLOTS {
        start[p] += start[p - 1];
    }
    let mut out = vec![(0u128, 0u32); keys.len()];
    for k in keys.drain(..) {
        let slot = &mut start[(k.0 >> 112) as usize];
        out[*slot] = k;
        *slot += 1;
    }
    // `start[p]` is now where bucket p ends; bucket p begins where bucket p-1 ended.
    let mut begin = 0;
    for &end in &start[..DIR_SLOTS - 1] {
        out[begin..end].sort_unstable_by_key(|k| k.0);
        begin = end;
    }
    out
}

/// The rows in hash order, as (hash as a big-endian integer, model number); `None` when the
/// rows are already in strict hash order (as in the released files), so the index is written
/// straight from them. Refuses two rows with one hash.
fn hash_order(rows: &[ModelRow]) -> Result<Option<Vec<(u128, u32)>>, TableError> {
    if rows.windows(2).all(|w| w[0].key() < w[1].key()) {
        return Ok(None);
    }
    let keys = sorted_keys(rows);
    if let Some(w) = keys.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(TableError::DuplicateHash(ModelHash(w[0].0.to_be_bytes())));
    }
    Ok(Some(keys))
}

/// Writes the index section (hash, model number; sorted by hash) and the directory section
/// (entry p = number of index entries whose 16-bit prefix is below p).
fn write_index_and_directory<S: Sink>(
    sink: &mut S,
    w: &mut SectionWriter,
    keys: impl Iterator<Item = (u128, u32)>,
) -> std::io::Result<()> {
    let mut dir = Vec::with_capacity(DIR_LEN);
    let mut below = 0u32;
    for (key, i) in keys {
        let mut e = [0u8; INDEX_LEN];
        e[..16].copy_from_slice(&key.to_be_bytes());
        e[16..].copy_from_slice(&i.to_le_bytes());
        w.put(sink, &e)?;
        let prefix = (key >> 112) as usize;
        while dir.len() <= prefix * 4 {
            dir.extend_from_slice(&below.to_le_bytes());
        }
        below += 1;
    }
    while dir.len() < DIR_LEN {
        dir.extend_from_slice(&below.to_le_bytes());
    }
    w.put_all(sink, &dir)
}

/// Writes the model rows, in order, as entries of the models section.
fn write_models<S: Sink>(
    sink: &mut S,
    w: &mut SectionWriter,
    rows: &[ModelRow],
    nb: usize,
) -> std::io::Result<()> {
    for r in rows {
        let mut e = [0u8; MODEL_LEN];
        let m = &r.packed;
        e[0..16].copy_from_slice(&m.hash.0);
        e[16..24].copy_from_slice(&r.first_dp.to_le_bytes());
        e[24..28].copy_from_slice(&m.params.to_le_bytes());
        e[28..32].copy_from_slice(&m.adj.to_le_bytes());
        e[32..36].copy_from_slice(&m.ops.to_le_bytes());
        e[36] = m.nv;
        e[37..37 + nb].copy_from_slice(&r.counts[..nb]);
        w.put(sink, &e)?;
    }
    Ok(())
}

/// Writes the models, index and directory sections after the data section, then the header.
/// Refuses two rows with one hash ([`TableError::DuplicateHash`]).
pub(crate) fn write_tail<S: Sink + Send>(
    sink: &mut S,
    t: &Tail<'_>,
) -> Result<ConvertSummary, BuildError> {
    let n = t.rows.len();
    let nb = t.budgets.len();
    let width: u64 = if t.f32_values { 4 } else { 8 };
    let data_off = HEADER_LEN as u64;
    let models_off = data_off + t.n_dp * 8 * width;
    let index_off = models_off + (n * MODEL_LEN) as u64;
    let dir_off = index_off + (n * INDEX_LEN) as u64;
    // The sections are written in two pieces of about equal size, at once where the sink
    // can be forked: the first `k` model entries; then (after the hash order is known, which
    // for rows out of order means sorting them) the other entries, the index and the
    // directory. Their CRCs are joined into the one the header keeps.
    let k = ((n * (MODEL_LEN + INDEX_LEN) + DIR_LEN) / (2 * MODEL_LEN)).min(n);
    let (head, rest) = t.rows.split_at(k);
    let second_off = models_off + (k * MODEL_LEN) as u64;
    let first = |sink: &mut S| -> Result<(u64, u32), BuildError> {
        let mut w = SectionWriter::new(models_off, 1 << 20);
        write_models(sink, &mut w, head, nb)?;
        Ok(w.finish(sink)?)
    };
    let second = |sink: &mut S| -> Result<(u64, u32), BuildError> {
        let order = hash_order(t.rows)?;
        let mut w = SectionWriter::new(second_off, 1 << 20);
        write_models(sink, &mut w, rest, nb)?;
        match order {
            Some(keys) => write_index_and_directory(sink, &mut w, keys.into_iter())?,
            None => {
                let keys = t.rows.iter().enumerate().map(|(i, r)| (r.key(), i as u32));
                write_index_and_directory(sink, &mut w, keys)?
            }
        }
        Ok(w.finish(sink)?)
    };
    let (a, b) = match sink.fork() {
        Some(mut other) => rayon::join(|| first(sink), || second(&mut other)),
        None => (first(sink), second(sink)),
    };
    let ((first_end, first_crc), (file_len, second_crc)) = (a?, b?);
    debug_assert_eq!(
        (first_end, file_len),
        (second_off, dir_off + DIR_LEN as u64)
    );
    let meta_crc = crc32c::crc32c_combine(first_crc, second_crc, (file_len - second_off) as usize);
    let mut h = [0u8; HEADER_LEN];
    h[0..16].copy_from_slice(MAGIC);
    h[16..20].copy_from_slice(&VERSION.to_le_bytes());
    let flags =
        if t.f32_values { FLAG_F32 } else { 0 } | if t.synthetic { FLAG_SYNTHETIC } else { 0 };
    h[20..24].copy_from_slice(&flags.to_le_bytes());
    h[24..32].copy_from_slice(&(n as u64).to_le_bytes());
    h[32..40].copy_from_slice(&t.n_dp.to_le_bytes());
    h[40..44].copy_from_slice(&(nb as u32).to_le_bytes());
    for (s, b) in t.budgets.iter().enumerate() {
        h[44 + 4 * s..48 + 4 * s].copy_from_slice(&b.to_le_bytes());
    }
    h[76..80].copy_from_slice(&meta_crc.to_le_bytes());
    h[80..88].copy_from_slice(&models_off.to_le_bytes());
    h[88..96].copy_from_slice(&index_off.to_le_bytes());
    h[96..104].copy_from_slice(&dir_off.to_le_bytes());
    h[104..112].copy_from_slice(&data_off.to_le_bytes());
    h[112..120].copy_from_slice(&file_len.to_le_bytes());
    h[120..124].copy_from_slice(&t.data_crc.to_le_bytes());
    let header_crc = crc32c::crc32c(&h[..124]);
    h[124..128].copy_from_slice(&header_crc.to_le_bytes());
    sink.write_at(0, &h)?;
    sink.set_len(file_len)?;
    Ok(ConvertSummary {
        models: n,
        runs: t.n_dp,
        epochs: t.budgets.to_vec(),
        f32_values: t.f32_values,
        synthetic: t.synthetic,
        store_bytes: file_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A memory sink that forks like a file: every handle writes into the same bytes.
    #[derive(Clone, Default)]
    struct SharedSink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Sink for SharedSink {
        fn write_at(&mut self, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
            self.0.lock().unwrap().write_at(offset, bytes)
        }
        fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
            self.0.lock().unwrap().read_at(offset, buf)
        }
        fn set_len(&mut self, len: u64) -> std::io::Result<()> {
            Sink::set_len(&mut *self.0.lock().unwrap(), len)
        }
        fn fork(&self) -> Option<Self> {
            Some(self.clone())
        }
    }

    /// The tail written in two pieces at once (a sink that forks) and one after the other (a
    /// `Vec`) gives the same bytes, and the header's CRC is that of the bytes written. The
    /// counts put the split before, inside and after the models section (it falls inside it
    /// from about 9,400 models on); hashes in order and out of order.
    #[test]
    fn the_tail_in_two_pieces_is_the_tail() {
        for n in [0usize, 1, 700, 9_000, 9_500, 30_000] {
            for sorted in [true, false] {
                let rows: Vec<ModelRow> = (0..n)
                    .map(|i| {
                        let key = if sorted {
                            (i as u128 + 1) << 100
                        } else {
                            (i as u128 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
                        };
                        ModelRow {
                            packed: PackedModel {
                                hash: ModelHash(key.to_be_bytes()),
                                params: i as i32,
                                adj: (i as u32) & 0x1f_ffff,
                                ops: (i as u32) % 1000,
                                nv: 7,
                            },
                            first_dp: 3 * i as u64,
                            counts: {
                                let mut c = [0; MAX_BUDGETS];
                                c[0] = 3;
                                c
                            },
                        }
                    })
                    .collect();
                let data = vec![0u8; HEADER_LEN + 3 * n * 32];
                let tail = Tail {
                    rows: &rows,
                    budgets: &[108],
                    n_dp: 3 * n as u64,
                    data_crc: crc32c::crc32c(&data[HEADER_LEN..]),
                    f32_values: true,
                    synthetic: false,
                };
                let mut plain = data.clone();
                let a = write_tail(&mut plain, &tail).unwrap();
                let mut shared = SharedSink::default();
                *shared.0.lock().unwrap() = data;
                let b = write_tail(&mut shared, &tail).unwrap();
                let forked = shared.0.lock().unwrap().clone();
                assert_eq!(plain, forked, "{n} models, sorted: {sorted}");
                assert_eq!(a.store_bytes, b.store_bytes);
                assert_eq!(plain.len() as u64, a.store_bytes);
                let models_off = HEADER_LEN + 3 * n * 32;
                let meta_crc = crc32c::crc32c(&plain[models_off..]);
                assert_eq!(plain[76..80], meta_crc.to_le_bytes(), "{n} models");
                // The store opens, checks out, and finds every model by hash.
                let db = crate::Nb101::from_store_bytes(plain, std::path::Path::new("t")).unwrap();
                db.verify().unwrap();
                assert_eq!(db.len(), n);
                for (i, r) in rows.iter().enumerate() {
                    assert_eq!(db.model(&r.packed.hash).map(|m| m.index()), Some(i));
                }
            }
        }
    }

    /// The cell-by-cell reading `pack_model` must agree with, faults included.
    fn reference_adjacency(bytes: &[u8], n: usize) -> Result<u32, &'static str> {
        let mut adj = 0u32;
        let mut bit = 0;
        for r in 0..n {
            for c in 0..n {
                match (bytes[r * n + c], c > r) {
                    (b'0', _) => {}
                    (b'1', true) => adj |= 1 << bit,
                    (b'1', false) => return Err("not strictly upper triangular"),
                    _ => return Err("characters other than 0 and 1"),
                }
                if c > r {
                    bit += 1;
                }
            }
        }
        Ok(adj)
    }

    #[test]
    fn op_codes_follow_the_op_names() {
        assert_eq!(op_code(INPUT), Some(3));
        assert_eq!(op_code(OUTPUT), Some(4));
        for op in Op::ALL {
            assert_eq!(op_code(op.name()), Some(op.label() as u32));
            assert_eq!(op_name(op.label() as u32), op.name());
        }
        assert_eq!(op_code("conv3x3"), None);
    }

    /// The name-by-name reading of the ops.
    fn reference_ops(text: &str, n: usize) -> Result<u32, &'static str> {
        let mut ops = 0u32;
        let names: Vec<&str> = text.split(',').collect();
        for (v, name) in names.iter().enumerate() {
            let code = op_code(name).ok_or("unknown op name")?;
            if v < 7 {
                ops |= code << (3 * v);
            }
        }
        if names.len() != n {
            return Err("op count differs from vertex count");
        }
        Ok(ops)
    }

    proptest! {
        /// One byte of a valid op list changed, inserted or removed: the fast reading agrees
        /// with the name-by-name one, which refuses any name not spelled exactly.
        #[test]
        fn fast_op_reading_agrees_on_near_misses(
            codes in proptest::collection::vec(0u32..5, 1..=7),
            at in any::<usize>(),
            byte in prop_oneof![
                Just(b','), Just(b'-'), Just(b'x'), Just(b'3'), Just(b'1'), Just(b't'),
                Just(b'u'), Just(b'o'), Just(b'c'), any::<u8>()
            ],
            edit in 0u8..3,
        ) {
            let n = codes.len();
            let mut text = codes.iter().map(|&c| op_name(c)).collect::<Vec<_>>().join(",").into_bytes();
            let at = at % text.len();
            match edit {
                0 => text[at] = byte,
                1 => text.insert(at, byte),
                _ => { text.remove(at); }
            }
            let want = std::str::from_utf8(&text).ok().and_then(|t| reference_ops(t, n).ok());
            prop_assert_eq!(ops_fast(&text, n), want);
        }

        #[test]
        fn packing_matches_a_cell_by_cell_and_name_by_name_reading(
            n in 1usize..=7,
            cells in proptest::collection::vec(
                prop_oneof![8 => Just(b'0'), 6 => Just(b'1'), 1 => Just(b'2'), 1 => Just(b'x')],
                49,
            ),
            upper_only in any::<bool>(),
            names in proptest::collection::vec(
                prop_oneof![
                    3 => Just("conv3x3-bn-relu"),
                    3 => Just("conv1x1-bn-relu"),
                    3 => Just("maxpool3x3"),
                    2 => Just("input"),
                    2 => Just("output"),
                    1 => Just("conv3x3"),
                    1 => Just(""),
                    1 => Just("inputs"),
                    1 => Just("conv1x1-bn-relu "),
                ],
                0..10,
            ),
            right_count in any::<bool>(),
        ) {
            let mut m = cells[..n * n].to_vec();
            if upper_only {
                for r in 0..n {
                    for c in 0..=r {
                        if m[r * n + c] == b'1' {
                            m[r * n + c] = b'0';
                        }
                    }
                }
            }
            let text = String::from_utf8(m.clone()).unwrap();
            let mut names = names;
            if right_count {
                names.resize(n, "maxpool3x3");
            }
            let ops = names.join(",");
            let got = pack_model(ModelHash([0; 16]), 1, &text, &ops).map(|p| (p.adj, p.ops));
            let want = match reference_adjacency(&m, n) {
                Err(what) => Err(crate::record::PayloadError::Matrix(what)),
                Ok(adj) => reference_ops(&ops, n)
                    .map(|o| (adj, o))
                    .map_err(crate::record::PayloadError::Ops),
            };
            prop_assert_eq!(got, want);
        }
    }
}
