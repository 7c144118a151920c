//! The table builder: records arrive in file order and their values go to the store's data
//! section at once, a model's runs together (budgets ascending, repeats in file order), so a
//! convert writes while it parses and never holds the records in memory. The models, index,
//! directory and header follow at the end ([`crate::layout`] has the format).
//!
//! Records of one model are adjacent in the released files and in ours. Where they are not,
//! the model gets one row per stretch while streaming; [`TableBuilder::finish`] then merges
//! those rows into the first (its fixed data kept, as the official API keeps the first
//! record's) and rewrites the data section in model order, in memory.

use super::pack::PackedModel;
use super::segment::RunValues;
use super::sink::{SectionWriter, Sink};
use super::ConvertSummary;
use crate::error::TableError;
use crate::hash::ModelHash;
use crate::layout::{
    IndexEntry, ModelEntry, StoreHeader, DIR_LEN, DIR_SLOTS, HEADER_LEN, MAX_BUDGETS,
};
use std::collections::HashMap;

/// Data section chunk written at once.
const CHUNK: usize = 1 << 20;

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

pub(crate) struct TableBuilder<S: Sink> {
    sink: S,
    data: SectionWriter,
    f32_values: bool,
    n_dp: u64,
    /// Finished rows, in file order; their counts are indexed like `budgets`.
    rows: Vec<ModelEntry>,
    /// The model runs are added to, with its runs so far (in file order).
    current: Option<ModelEntry>,
    runs: Vec<(u32, RunValues)>,
    /// Budgets in order of first appearance, until [`TableBuilder::finish`].
    budgets: Vec<u32>,
    synthetic: bool,
}

fn row(packed: PackedModel, first_dp: u64) -> ModelEntry {
    ModelEntry {
        hash: packed.hash,
        first_dp,
        params: packed.params,
        adj: packed.adj,
        ops: packed.ops,
        nv: packed.nv,
        counts: [0; MAX_BUDGETS],
    }
}

impl<S: Sink> TableBuilder<S> {
    /// A table writing into `sink`, expecting about `models` models.
    pub(crate) fn new(sink: S, models: usize) -> TableBuilder<S> {
        TableBuilder {
            sink,
            data: SectionWriter::new(HEADER_LEN as u64, CHUNK),
            f32_values: true,
            n_dp: 0,
            rows: Vec::with_capacity(models),
            current: None,
            runs: Vec::with_capacity(16),
            budgets: Vec::new(),
            synthetic: false,
        }
    }

    pub(crate) fn set_synthetic(&mut self) {
        self.synthetic = true;
    }

    /// Adds a run of model `hash`; `packed` gives its fixed data when the run starts a model.
    #[inline]
    pub(crate) fn add_run(
        &mut self,
        hash: &ModelHash,
        packed: impl FnOnce() -> PackedModel,
        epochs: u32,
        values: RunValues,
    ) -> Result<(), BuildError> {
        if self.current.as_ref().map(|c| &c.hash) != Some(hash) {
            self.flush_model()?;
            self.current = Some(row(packed(), self.n_dp));
        }
        let slot = match self.budgets.iter().position(|&b| b == epochs) {
            Some(s) => s,
            None if self.budgets.len() < MAX_BUDGETS => {
                self.budgets.push(epochs);
                self.budgets.len() - 1
            }
            None => return Err(TableError::TooManyBudgets.into()),
        };
        if let Some(row) = self.current.as_mut() {
            let c = &mut row.counts[slot];
            *c = c.checked_add(1).ok_or(TableError::TooManyRepeats {
                hash: row.hash,
                epochs,
            })?;
        }
        self.runs.push((epochs, values));
        Ok(())
    }

    /// Writes the current model's runs, budgets ascending, repeats in file order.
    fn flush_model(&mut self) -> std::io::Result<()> {
        let Some(row) = self.current.take() else {
            return Ok(());
        };
        if !self.runs.windows(2).all(|w| w[0].0 <= w[1].0) {
            self.runs.sort_by_key(|r| r.0); // stable: repeats keep file order
        }
        let runs = std::mem::take(&mut self.runs);
        for (_, v) in &runs {
            self.put_values(v)?;
        }
        self.n_dp += runs.len() as u64;
        self.runs = runs;
        self.runs.clear();
        self.rows.push(row);
        Ok(())
    }

