//! `nb1s1 zerocost`: zero-cost proxies (crate `zerocost`) of every unique cell of a search
//! space, a seeded sample of them, or NB-101 cells given as JSON lines, into `scores.jsonl` of a
//! resumable output folder (docs/zerocost.md).

use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::ArgGroup;
use indicatif::{ProgressBar, ProgressStyle};
use nasbench101::network::NetworkConfig;
use nasbench101::ModelSpec;
use serde::{Deserialize, Serialize};
use zerocost::{Minibatch, Proxy, Scorer, Settings, ZenBn};

mod search;

/// The scores file and the settings file (its identity) of an output folder.
pub use nb1s1_bench::store::zerocost::{SCORES_FILE, SETTINGS_FILE};

/// Arguments of `nb1s1 zerocost`.
#[derive(clap::Args)]
#[command(group(ArgGroup::new("cell_source").required(true).args(["space", "specs"])))]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    /// A search space (1, 2 or 3): its unique models, or a seeded sample of them (--sample).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
    space: Option<u8>,
    /// NB-101 cells as JSON lines `{"matrix": [[..]], "ops": [..]}` (`-`: standard input).
    #[arg(long)]
    specs: Option<PathBuf>,
    /// Score a sample of this many of the space's unique models (0: all of them); the same
    /// sample `nb1s1 correlation --sample N --seed S` evaluates.
    #[arg(long, default_value_t = 0, requires = "space")]
    sample: usize,
    /// Seed of that sample.
    #[arg(long, default_value_t = 0, requires = "space")]
    seed: u64,
    /// Comma-separated proxies, or `all`: params, flops, synflow, snip, grasp, fisher,
    /// grad_norm, jacov, nwot, l2_norm, plain, zen.
    #[arg(long, default_value = "all")]
    proxies: String,
    /// NB-101 data file (tfrecord or store): with it, every proxy's rank correlation with the
    /// cells' NB-101 accuracies goes to correlation.json and the report page report/index.html.
    #[arg(long, env = "NB1S1_NB101")]
    nb101: Option<PathBuf>,
    /// Bootstrap resamples of the correlation intervals.
    #[arg(long, default_value_t = 200)]
    resamples: usize,
    /// Output folder; an existing one with the same settings is continued.
    #[arg(long, required = true)]
    out: Option<PathBuf>,
    /// CIFAR-10 in the official binary layout (the minibatch's images).
    #[arg(long, env = "NB1S1_CIFAR10", default_value = "data/cifar10")]
    data: PathBuf,
    /// Images in the minibatch (NASLib: 64).
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Seed of the minibatch draw.
    #[arg(long, default_value_t = 0)]
    data_seed: u64,
    /// Seed of the initial weights (the same for every cell).
    #[arg(long, default_value_t = 0)]
    init_seed: u64,
    /// Stem channels (NB-101: 128); a smaller proxy network for quick runs.
    #[arg(long, default_value_t = 128)]
    channels: usize,
    /// Stacks (NB-101: 3).
    #[arg(long, default_value_t = 3)]
    stacks: usize,
    /// Cells per stack (NB-101: 3).
    #[arg(long, default_value_t = 3)]
    cells: usize,
    /// fisher weighted by each layer's fan-in, as NASLib computes it (docs/deviations.md).
    #[arg(long)]
    fisher_fan_in: bool,
    /// zen's BatchNorm variance: batch (the paper's) or running (NASLib's).
    #[arg(long, default_value = "batch", value_parser = ["batch", "running"])]
    zen_bn: String,
    /// libtorch intra-op CPU threads (1-1024; default: the cores divided among the workers).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=1024))]
    threads: Option<i32>,
    /// Cells scored in parallel, each worker with its own network (1-256); the scores are the
    /// same bit for bit whatever the count, and written in the cells' order.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: u16,
}

/// What else `nb1s1 zerocost` does.
#[derive(clap::Subcommand)]
enum Sub {
    /// Proxy-guided search baselines on a scores folder: best-of-N by proxy, or RE warm-started
    /// with the top proxy-ranked cells; black-box run folders with anytime regret.
    Search(search::Args),
}

/// What `zerocost.json` holds: the settings and the proxies, with their fingerprint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunIdentity {
    pub fingerprint: String,
    pub proxies: Vec<Proxy>,
    pub settings: Settings,
    /// The space whose cells are scored (`None`: cells given with `--specs`); the results
    /// store groups scores by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space: Option<u8>,
}

/// A cell to score.
struct Cell {
    hash: String,
    spec: ModelSpec,
}

fn settings(a: &Args) -> Settings {
    Settings {
        network: NetworkConfig {
            stem_channels: a.channels,
            stacks: a.stacks,
            cells_per_stack: a.cells,
            num_labels: 10,
        },
        batch_size: a.batch_size,
        data_seed: a.data_seed,
        init_seed: a.init_seed,
        fisher_fan_in: a.fisher_fan_in,
        zen_bn: if a.zen_bn == "running" {
            ZenBn::Running
        } else {
            ZenBn::Batch
        },
    }
}

