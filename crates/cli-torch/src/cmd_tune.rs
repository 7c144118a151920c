//! `nb1s1 tune`: BOHB over a one-shot optimizer's hyperparameters (the original's
//! `optimizers/bohb_one_shot/`, docs/tuning.md). Each evaluation is an ordinary `nb1s1 search`
//! run with the budget as its epochs, launched by the experiment runner; the tuning resumes
//! after a kill with no evaluation lost or repeated.

use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use nb1s1_bench::runner::{Event, Launcher, RunnerOptions};
use nb1s1_bench::tune::{self, ConfigSpaceId, LocalBackend, TuneSettings, TunedOption, Tuner};

/// Arguments of `nb1s1 tune`.
#[derive(clap::Args)]
pub struct Args {
    /// The one-shot optimizer to tune (darts, gdas, pc_darts, ...).
    #[arg(long, default_value = "darts")]
    optimizer: String,
    /// Search space 1, 2 or 3.
    #[arg(long, default_value_t = 3)]
    space: u8,
    /// Configuration space: cs1 (weight decay, cutout probability), cs2 (+ learning rate) or
    /// cs3 (+ architecture learning rate and weight decay, momentum, cutout length, batch
    /// size, gradient clipping), or none (only the `--option`s).
    #[arg(long, default_value = "cs1")]
    cs: ConfigSpaceId,
    /// A method option to search besides the configuration space, as `part.key` of its
    /// `[options.<part>]` (e.g. `beta_decay.lambda_max`, `drnas_kl.reg_scale`), over the range
    /// its settings declare (docs/tuning.md); repeat or separate by commas.
    #[arg(long = "option", value_delimiter = ',')]
    options: Vec<String>,
    /// Tuning folder: `tune.json`, `incumbent.toml` and one run folder per evaluation.
    #[arg(long)]
    out: PathBuf,
    /// HyperBand iterations (brackets).
    #[arg(long, default_value_t = 64)]
    iterations: usize,
    /// Search epochs per rung, smallest first.
    #[arg(long, default_value = "25,50,100", value_delimiter = ',')]
    budgets: Vec<u32>,
    /// HyperBand's η.
    #[arg(long, default_value_t = 2)]
    eta: usize,
    /// Seed of every search run and of the tuner's draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Start from a uniform draw instead of the configuration space's default.
    #[arg(long)]
    no_default_start: bool,
    /// Replicate the original worker: cutout never switched on and the cs3-only settings
    /// (gradient clipping, cutout length, architecture lr and weight decay) never forwarded.
    #[arg(long)]
    faithful_worker: bool,
    /// Config the runs start from: a shipped name or a `.toml` path (default: the optimizer's).
    #[arg(long)]
    base: Option<String>,
    /// NAS-Bench-101 file: the objective is its validation error of the final architecture.
    #[arg(long, env = "NB1S1_NB101")]
    nb101: PathBuf,
    /// CIFAR-10 in the official binary layout (passed to every search).
    #[arg(long, env = "NB1S1_CIFAR10", default_value = "data/cifar10")]
    data: PathBuf,
    /// Device of every search: auto, cpu or cuda.
    #[arg(long, default_value = "auto")]
    device: String,
    /// libtorch CPU threads per search.
    #[arg(long, default_value_t = 2)]
    threads: i32,
    /// Parallel evaluations within a rung (default: the number of GPUs, else 1).
    #[arg(long)]
    workers: Option<usize>,
    /// GPU ids, one search per GPU at a time (`0,1`); `none` for CPU.
    #[arg(long)]
    gpus: Option<String>,
    /// Extra attempts of a failed search.
    #[arg(long, default_value_t = 2)]
    max_retries: usize,
    /// Ingest every evaluation into this results database when done.
    #[arg(long)]
    results: Option<PathBuf>,
    /// Where the searches run: local worker threads, or one Slurm array job per rung
    /// (docs/cluster.md; the `--partition`, `--time`, `--gpus-per-task`, ... flags).
    #[arg(long, value_enum, default_value = "local")]
    backend: TuneBackend,
    #[command(flatten)]
    slurm: crate::cmd_experiment::SlurmFlags,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum TuneBackend {
    Local,
    Slurm,
}

/// Arguments of `nb1s1 tune-task` (a Slurm array element of one rung).
#[derive(clap::Args)]
pub struct TaskArgs {
    /// The rung's units (`.experiment/tune-rungs/*.json`).
    #[arg(long)]
    units: PathBuf,
    /// The tuning folder.
    #[arg(long)]
    out: PathBuf,
    /// The element's index in the rung.
    #[arg(long, env = "SLURM_ARRAY_TASK_ID")]
    index: usize,
    /// Requeue this element itself when it stops before its time limit, at most this many
    /// times (the rung's job script passes the tuner's `--max-retries`).
    #[arg(long, default_value_t = 0)]
    requeue_limit: usize,
}

/// Runs one evaluation of a rung inside a Slurm element, as `experiment task` does.
pub fn task(a: TaskArgs) -> anyhow::Result<()> {
    use nb1s1_bench::slurm::{self, TaskOutcome};
    let units = tune::read_rung_file(&a.units)?;
    let options = RunnerOptions {
        workers: 1,
        gpus: std::env::var("CUDA_VISIBLE_DEVICES")
            .map(|g| crate::cmd_experiment::detect_gpus(Some(&g)))
            .unwrap_or_default(),
        max_retries: 0,
        experiment: tune::EXPERIMENT.to_string(),
    };
    let launcher = Launcher {
        program: std::env::current_exe().context("locating the nb1s1 binary")?,
        prefix_args: Vec::new(),
    };
    let id = units.get(a.index).map(|u| u.id.clone()).unwrap_or_default();
    match slurm::run_task(&units, a.index, &a.out, &launcher, &options)? {
        TaskOutcome::Done(state) => eprintln!("{id}: {}", state.as_str()),
        TaskOutcome::Busy => eprintln!("{id}: running elsewhere (its lock is held)"),
        TaskOutcome::Interrupted { time_limit } => {
            crate::cmd_experiment::interrupted(&id, time_limit, a.requeue_limit)
        }
        TaskOutcome::Failed(m) => anyhow::bail!("{id}: {m}"),
    }
    Ok(())
}

/// The Slurm backend of a tuning: one array job per rung, waiting for each.
fn slurm_backend(a: &Args, out: &std::path::Path) -> anyhow::Result<tune::SlurmBackend> {
    use nb1s1_bench::slurm::{Cluster, SlurmEvent, SlurmOptions};
    Ok(tune::SlurmBackend {
        options: SlurmOptions {
            settings: a.slurm.settings(),
            experiment: tune::EXPERIMENT.to_string(),
            file: out.join("tune.json"),
            out: out.to_path_buf(),
            program: std::env::current_exe().context("locating the nb1s1 binary")?,
            max_retries: a.max_retries,
            wait: true,
            poll: std::time::Duration::from_secs_f64(a.slurm.poll.max(0.1)),
            task: None,
        },
        cluster: Cluster::default(),
        observer: Box::new(|e: &SlurmEvent| {
            if let SlurmEvent::Submitted { job, ids } = e {
                eprintln!("submitted array job {job}: {} evaluations", ids.len());
            }
        }),
    })
}

impl Args {
    fn settings(&self) -> anyhow::Result<TuneSettings> {
        Ok(TuneSettings {
            options: tuned_options(
                &self.optimizer,
                self.space,
                self.base.as_deref(),
                &self.options,
            )?,
            seed: self.seed,
            budgets: self.budgets.clone(),
            eta: self.eta,
            iterations: self.iterations,
            start_from_default: !self.no_default_start,
            faithful_worker: self.faithful_worker,
            base: self.base.clone(),
            ..TuneSettings::original(&self.optimizer, self.space, self.cs)
        })
    }

