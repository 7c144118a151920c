//! Proxy-guided search baselines on the scores of `nb1s1 zerocost` (docs/zerocost.md):
//!
//! * **best-of-N**: a seeded sample of N scored cells of a space, ranked by one proxy (higher
//!   is better, as NASLib orients every proxy); the best is looked up in NAS-Bench-101, then
//!   (with more than one query) the next ones in proxy order.
//! * **RE warm start** (NAS-Bench-Suite-Zero, Krishnakumar et al. 2022): regularized evolution
//!   whose initial population is the top proxy-ranked cells of the sample.
//!
//! Both write black-box run folders (`trajectory.jsonl`, `run.json`) that the results store
//! ingests as black-box runs, so the report draws them on the axes of the black-box and
//! one-shot methods. Their time axis is the black-box one, the NB-101 training seconds of the
//! queried cells, plus the measured seconds of scoring the N sampled cells (the `seconds` of
//! their lines in `scores.jsonl`), spent before the first query.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use blackbox::{evolution, Benchmark, QueryError, QueryRecord, Tracker};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use searchspace::{Architecture, Reference};
use serde::{Deserialize, Serialize};

use crate::zerocost::ScoreRow;

/// Why a proxy-guided search could not run.
#[derive(Debug, thiserror::Error)]
pub enum ProxySearchError {
    /// A setting out of range, or scores that cannot serve it; names the field.
    #[error("{field}: {why}")]
    Config { field: &'static str, why: String },
    /// The table refused a query.
    #[error(transparent)]
    Query(#[from] QueryError),
}

/// Which baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    BestOfN,
    ReWarmStart,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::BestOfN => "best-of-n",
            Method::ReWarmStart => "re-warm-start",
        }
    }
}

/// What a run computes.
#[derive(Clone, Debug)]
pub struct Plan {
    pub method: Method,
    /// The proxy that ranks the cells (a key of `scores.jsonl`).
    pub proxy: String,
    /// Cells sampled and scored.
    pub n: usize,
    /// NB-101 queries (best-of-N: 1 is the plain baseline).
    pub queries: usize,
    /// RE's population (the top-ranked cells of the sample) and tournament.
    pub re: evolution::Settings,
}

impl Plan {
    /// The optimizer name of the run folders and the report's series:
    /// `zc-best<N>-<proxy>` or `zc-re-<proxy>`.
    pub fn optimizer(&self) -> String {
        match self.method {
            Method::BestOfN => format!("zc-best{}-{}", self.n, self.proxy),
            Method::ReWarmStart => format!("zc-re-{}", self.proxy),
        }
    }
}

/// A scored cell of the space.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub hash: String,
    pub architecture: Architecture,
    pub score: f64,
    /// Measured seconds its scoring took.
    pub seconds: f64,
}

/// The cells of `rows` that are models of the benchmark's space and have a finite `proxy`
/// value, in the rows' order; also how many rows were left out.
pub fn candidates(
    rows: &[ScoreRow],
    proxy: &str,
    bench: &blackbox::TabularBenchmark,
) -> Result<(Vec<Candidate>, usize), ProxySearchError> {
    if !rows.iter().any(|r| r.scores.contains_key(proxy)) {
        return Err(ProxySearchError::Config {
            field: "proxy",
            why: format!("no cell has a `{proxy}` score"),
        });
    }
    let index = bench.table().index();
    let ids: HashMap<String, u32> = index
        .models()
        .iter()
        .enumerate()
        .map(|(i, m)| (m.hash.to_string(), i as u32))
        .collect();
    let mut out = Vec::new();
    for r in rows {
        let score = r.scores.get(proxy).copied().flatten();
        let arch = ids.get(&r.hash).and_then(|&id| index.representative(id));
        if let (Some(score), Some(architecture)) = (score, arch) {
            out.push(Candidate {
                hash: r.hash.clone(),
                architecture,
                score,
                seconds: r.seconds,
            });
        }
    }
    let left_out = rows.len() - out.len();
    Ok((out, left_out))
}

/// What one seed's run did.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The trajectory, its times including the proxy seconds.
    pub records: Vec<QueryRecord>,
    /// Seconds of scoring the sampled cells.
    pub proxy_seconds: f64,
    /// The sampled cells' hashes, best proxy first.
    pub ranked: Vec<String>,
}

