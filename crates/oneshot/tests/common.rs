//! Helpers shared by the integration tests: tiny configurations, synthetic images, a fake
//! NAS-Bench-101 table.
#![allow(dead_code)]

use std::sync::Arc;

use nasbench101::ModelHash;
use nb1s1_data::Split;
use oneshot::anytime::{Nb101Errors, Nb101Oracle};
use oneshot::{OneShotError, OptimizerKind, SearchConfig, SearchData, SearchOptions};
use searchspace::{Reference, SpaceId};

/// A configuration small enough for a test on 2 CPU cores: C = 4, 3 cells, batch 8.
pub fn tiny(optimizer: OptimizerKind, space: u8) -> SearchConfig {
    let mut c = SearchConfig::defaults(optimizer, space);
    c.epochs = 3;
    c.model.init_channels = 4;
    c.model.layers = 3;
    // The fast layout (the same function; only the drawn op per block runs, 32 -> 16 -> 8): the
    // tests check the machinery, not the paper's supernet, and must stay quick on 2 cores.
    c.model.fuse_projections = true;
    c.model.run_all_ops = false;
    c.model.downsample_padding = 0;
    // All of each half: the tests' data sets are tiny already (asking for more images than a
    // half holds is an error).
    c.data.train_images = 0;
    c.data.valid_images = 0;
    c.data.batch_size = 8;
    c.data.eval_batch_size = 16;
    c.selection.samples = 4;
    c.selection.rank_batches = 1;
    c.selection.top_k = 2;
    c.controller.steps_per_epoch = 2;
    c.controller.hidden = 16;
    c
}

/// A registered optimizer's defaults with [`tiny`]'s sizes (model, data, selection, controller,
/// epochs).
pub fn tiny_registered(name: &str, space: u8) -> SearchConfig {
    let mut cfg = SearchConfig::defaults_for(name, space).unwrap();
    let t = tiny(oneshot::registry::lookup(name).unwrap().defaults_of, space);
    (
        cfg.model,
        cfg.data,
        cfg.selection,
        cfg.controller,
        cfg.epochs,
    ) = (t.model, t.data, t.selection, t.controller, t.epochs);
    cfg
}

/// Sets `[options.<part>] key = value` (the part's table is created when missing).
pub fn set_option(cfg: &mut SearchConfig, part: &str, key: &str, value: toml::Value) {
    let t = cfg
        .options
        .entry(part.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    t.as_table_mut().unwrap().insert(key.into(), value);
}

/// `n` random images with random labels (deterministic in `seed`).
pub fn random_split(n: usize, seed: u64) -> Split {
    nb1s1_data::bench::synthetic_split(n, seed)
}

/// `n` images with image-wide structure (a colour per channel and a gradient of random
/// direction and strength, plus noise) and labels `i % 10`. Unlike pure noise, whose pooled
/// features are nearly the same for every image, these give image-dependent predictions.
pub fn structured_split(n: usize, seed: u64) -> Split {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut images = Vec::with_capacity(n * 3072);
    for _ in 0..n {
        let (gx, gy): (f32, f32) = (rng.gen_range(-4.0..4.0), rng.gen_range(-4.0..4.0));
        for _ in 0..3 {
            let base: f32 = rng.gen_range(30.0..220.0);
            for y in 0..32 {
                for x in 0..32 {
                    let v = base
                        + gx * (x as f32 - 16.0)
                        + gy * (y as f32 - 16.0)
                        + rng.gen_range(-20.0..20.0);
                    images.push(v.clamp(0.0, 255.0) as u8);
                }
            }
        }
    }
    let labels = (0..n).map(|i| (i % 10) as u8).collect();
    Split { images, labels }
}

pub fn synthetic_data(n_train: usize, n_test: usize) -> SearchData {
    SearchData {
        train: Arc::new(random_split(n_train, 1)),
        test: Arc::new(random_split(n_test, 2)),
        source: "synthetic (tests)".into(),
    }
}

pub fn cpu_options() -> SearchOptions {
    tch::set_num_threads(2);
    SearchOptions {
        device: tch::Device::Cpu,
        resume: false,
        stop_after: None,
        progress: false,
        paper_reference: false,
    }
}

/// A fake table: every cell has three repeats derived from its hash bytes, so different cells
/// get different errors and the same cell always the same.
pub struct FakeTable;

impl Nb101Oracle for FakeTable {
    fn path(&self) -> String {
        "fake-table".into()
    }
    fn is_synthetic(&self) -> bool {
        true
    }
    fn query(&self, hash: &ModelHash) -> Result<Option<Nb101Errors>, OneShotError> {
        let b = hash.0;
        let e = |i: usize| 0.06 + f64::from(b[i]) / 2550.0;
        Ok(Some(Nb101Errors {
            valid: vec![e(0), e(1), e(2)],
            test: vec![e(3), e(4), e(5)],
            train_seconds: vec![1000.0 + e(6), 1000.0 + e(7), 1000.0 + e(8)],
        }))
    }
    fn reference(&self, space: SpaceId) -> Option<Reference> {
        Some(Reference {
            min_valid_error: 0.05,
            min_test_error: 0.055,
            source: searchspace::ReferenceSource::Exhaustive,
            synthetic: Some(true),
            ..Reference::original(space)
        })
    }
}

/// Serializes the tests of one test binary that seed and draw from libtorch's random generator,
/// which is global to the process: two searches in parallel threads would interleave their
/// draws, and runs meant to be bit-identical would differ. A failed test does not block the rest.
pub fn torch_lock() -> std::sync::MutexGuard<'static, ()> {
    static TORCH: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TORCH
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
