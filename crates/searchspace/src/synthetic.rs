//! Synthetic NAS-Bench-101 tables covering a search space, with structure (more 3x3
//! convolutions and more edges help, max-pooling hurts, plus per-repeat noise), so tests and
//! benchmarks can tell a good optimizer from random search without the real 500 MB file.
//! Values are float32-representable and the file is in the official tfrecord format.

use std::path::Path;

use nasbench101::proto::{EvaluationData, ModelMetrics};
use nasbench101::{Nb101, Nb101Error, OpenOptions};

use crate::index::ModelIndex;
use crate::space::SearchSpace;

/// Deterministic pseudo-random number in [0, 1) from a 64-bit key (splitmix64).
fn unit(mut x: u64) -> f64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn f32v(x: f64) -> f64 {
    f64::from(x as f32)
}

/// Tfrecord bytes holding every unique model of `space` at the given budgets, 3 repeats each.
pub fn space_tfrecord(space: &SearchSpace, epochs: &[u32], seed: u64) -> Vec<u8> {
    let index = ModelIndex::build(space);
    let mut out = Vec::new();
    for m in index.models() {
        let g = &m.graph;
        let labels = g.labels();
        let conv3 = labels.iter().filter(|&&l| l == 0).count() as f64;
        let pool = labels.iter().filter(|&&l| l == 2).count() as f64;
        let edges = g.num_edges() as f64;
        let key = u64::from_le_bytes(m.hash.0[..8].try_into().unwrap_or([0; 8])) ^ seed;
        let quality = 0.80 + 0.025 * conv3 - 0.02 * pool + 0.006 * edges + 0.02 * unit(key);
        let ops = g.op_names();
        let matrix = g.matrix();
        for &e in epochs {
            let scale = (f64::from(e) / 108.0).sqrt();
            for r in 0..3u64 {
                let noise = 0.01 * (unit(key ^ (u64::from(e) << 8) ^ (r + 1)) - 0.5);
                let test = f32v((quality * (0.7 + 0.3 * scale) + noise).clamp(0.05, 0.99));
                let valid = f32v((test + 0.004 + 0.004 * unit(key.rotate_left(7) ^ r)).min(0.995));
                let time = f32v((400.0 + 250.0 * conv3 + 80.0 * edges) * f64::from(e) / 108.0);
                let eval = |frac: f64| EvaluationData {
                    current_epoch: f64::from(e) * frac,
                    training_time: f32v(time * frac),
                    train_accuracy: f32v((test + 0.05).min(1.0) * frac.max(0.1)),
                    validation_accuracy: f32v(valid * frac.max(0.1)),
                    test_accuracy: f32v(test * frac.max(0.1)),
                    checkpoint_path: String::new(),
                };
                let metrics = ModelMetrics {
                    evaluation_data: vec![eval(0.0), eval(0.5), eval(1.0)],
                    trainable_parameters: (1_000_000.0 * (1.0 + conv3)) as i32,
                    total_time: time,
                };
                let payload =
                    nasbench101::record::encode_payload(&m.hash, e, &matrix, &ops, &metrics);
                // Writing to a Vec cannot fail.
                let _ = nasbench101::tfrecord::write_record(&mut out, &payload);
            }
        }
    }
    out
}

/// An in-memory NB-101 table covering `space` (see [`space_tfrecord`]); `name` labels it in
/// errors and outputs.
pub fn space_table(
    space: &SearchSpace,
    epochs: &[u32],
    seed: u64,
    name: &Path,
) -> Result<Nb101, Nb101Error> {
    let bytes = space_tfrecord(space, epochs, seed);
    Nb101::from_tfrecord_bytes(&bytes, name, OpenOptions::default(), None)
}
