//! Synthetic data files in the official tfrecord format, for tests and benchmarks. Every file
//! starts with a marker record (hash [`SYNTHETIC_MARKER`]) that readers recognise and skip,
//! so synthetic numbers can never pass for real ones.

use crate::hash::ModelHash;
use crate::layout::SYNTHETIC_MARKER;
use crate::op::{Op, INPUT, OUTPUT};
use crate::proto::{EvaluationData, ModelMetrics};
use crate::record::encode_payload;
use crate::spec::ModelSpec;
use crate::tfrecord::Writer;
use md5::{Digest, Md5};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;
use std::io::Write;

/// The budgets of `nasbench_full.tfrecord`.
pub const FULL_BUDGETS: [u32; 4] = [4, 12, 36, 108];
/// The budget of `nasbench_only108.tfrecord`.
pub const ONLY108_BUDGETS: [u32; 1] = [108];

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenerateConfig {
    /// Number of models.
    pub models: usize,
    /// Epoch budgets, each written for every model.
    pub budgets: Vec<u32>,
    /// Repeats per (model, budget).
    pub repeats: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Every hash is the true hash of a distinct valid spec (slower: specs are sampled until
    /// enough distinct hashes are found). Otherwise hashes are random and specs arbitrary.
    pub true_hashes: bool,
    /// Every cell has 7 vertices after pruning, like most released cells: records of about
    /// the released files' size (417 bytes; the released 108-only file averages about 411).
    /// Otherwise cells have 3 to 7 vertices before pruning (records average about 323 bytes).
    pub seven_vertices: bool,
}

impl Default for GenerateConfig {
    fn default() -> Self {
        GenerateConfig {
            models: 1000,
            budgets: FULL_BUDGETS.to_vec(),
            repeats: 3,
            seed: 0,
            true_hashes: false,
            seven_vertices: false,
        }
    }
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("writing the output: {0}")]
    Io(std::io::Error),
    #[error("only {found} distinct valid specs found after {attempts} samples ({wanted} wanted)")]
    NotEnoughSpecs {
        found: usize,
        wanted: usize,
        attempts: u64,
    },
    #[error("spec {index} is not a valid NB-101 cell: {error}")]
    InvalidSpec {
        index: usize,
        error: crate::spec::SpecError,
    },
    #[error("no budgets or no repeats requested")]
    Empty,
}

impl From<std::io::Error> for GenerateError {
    fn from(e: std::io::Error) -> Self {
        GenerateError::Io(e)
    }
}

/// What was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenerateSummary {
    pub models: usize,
    pub records: u64,
    pub skipped_duplicates: usize,
}

/// A random valid cell in pruned form (2 to 7 vertices, at most 9 edges).
pub fn random_valid_spec(rng: &mut impl Rng) -> ModelSpec {
    random_cell(rng, false)
}

/// A random valid cell in pruned form; with `seven`, one that keeps all 7 vertices.
fn random_cell(rng: &mut impl Rng, seven: bool) -> ModelSpec {
    loop {
        let n = if seven { 7 } else { rng.gen_range(3..=7usize) };
        let density = rng.gen_range(0.2..0.6);
        let matrix: Vec<Vec<u8>> = (0..n)
            .map(|r| {
                (0..n)
                    .map(|c| u8::from(c > r && rng.gen_bool(density)))
                    .collect()
            })
            .collect();
        let ops: Vec<String> = (0..n)
            .map(|v| {
                if v == 0 {
                    INPUT.to_string()
                } else if v == n - 1 {
                    OUTPUT.to_string()
                } else {
                    Op::ALL[rng.gen_range(0..3)].name().to_string()
                }
            })
            .collect();
        let Ok(spec) = ModelSpec::new(matrix, ops) else {
            continue;
        };
        if !spec.is_valid() {
            continue;
        }
        let (Some(m), Some(o)) = (spec.pruned_matrix(), spec.pruned_ops()) else {
            continue;
        };
        if seven && m.len() != 7 {
            continue;
        }
        if let Ok(pruned) = ModelSpec::new(m.to_vec(), o.to_vec()) {
            return pruned;
        }
    }
}

