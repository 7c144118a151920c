//! `nb1s1 experiment`: run an experiment file (optimizers × spaces × seeds × hyperparameter
//! grid) with parallel workers, resuming and retrying, show how far it got, and show every
//! run's effective configuration before anything runs (`plan`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use nb1s1_bench::experiment::{Experiment, RunUnit};
use nb1s1_bench::runner::{self, Event, Launcher, RunnerOptions};
use nb1s1_bench::runs::RunState;
use nb1s1_bench::slurm::{self, Cluster, SlurmEvent, SlurmOptions, SlurmSettings, TaskOutcome};
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
    Run(Box<RunArgs>),
    /// Show which runs are complete, running, interrupted, failed or pending.
    Status(StatusArgs),
    /// Show every run with its effective, fully resolved configuration; runs nothing.
    Plan(PlanArgs),
    /// Run one unit of the file (an element of a Slurm array job; `--index` is its array index).
    Task(TaskArgs),
}

/// Where the runs execute.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Backend {
    /// Worker threads on this machine.
    Local,
    /// One Slurm array job, an element per pending run (see docs/cluster.md).
    Slurm,
}

/// `[slurm]` settings from the command line; each one overrides the file's.
#[derive(clap::Args)]
pub(crate) struct SlurmFlags {
    /// Slurm partition.
    #[arg(long, help_heading = "Slurm")]
    partition: Option<String>,
    /// Slurm account to charge.
    #[arg(long, help_heading = "Slurm")]
    account: Option<String>,
    /// Slurm quality of service.
    #[arg(long, help_heading = "Slurm")]
    qos: Option<String>,
    /// Time limit per run (`--time` of sbatch, e.g. 4:00:00).
    #[arg(long, help_heading = "Slurm")]
    time: Option<String>,
    /// CPUs per run.
    #[arg(long, help_heading = "Slurm")]
    cpus_per_task: Option<u32>,
    /// Memory per run (e.g. 16G).
    #[arg(long, help_heading = "Slurm")]
    mem: Option<String>,
    /// GPUs per run (`--gpus-per-task`).
    #[arg(long, help_heading = "Slurm")]
    gpus_per_task: Option<String>,
    /// Generic resources per run (`--gres`, e.g. gpu:1).
    #[arg(long, help_heading = "Slurm")]
    gres: Option<String>,
    /// At most this many runs at once (the %K of --array).
    #[arg(long, help_heading = "Slurm")]
    array_parallel: Option<usize>,
    /// Seconds before the time limit at which a run checkpoints and stops (default 300).
    #[arg(long, help_heading = "Slurm")]
    signal_seconds: Option<u32>,
    /// A further sbatch argument (repeatable), e.g. --sbatch-arg=--constraint=a100.
    #[arg(
        long = "sbatch-arg",
        help_heading = "Slurm",
        allow_hyphen_values = true
    )]
    sbatch_args: Vec<String>,
    /// Shell line run before each task (modules, virtual environment).
    #[arg(long, help_heading = "Slurm")]
    setup: Option<String>,
    /// Submit and return instead of waiting for the runs (a later `run` adopts them).
    #[arg(long, help_heading = "Slurm")]
    pub(crate) no_wait: bool,
    /// Seconds between queue polls while waiting.
    #[arg(long, default_value_t = 30.0, help_heading = "Slurm")]
    pub(crate) poll: f64,
}

impl SlurmFlags {
    pub(crate) fn settings(&self) -> SlurmSettings {
        SlurmSettings {
            partition: self.partition.clone(),
            account: self.account.clone(),
            qos: self.qos.clone(),
            time: self.time.clone(),
            cpus_per_task: self.cpus_per_task,
            mem: self.mem.clone(),
            gpus_per_task: self.gpus_per_task.clone(),
            gres: self.gres.clone(),
            parallel: self.array_parallel,
            signal_seconds: self.signal_seconds,
            sbatch_args: self.sbatch_args.clone(),
            setup: self.setup.clone(),
        }
    }
}

