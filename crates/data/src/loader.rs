//! Minibatches for training and evaluation. A [`Loader`] walks a subset of a [`Split`] in a
//! per-epoch permutation, augments on a background thread a few batches ahead (so the GPU never
//! waits on the CPU), and is exactly reproducible: the permutation and every random draw of the
//! augmentation are keyed by `(seed, epoch, position)`, never by thread timing, so a saved
//! [`LoaderState`] resumes into the very same following batches.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::augment::Augment;
use crate::cifar::{Split, IMAGE_BYTES};
use crate::DataError;

/// Batches prepared ahead of the consumer by default.
pub const DEFAULT_PREFETCH: usize = 4;

/// One minibatch as plain buffers (the tensor side turns them into `[len, 3, 32, 32]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// `len * 3 * 32 * 32` normalized floats, CHW per image.
    pub images: Vec<f32>,
    /// `len` class labels.
    pub labels: Vec<i64>,
    /// `len` indices into the split the images came from (for tracing and tests).
    pub indices: Vec<usize>,
    /// Number of images (the last batch of an epoch may be short).
    pub len: usize,
}

/// Where a loader stands: the next batch is taken from position `cursor` of epoch `epoch`'s
/// permutation. Serialize it with a checkpoint and pass it to [`Loader::resume`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoaderState {
    /// Seed of the permutations and augmentation draws.
    pub seed: u64,
    /// Epoch number, from 0.
    pub epoch: u64,
    /// Position inside the epoch's order of the next image to hand out.
    pub cursor: usize,
}

/// What the loader hands out and how; shared read-only with the worker thread.
#[derive(Clone)]
struct Plan {
    split: Arc<Split>,
    indices: Vec<usize>,
    batch_size: usize,
    augment: Augment,
    shuffle: bool,
    cycle: bool,
}

/// One step of the producer: a batch, or the end of an epoch (non-cycling loaders only).
enum Item {
    Batch(Batch, LoaderState),
    EpochEnd(LoaderState),
}

