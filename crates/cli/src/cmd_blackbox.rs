//! `nb1s1 blackbox`: run a black-box optimizer for many seeds (in parallel) on a search space
//! against a NAS-Bench-101 table; one resumable run folder per seed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{bail, Context};
use blackbox::{Budget, BudgetUnit, OptimizerKind, RunInfo, TabularBenchmark};
use indicatif::{ProgressBar, ProgressStyle};
use nb1s1_bench::experiment::{MAX_SEED, MAX_SEEDS};
use rayon::prelude::*;
use runfmt::name::echo;
use searchspace::{Reference, SearchSpace, SpaceId, SpaceTable};

/// Arguments of `nb1s1 blackbox`.
#[derive(clap::Args)]
pub struct Args {
    /// Optimizer: rs, re, reinforce, tpe, hb, bohb or smac (comma-separated for several).
    #[arg(long, value_delimiter = ',')]
    optimizer: Vec<OptimizerKind>,
    /// Search space: 1, 2 or 3.
    #[arg(long)]
    space: SpaceId,
    /// Seeds: `A..B` (B excluded), `A..=B`, a comma list, or one number.
    #[arg(long, default_value = "0..10")]
    seeds: String,
    /// Budget per run, counted in --budget-unit: queries (evaluations), or iterations.
    #[arg(long, default_value_t = 280)]
    queries: usize,
    /// What --queries counts: `queries`, `iterations` (a successive-halving bracket for hb and
    /// bohb, an intensification round for smac, one query for the others) or `original`: as
    /// the original scripts counted their 280 (iterations for hb and bohb, else queries).
    #[arg(long, default_value = "original")]
    budget_unit: String,
    /// NAS-Bench-101 file (store or tfrecord). The full file enables budgets 4/12/36/108.
    #[arg(long)]
    nb101: PathBuf,
    /// Output folder: OUT/<optimizer>/space<N>/seed<S>/{trajectory.jsonl,run.json}.
    #[arg(long)]
    out: PathBuf,
    /// Regret reference: `exact` (computed from the table) or `original` (the paper's constants).
    #[arg(long, default_value = "exact")]
    reference: String,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Rerun seeds whose run.json says complete.
    #[arg(long)]
    force: bool,
}

/// Most worker threads `--threads` may ask for (spawning 100,000 would only hang the machine).
const MAX_THREADS: usize = 1024;

/// Parses `A..B`, `A..=B`, `a,b,c` or `n`, refusing more than [`MAX_SEEDS`] seeds before any
/// is allocated.
fn parse_seeds(s: &str) -> anyhow::Result<Vec<u64>> {
    let s = s.trim();
    let num = |t: &str| -> anyhow::Result<u64> {
        t.trim()
            .parse::<u64>()
            .ok()
            .filter(|v| *v <= MAX_SEED)
            .with_context(|| format!("--seeds: {} is not a seed number (0..={MAX_SEED})", echo(t)))
    };
    let range = |a: u64, end: u64| -> anyhow::Result<Vec<u64>> {
        // `end` is exclusive and at most MAX_SEED + 1, so nothing here overflows.
        let n = end.saturating_sub(a);
        if n > MAX_SEEDS {
            bail!(
                "--seeds {}: {n} seeds, more than the limit of {MAX_SEEDS}",
                echo(s)
            );
        }
        Ok((a..end).collect())
    };
    let seeds = if let Some((a, b)) = s.split_once("..=") {
        range(num(a)?, num(b)? + 1)?
    } else if let Some((a, b)) = s.split_once("..") {
        range(num(a)?, num(b)?)?
    } else {
        if s.split(',').count() as u64 > MAX_SEEDS {
            bail!("--seeds: more than the limit of {MAX_SEEDS} seeds");
        }
        s.split(',').map(num).collect::<anyhow::Result<Vec<_>>>()?
    };
    Ok(seeds)
}