    #[inline]
    fn put_values(&mut self, v: &RunValues) -> std::io::Result<()> {
        if self.f32_values {
            match v {
                RunValues::Narrow(f) => {
                    let mut b = [0u8; 32];
                    for (k, x) in f.iter().enumerate() {
                        b[4 * k..4 * k + 4].copy_from_slice(&x.to_le_bytes());
                    }
                    return self.data.put(&mut self.sink, &b);
                }
                RunValues::Wide(_) => self.widen()?,
            }
        }
        let mut b = [0u8; 64];
        for (k, x) in v.wide().iter().enumerate() {
            b[8 * k..8 * k + 8].copy_from_slice(&x.to_le_bytes());
        }
        self.data.put(&mut self.sink, &b)
    }

    /// A value is not exactly an f32: rewrites the values so far as f64, in place, from the
    /// end backwards (each f64 lands at or after the f32s not yet read). The section's CRC is
    /// built from the back too, chunk by chunk (`crc32c_combine`), so nothing is read twice.
    fn widen(&mut self) -> std::io::Result<()> {
        self.data.flush(&mut self.sink)?;
        let start = HEADER_LEN as u64;
        let count = (self.data.end() - start) / 4;
        let step = (CHUNK / 8) as u64;
        let mut narrow = vec![0u8; CHUNK / 2];
        let mut wide = vec![0u8; CHUNK];
        let (mut crc, mut crc_len) = (0u32, 0usize);
        let mut hi = count;
        while hi > 0 {
            let lo = hi.saturating_sub(step);
            let n = (hi - lo) as usize;
            self.sink.read_at(start + lo * 4, &mut narrow[..4 * n])?;
            for (x, out) in narrow[..4 * n]
                .chunks_exact(4)
                .zip(wide[..8 * n].chunks_exact_mut(8))
            {
                let x = f32::from_le_bytes([x[0], x[1], x[2], x[3]]);
                out.copy_from_slice(&f64::from(x).to_le_bytes());
            }
            self.sink.write_at(start + lo * 8, &wide[..8 * n])?;
            // CRC of this chunk followed by everything after it.
            crc = crc32c::crc32c_combine(crc32c::crc32c(&wide[..8 * n]), crc, crc_len);
            crc_len += 8 * n;
            hi = lo;
        }
        self.data.restart_after(start + count * 8, crc);
        self.f32_values = false;
        Ok(())
    }

    /// Writes the rest of the store; returns the sink and what the store holds.
    pub(crate) fn finish(mut self) -> Result<(S, ConvertSummary), BuildError> {
        self.flush_model()?;
        let (_, mut data_crc) = self.data.finish(&mut self.sink)?;
        let mut order = index_order(&self.rows);
        if order.is_none() {
            data_crc = self.merge_split_models()?;
            order = index_order(&self.rows);
        }
        self.sort_budget_slots();
        let header = StoreHeader {
            f32_values: self.f32_values,
            synthetic: self.synthetic,
            n_models: self.rows.len() as u64,
            n_datapoints: self.n_dp,
            budgets: self.budgets.clone(),
            meta_crc: 0,
            data_crc,
        };
        let summary = write_tail(&mut self.sink, &self.rows, order.flatten(), header)?;
        Ok((self.sink, summary))
    }

    /// Moves counts from first-appearance slots to ascending slots.
    fn sort_budget_slots(&mut self) {
        let mut sorted = self.budgets.clone();
        sorted.sort_unstable();
        if sorted == self.budgets {
            return;
        }
        let to: Vec<usize> = self
            .budgets
            .iter()
            .map(|b| sorted.binary_search(b).unwrap_or(0))
            .collect();
        for row in &mut self.rows {
            let mut c = [0u8; MAX_BUDGETS];
            for (s, &t) in to.iter().enumerate() {
                c[t] = row.counts[s];
            }
            row.counts = c;
        }
        self.budgets = sorted;
    }