    /// Arguments every search gets after its own.
    fn search_args(&self) -> Vec<String> {
        vec![
            "--nb101".into(),
            self.nb101.to_string_lossy().into_owned(),
            "--data".into(),
            self.data.to_string_lossy().into_owned(),
            "--device".into(),
            self.device.clone(),
            "--threads".into(),
            self.threads.to_string(),
        ]
    }
}

/// The `--option`s of a tuning of `optimizer` on `space` from `base`, each with the range
/// its settings declare and the base's value as the default.
pub fn tuned_options(
    optimizer: &str,
    space: u8,
    base: Option<&str>,
    names: &[String],
) -> anyhow::Result<Vec<TunedOption>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let (label, table) = nb1s1_bench::base_config::load(base, optimizer, std::path::Path::new(""))
        .map_err(anyhow::Error::msg)?;
    let cfg = oneshot::SearchConfig::from_toml(
        &toml::to_string(&table)?,
        &label,
        Some(optimizer),
        Some(space),
    )?;
    names
        .iter()
        .map(|name| {
            let (r, default) = cfg
                .tunable_option(name)
                .map_err(|e| anyhow::anyhow!("--option: {e}"))?;
            Ok(TunedOption {
                name: name.clone(),
                lower: r.lower,
                upper: r.upper,
                log: r.log,
                integer: r.integer,
                default,
            })
        })
        .collect()
}

