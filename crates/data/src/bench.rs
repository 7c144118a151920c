//! Throughput measurements shared by `cargo bench -p nb1s1-data` and `nb1s1 data bench`: the
//! loader's images per second with the full training augmentation, and import time.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use indicatif::ProgressBar;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::augment::Augment;
use crate::cifar::{Split, IMAGE_BYTES, NUM_CLASSES};
use crate::loader::Loader;
use crate::DataError;

/// One measured figure.
#[derive(Clone, Debug, Serialize)]
pub struct Measurement {
    /// What was measured.
    pub what: String,
    /// Images processed.
    pub images: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// `images / seconds`.
    pub images_per_sec: f64,
}

/// Random images and labels (pixel values do not change the cost of augmentation).
pub fn synthetic_split(n: usize, seed: u64) -> Split {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut images = vec![0u8; n * IMAGE_BYTES];
    rng.fill_bytes(&mut images);
    let labels = (0..n).map(|i| (i % NUM_CLASSES) as u8).collect();
    Split { images, labels }
}

/// Pulls `batches` batches through a shuffled, augmenting loader over all of `split`.
pub fn loader_throughput(
    split: Arc<Split>,
    batch_size: usize,
    batches: usize,
    augment: Augment,
) -> Result<Measurement, DataError> {
    let n = split.len();
    let mut loader =
        Loader::new(split, (0..n).collect(), batch_size, Some(augment), 0, true)?.cycling(true);
    // Warm-up: start the worker and fill its queue before timing.
    let _ = loader.next_batch();
    let start = Instant::now();
    let mut images = 0;
    let mut checksum = 0f64;
    for _ in 0..batches {
        if let Some(b) = loader.next_batch() {
            images += b.len;
            checksum += f64::from(b.images.first().copied().unwrap_or(0.0));
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    std::hint::black_box(checksum);
    Ok(Measurement {
        what: format!(
            "loader, batch {batch_size}, {}",
            if augment.cutout.is_some() {
                "crop+flip+normalize+cutout"
            } else if augment.is_deterministic() {
                "normalize only"
            } else {
                "crop+flip+normalize"
            }
        ),
        images,
        seconds,
        images_per_sec: images as f64 / seconds.max(1e-9),
    })
}

/// Times a full import of `source` into `out`.
pub fn import_time(source: &Path, out: &Path, seed: u64) -> Result<Measurement, DataError> {
    let start = Instant::now();
    let manifest = crate::import::import(source, out, seed, &ProgressBar::hidden())?;
    let seconds = start.elapsed().as_secs_f64();
    let images = manifest.train + manifest.test;
    Ok(Measurement {
        what: format!("import {}", source.display()),
        images,
        seconds,
        images_per_sec: images as f64 / seconds.max(1e-9),
    })
}