    /// Merges the rows of each model into its first and rewrites the data section in the new
    /// row order; returns the section's CRC.
    fn merge_split_models(&mut self) -> Result<u32, BuildError> {
        let rec = 8 * if self.f32_values { 4 } else { 8 };
        let mut old = vec![0u8; self.n_dp as usize * rec];
        self.sink.read_at(HEADER_LEN as u64, &mut old)?;
        // Each model's rows, in file order, under the model's first row.
        let mut first_of: HashMap<ModelHash, usize> = HashMap::new();
        let mut groups: Vec<Vec<ModelEntry>> = Vec::new();
        for r in &self.rows {
            let g = *first_of.entry(r.hash).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[g].push(*r);
        }
        // Within a row, values lie budgets ascending (the slots in this order).
        let mut slots: Vec<usize> = (0..self.budgets.len()).collect();
        slots.sort_by_key(|&s| self.budgets[s]);
        let mut data = Vec::with_capacity(old.len());
        let mut rows = Vec::with_capacity(groups.len());
        for group in &groups {
            let mut merged = ModelEntry {
                first_dp: (data.len() / rec) as u64,
                counts: [0; MAX_BUDGETS],
                ..group[0]
            };
            for &slot in &slots {
                for r in group {
                    let before: usize = slots
                        .iter()
                        .take_while(|&&s| s != slot)
                        .map(|&s| usize::from(r.counts[s]))
                        .sum();
                    let from = (r.first_dp as usize + before) * rec;
                    let n = usize::from(r.counts[slot]);
                    data.extend_from_slice(&old[from..from + n * rec]);
                    let c = u8::try_from(usize::from(merged.counts[slot]) + n).map_err(|_| {
                        TableError::TooManyRepeats {
                            hash: merged.hash,
                            epochs: self.budgets[slot],
                        }
                    })?;
                    merged.counts[slot] = c;
                }
            }
            rows.push(merged);
        }
        self.sink.write_at(HEADER_LEN as u64, &data)?;
        self.rows = rows;
        Ok(crc32c::crc32c(&data))
    }
}

/// The rows in hash order, as (hash as a big-endian integer, model number): `Some(None)`
/// when the rows are in strict hash order already (as in the released files), `None` when
/// two rows have one hash.
fn index_order(rows: &[ModelEntry]) -> Option<Option<Vec<(u128, u32)>>> {
    let key = |r: &ModelEntry| u128::from_be_bytes(r.hash.0);
    if rows.windows(2).all(|w| key(&w[0]) < key(&w[1])) {
        return Some(None);
    }
    let keys = sorted_keys(rows.iter().map(key));
    if keys.windows(2).any(|w| w[0].0 == w[1].0) {
        return None;
    }
    Some(Some(keys))
}

/// (key, position) sorted by key: a counting sort on the 16-bit prefix (the directory's
/// buckets), then each small bucket sorted on its own.
fn sorted_keys(keys: impl Iterator<Item = u128>) -> Vec<(u128, u32)> {
    let keys: Vec<(u128, u32)> = keys.enumerate().map(|(i, k)| (k, i as u32)).collect();
    let mut start = vec![0usize; DIR_SLOTS];
    for k in &keys {
        start[(k.0 >> 112) as usize + 1] += 1;
    }
    for p in 1..DIR_SLOTS {
        start[p] += start[p - 1];
    }
    let mut out = vec![(0u128, 0u32); keys.len()];
    for k in keys {
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

/// Writes the models, index and directory sections after the data section, then the header
/// (with the CRC of those sections). `order` is the index order unless the rows are in it.
fn write_tail<S: Sink>(
    sink: &mut S,
    rows: &[ModelEntry],
    order: Option<Vec<(u128, u32)>>,
    mut header: StoreHeader,
) -> Result<ConvertSummary, BuildError> {
    let s = header.sections().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "section sizes overflow")
    })?;
    let mut w = SectionWriter::new(s.models, 1 << 20);
    for r in rows {
        w.put(sink, &r.encode())?;
    }
    match order {
        Some(keys) => write_index_and_directory(sink, &mut w, keys.into_iter())?,
        None => {
            let keys = rows.iter().enumerate();
            let keys = keys.map(|(i, r)| (u128::from_be_bytes(r.hash.0), i as u32));
            write_index_and_directory(sink, &mut w, keys)?
        }
    }
    let (end, meta_crc) = w.finish(sink)?;
    debug_assert_eq!(end, s.end);
    header.meta_crc = meta_crc;
    sink.write_at(0, &header.encode(&s))?;
    Ok(ConvertSummary {
        models: rows.len(),
        runs: header.n_datapoints,
        epochs: header.budgets,
        f32_values: header.f32_values,
        synthetic: header.synthetic,
        store_bytes: s.end,
    })
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
    for (key, model) in keys {
        let e = IndexEntry {
            hash: ModelHash(key.to_be_bytes()),
            model,
        };
        w.put(sink, &e.encode())?;
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