/// The threads that augment a batch in parallel. A private pool (not rayon's global one), so a
/// consumer that itself runs on a rayon thread can never starve its own producer.
fn augment_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("nb1s1-augment-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// Number of threads that augment batches in parallel (1 when the pool could not start).
pub fn augment_threads() -> usize {
    augment_pool().map_or(1, |p| p.current_num_threads())
}

/// SplitMix64 finalizer: turns structured keys into well-spread seeds.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A random generator keyed by the loader seed, the epoch, a purpose tag and a position.
fn keyed_rng(seed: u64, epoch: u64, tag: u64, pos: u64) -> ChaCha8Rng {
    let key = mix(mix(mix(mix(seed) ^ epoch) ^ tag) ^ pos);
    ChaCha8Rng::seed_from_u64(key)
}

const TAG_SHUFFLE: u64 = 0x5348_5546;
const TAG_AUGMENT: u64 = 0x4155_474D;

impl Plan {
    /// The order in which epoch `epoch` visits `indices`.
    fn order(&self, seed: u64, epoch: u64) -> Vec<usize> {
        let mut order = self.indices.clone();
        if self.shuffle {
            order.shuffle(&mut keyed_rng(seed, epoch, TAG_SHUFFLE, 0));
        }
        order
    }

    /// Builds the batch starting at `state.cursor` of `order`.
    fn batch(&self, order: &[usize], state: LoaderState) -> Batch {
        let end = (state.cursor + self.batch_size).min(order.len());
        let picked: Vec<usize> = order.get(state.cursor..end).unwrap_or_default().to_vec();
        let len = picked.len();
        let mut images = vec![0f32; len * IMAGE_BYTES];
        let labels = picked
            .iter()
            .map(|&i| i64::from(self.split.labels.get(i).copied().unwrap_or(0)))
            .collect();
        let work = |(k, dst): (usize, &mut [f32])| {
            let (Some(src), Ok(dst)) = (
                self.split
                    .image(picked.get(k).copied().unwrap_or(usize::MAX)),
                <&mut [f32; IMAGE_BYTES]>::try_from(dst),
            ) else {
                return;
            };
            let Ok(src) = <&[u8; IMAGE_BYTES]>::try_from(src) else {
                return;
            };
            let pos = (state.cursor + k) as u64;
            let mut rng = keyed_rng(state.seed, state.epoch, TAG_AUGMENT, pos);
            self.augment.apply(src, dst, &mut rng);
        };
        match augment_pool() {
            Some(pool) if len >= 16 => pool.install(|| {
                images
                    .par_chunks_mut(IMAGE_BYTES)
                    .enumerate()
                    .for_each(work)
            }),
            _ => images.chunks_mut(IMAGE_BYTES).enumerate().for_each(work),
        }
        Batch {
            images,
            labels,
            indices: picked,
            len,
        }
    }
}

/// The producer's memory of the current epoch's permutation.
struct Cursor {
    state: LoaderState,
    order: Option<(u64, u64, Vec<usize>)>,
}

impl Cursor {
    /// Produces the next item and advances.
    fn step(&mut self, plan: &Plan) -> Item {
        let n = plan.indices.len();
        if self.state.cursor >= n {
            self.state = LoaderState {
                seed: self.state.seed,
                epoch: self.state.epoch + 1,
                cursor: 0,
            };
            if !plan.cycle {
                return Item::EpochEnd(self.state);
            }
        }
        let key = (self.state.seed, self.state.epoch);
        let order = match &self.order {
            Some((s, e, order)) if (*s, *e) == key => order,
            _ => {
                let order = plan.order(key.0, key.1);
                &self.order.insert((key.0, key.1, order)).2
            }
        };
        let batch = plan.batch(order, self.state);
        self.state.cursor = (self.state.cursor + plan.batch_size).min(n);
        Item::Batch(batch, self.state)
    }
}

/// The background thread and its channel.
struct Worker {
    rx: Option<Receiver<Item>>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    fn spawn(plan: Arc<Plan>, state: LoaderState, prefetch: usize) -> Worker {
        let (tx, rx) = sync_channel(prefetch.max(1));
        let handle = std::thread::Builder::new()
            .name("nb1s1-loader".into())
            .spawn(move || {
                let mut cursor = Cursor { state, order: None };
                // Stops as soon as the receiving loader is dropped or resumed elsewhere.
                while tx.send(cursor.step(&plan)).is_ok() {}
            })
            .ok();
        Worker {
            rx: handle.is_some().then_some(rx),
            handle,
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Dropping the receiver first makes the worker's blocked `send` fail, so join returns.
        self.rx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Minibatches over a subset of a split. See the module docs.
pub struct Loader {
    plan: Arc<Plan>,
    state: LoaderState,
    prefetch: usize,
    worker: Option<Worker>,
}

impl Loader {
    /// A loader over `indices` of `split`. `augment: None` means the evaluation transform
    /// (normalization only). `shuffle: false` keeps `indices` in the given order every epoch.
    /// Fails on an empty index set, a zero batch size or an index outside the split.
    pub fn new(
        split: Arc<Split>,
        indices: Vec<usize>,
        batch_size: usize,
        augment: Option<Augment>,
        seed: u64,
        shuffle: bool,
    ) -> Result<Loader, DataError> {
        if batch_size == 0 {
            return Err(DataError::config("batch_size", "must be at least 1"));
        }
        if indices.is_empty() {
            return Err(DataError::config("indices", "the loader has no image"));
        }
        if split.images.len() != split.len() * IMAGE_BYTES {
            return Err(DataError::config(
                "split",
                "image bytes do not match the number of labels",
            ));
        }
        if let Some((pos, &bad)) = indices.iter().enumerate().find(|(_, &i)| i >= split.len()) {
            return Err(DataError::config(
                "indices",
                format!(
                    "index {bad} at position {pos} is outside the split of {} images",
                    split.len()
                ),
            ));
        }
        Ok(Loader {
            plan: Arc::new(Plan {
                split,
                indices,
                batch_size,
                augment: augment.unwrap_or_else(Augment::eval),
                shuffle,
                cycle: false,
            }),
            state: LoaderState {
                seed,
                epoch: 0,
                cursor: 0,
            },
            prefetch: DEFAULT_PREFETCH,
            worker: None,
        })
    }

    /// An evaluation loader: no augmentation, indices in the given order.
    pub fn eval(
        split: Arc<Split>,
        indices: Vec<usize>,
        batch_size: usize,
    ) -> Result<Loader, DataError> {
        Self::new(split, indices, batch_size, None, 0, false)
    }

    /// Infinite mode (the architecture queue of DARTS): epochs follow each other without
    /// `None` in between, so [`Loader::next_batch`] always returns a batch.
    pub fn cycling(mut self, cycle: bool) -> Loader {
        self.worker = None;
        Arc::make_mut(&mut self.plan).cycle = cycle;
        self
    }

    /// How many batches the background thread prepares ahead (at least 1).
    pub fn prefetch(mut self, batches: usize) -> Loader {
        self.worker = None;
        self.prefetch = batches.max(1);
        self
    }

    /// The next batch. In epoch mode it returns `None` once at the end of each epoch and then
    /// continues with the next epoch; in cycling mode it never returns `None`.
    pub fn next_batch(&mut self) -> Option<Batch> {
        let item = match self
            .worker
            .get_or_insert_with(|| Worker::spawn(Arc::clone(&self.plan), self.state, self.prefetch))
        {
            Worker { rx: Some(rx), .. } => rx.recv().ok(),
            _ => None,
        };
        // Without a working thread, produce in place; the result is the same by construction.
        let item = item.unwrap_or_else(|| {
            self.worker = None;
            Cursor {
                state: self.state,
                order: None,
            }
            .step(&self.plan)
        });
        match item {
            Item::Batch(batch, next) => {
                self.state = next;
                Some(batch)
            }
            Item::EpochEnd(next) => {
                self.state = next;
                None
            }
        }
    }

    /// The position to save: resuming from it yields exactly the batches that would follow.
    pub fn state(&self) -> LoaderState {
        self.state
    }

    /// Continues from a saved position (its seed replaces this loader's seed).
    pub fn resume(&mut self, state: LoaderState) -> Result<(), DataError> {
        if state.cursor > self.plan.indices.len() {
            return Err(DataError::config(
                "loader state",
                format!(
                    "cursor {} is past the {} images of this loader",
                    state.cursor,
                    self.plan.indices.len()
                ),
            ));
        }
        self.worker = None;
        self.state = state;
        Ok(())
    }

    /// Number of images one epoch visits.
    pub fn len(&self) -> usize {
        self.plan.indices.len()
    }

    /// Always false: a loader cannot be built without images.
    pub fn is_empty(&self) -> bool {
        self.plan.indices.is_empty()
    }

    /// Batches per epoch (the last may be short).
    pub fn batches_per_epoch(&self) -> usize {
        self.plan.indices.len().div_ceil(self.plan.batch_size)
    }

    /// The batch size.
    pub fn batch_size(&self) -> usize {
        self.plan.batch_size
    }
}