#[derive(clap::Args)]
struct TaskArgs {
    #[command(flatten)]
    at: Where,
    /// The unit's index in the expanded experiment (the array index).
    #[arg(long, env = "SLURM_ARRAY_TASK_ID")]
    index: usize,
    /// Requeue this element itself when it stops before its time limit, at most this many
    /// times (the job script passes the submitter's `--max-retries`).
    #[arg(long, default_value_t = 0)]
    requeue_limit: usize,
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
    /// Where the runs execute.
    #[arg(long, value_enum, default_value = "local")]
    backend: Backend,
    #[command(flatten)]
    slurm: SlurmFlags,
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
        Command::Run(a) => run_file(*a),
        Command::Status(a) => status(a),
        Command::Plan(a) => plan(a),
        Command::Task(a) => task(a),
    }
}

/// A one-shot unit's config as `nb1s1 search` will see it: the run file over the optimizer's
/// code defaults, every key present.
fn resolve(unit: &RunUnit) -> anyhow::Result<Option<oneshot::SearchConfig>> {
    if unit.kind == nb1s1_bench::runs::RunKind::Standalone {
        // Its settings are `nb1s1 train` options: they must parse before anything runs.
        crate::cmd_train::check_args(unit.args.get(1..).unwrap_or_default())
            .with_context(|| format!("run `{}`", unit.id))?;
        return Ok(None);
    }
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
pub(crate) fn detect_gpus(flag: Option<&str>) -> Vec<String> {
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
    if a.backend == Backend::Slurm {
        return run_slurm(a);
    }
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
        ingest(db, &out)?;
    }
    if !report.failed.is_empty() {
        anyhow::bail!("{} runs failed after all retries", report.failed.len());
    }
    Ok(())
}

/// The single writer of the store: the submitter merges the run folders when they are done.
pub(crate) fn ingest(db: &Path, out: &Path) -> anyhow::Result<()> {
    let mut store = nb1s1_bench::store::Store::open(db)?;
    let s = store.ingest_dir(out)?;
    eprintln!(
        "ingested into {}: {} added, {} updated, {} unchanged",
        db.display(),
        s.added,
        s.updated,
        s.unchanged
    );
    Ok(())
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(p)
        .with_context(|| format!("{}: cannot make the path absolute", p.display()))
}

fn run_slurm(a: RunArgs) -> anyhow::Result<()> {
    let (exp, out, _) = load(&a.at)?;
    let out = absolute(&out)?;
    let units = exp
        .units(&out)
        .map_err(|m| anyhow::anyhow!("{}: {m}", a.at.file.display()))?;
    let opts = SlurmOptions {
        settings: exp.slurm.overridden_by(&a.slurm.settings()),
        experiment: exp.name.clone(),
        file: absolute(&a.at.file)?,
        out: out.clone(),
        program: std::env::current_exe().context("locating the nb1s1 binary")?,
        max_retries: a.max_retries.unwrap_or(exp.max_retries),
        wait: !a.slurm.no_wait,
        poll: std::time::Duration::from_secs_f64(a.slurm.poll.max(0.1)),
        task: None,
    };
    eprintln!(
        "experiment {}: {} runs into {} on Slurm",
        exp.name,
        units.len(),
        out.display()
    );
    let bar = ProgressBar::new(units.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} runs  {elapsed_precise}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    // `suspend` + eprintln: messages show even when stderr is no terminal (the bar is hidden).
    let say = |m: String| bar.suspend(|| eprintln!("{m}"));
    let observer = |e: &SlurmEvent| match e {
        SlurmEvent::Skipped { .. } => bar.inc(1),
        SlurmEvent::Adopted { id, job } => bar.set_message(format!("adopted {id} ({job})")),
        SlurmEvent::Submitted { job, ids } => {
            say(format!("submitted array job {job}: {} runs", ids.len()))
        }
        SlurmEvent::Resubmit { id, element } => say(format!(
            "{id}: element {element} ended early, submitting it again"
        )),
        SlurmEvent::Finished { id, state } => {
            bar.inc(1);
            if *state == RunState::Diverged {
                say(format!("diverged: {id}"));
            }
        }
        SlurmEvent::GaveUp { id, message } => {
            bar.inc(1);
            say(format!("failed: {id}: {message}"));
        }
    };
    let report = slurm::run_slurm(&units, &Cluster::default(), &opts, &observer)?;
    bar.finish_and_clear();
    eprintln!(
        "{} completed now, {} already done, {} diverged, {} adopted, {} still queued, {} failed; \
         jobs submitted: {}",
        report.completed.len(),
        report.skipped.len(),
        report.diverged.len(),
        report.adopted.len(),
        report.queued.len(),
        report.failed.len(),
        if report.jobs.is_empty() {
            "none".to_string()
        } else {
            report.jobs.join(", ")
        }
    );
    if let (Some(db), true) = (&a.results, report.queued.is_empty()) {
        ingest(db, &out)?;
    }
    if !report.failed.is_empty() {
        anyhow::bail!("{} runs failed after all retries", report.failed.len());
    }
    Ok(())
}

