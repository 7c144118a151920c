//! The streaming table builder: for files whose records of one model are adjacent (the
//! released files and ours), values go to the store's data section as they arrive, so a
//! convert writes while it parses and never holds the records in memory. A model whose
//! records are split becomes two rows, refused at the end as [`TableError::DuplicateHash`];
//! the caller then rebuilds with the general [`TableBuilder`](crate::TableBuilder).

use crate::dataset::ConvertSummary;
use crate::hash::ModelHash;
use crate::segment::RunValues;
use crate::sink::{SectionWriter, Sink};
use crate::table::{
    write_tail, BuildError, ModelRow, PackedModel, TableError, Tail, HEADER_LEN, MAX_BUDGETS,
};

/// Data section chunk written at once.
const CHUNK: usize = 1 << 20;

pub(crate) struct StreamTable<S: Sink> {
    sink: S,
    data: SectionWriter,
    f32_values: bool,
    n_dp: u64,
    rows: Vec<ModelRow>,
    /// Budgets in order of first appearance; `rows[i].counts` are indexed like it until
    /// [`StreamTable::finish`].
    budgets: Vec<u32>,
    /// Runs of the last model, in file order, until the next model starts.
    runs: Vec<(u32, RunValues)>,
    synthetic: bool,
}

impl<S: Sink + Send> StreamTable<S> {
    /// A table writing into `sink`, expecting about `models` models.
    pub(crate) fn new(sink: S, models: usize) -> StreamTable<S> {
        StreamTable {
            sink,
            data: SectionWriter::new(HEADER_LEN as u64, CHUNK),
            f32_values: true,
            n_dp: 0,
            rows: Vec::with_capacity(models),
            budgets: Vec::new(),
            runs: Vec::with_capacity(16),
            synthetic: false,
        }
    }

    pub(crate) fn set_synthetic(&mut self) {
        self.synthetic = true;
    }

    /// Hash of the model that runs are added to.
    #[inline]
    pub(crate) fn current(&self) -> Option<&ModelHash> {
        self.rows.last().map(|r| &r.packed.hash)
    }

    /// Starts a model; the runs that follow belong to it.
    pub(crate) fn start_model(&mut self, packed: PackedModel) -> Result<(), BuildError> {
        self.flush_runs()?;
        self.rows.push(ModelRow {
            packed,
            first_dp: self.n_dp,
            counts: [0; MAX_BUDGETS],
        });
        Ok(())
    }

    /// Adds a run of the current model.
    #[inline]
    pub(crate) fn add_run(&mut self, epochs: u32, values: RunValues) -> Result<(), TableError> {
        let slot = match self.budgets.iter().position(|&b| b == epochs) {
            Some(s) => s,
            None if self.budgets.len() < MAX_BUDGETS => {
                self.budgets.push(epochs);
                self.budgets.len() - 1
            }
            None => return Err(TableError::TooManyBudgets),
        };
        let Some(row) = self.rows.last_mut() else {
            // Callers start a model first; a run without one has nowhere to go.
            return Err(TableError::MissingEvaluations(0));
        };
        let c = &mut row.counts[slot];
        *c = c.checked_add(1).ok_or(TableError::TooManyRepeats {
            hash: row.packed.hash,
            epochs,
        })?;
        self.runs.push((epochs, values));
        Ok(())
    }

    /// Writes the current model's runs, budgets ascending, repeats in file order.
    fn flush_runs(&mut self) -> std::io::Result<()> {
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
            for k in 0..n {
                let x = f32::from_le_bytes([
                    narrow[4 * k],
                    narrow[4 * k + 1],
                    narrow[4 * k + 2],
                    narrow[4 * k + 3],
                ]);
                wide[8 * k..8 * k + 8].copy_from_slice(&f64::from(x).to_le_bytes());
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

    /// The sink, after [`StreamTable::finish`].
    pub(crate) fn into_sink(self) -> S {
        self.sink
    }

    /// Writes the rest of the store; returns what it holds.
    pub(crate) fn finish(&mut self) -> Result<ConvertSummary, BuildError> {
        self.flush_runs()?;
        let (_, data_crc) = self.data.finish(&mut self.sink)?;
        let mut sorted = self.budgets.clone();
        sorted.sort_unstable();
        if sorted != self.budgets {
            // Counts move from first-appearance slots to ascending slots.
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
        }
        let tail = Tail {
            rows: &self.rows,
            budgets: &sorted,
            n_dp: self.n_dp,
            data_crc,
            f32_values: self.f32_values,
            synthetic: self.synthetic,
        };
        write_tail(&mut self.sink, &tail)
    }
}