/// The fingerprint covers the settings and the proxy list.
fn identity(settings: Settings, proxies: Vec<Proxy>, space: Option<u8>) -> RunIdentity {
    let names: Vec<&str> = proxies.iter().map(|p| p.name()).collect();
    RunIdentity {
        fingerprint: format!("{}-{}", settings.fingerprint(), names.join("+")),
        proxies,
        settings,
        space,
    }
}

fn space_cells(space: u8, sample: usize, seed: u64) -> anyhow::Result<Vec<Cell>> {
    let id = searchspace::SpaceId::try_from(space).map_err(anyhow::Error::msg)?;
    oneshot::correlation::candidates(id, sample, seed)
        .into_iter()
        .map(|c| {
            Ok(Cell {
                hash: c.hash.to_string(),
                spec: c.architecture.to_spec()?,
            })
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecLine {
    matrix: Vec<Vec<u8>>,
    ops: Vec<String>,
}

/// The cells of a JSON-lines file; a bad line is an error naming it.
fn spec_cells(path: &Path) -> anyhow::Result<Vec<Cell>> {
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let f = std::fs::File::open(path)
            .with_context(|| format!("{}: cannot open", path.display()))?;
        Box::new(std::io::BufReader::new(f))
    };
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let at = || format!("{} line {}", path.display(), i + 1);
        let line = line.with_context(at)?;
        if line.trim().is_empty() {
            continue;
        }
        let s: SpecLine = serde_json::from_str(&line).with_context(at)?;
        let spec = ModelSpec::new(s.matrix, s.ops).with_context(at)?;
        let hash = spec.hash().with_context(at)?.to_string();
        out.push(Cell { hash, spec });
    }
    Ok(out)
}

/// Checks `zerocost.json` against this run's identity (written on a first run), and returns
/// the hashes `scores.jsonl` already holds; a torn last line (a killed run) is cut off first.
fn resume(out: &Path, id: &RunIdentity) -> anyhow::Result<HashSet<String>> {
    let settings_path = out.join(SETTINGS_FILE);
    match runfmt::read_json_opt::<RunIdentity>(&settings_path)? {
        Some(old) if old.fingerprint != id.fingerprint || old != *id => bail!(
            "{} holds scores of other settings (fingerprint {}, space {:?}; this run {}, space \
             {:?}): use another --out or the same settings",
            out.display(),
            old.fingerprint,
            old.space,
            id.fingerprint,
            id.space
        ),
        Some(_) => {}
        None => runfmt::write_atomic(&settings_path, &serde_json::to_vec_pretty(id)?)?,
    }
    let scores = out.join(SCORES_FILE);
    if !scores.exists() {
        return Ok(HashSet::new());
    }
    let text = std::fs::read_to_string(&scores)
        .with_context(|| format!("{}: cannot read", scores.display()))?;
    if !text.is_empty() && !text.ends_with('\n') {
        let keep = text.rfind('\n').map_or(0, |i| i + 1);
        runfmt::write_atomic(&scores, &text.as_bytes()[..keep])?;
    }
    let rows: Vec<serde_json::Value> = runfmt::read_jsonl(&scores)?;
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            r.get("hash")
                .and_then(|h| h.as_str())
                .map(str::to_string)
                .with_context(|| format!("{} line {}: no \"hash\"", scores.display(), i + 1))
        })
        .collect()
}

/// One line of `scores.jsonl`: the hash, the cell, the seconds it took and one key per proxy
/// (`null` where the value is not finite).
fn score_line(cell: &Cell, seconds: f64, scores: &zerocost::Scores) -> anyhow::Result<String> {
    let mut line = serde_json::Map::new();
    line.insert("hash".into(), cell.hash.clone().into());
    line.insert(
        "matrix".into(),
        serde_json::to_value(cell.spec.original_matrix())?,
    );
    line.insert(
        "ops".into(),
        serde_json::to_value(cell.spec.original_ops())?,
    );
    line.insert("seconds".into(), seconds.into());
    for (p, v) in scores {
        line.insert(p.name().into(), serde_json::to_value(v)?);
    }
    Ok(serde_json::to_string(&line)?)
}

fn load_batch(a: &Args, settings: &Settings) -> anyhow::Result<Minibatch> {
    if !a.data.exists() {
        bail!(
            "CIFAR-10 folder {} does not exist: pass --data DIR (official binary layout), set \
             NB1S1_CIFAR10, or run `nb1s1 data` to fetch or import it",
            a.data.display()
        );
    }
    let set = nb1s1_data::Cifar10::load(&a.data)
        .with_context(|| format!("reading CIFAR-10 from {}", a.data.display()))?;
    Ok(Minibatch::draw(
        &set.train,
        settings.batch_size,
        settings.data_seed,
    )?)
}