/// Runs `plan` with `seed` on the candidates.
pub fn run(
    bench: &dyn Benchmark,
    candidates: &[Candidate],
    plan: &Plan,
    seed: u64,
) -> Result<Outcome, ProxySearchError> {
    if plan.n == 0 || plan.n > candidates.len() {
        return Err(ProxySearchError::Config {
            field: "n",
            why: format!(
                "{} cells asked, {} scored cells of the space have a finite {} value",
                plan.n,
                candidates.len(),
                plan.proxy
            ),
        });
    }
    if plan.queries == 0 {
        return Err(ProxySearchError::Config {
            field: "queries",
            why: "at least one query".into(),
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut sample: Vec<&Candidate> = rand::seq::index::sample(&mut rng, candidates.len(), plan.n)
        .into_iter()
        .map(|i| &candidates[i])
        .collect();
    // Best proxy first; ties by hash, so the order never depends on the sample's.
    sample.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.hash.cmp(&b.hash)));
    let proxy_seconds: f64 = sample.iter().map(|c| c.seconds).sum();
    let mut tracker = Tracker::new(bench, plan.queries);
    let epochs = bench.max_budget();
    match plan.method {
        Method::BestOfN => {
            for c in &sample {
                if tracker
                    .evaluate(&c.architecture, epochs, &mut rng)?
                    .is_none()
                {
                    break;
                }
            }
        }
        Method::ReWarmStart => {
            let initial: Vec<Architecture> = sample
                .iter()
                .take(plan.re.population)
                .map(|c| c.architecture.clone())
                .collect();
            evolution::run_from(&mut tracker, &mut rng, plan.re, &initial)?;
        }
    }
    let mut records = tracker.into_records();
    for r in &mut records {
        r.simulated_seconds += proxy_seconds;
    }
    Ok(Outcome {
        records,
        proxy_seconds,
        ranked: sample.iter().map(|c| c.hash.clone()).collect(),
    })
}

/// `run.json` of a proxy-guided run: what the store reads of a black-box run (optimizer,
/// space, seed, `complete`, the table) and the inputs that make it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub optimizer: String,
    pub method: Method,
    pub proxy: String,
    pub n: usize,
    pub population: Option<usize>,
    pub space: u8,
    pub seed: u64,
    /// The query budget.
    pub budget: usize,
    /// The scoring run's fingerprint (`zerocost.json`) and the SHA-256 of its `scores.jsonl`.
    pub scores_fingerprint: String,
    pub scores_sha256: String,
    pub nb101_file: String,
    pub nb101_fingerprint: Option<String>,
    pub synthetic: bool,
    pub reference: Reference,
    pub proxy_seconds: f64,
    pub queries: usize,
    pub simulated_seconds: f64,
    pub final_incumbent_test_regret: Option<f64>,
    pub complete: bool,
}

impl RunInfo {
    /// Whether `other` was made from the same inputs (everything but the results).
    pub fn same_inputs(&self, other: &RunInfo) -> bool {
        let strip = |r: &RunInfo| RunInfo {
            nb101_file: String::new(),
            proxy_seconds: 0.0,
            queries: 0,
            simulated_seconds: 0.0,
            final_incumbent_test_regret: None,
            complete: false,
            ..r.clone()
        };
        strip(self) == strip(other)
    }
}

/// The folder of one run: `root/<optimizer>/space<S>/seed<s>`.
pub fn run_dir(root: &Path, info: &RunInfo) -> PathBuf {
    root.join(&info.optimizer)
        .join(format!("space{}", info.space))
        .join(format!("seed{}", info.seed))
}

/// Writes `trajectory.jsonl`, then `run.json`, each atomically (`run.json` last: a folder
/// whose `run.json` says complete is finished).
pub fn write_run(dir: &Path, info: &RunInfo, records: &[QueryRecord]) -> crate::Result<()> {
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r).unwrap_or_default());
        text.push('\n');
    }
    crate::atomic::write_atomic(&dir.join("trajectory.jsonl"), text.as_bytes())?;
    let json = serde_json::to_vec_pretty(info).unwrap_or_default();
    crate::atomic::write_atomic(&dir.join("run.json"), &json)
}

/// The `run.json` of an earlier run in `dir` (`None` when absent).
pub fn read_info(dir: &Path) -> crate::Result<Option<RunInfo>> {
    Ok(runfmt::read_json_opt(&dir.join("run.json"))?)
}

/// SHA-256 (hex) of a scores file, read bounded: another set of scores is another run.
pub fn file_sha256(path: &Path) -> crate::Result<String> {
    use sha2::{Digest, Sha256};
    let bytes = nb1s1_fsio::read_limited(path, runfmt::jsonl::MAX_JSONL_BYTES)?;
    let digest = Sha256::digest(&bytes);
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}
