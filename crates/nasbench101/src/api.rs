//! The official `NASBench` query API over an [`Nb101`]: `query` with a sampled repeat and
//! budget counters, fixed/computed metrics by spec or hash, validity and hash iteration.

use crate::dataset::{DataPoint, Model, Nb101};
use crate::error::QueryError;
use crate::hash::ModelHash;
use crate::mt::CPythonRandom;
use crate::spec::ModelSpec;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Number of repeats the official API samples from (`num_repeats`).
pub const NUM_REPEATS: usize = 3;

/// How `query` picks a repeat.
#[derive(Clone)]
pub enum RepeatSampler {
    /// A fast SplitMix64 generator (the default).
    Fast(u64),
    /// CPython's MT19937 `randint(0, 2)`, reproducing the official API seeded with an integer.
    CPython(Box<CPythonRandom>),
    /// Always the given repeat (like nasbench-rs `--sample-index`).
    Fixed(usize),
}

impl RepeatSampler {
    /// A fast generator from `seed`.
    pub fn fast(seed: u64) -> RepeatSampler {
        RepeatSampler::Fast(seed)
    }
    /// The official API's stream for `NASBench(file, seed)`.
    pub fn cpython(seed: i128) -> RepeatSampler {
        RepeatSampler::CPython(Box::new(CPythonRandom::new(seed)))
    }
    /// Draws a repeat index in `0..NUM_REPEATS`.
    pub fn draw(&mut self) -> usize {
        match self {
            RepeatSampler::Fast(state) => {
                *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = *state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^= z >> 31;
                ((u128::from(z) * NUM_REPEATS as u128) >> 64) as usize
            }
            RepeatSampler::CPython(r) => r.randint(0, NUM_REPEATS as i64 - 1) as usize,
            RepeatSampler::Fixed(k) => *k,
        }
    }
}

/// What `query` returns (the official dict's keys).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct QueryResult {
    pub module_adjacency: Vec<Vec<u8>>,
    pub module_operations: Vec<String>,
    pub trainable_parameters: i64,
    pub training_time: f64,
    pub train_accuracy: f64,
    pub validation_accuracy: f64,
    pub test_accuracy: f64,
}

/// The fixed part of `get_metrics_from_*`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FixedMetrics {
    pub module_adjacency: Vec<Vec<u8>>,
    pub module_operations: Vec<String>,
    pub trainable_parameters: i64,
}

/// The computed part of `get_metrics_from_*`: epochs → repeats in file order.
pub type ComputedMetrics = BTreeMap<u32, Vec<DataPoint>>;

fn fixed(m: &Model<'_>) -> FixedMetrics {
    FixedMetrics {
        module_adjacency: m.adjacency(),
        module_operations: m.ops(),
        trainable_parameters: m.trainable_parameters(),
    }
}

/// Most cells remembered by the spec → hash cache before it is cleared.
const HASH_CACHE_CAP: usize = 1 << 20;

/// A pruned cell packed into a small key: vertex count, adjacency bits, op codes.
type CellKey = (u8, u32, u32);

fn cell_key(spec: &ModelSpec) -> Option<CellKey> {
    let m = spec.pruned_matrix()?;
    let ops = spec.pruned_ops()?;
    if m.len() > crate::layout::MAX_STORED_VERTICES || ops.len() != m.len() {
        return None;
    }
    let mut adj = 0u32;
    let mut bit = 0;
    for (r, row) in m.iter().enumerate() {
        for &v in row.iter().skip(r + 1) {
            if v != 0 {
                adj |= 1 << bit;
            }
            bit += 1;
        }
    }
    let mut codes = 0u32;
    for (v, o) in ops.iter().enumerate() {
        codes |= crate::layout::op_code(o)? << (3 * v);
    }
    Some((m.len() as u8, adj, codes))
}

/// Official-API semantics over a shared data file.
///
/// Search algorithms revisit the same cells very often (google-research/nasbench issue #6),
/// and the MD5-based graph hash dominates a query, so hashes of pruned cells are cached.
pub struct Api {
    db: Arc<Nb101>,
    sampler: RepeatSampler,
    training_time_spent: f64,
    total_epochs_spent: u64,
    hash_cache: std::sync::Mutex<std::collections::HashMap<CellKey, ModelHash>>,
}

impl Api {
    /// An API with the fast sampler seeded by `seed`.
    pub fn new(db: Arc<Nb101>, seed: u64) -> Api {
        Api::with_sampler(db, RepeatSampler::fast(seed))
    }