/// Whether the seed folder already holds this very run (complete, same inputs): skipped. A
/// folder made with other inputs (another budget, table, reference) is refused, naming what
/// changed; a folder without a complete `run.json` is (re)computed.
fn skip_existing(dir: &std::path::Path, info: &RunInfo) -> anyhow::Result<bool> {
    let Some(old) = blackbox::read_run_info(dir).ok().flatten() else {
        return Ok(false);
    };
    let changes = blackbox::input_changes(&old, info);
    if !changes.is_empty() {
        bail!(
            "{}: holds a run made with other inputs ({}); it is neither skipped nor kept. \
             Pass --force to replace it, or write into another --out",
            dir.display(),
            changes.join("; ")
        );
    }
    Ok(old.complete)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let seeds = parse_seeds(&args.seeds)?;
    if seeds.is_empty() {
        bail!("--seeds {:?} names no seed", args.seeds);
    }
    if args.optimizer.is_empty() {
        bail!("give --optimizer (rs, re, reinforce, tpe, hb, bohb, smac)");
    }
    let fixed_unit = match args.budget_unit.as_str() {
        "original" => None,
        other => Some(
            other
                .parse::<BudgetUnit>()
                .map_err(|e| anyhow::anyhow!("--budget-unit: {e} or original"))?,
        ),
    };
    // Checked before the table is opened: a budget of 0 would write complete, empty runs.
    Budget::queries(args.queries)
        .check()
        .map_err(|e| anyhow::anyhow!("--queries {}: {e}", args.queries))?;
    if let Some(t) = args.threads.filter(|t| *t > MAX_THREADS) {
        bail!("--threads {t}: more than the limit of {MAX_THREADS}");
    }
    let nb = nasbench101::Nb101::open(&args.nb101)
        .with_context(|| format!("opening {}", args.nb101.display()))?;
    let sp = SearchSpace::new(args.space);
    let table = SpaceTable::build(&sp, &nb)?;
    if let Some(h) = table.missing().first() {
        bail!(
            "{}: {} of the {} models of space {} are missing (first: {h}); for a synthetic table \
             of the space use `nb1s1 space enumerate --space {} --unique --json | nb1s1 nb101 \
             generate --specs -`",
            args.nb101.display(),
            table.missing().len(),
            table.index().models().len(),
            sp.id(),
            sp.id()
        );
    }
    let mut bench = TabularBenchmark::new(table);
    match args.reference.as_str() {
        "exact" => {}
        "original" => bench = bench.with_reference(Reference::original(sp.id())),
        other => bail!("--reference {other:?}: expected exact or original"),
    }
    if nb.is_synthetic() {
        eprintln!("warning: {} is SYNTHETIC data", args.nb101.display());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()?;
    let jobs: Vec<(OptimizerKind, u64)> = args
        .optimizer
        .iter()
        .flat_map(|&o| seeds.iter().map(move |&s| (o, s)))
        .collect();
    // Two jobs of one call on one folder would race on its files.
    let mut seen = std::collections::HashSet::new();
    if let Some((o, s)) = jobs.iter().find(|j| !seen.insert(**j)) {
        bail!("--optimizer/--seeds name {o} seed {s} twice; each run folder may be written once per call");
    }
    let fingerprint = nb.fingerprint();
    let bar = ProgressBar::new(jobs.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} runs {elapsed} (eta {eta}) {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let skipped = AtomicUsize::new(0);
    let queries_done = AtomicUsize::new(0);
    let start = Instant::now();
    let file = args.nb101.display().to_string();
    let results: Vec<anyhow::Result<(OptimizerKind, Option<f64>)>> = pool.install(|| {
        jobs.par_iter()
            .map(|&(kind, seed)| {
                let dir = blackbox::run_dir(&args.out, kind, sp.id(), seed);
                // One writer per seed folder: a second process on it is refused, not merged.
                let _lock = runfmt::RunLock::acquire(&dir)?;
                let budget = Budget {
                    count: args.queries,
                    unit: fixed_unit.unwrap_or(BudgetUnit::original(kind)),
                };
                let mut info = RunInfo {
                    optimizer: kind,
                    space: sp.id(),
                    seed,
                    queries: 0,
                    budget: Some(budget.count),
                    budget_unit: budget.unit,
                    budgets: blackbox::Benchmark::budgets(&bench).to_vec(),
                    nb101_file: file.clone(),
                    nb101_fingerprint: Some(fingerprint.clone()),
                    synthetic: nb.is_synthetic(),
                    reference: blackbox::Benchmark::reference(&bench).clone(),
                    simulated_seconds: 0.0,
                    final_incumbent_test_regret: None,
                    complete: true,
                };
                if !args.force && skip_existing(&dir, &info)? {
                    skipped.fetch_add(1, Ordering::Relaxed);
                    bar.inc(1);
                    return Ok((kind, None));
                }
                let records = blackbox::run_with(kind, &bench, budget, seed)
                    .with_context(|| format!("{kind} seed {seed}"))?;
                queries_done.fetch_add(records.len(), Ordering::Relaxed);
                let last = records.last();
                info.queries = records.len();
                info.simulated_seconds = last.map_or(0.0, |r| r.simulated_seconds);
                info.final_incumbent_test_regret = last.map(|r| r.incumbent_test_regret);
                blackbox::write_run(&dir, &info, &records)?;
                bar.inc(1);
                Ok((kind, info.final_incumbent_test_regret))
            })
            .collect()
    });
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    let mut first_err = None;
    for kind in &args.optimizer {
        let regrets: Vec<f64> = results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .filter(|(k, _)| k == kind)
            .filter_map(|(_, r)| *r)
            .collect();
        if regrets.is_empty() {
            continue;
        }
        let n = regrets.len() as f64;
        let mean = regrets.iter().sum::<f64>() / n;
        let sd = (regrets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt();
        eprintln!(
            "{kind}: space {} final test regret {mean:.6} ± {:.6} (s.e.) over {} seeds",
            sp.id(),
            sd / n.sqrt(),
            regrets.len()
        );
    }
    for r in results {
        if let Err(e) = r {
            eprintln!("error: {e:#}");
            first_err.get_or_insert(e);
        }
    }
    let q = queries_done.load(Ordering::Relaxed);
    eprintln!(
        "{} runs ({} skipped as complete), {q} queries in {secs:.2} s ({:.0} queries/s incl. output)",
        jobs.len(),
        skipped.load(Ordering::Relaxed),
        q as f64 / secs.max(1e-9)
    );
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_seeds;

    #[test]
    fn seeds_parse_in_all_forms() {
        assert_eq!(parse_seeds("0..3").unwrap(), vec![0, 1, 2]);
        assert_eq!(parse_seeds("2..=4").unwrap(), vec![2, 3, 4]);
        assert_eq!(parse_seeds("5, 9").unwrap(), vec![5, 9]);
        assert_eq!(parse_seeds("7").unwrap(), vec![7]);
        assert!(parse_seeds("a..3").is_err());
        // Near u64::MAX: an error naming the setting, not a capacity overflow.
        for huge in [
            "0..18446744073709551615",
            "0..=18446744073709551614",
            "5..=9223372036854775807",
        ] {
            let e = parse_seeds(huge).unwrap_err().to_string();
            assert!(e.contains("--seeds"), "{e}");
        }
        assert_eq!(
            parse_seeds("9223372036854775807").unwrap(),
            vec![i64::MAX as u64]
        );
    }
}
