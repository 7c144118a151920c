//! `nb1s1 zerocost`: zero-cost proxies (crate `zerocost`) of every unique cell of a search
//! space, a seeded sample of them, or NB-101 cells given as JSON lines, into `scores.jsonl` of a
//! resumable output folder (docs/zerocost.md).

use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::ArgGroup;
use indicatif::{ProgressBar, ProgressStyle};
use nasbench101::network::NetworkConfig;
use nasbench101::ModelSpec;
use serde::{Deserialize, Serialize};
use zerocost::{Minibatch, Proxy, Scorer, Settings, ZenBn};

/// The scores file of an output folder.
pub const SCORES_FILE: &str = "scores.jsonl";
/// The settings file of an output folder (its identity).
pub const SETTINGS_FILE: &str = "zerocost.json";

/// Arguments of `nb1s1 zerocost`.
#[derive(clap::Args)]
#[command(group(ArgGroup::new("cell_source").required(true).args(["space", "specs"])))]
pub struct Args {
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
    #[arg(long)]
    out: PathBuf,
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
    /// libtorch CPU threads (1-1024).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(i32).range(1..=1024))]
    threads: i32,
}

/// What `zerocost.json` holds: the settings and the proxies, with their fingerprint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunIdentity {
    pub fingerprint: String,
    pub proxies: Vec<Proxy>,
    pub settings: Settings,
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
fn identity(settings: Settings, proxies: Vec<Proxy>) -> RunIdentity {
    let names: Vec<&str> = proxies.iter().map(|p| p.name()).collect();
    RunIdentity {
        fingerprint: format!("{}-{}", settings.fingerprint(), names.join("+")),
        proxies,
        settings,
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
            "{} holds scores of other settings (fingerprint {}, this run {}): use another --out \
             or the same settings",
            out.display(),
            old.fingerprint,
            id.fingerprint
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

pub fn run(a: Args) -> anyhow::Result<()> {
    let proxies = Proxy::parse_list(&a.proxies).context("--proxies")?;
    let settings = settings(&a);
    settings.validate()?;
    let cells = match (a.space, &a.specs) {
        (Some(space), _) => space_cells(space, a.sample, a.seed)?,
        (None, Some(path)) => spec_cells(path)?,
        (None, None) => bail!("give --space N or --specs FILE"),
    };
    let id = identity(settings.clone(), proxies.clone());
    let _lock =
        runfmt::RunLock::acquire(&a.out).with_context(|| format!("locking {}", a.out.display()))?;
    let mut done = resume(&a.out, &id)?;
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
        a.out.display()
    );
    if !todo.is_empty() {
        score_cells(&a, &settings, &proxies, &todo)?;
    }
    if let Some(path) = &a.nb101 {
        report(&a, path)?;
    }
    Ok(())
}

/// Rank correlations of every proxy with NB-101 (correlation.json) and the report page.
fn report(a: &Args, nb101: &Path) -> anyhow::Result<()> {
    let nb = nasbench101::Nb101::open(nb101)
        .with_context(|| format!("--nb101 {}: cannot open", nb101.display()))?;
    let rows = nb1s1_bench::zerocost::read_scores(&a.out.join(SCORES_FILE))?;
    let corr = nb1s1_bench::zerocost::correlate(&rows, &nb, a.resamples, 0)?;
    runfmt::write_atomic(
        &a.out.join("correlation.json"),
        &serde_json::to_vec_pretty(&corr)?,
    )?;
    let title = format!("Zero-cost proxies: {}", a.out.display());
    nb1s1_bench::zerocost::write_report(&a.out.join("report"), &title, &rows, &nb, &corr)?;
    eprintln!(
        "zerocost: correlations in {}, report in {}",
        a.out.join("correlation.json").display(),
        a.out.join("report/index.html").display()
    );
    Ok(())
}

fn score_cells(
    a: &Args,
    settings: &Settings,
    proxies: &[Proxy],
    todo: &[&Cell],
) -> anyhow::Result<()> {
    tch::set_num_threads(a.threads.max(1));
    let scorer = Scorer::new(settings.clone(), load_batch(a, settings)?)?;
    let bar = ProgressBar::new(todo.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} cells, {per_sec}, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let scores_path = a.out.join(SCORES_FILE);
    for cell in todo {
        let start = Instant::now();
        let scores = scorer
            .score(&cell.spec, proxies)
            .with_context(|| format!("cell {}", cell.hash))?;
        let line = score_line(cell, start.elapsed().as_secs_f64(), &scores)?;
        runfmt::append_line(&scores_path, &line)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    eprintln!("zerocost: scores in {}", scores_path.display());
    Ok(())
}