/// A structure-dependent score in [0, 1): more conv3x3, more edges and more depth help, so
/// optimizers have something to find. Deterministic in the spec.
fn structure_score(spec: &ModelSpec) -> f64 {
    let ops = spec.pruned_interior_ops().unwrap_or_default();
    let m = spec.pruned_matrix().unwrap_or(&[]);
    let n = m.len();
    let edges: usize = m
        .iter()
        .map(|r| r.iter().filter(|&&v| v != 0).count())
        .sum();
    // Longest input→output path (vertex order is topological).
    let mut depth = vec![0usize; n];
    for c in 0..n {
        for r in 0..c {
            if m.get(r).and_then(|row| row.get(c)).copied().unwrap_or(0) != 0 {
                depth[c] = depth[c].max(depth[r] + 1);
            }
        }
    }
    let longest = depth.last().copied().unwrap_or(0);
    let c3 = ops.iter().filter(|o| **o == Op::Conv3x3).count() as f64;
    let c1 = ops.iter().filter(|o| **o == Op::Conv1x1).count() as f64;
    let mp = ops.iter().filter(|o| **o == Op::MaxPool3x3).count() as f64;
    let raw = 0.09 * c3 + 0.05 * c1 + 0.01 * mp + 0.03 * edges as f64 + 0.05 * longest as f64;
    raw / (1.0 + raw)
}

fn f32x(v: f64) -> f64 {
    f64::from(v as f32)
}

