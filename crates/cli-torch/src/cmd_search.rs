//! `nb1s1 search`: one one-shot architecture search with anytime NAS-Bench-101 evaluation. All
//! hyperparameters come from a TOML config over the optimizer's defaults; the run folder gets
//! the effective config, `run.json`, `status.json`, `epochs.jsonl`, `checkpoint/` and the live
//! TensorBoard file `tensorboard/events.out.tfevents.*` (docs/oneshot.md).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use oneshot::anytime::Nb101Oracle;
use oneshot::{registry, run_search, Nb101Table, SearchConfig, SearchData, SearchOptions};

/// The `--optimizer` help: the registered names.
fn optimizer_help() -> String {
    format!(
        "A registered optimizer: {} (overrides the config's `optimizer`; --list describes them), or the name of a composition the config's [method] defines",
        registry::names().join(", ")
    )
}

/// Arguments of `nb1s1 search`.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, help = optimizer_help())]
    pub optimizer: Option<String>,
    /// Print every registered optimizer with a one-line description and exit.
    #[arg(long)]
    pub list: bool,
    /// Search space 1, 2 or 3 (overrides the config's `space`).
    #[arg(long)]
    pub space: Option<u8>,
    /// TOML run configuration; keys it omits take the optimizer's defaults (configs/ has the
    /// paper's runs).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Run folder.
    #[arg(long, required_unless_present = "list")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub torch: TorchArgs,
    /// NAS-Bench-101 file (converted store or the official tfrecord); without it the search
    /// runs but records no NB-101 errors or regrets.
    #[arg(long, env = "NB1S1_NB101")]
    pub nb101: Option<PathBuf>,
    /// Continue the run in --out from its last checkpoint (with the run's own config.toml).
    #[arg(long)]
    pub resume: bool,
    /// Override the config's epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Override the config's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Measure regret against the paper's hard-coded minima instead of the table's own.
    #[arg(long)]
    pub paper_reference: bool,
    /// Stop after this many epochs in total (status stays `running`; continue with --resume).
    #[arg(long)]
    pub stop_after: Option<usize>,
}

/// Where the supernet runs and on which images: shared by `search` and `correlation`.
#[derive(clap::Args)]
pub struct TorchArgs {
    /// auto (CUDA when available), cpu or cuda.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// CIFAR-10 in the official binary layout.
    #[arg(long, env = "NB1S1_CIFAR10", default_value = "data/cifar10")]
    pub data: PathBuf,
    /// libtorch CPU threads (1-1024).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(i32).range(1..=1024))]
    pub threads: i32,
}

impl TorchArgs {
    /// The device (checked before anything is loaded), with libtorch's threads set.
    pub(crate) fn device(&self) -> anyhow::Result<tch::Device> {
        let device = pick_device(&self.device)?;
        tch::set_num_threads(self.threads.max(1));
        Ok(device)
    }
}

/// The device asked for; `cuda` without a usable GPU is an error before anything is loaded.
fn pick_device(name: &str) -> anyhow::Result<tch::Device> {
    match name {
        "cpu" => Ok(tch::Device::Cpu),
        "auto" => {
            crate::torch_runtime::load_cuda();
            Ok(tch::Device::cuda_if_available())
        }
        "cuda" => {
            if crate::torch_runtime::load_cuda() && tch::Cuda::is_available() {
                Ok(tch::Device::Cuda(0))
            } else {
                bail!("--device cuda: no CUDA device is usable here (libtorch_cuda did not load or no GPU is visible); use --device cpu or auto")
            }
        }
        other => bail!("--device {other}: expected auto, cpu or cuda"),
    }
}

fn load_config(args: &Args, out: &Path) -> anyhow::Result<SearchConfig> {
    // A registered name (aliases resolved), or the name of a composition of one's own, which
    // the config's `[method] base` must define (the loader names what is missing).
    let optimizer = args
        .optimizer
        .as_deref()
        .map(|s| registry::lookup(s).map_or(s, |r| r.name));
    let run_config = out.join("config.toml");
    let path = match (&args.config, args.resume && run_config.is_file()) {
        (None, true) => Some(run_config),
        (p, _) => p.clone(),
    };
    if let Some(p) = &path {
        // A folder goes on to `SearchConfig::load`, which names it.
        if !p.exists() {
            bail!("--config {}: no such file", p.display());
        }
    }
    let mut cfg = SearchConfig::load(path.as_deref(), optimizer, args.space)?;
    if let Some(e) = args.epochs {
        cfg.epochs = e;
    }
    if let Some(s) = args.seed {
        cfg.seed = s;
    }
    cfg.validate()
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    Ok(cfg)
}

pub(crate) fn load_data(dir: &Path) -> anyhow::Result<SearchData> {
    if !dir.exists() {
        bail!(
            "CIFAR-10 folder {} does not exist: pass --data DIR (official binary layout), set NB1S1_CIFAR10, or run `nb1s1 data` to fetch or import it",
            dir.display()
        );
    }
    let set = nb1s1_data::Cifar10::load(dir)
        .with_context(|| format!("reading CIFAR-10 from {}", dir.display()))?;
    Ok(SearchData {
        train: Arc::new(set.train),
        test: Arc::new(set.test),
        source: dir.display().to_string(),
    })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.list {
        print!("{}", registry::list());
        return Ok(());
    }
    let out = args.out.clone().context("--out is required")?;
    let cfg = load_config(&args, &out)?;
    let device = args.torch.device()?;
    let data = load_data(&args.torch.data)?;
    let table = match &args.nb101 {
        Some(p) => Some(Nb101Table::open(p)?),
        None => {
            eprintln!("note: no --nb101 file (or NB1S1_NB101): epochs are recorded without NAS-Bench-101 errors or regrets");
            None
        }
    };
    if let Some(t) = &table {
        if t.is_synthetic() {
            eprintln!(
                "note: {} is a SYNTHETIC NAS-Bench-101 table: its errors and regrets are not real",
                t.path()
            );
        }
    }
    eprintln!(
        "search: {} on space {} for {} epochs, device {device:?}, run folder {}",
        cfg.optimizer,
        cfg.space,
        cfg.epochs,
        out.display()
    );
    let opts = SearchOptions {
        device,
        resume: args.resume,
        stop_after: args.stop_after,
        progress: true,
        paper_reference: args.paper_reference,
    };
    let oracle = table.as_ref().map(|t| t as &dyn Nb101Oracle);
    let outcome = run_search(&cfg, &data, oracle, &out, &opts).with_context(|| {
        format!(
            "search in {} (status.json says how it ended)",
            out.display()
        )
    })?;
    if let Some(why) = &outcome.stopped_early {
        eprintln!("stopped early: {why}");
    }
    if let Some(last) = outcome.records.last() {
        let fmt = |v: Option<f64>| v.map_or("n/a".to_string(), |x| format!("{x:.4}"));
        eprintln!(
            "epoch {}: one-shot valid error {:.4}, NB-101 test regret {}, architecture {}",
            last.epoch,
            last.one_shot_valid_error,
            fmt(last.test_regret),
            last.nb101_hash.as_deref().unwrap_or("(invalid cell)")
        );
    }
    println!(
        "results: {}/epochs.jsonl (run files documented in docs/oneshot.md)",
        out.display()
    );
    Ok(())
}