pub fn run(a: Args) -> anyhow::Result<()> {
    oneshot::registry::lookup(&a.optimizer).map_err(|e| anyhow::anyhow!("--optimizer: {e}"))?;
    if !a.nb101.exists() {
        anyhow::bail!("--nb101 {}: no such file", a.nb101.display());
    }
    tune::ensure_dir(&a.out)?;
    let out = std::path::absolute(&a.out)
        .with_context(|| format!("{}: cannot make the path absolute", a.out.display()))?;
    let settings = a.settings()?;
    let mut tuner = Tuner::open(settings.clone(), &out, a.search_args())?;
    // Every evaluation's config must resolve before the first search starts.
    let values: std::collections::BTreeMap<String, f64> = tuner
        .space()
        .iter()
        .map(|h| (h.name.to_string(), h.default))
        .collect();
    let probe = tuner.search_config(&values, settings.budgets[0]);
    oneshot::SearchConfig::from_toml(&toml::to_string(&probe)?, "tune", None, None)
        .context("the tuning's search config")?;
    let gpus = crate::cmd_experiment::detect_gpus(a.gpus.as_deref());
    let workers = a.workers.unwrap_or(gpus.len().max(1)).max(1);
    let total = tune::total_evaluations(&settings) as u64;
    eprintln!(
        "tune {} ({}): {} iterations, budgets {:?}, eta {}, {total} evaluations into {} \
         ({workers} workers)",
        settings.study(),
        if settings.faithful_worker {
            "faithful worker"
        } else {
            "intended worker"
        },
        settings.iterations,
        settings.budgets,
        settings.eta,
        out.display()
    );
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} evaluations  {elapsed_precise}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let msg_bar = bar.clone();
    let backend = LocalBackend {
        out: out.clone(),
        launcher: Launcher {
            program: std::env::current_exe().context("locating the nb1s1 binary")?,
            prefix_args: Vec::new(),
        },
        options: RunnerOptions {
            workers,
            gpus,
            max_retries: a.max_retries,
            experiment: tune::EXPERIMENT.to_string(),
        },
        observer: Box::new(move |e: &Event| {
            if let Event::Started { id, .. } = e {
                msg_bar.set_message(id.clone());
            }
        }),
    };
    let slurm;
    let backend: &dyn tune::Backend = if a.backend == TuneBackend::Slurm {
        if a.slurm.no_wait {
            anyhow::bail!("--no-wait: a tuning waits for each rung's results");
        }
        slurm = slurm_backend(&a, &out)?;
        &slurm
    } else {
        &backend
    };
    let best = std::cell::Cell::new(f64::INFINITY);
    tuner.run(backend, &|e| {
        bar.inc(1);
        let loss = e.loss.unwrap_or(f64::INFINITY);
        if e.budget == *settings.budgets.last().unwrap_or(&0) && loss < best.get() {
            best.set(loss);
            bar.suspend(|| eprintln!("incumbent {}: NB-101 validation error {loss:.5}", e.name));
        }
    })?;
    bar.finish_and_clear();
    let state = tune::read_state(&out)?;
    eprintln!(
        "{} evaluations; incumbent {} -> {}",
        state.evaluations.len(),
        state.incumbent.as_deref().unwrap_or("none"),
        out.join("incumbent.toml").display()
    );
    if let Some(db) = &a.results {
        crate::cmd_experiment::ingest(db, &out.join("runs"))?;
    }
    Ok(())
}