fn unit(hash: &ModelHash, salt: u64) -> f64 {
    let mut m = Md5::new();
    m.update(hash.0);
    m.update(salt.to_le_bytes());
    let d: [u8; 16] = m.finalize().into();
    let x = u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Deterministic synthetic metrics of one training run; every value the API returns is an
/// f32 widened to f64, like the real files.
pub fn synthetic_metrics(
    spec: &ModelSpec,
    hash: &ModelHash,
    epochs: u32,
    repeat: usize,
) -> ModelMetrics {
    let score = structure_score(spec);
    let ops = spec.pruned_interior_ops().unwrap_or_default();
    let params = 100_000
        + 900_000 * ops.iter().filter(|o| **o == Op::Conv3x3).count() as i32
        + 120_000 * ops.iter().filter(|o| **o == Op::Conv1x1).count() as i32
        + (unit(hash, 99) * 50_000.0) as i32;
    let noise =
        |salt: u64| (unit(hash, salt + 1000 * repeat as u64 + 7 * u64::from(epochs)) - 0.5) * 0.01;
    let curve = |e: f64| 1.0 - (-e / 18.0).exp();
    let acc =
        |e: f64, salt: u64| f32x((0.1 + 0.85 * score * curve(e) + noise(salt)).clamp(0.0, 1.0));
    let time_per_epoch = 5.0 + f64::from(params) / 100_000.0;
    let eval = |e: f64, k: u64| EvaluationData {
        current_epoch: e,
        training_time: f32x(time_per_epoch * e * (1.0 + noise(k + 10))),
        train_accuracy: acc(e * 1.3, k),
        validation_accuracy: acc(e, k + 1),
        test_accuracy: acc(e, k + 2),
        checkpoint_path: String::new(),
    };
    let e = f64::from(epochs);
    let mut first = eval(0.0, 0);
    first.training_time = 0.0;
    let fin = eval(e, 6);
    let total_time = fin.training_time * 1.1 + 3.0;
    ModelMetrics {
        evaluation_data: vec![first, eval(f64::from(epochs / 2), 3), fin],
        trainable_parameters: params,
        total_time,
    }
}

fn matrix_and_ops(spec: &ModelSpec) -> (Vec<Vec<u8>>, Vec<String>) {
    (
        spec.pruned_matrix().unwrap_or(&[]).to_vec(),
        spec.pruned_ops().unwrap_or(&[]).to_vec(),
    )
}

fn write_marker<W: Write>(w: &mut Writer<W>, epochs: u32) -> std::io::Result<()> {
    let zero = EvaluationData::default();
    let metrics = ModelMetrics {
        evaluation_data: vec![zero.clone(), zero.clone(), zero],
        trainable_parameters: 0,
        total_time: 0.0,
    };
    let payload = encode_payload(
        &SYNTHETIC_MARKER,
        epochs,
        &[vec![0, 1], vec![0, 0]],
        &[INPUT.to_string(), OUTPUT.to_string()],
        &metrics,
    );
    w.write(&payload)
}

fn write_models<W: Write>(
    out: W,
    models: &[(ModelHash, ModelSpec)],
    budgets: &[u32],
    repeats: usize,
    progress: &mut dyn FnMut(usize),
) -> Result<u64, GenerateError> {
    let mut w = Writer::new(out);
    write_marker(&mut w, budgets.first().copied().unwrap_or(108))?;
    for (i, (hash, spec)) in models.iter().enumerate() {
        let (m, o) = matrix_and_ops(spec);
        for &e in budgets {
            for k in 0..repeats {
                let metrics = synthetic_metrics(spec, hash, e, k);
                w.write(&encode_payload(hash, e, &m, &o, &metrics))?;
            }
        }
        if i % 4096 == 0 {
            progress(i);
        }
    }
    progress(models.len());
    Ok(w.records())
}

/// Writes a synthetic file: models sorted by hash, then budgets ascending, then repeats.
/// `progress` is told how many models were found (true-hash sampling), then written.
pub fn generate<W: Write>(
    out: W,
    cfg: &GenerateConfig,
    progress: &mut dyn FnMut(usize),
) -> Result<GenerateSummary, GenerateError> {
    if cfg.budgets.is_empty() || cfg.repeats == 0 {
        return Err(GenerateError::Empty);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut models: Vec<(ModelHash, ModelSpec)> = Vec::with_capacity(cfg.models);
    if cfg.true_hashes {
        // Random cells hit the 423,624 classes very unevenly: give up once new hashes stop
        // coming (no new one in `STALL` samples) instead of sampling forever.
        const STALL: u64 = 2_000_000;
        let mut seen = HashSet::with_capacity(cfg.models);
        let mut attempts = 0u64;
        let mut since_new = 0u64;
        while models.len() < cfg.models {
            if since_new >= STALL {
                return Err(GenerateError::NotEnoughSpecs {
                    found: models.len(),
                    wanted: cfg.models,
                    attempts,
                });
            }
            attempts += 1;
            since_new += 1;
            let spec = random_cell(&mut rng, cfg.seven_vertices);
            if let Ok(h) = spec.hash() {
                if seen.insert(h) {
                    models.push((h, spec));
                    since_new = 0;
                    if models.len() % 4096 == 0 {
                        progress(models.len());
                    }
                }
            }
        }
    } else {
        let mut seen = HashSet::with_capacity(cfg.models);
        while models.len() < cfg.models {
            let h = ModelHash(rng.gen());
            if h == SYNTHETIC_MARKER || !seen.insert(h) {
                continue;
            }
            models.push((h, random_cell(&mut rng, cfg.seven_vertices)));
        }
    }
    models.sort_unstable_by_key(|m| m.0);
    let records = write_models(out, &models, &cfg.budgets, cfg.repeats, progress)?;
    Ok(GenerateSummary {
        models: models.len(),
        records,
        skipped_duplicates: 0,
    })
}

/// Writes one model per given spec (true hashes; duplicates by hash skipped, first kept), in
/// the given order, with structure-dependent metrics.
pub fn generate_from_specs<W: Write>(
    out: W,
    specs: &[ModelSpec],
    budgets: &[u32],
    repeats: usize,
    progress: &mut dyn FnMut(usize),
) -> Result<GenerateSummary, GenerateError> {
    if budgets.is_empty() || repeats == 0 {
        return Err(GenerateError::Empty);
    }
    let mut seen = HashSet::with_capacity(specs.len());
    let mut models = Vec::with_capacity(specs.len());
    let mut skipped = 0;
    for (index, spec) in specs.iter().enumerate() {
        let h = spec
            .hash()
            .map_err(|error| GenerateError::InvalidSpec { index, error })?;
        if seen.insert(h) {
            let (m, o) = matrix_and_ops(spec);
            let pruned = ModelSpec::new(m, o)
                .map_err(|error| GenerateError::InvalidSpec { index, error })?;
            models.push((h, pruned));
        } else {
            skipped += 1;
        }
    }
    let records = write_models(out, &models, budgets, repeats, progress)?;
    Ok(GenerateSummary {
        models: models.len(),
        records,
        skipped_duplicates: skipped,
    })
}