    /// An API with an explicit sampler (e.g. [`RepeatSampler::cpython`]).
    pub fn with_sampler(db: Arc<Nb101>, sampler: RepeatSampler) -> Api {
        Api {
            db,
            sampler,
            training_time_spent: 0.0,
            total_epochs_spent: 0,
            hash_cache: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// `check()` then the graph hash, through the cache of pruned cells.
    pub fn spec_hash(&self, spec: &ModelSpec) -> Result<ModelHash, QueryError> {
        spec.check()?;
        let key = cell_key(spec);
        if let (Some(k), Ok(cache)) = (key, self.hash_cache.lock()) {
            if let Some(h) = cache.get(&k) {
                return Ok(*h);
            }
        }
        let h = spec.hash()?;
        if let (Some(k), Ok(mut cache)) = (key, self.hash_cache.lock()) {
            if cache.len() >= HASH_CACHE_CAP {
                cache.clear();
            }
            cache.insert(k, h);
        }
        Ok(h)
    }

    fn model_by_spec(&self, spec: &ModelSpec) -> Result<Model<'_>, QueryError> {
        let h = self.spec_hash(spec)?;
        self.db.model(&h).ok_or(QueryError::UnknownHash(h))
    }

    /// The data file.
    pub fn data(&self) -> &Arc<Nb101> {
        &self.db
    }

    fn check_epochs(&self, epochs: u32) -> Result<(), QueryError> {
        if self.db.epochs().contains(&epochs) {
            Ok(())
        } else {
            Err(QueryError::InvalidEpochs {
                epochs,
                valid: self.db.epochs().to_vec(),
            })
        }
    }

    /// The official `query`: epochs checked first, then the spec; one repeat drawn; the
    /// halfway or final values returned; budget counters advanced (by epochs/2 when halfway).
    pub fn query(
        &mut self,
        spec: &ModelSpec,
        epochs: u32,
        stop_halfway: bool,
    ) -> Result<QueryResult, QueryError> {
        self.check_epochs(epochs)?;
        let hash = self.spec_hash(spec)?;
        let db = Arc::clone(&self.db);
        let model = db.model(&hash).ok_or(QueryError::UnknownHash(hash))?;
        let k = self.sampler.draw();
        let p = model.repeat(epochs, k)?;
        let (time, train, valid, test) = if stop_halfway {
            (
                p.halfway_training_time,
                p.halfway_train_accuracy,
                p.halfway_validation_accuracy,
                p.halfway_test_accuracy,
            )
        } else {
            (
                p.final_training_time,
                p.final_train_accuracy,
                p.final_validation_accuracy,
                p.final_test_accuracy,
            )
        };
        self.training_time_spent += time;
        self.total_epochs_spent += u64::from(if stop_halfway { epochs / 2 } else { epochs });
        Ok(QueryResult {
            module_adjacency: model.adjacency(),
            module_operations: model.ops(),
            trainable_parameters: model.trainable_parameters(),
            training_time: time,
            train_accuracy: train,
            validation_accuracy: valid,
            test_accuracy: test,
        })
    }

    /// Every repeat at `epochs` (what NAS-Bench-1Shot1 averages); no budget change.
    pub fn query_all_repeats(
        &self,
        spec: &ModelSpec,
        epochs: u32,
    ) -> Result<Vec<DataPoint>, QueryError> {
        self.check_epochs(epochs)?;
        self.model_by_spec(spec)?.repeats(epochs)
    }

    /// `get_metrics_from_spec`: checks the spec, then fixed and computed stats.
    pub fn get_metrics_from_spec(
        &self,
        spec: &ModelSpec,
    ) -> Result<(FixedMetrics, ComputedMetrics), QueryError> {
        let m = self.model_by_spec(spec)?;
        Ok((fixed(&m), m.computed_stats()))
    }

    /// `get_metrics_from_hash`: no checks; unknown hash is an error (official: KeyError).
    pub fn get_metrics_from_hash(
        &self,
        hash: &ModelHash,
    ) -> Result<(FixedMetrics, ComputedMetrics), QueryError> {
        let m = self.db.model(hash).ok_or(QueryError::UnknownHash(*hash))?;
        Ok((fixed(&m), m.computed_stats()))
    }

    /// `is_valid`: the spec passes the official checks (no data lookup, no budget change).
    pub fn is_valid(&self, spec: &ModelSpec) -> bool {
        spec.is_valid()
    }

    /// `hash_iterator`: hashes in file order.
    pub fn hash_iterator(&self) -> impl Iterator<Item = ModelHash> + '_ {
        self.db.hashes()
    }

    /// `(training_time_spent, total_epochs_spent)`.
    pub fn get_budget_counters(&self) -> (f64, u64) {
        (self.training_time_spent, self.total_epochs_spent)
    }

    /// Sets both counters back to zero.
    pub fn reset_budget_counters(&mut self) {
        self.training_time_spent = 0.0;
        self.total_epochs_spent = 0;
    }
}
