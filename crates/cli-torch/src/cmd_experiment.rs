//! `nb1s1 experiment`: run an experiment file (optimizers × spaces × seeds × hyperparameter
//! grid) with parallel workers, resuming and retrying, show how far it got, and show every
//! run's effective configuration before anything runs (`plan`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use nb1s1_bench::experiment::{Experiment, RunUnit};
use nb1s1_bench::runner::{self, Event, Launcher, RunnerOptions};
use nb1s1_bench::runs::RunState;
use nb1s1_bench::table::{Format, Table};
use serde_json::json;

/// Arguments of `nb1s1 experiment`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Run every run of the file not yet complete (resumes interrupted ones, retries failures).
    Run(RunArgs),
    /// Show which runs are complete, running, interrupted, failed or pending.
    Status(StatusArgs),
    /// Show every run with its effective, fully resolved configuration; runs nothing.
    Plan(PlanArgs),
}

#[derive(clap::Args)]
struct PlanArgs {
    #[command(flatten)]
    at: Where,
    /// Print a JSON array: per run its id, arguments, base config and the resolved config.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct Where {
    /// The experiment file (TOML).
    file: PathBuf,
    /// Output root of the run folders (default: runs/<experiment name>).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    at: Where,
    /// Parallel workers (default: the file's `workers`, else the number of GPUs, else 1).
    #[arg(long)]
    workers: Option<usize>,
    /// GPU ids for one-shot runs, one run per GPU at a time (`0,1`); `none` for CPU.
    /// Default: CUDA_VISIBLE_DEVICES, else the GPUs `nvidia-smi -L` lists.
    #[arg(long)]
    gpus: Option<String>,
    /// Extra attempts after a failure (default: the file's `max_retries`).
    #[arg(long)]
    max_retries: Option<usize>,
    /// Also ingest the run folders into this results database when done.
    #[arg(long)]
    results: Option<PathBuf>,
}

#[derive(clap::Args)]
struct StatusArgs {
    #[command(flatten)]
    at: Where,
    /// Output format: table, csv or json.
    #[arg(long, default_value = "table")]
    format: Format,
    /// Only the summary counts.
    #[arg(long)]
    summary: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Run(a) => run_file(a),
        Command::Status(a) => status(a),
        Command::Plan(a) => plan(a),
    }
}

/// A one-shot unit's config as `nb1s1 search` will see it: the run file over the optimizer's
/// code defaults, every key present.
fn resolve(unit: &RunUnit) -> anyhow::Result<Option<oneshot::SearchConfig>> {
    let Some(table) = &unit.config else {
        return Ok(None);
    };
    let text = toml::to_string(table).with_context(|| format!("run `{}`", unit.id))?;
    let cfg = oneshot::SearchConfig::from_toml(&text, &unit.id, None, None)
        .with_context(|| format!("run `{}` (base {})", unit.id, unit.base_label()))?;
    Ok(Some(cfg))
}

fn plan(a: PlanArgs) -> anyhow::Result<()> {
    let (exp, out, units) = load(&a.at)?;
    let mut rows = Vec::with_capacity(units.len());
    let mut table = Table::new(&["run", "kind", "base", "epochs", "args"]);
    for unit in &units {
        let cfg = resolve(unit)?;
        table.rows.push(vec![
            json!(unit.id),
            json!(unit.kind.as_str()),
            json!(unit.base_label()),
            cfg.as_ref()
                .map_or(serde_json::Value::Null, |c| json!(c.epochs)),
            json!(unit.args.join(" ")),
        ]);
        rows.push(json!({
            "id": unit.id,
            "kind": unit.kind.as_str(),
            "study": unit.study,
            "optimizer": unit.optimizer,
            "space": unit.space,
            "variant": unit.variant,
            "seeds": unit.seeds,
            "out": unit.out,
            "base": unit.base,
            "args": unit.args,
            "config": cfg,
        }));
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", table.render(Format::Table));
    }
    eprintln!(
        "experiment {}: {} runs into {}",
        exp.name,
        units.len(),
        out.display()
    );
    Ok(())
}

fn load(at: &Where) -> anyhow::Result<(Experiment, PathBuf, Vec<RunUnit>)> {
    let exp = Experiment::load(&at.file)?;
    let out = at
        .out
        .clone()
        .unwrap_or_else(|| Path::new("runs").join(&exp.name));
    let units = exp
        .units(&out)
        .map_err(|m| anyhow::anyhow!("{}: {m}", at.file.display()))?;
    Ok((exp, out, units))
}

