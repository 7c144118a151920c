//! `nb1s1 zerocost search`: the proxy-guided baselines (best-of-N by proxy, RE warm-started
//! with the top proxy-ranked cells) on the scores of a `nb1s1 zerocost` folder, one black-box
//! run folder per seed (module `nb1s1_bench::proxy_search`). Resumable: a seed whose folder is
//! complete with the same inputs is skipped; one made with other inputs is refused.

use std::path::PathBuf;

use anyhow::{bail, Context};
use blackbox::Benchmark;
use indicatif::{ProgressBar, ProgressStyle};
use nb1s1_bench::proxy_search::{self, Method, Plan, RunInfo};
use searchspace::{Reference, SearchSpace, SpaceId, SpaceTable};

use super::{RunIdentity, SCORES_FILE, SETTINGS_FILE};

/// Arguments of `nb1s1 zerocost search`.
#[derive(clap::Args)]
pub struct Args {
    /// A `nb1s1 zerocost` output folder (its `zerocost.json` and `scores.jsonl`).
    #[arg(long)]
    scores: PathBuf,
    /// The proxy that ranks the cells (higher is better), e.g. synflow, nwot, jacov.
    #[arg(long)]
    proxy: String,
    /// best-of-n: the best of N sampled cells by proxy; re-warm-start: regularized evolution
    /// whose initial population is the top proxy-ranked cells of the sample.
    #[arg(long, value_parser = ["best-of-n", "re-warm-start"])]
    method: String,
    /// Cells sampled (seeded) from the scored cells of the space.
    #[arg(long, default_value_t = 100)]
    n: usize,
    /// NB-101 queries (default: 1 for best-of-n, 300 for re-warm-start).
    #[arg(long)]
    queries: Option<usize>,
    /// RE's population (its first members: the top proxy-ranked cells).
    #[arg(long, default_value_t = 100)]
    population: usize,
    /// RE's tournament size.
    #[arg(long, default_value_t = 10)]
    tournament: usize,
    /// Seeds: `0..10`, `0..=9` or `1,2,5`.
    #[arg(long, default_value = "0..10")]
    seeds: String,
    /// The space (default: the one the scores folder was made for).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
    space: Option<u8>,
    /// NAS-Bench-101 data file (tfrecord or store).
    #[arg(long, env = "NB1S1_NB101")]
    nb101: PathBuf,
    /// Regret reference: exact (the table's best) or original (the paper's constants).
    #[arg(long, default_value = "exact", value_parser = ["exact", "original"])]
    reference: String,
    /// Output root: `<optimizer>/space<S>/seed<s>/` below it.
    #[arg(long)]
    out: PathBuf,
}

const MAX_SEEDS: usize = 100_000;