pub fn run(mut a: Args) -> anyhow::Result<()> {
    if let Some(Sub::Search(s)) = a.command.take() {
        return search::run(s);
    }
    let out = a.out.clone().context("--out DIR is required")?;
    let proxies = Proxy::parse_list(&a.proxies).context("--proxies")?;
    let settings = settings(&a);
    settings.validate()?;
    let cells = match (a.space, &a.specs) {
        (Some(space), _) => space_cells(space, a.sample, a.seed)?,
        (None, Some(path)) => spec_cells(path)?,
        (None, None) => bail!("give --space N or --specs FILE"),
    };
    let id = identity(settings.clone(), proxies.clone(), a.space);
    let _lock =
        runfmt::RunLock::acquire(&out).with_context(|| format!("locking {}", out.display()))?;
    let mut done = resume(&out, &id)?;
    let todo: Vec<&Cell> = cells
        .iter()
        .filter(|c| done.insert(c.hash.clone()))
        .collect();
    eprintln!(
        "zerocost: {} cells ({} already scored), proxies {}, into {}",
        cells.len(),
        cells.len() - todo.len(),
        proxies
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(","),
        out.display()
    );
    if !todo.is_empty() {
        score_cells(&a, &out, &settings, &proxies, &todo)?;
    }
    if let Some(path) = &a.nb101 {
        report(&a, &out, path)?;
    }
    Ok(())
}

/// Rank correlations of every proxy with NB-101 (correlation.json) and the report page.
fn report(a: &Args, out: &Path, nb101: &Path) -> anyhow::Result<()> {
    let nb = nasbench101::Nb101::open(nb101)
        .with_context(|| format!("--nb101 {}: cannot open", nb101.display()))?;
    let rows = nb1s1_bench::zerocost::read_scores(&out.join(SCORES_FILE))?;
    let corr = nb1s1_bench::zerocost::correlate(&rows, &nb, a.resamples, 0)?;
    // The cells' accuracies and the table's fingerprint, for the results store.
    nb1s1_bench::zerocost::write_accuracies(out, &rows, &nb)?;
    runfmt::write_atomic(
        &out.join("correlation.json"),
        &serde_json::to_vec_pretty(&corr)?,
    )?;
    let title = format!("Zero-cost proxies: {}", out.display());
    nb1s1_bench::zerocost::write_report(&out.join("report"), &title, &rows, &nb, &corr)?;
    eprintln!(
        "zerocost: correlations in {}, report in {}",
        out.join("correlation.json").display(),
        out.join("report/index.html").display()
    );
    Ok(())
}

/// libtorch's intra-op threads: as asked, else the cores shared out among the workers.
fn intra_op_threads(a: &Args) -> i32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = usize::from(a.workers);
    let threads = a.threads.unwrap_or_else(|| (cores / workers).max(1) as i32);
    if workers * threads as usize > cores {
        eprintln!(
            "zerocost: warning: {} workers x {threads} threads exceed the {cores} cores",
            a.workers
        );
    }
    threads
}

fn score_cells(
    a: &Args,
    out: &Path,
    settings: &Settings,
    proxies: &[Proxy],
    todo: &[&Cell],
) -> anyhow::Result<()> {
    tch::set_num_threads(intra_op_threads(a));
    let batch = load_batch(a, settings)?;
    let bar = ProgressBar::new(todo.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} cells, {per_sec}, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let scores_path = out.join(SCORES_FILE);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, anyhow::Result<String>)>();
    let written = std::thread::scope(|scope| -> anyhow::Result<()> {
        for _ in 0..usize::from(a.workers).min(todo.len()) {
            let (tx, next, stop) = (tx.clone(), &next, &stop);
            let scorer = Scorer::new(settings.clone(), batch.deep_copy())?;
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(cell) = todo.get(i) else { break };
                    let start = Instant::now();
                    let line = scorer
                        .score(&cell.spec, proxies)
                        .with_context(|| format!("cell {}", cell.hash))
                        .and_then(|s| score_line(cell, start.elapsed().as_secs_f64(), &s));
                    if tx.send((i, line)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Lines go out in the cells' order: the file is always a prefix of the input's cells.
        let mut pending = std::collections::BTreeMap::new();
        let mut due = 0;
        for (i, line) in rx {
            pending.insert(i, line);
            while let Some(line) = pending.remove(&due) {
                let written = line.and_then(|l| {
                    runfmt::append_line(&scores_path, &l).map_err(anyhow::Error::from)
                });
                if let Err(e) = written {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
                due += 1;
                bar.inc(1);
            }
        }
        Ok(())
    });
    bar.finish_and_clear();
    written?;
    eprintln!("zerocost: scores in {}", scores_path.display());
    Ok(())
}