/// GPU ids: the flag, else CUDA_VISIBLE_DEVICES, else what nvidia-smi lists.
fn detect_gpus(flag: Option<&str>) -> Vec<String> {
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_string)
            .collect()
    };
    match flag {
        Some("none") | Some("cpu") => return Vec::new(),
        Some(list) => return split(list),
        None => {}
    }
    if let Ok(env) = std::env::var("CUDA_VISIBLE_DEVICES") {
        return split(&env);
    }
    std::process::Command::new("nvidia-smi")
        .arg("-L")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            let n = String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.starts_with("GPU "))
                .count();
            (0..n).map(|i| i.to_string()).collect()
        })
        .unwrap_or_default()
}

fn run_file(a: RunArgs) -> anyhow::Result<()> {
    let (exp, out, units) = load(&a.at)?;
    // Every run's config must resolve before the first one starts.
    for unit in &units {
        resolve(unit)?;
    }
    let gpus = detect_gpus(a.gpus.as_deref());
    let workers = a
        .workers
        .or(exp.workers)
        .unwrap_or(gpus.len().max(1))
        .max(1);
    let options = RunnerOptions {
        workers,
        gpus: gpus.clone(),
        max_retries: a.max_retries.unwrap_or(exp.max_retries),
        experiment: exp.name.clone(),
    };
    let launcher = Launcher {
        program: std::env::current_exe().context("locating the nb1s1 binary")?,
        prefix_args: Vec::new(),
    };
    eprintln!(
        "experiment {}: {} runs into {} ({} workers, GPUs: {})",
        exp.name,
        units.len(),
        out.display(),
        workers,
        if gpus.is_empty() {
            "none".to_string()
        } else {
            gpus.join(",")
        }
    );
    let bar = ProgressBar::new(units.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} runs  {elapsed_precise}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let observer = |e: &Event| match e {
        Event::Skipped { .. } | Event::Busy { .. } => bar.inc(1),
        Event::Started {
            id,
            attempt,
            device,
        } => bar.set_message(format!("{id} (attempt {attempt}, {device})")),
        Event::Finished { id, state } => {
            bar.inc(1);
            if *state == RunState::Diverged {
                bar.println(format!("diverged: {id}"));
            }
        }
        Event::Failed {
            id,
            attempt,
            message,
            will_retry,
        } => {
            bar.println(format!("attempt {attempt} of {id} failed: {message}"));
            if !will_retry {
                bar.inc(1);
            }
        }
    };
    let report = runner::run_experiment(&units, &out, &launcher, &options, &observer)?;
    bar.finish_and_clear();
    eprintln!(
        "{} completed now, {} already done, {} diverged, {} running elsewhere, {} failed",
        report.completed.len(),
        report.skipped.len(),
        report.diverged.len(),
        report.busy.len(),
        report.failed.len()
    );
    for (id, message) in &report.failed {
        eprintln!("  failed: {id}: {message}");
        eprintln!("          log: {}", runner::log_path(&out, id).display());
    }
    if let Some(db) = &a.results {
        let mut store = nb1s1_bench::store::Store::open(db)?;
        let s = store.ingest_dir(&out)?;
        eprintln!(
            "ingested into {}: {} added, {} updated, {} unchanged",
            db.display(),
            s.added,
            s.updated,
            s.unchanged
        );
    }
    if !report.failed.is_empty() {
        anyhow::bail!("{} runs failed after all retries", report.failed.len());
    }
    Ok(())
}

fn status(a: StatusArgs) -> anyhow::Result<()> {
    let (exp, out, units) = load(&a.at)?;
    let mut table = Table::new(&["run", "kind", "state", "attempts", "last_error"]);
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for unit in &units {
        let state = runner::unit_state(unit)?;
        let book = runner::read_unit_state(&out, &unit.id);
        let live = runner::is_live(&out, &unit.id);
        let label = match state {
            RunState::Complete => "complete",
            RunState::Diverged => "diverged",
            _ if live => "running",
            RunState::Missing if book.attempts == 0 => "pending",
            RunState::Running | RunState::Missing if book.last_error.is_none() => "interrupted",
            _ => "failed",
        };
        *counts.entry(label).or_default() += 1;
        table.rows.push(vec![
            json!(unit.id),
            json!(unit.kind.as_str()),
            json!(label),
            json!(book.attempts),
            book.last_error
                .map_or(serde_json::Value::Null, |e| json!(e)),
        ]);
    }
    if !a.summary {
        print!("{}", table.render(a.format));
    }
    let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    eprintln!(
        "experiment {} ({} runs in {}): {}",
        exp.name,
        units.len(),
        out.display(),
        summary.join(", ")
    );
    Ok(())
}