fn task(a: TaskArgs) -> anyhow::Result<()> {
    let (exp, out, units) = load(&a.at)?;
    let options = RunnerOptions {
        workers: 1,
        // Slurm sets CUDA_VISIBLE_DEVICES to the GPUs it gave this element.
        gpus: std::env::var("CUDA_VISIBLE_DEVICES")
            .map(|g| detect_gpus(Some(&g)))
            .unwrap_or_default(),
        max_retries: 0,
        experiment: exp.name.clone(),
    };
    let launcher = Launcher {
        program: std::env::current_exe().context("locating the nb1s1 binary")?,
        prefix_args: Vec::new(),
    };
    match slurm::run_task(&units, a.index, &out, &launcher, &options)? {
        TaskOutcome::Done(state) => {
            eprintln!("{}: {}", units[a.index].id, state.as_str());
            Ok(())
        }
        TaskOutcome::Busy => {
            eprintln!(
                "{}: running elsewhere (its lock is held)",
                units[a.index].id
            );
            Ok(())
        }
        TaskOutcome::Interrupted { time_limit } => {
            interrupted(&units[a.index].id, time_limit, a.requeue_limit)
        }
        TaskOutcome::Failed(m) => anyhow::bail!("{}: {m}", units[a.index].id),
    }
}

/// A Slurm element stopped by a signal: before its time limit it requeues itself (up to
/// `requeue_limit` times), so it resumes from its checkpoint without waiting for a submitter;
/// then it exits with [`slurm::EXIT_INTERRUPTED`].
pub(crate) fn interrupted(id: &str, time_limit: bool, requeue_limit: usize) -> ! {
    eprintln!("{id}: stopped by a signal; resumes from its last checkpoint");
    if time_limit {
        // Slurm ends this process on requeue.
        match slurm::requeue_self(&Cluster::default(), requeue_limit) {
            Ok(Some(element)) => eprintln!("{id}: requeued itself as {element}"),
            Ok(None) => {}
            Err(e) => eprintln!("{id}: could not requeue itself: {e}"),
        }
    }
    std::process::exit(slurm::EXIT_INTERRUPTED)
}

fn status(a: StatusArgs) -> anyhow::Result<()> {
    let (exp, out, units) = load(&a.at)?;
    let on_slurm = slurm::slurm_dir(&out).join("jobs.json").is_file();
    let elements = if on_slurm {
        slurm::unit_elements(&units, &out, &Cluster::default())?
    } else {
        vec![None; units.len()]
    };
    let mut columns = vec!["run", "kind", "state", "attempts", "last_error"];
    if on_slurm {
        columns.extend(["slurm_job", "slurm_state"]);
    }
    let mut table = Table::new(&columns);
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for (unit, element) in units.iter().zip(elements) {
        let state = runner::unit_state(unit)?;
        let book = runner::read_unit_state(&out, &unit.id);
        let live = runner::is_live(&out, &unit.id);
        let queued = element.as_ref().map(|(_, _, e)| e.is_live()) == Some(true);
        let label = match state {
            RunState::Complete => "complete",
            RunState::Diverged => "diverged",
            _ if live => "running",
            // In the Slurm queue and not started (or requeued): waiting, not failed.
            _ if queued => "pending",
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
        if on_slurm {
            let row = table.rows.last_mut().expect("just pushed");
            match element {
                Some((job, index, e)) => {
                    row.extend([json!(format!("{job}_{index}")), json!(e.label())])
                }
                None => row.extend([serde_json::Value::Null, serde_json::Value::Null]),
            }
        }
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