fn parse_seeds(s: &str) -> anyhow::Result<Vec<u64>> {
    let num = |t: &str| {
        t.trim()
            .parse::<u64>()
            .with_context(|| format!("--seeds: {:?} is not a seed number", t.trim()))
    };
    let seeds: Vec<u64> = if let Some((a, b)) = s.split_once("..=") {
        (num(a)?..=num(b)?).take(MAX_SEEDS + 1).collect()
    } else if let Some((a, b)) = s.split_once("..") {
        (num(a)?..num(b)?).take(MAX_SEEDS + 1).collect()
    } else {
        s.split(',').map(num).collect::<anyhow::Result<_>>()?
    };
    if seeds.is_empty() || seeds.len() > MAX_SEEDS {
        bail!("--seeds {s:?}: between 1 and {MAX_SEEDS} seeds");
    }
    Ok(seeds)
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let seeds = parse_seeds(&a.seeds)?;
    let method = match a.method.as_str() {
        "best-of-n" => Method::BestOfN,
        _ => Method::ReWarmStart,
    };
    let id: RunIdentity = runfmt::read_json(&a.scores.join(SETTINGS_FILE))
        .with_context(|| format!("--scores {}: not a zerocost folder", a.scores.display()))?;
    let Some(space) = a.space.or(id.space) else {
        bail!(
            "--scores {}: its cells were given as specs; name their space with --space",
            a.scores.display()
        );
    };
    let scores_path = a.scores.join(SCORES_FILE);
    let rows = nb1s1_bench::zerocost::read_scores(&scores_path)?;
    let nb = nasbench101::Nb101::open(&a.nb101)
        .with_context(|| format!("--nb101 {}: cannot open", a.nb101.display()))?;
    let sid = SpaceId::try_from(space).map_err(anyhow::Error::msg)?;
    let mut bench =
        blackbox::TabularBenchmark::new(SpaceTable::build(&SearchSpace::new(sid), &nb)?);
    if a.reference == "original" {
        bench = bench.with_reference(Reference::original(sid));
    }
    if nb.is_synthetic() {
        eprintln!("warning: {} is SYNTHETIC data", a.nb101.display());
    }
    let (cands, left_out) = proxy_search::candidates(&rows, &a.proxy, &bench)
        .with_context(|| format!("{}", scores_path.display()))?;
    let plan = Plan {
        method,
        proxy: a.proxy.clone(),
        n: a.n,
        queries: a.queries.unwrap_or(match method {
            Method::BestOfN => 1,
            Method::ReWarmStart => 300,
        }),
        re: blackbox::evolution::Settings {
            population: a.population,
            tournament: a.tournament,
            identity: true,
        },
    };
    eprintln!(
        "zerocost search: {} {} on {} scored cells of space {space} ({left_out} left out: not \
         in the space or no finite {}), {} seeds, into {}",
        plan.optimizer(),
        method.name(),
        cands.len(),
        a.proxy,
        seeds.len(),
        a.out.display()
    );
    let base = RunInfo {
        optimizer: plan.optimizer(),
        method,
        proxy: a.proxy.clone(),
        n: plan.n,
        population: (method == Method::ReWarmStart).then_some(plan.re.population),
        space,
        seed: 0,
        budget: plan.queries,
        scores_fingerprint: id.fingerprint.clone(),
        scores_sha256: proxy_search::file_sha256(&scores_path)?,
        nb101_file: a.nb101.display().to_string(),
        nb101_fingerprint: Some(nb.fingerprint()),
        synthetic: nb.is_synthetic(),
        reference: bench.reference().clone(),
        proxy_seconds: 0.0,
        queries: 0,
        simulated_seconds: 0.0,
        final_incumbent_test_regret: None,
        complete: false,
    };
    let bar = ProgressBar::new(seeds.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut skipped = 0;
    for &seed in &seeds {
        let mut info = RunInfo {
            seed,
            ..base.clone()
        };
        let dir = proxy_search::run_dir(&a.out, &info);
        let _lock =
            runfmt::RunLock::acquire(&dir).with_context(|| format!("locking {}", dir.display()))?;
        if let Some(old) = proxy_search::read_info(&dir)? {
            if !old.same_inputs(&info) {
                bail!(
                    "{} holds a run of other inputs (scores, proxy, N, budget, table or \
                     reference): use another --out",
                    dir.display()
                );
            }
            if old.complete {
                skipped += 1;
                bar.inc(1);
                continue;
            }
        }
        let out = proxy_search::run(&bench, &cands, &plan, seed)
            .with_context(|| format!("seed {seed}"))?;
        let last = out.records.last();
        info.proxy_seconds = out.proxy_seconds;
        info.queries = out.records.len();
        info.simulated_seconds = last.map_or(0.0, |r| r.simulated_seconds);
        info.final_incumbent_test_regret = last.map(|r| r.incumbent_test_regret);
        info.complete = true;
        proxy_search::write_run(&dir, &info, &out.records)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    eprintln!(
        "zerocost search: {} seeds ({skipped} already complete) in {}",
        seeds.len(),
        a.out.display()
    );
    Ok(())
}
