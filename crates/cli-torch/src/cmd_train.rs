//! `nb1s1 train`: trains the NAS-Bench-101 network of one cell from scratch (crate `standalone`)
//! with NB-101's protocol by default, or a proxy of it, into a resumable run folder
//! (docs/standalone.md). The cell comes as JSON, as a hash of the NB-101 table, or from a
//! one-shot search's run folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::ArgGroup;
use nasbench101::network::NetworkConfig;
use nasbench101::{ModelHash, ModelSpec, Nb101};
use runfmt::CellOrigin;
use standalone::{train, TrainConfig, TrainData, TrainOptions};

/// Arguments of `nb1s1 train`.
#[derive(clap::Args)]
#[command(group(ArgGroup::new("cell").required(true).args(["spec", "hash", "from_run", "space"])))]
pub struct Args {
    /// The cell as JSON: `{"matrix": [[0,1,..],..], "ops": ["input",..,"output"]}`.
    #[arg(long)]
    spec: Option<String>,
    /// A model of the NB-101 table by its hash (needs --nb101).
    #[arg(long, requires = "nb101")]
    hash: Option<String>,
    /// NB-101 data file (tfrecord or store): where --hash looks, and the cell's recorded
    /// errors go into run.json (what the transfer studies compare with).
    #[arg(long, env = "NB1S1_NB101")]
    nb101: Option<PathBuf>,
    /// A one-shot search's run folder: trains the architecture its epochs.jsonl selected.
    #[arg(long)]
    from_run: Option<PathBuf>,
    /// Epoch (0-based, as in epochs.jsonl) of --from-run (default: the last recorded).
    #[arg(long, requires = "from_run")]
    epoch: Option<usize>,
    /// A search space (1, 2 or 3): trains architecture --index of its unique models, or of the
    /// seeded sample `nb1s1 correlation --sample N --seed K` evaluates (--sample, --sample-seed).
    #[arg(long, requires = "index", value_parser = clap::value_parser!(u8).range(1..=3))]
    space: Option<u8>,
    /// Position (0-based) in the space's unique models or in the sample.
    #[arg(long, requires = "space")]
    index: Option<usize>,
    /// Size of the seeded sample --index picks from (0: every unique model).
    #[arg(long, default_value_t = 0, requires = "space")]
    sample: usize,
    /// Seed of that sample.
    #[arg(long, default_value_t = 0, requires = "space")]
    sample_seed: u64,
    /// Print the resolved cell (JSON) and the settings, train nothing.
    #[arg(long)]
    dry_run: bool,
    /// Run folder; an existing one with the same cell and settings is continued.
    #[arg(long)]
    out: PathBuf,
    /// Epochs (NB-101: 108; its tables also hold 4, 12 and 36).
    #[arg(long, default_value_t = 108)]
    epochs: usize,
    /// Training batch size.
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    /// Batch size of the validation and test passes.
    #[arg(long, default_value_t = 256)]
    eval_batch_size: usize,
    /// Stem channels (NB-101: 128); the cells of stack s have 128 * 2^s.
    #[arg(long, default_value_t = 128)]
    channels: usize,
    /// Cells per stack (NB-101: 3).
    #[arg(long, default_value_t = 3)]
    cells: usize,
    /// Stacks (NB-101: 3).
    #[arg(long, default_value_t = 3)]
    stacks: usize,
    /// Training images, the first of the training split (NB-101: 40000).
    #[arg(long, default_value_t = 40_000)]
    train_images: usize,
    /// Validation images, spread over the last 10000 of the training split.
    #[arg(long, default_value_t = 10_000)]
    valid_images: usize,
    /// Test images, spread over the test split.
    #[arg(long, default_value_t = 10_000)]
    test_images: usize,
    /// Peak learning rate (NB-101: 0.2 = 0.1 per TPU shard x 2 shards).
    #[arg(long, default_value_t = 0.2)]
    lr: f64,
    /// BatchNorm moving-average decay, TF convention (NB-101: 0.997; use ~0.9 for short runs).
    #[arg(long, default_value_t = 0.997)]
    bn_momentum: f64,
    /// No random crop and flip.
    #[arg(long)]
    no_augment: bool,
    /// Seed of the initial weights, shuffling and augmentation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop after this many epochs in total (run again to continue).
    #[arg(long)]
    stop_after: Option<usize>,
    /// auto (CUDA when available), cpu or cuda.
    #[arg(long, default_value = "auto")]
    device: String,
    /// CIFAR-10 in the official binary layout.
    #[arg(long, env = "NB1S1_CIFAR10", default_value = "data/cifar10")]
    data: PathBuf,
    /// libtorch CPU threads (1-1024).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(i32).range(1..=1024))]
    threads: i32,
}

/// Checks `nb1s1 train` arguments (without the subcommand) as the command will parse them,
/// and the settings they make (for `experiment plan`).
pub fn check_args(args: &[String]) -> anyhow::Result<()> {
    use clap::{Args as _, FromArgMatches as _};
    let cmd = Args::augment_args(clap::Command::new("train").no_binary_name(true));
    let matches = cmd
        .try_get_matches_from(args)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let a = Args::from_arg_matches(&matches).map_err(|e| anyhow::anyhow!("{e}"))?;
    config(&a).validate()?;
    Ok(())
}

/// The device asked for; `cuda` without a usable GPU is an error before anything is loaded.
fn pick_device(name: &str) -> anyhow::Result<tch::Device> {
    match name {
        "cpu" => Ok(tch::Device::Cpu),
        "auto" => {
            crate::torch_runtime::load_cuda();
            Ok(tch::Device::cuda_if_available())
        }
        "cuda" if crate::torch_runtime::load_cuda() && tch::Cuda::is_available() => {
            Ok(tch::Device::Cuda(0))
        }
        "cuda" => bail!("--device cuda: no CUDA device is usable here; use --device cpu or auto"),
        other => bail!("--device {other}: expected auto, cpu or cuda"),
    }
}

fn spec_from_json(text: &str) -> anyhow::Result<ModelSpec> {
    #[derive(serde::Deserialize)]
    struct Cell {
        matrix: Vec<Vec<u8>>,
        ops: Vec<String>,
    }
    let cell: Cell = serde_json::from_str(text)
        .context("--spec: expected {\"matrix\": [[..]], \"ops\": [..]}")?;
    ModelSpec::new(cell.matrix, cell.ops).context("--spec")
}

/// The NB-101 file of `--nb101`, opened once for `--hash` and for the cell's record.
fn open_table(path: &Path) -> anyhow::Result<Arc<Nb101>> {
    let db =
        Nb101::open(path).with_context(|| format!("--nb101 {}: cannot open", path.display()))?;
    Ok(Arc::new(db))
}

fn spec_from_table(hash: &str, path: &Path, db: Option<&Nb101>) -> anyhow::Result<ModelSpec> {
    let h: ModelHash = hash
        .parse()
        .with_context(|| format!("--hash {hash}: not a 32-digit hex hash"))?;
    let Some(db) = db else {
        bail!("--hash {hash} needs the NB-101 file: pass --nb101 FILE or set NB1S1_NB101");
    };
    let model = db.model(&h).with_context(|| {
        format!(
            "--hash {hash}: no model with this hash in {} ({} models)",
            path.display(),
            db.len()
        )
    })?;
    model
        .spec()
        .with_context(|| format!("{}: model {hash}", path.display()))
}

/// The architecture a search run recorded for `epoch` (the last when `None`), and where it
/// came from.
fn spec_from_run(run: &Path, epoch: Option<usize>) -> anyhow::Result<(ModelSpec, CellOrigin)> {
    if !run.is_dir() {
        bail!("--from-run {}: no such run folder", run.display());
    }
    let path = run.join("epochs.jsonl");
    if !path.is_file() {
        bail!(
            "--from-run {}: no epochs.jsonl, not the run folder of `nb1s1 search --out`",
            run.display()
        );
    }
    let records: Vec<runfmt::EpochRecord> = runfmt::read_jsonl(&path)?;
    runfmt::check_epoch_order(&path, &records)?;
    let rec = match (epoch, records.last()) {
        (_, None) => bail!("{}: no finished epoch recorded yet", path.display()),
        (None, Some(last)) => last,
        (Some(e), Some(last)) => records.get(e).with_context(|| {
            format!(
                "{}: no record of epoch {e}; the run has epochs 0..={} (0-based)",
                path.display(),
                last.epoch
            )
        })?,
    };
    let at = format!("{}: epoch {}", path.display(), rec.epoch);
    let spec = rec.architecture.to_spec().with_context(|| {
        format!("{at}: the chosen cell is not a valid NB-101 cell (no path from input to output?); pick another --epoch")
    })?;
    let hash = spec.hash().with_context(|| at.clone())?.to_string();
    if let Some(recorded) = rec.nb101_hash.as_deref().filter(|h| *h != hash) {
        bail!("{at}: field `nb101_hash` is {recorded} but the architecture hashes to {hash}");
    }
    let meta: Option<runfmt::RunMeta> = runfmt::read_json_opt(&run.join("run.json"))?;
    let origin = CellOrigin {
        source: "search".into(),
        space: Some(rec.architecture.space),
        run: Some(run.display().to_string()),
        epoch: Some(rec.epoch),
        optimizer: meta.map(|m| m.optimizer),
        ..Default::default()
    };
    Ok((spec, origin))
}

/// Architecture `index` of a space's unique models, or of the seeded sample the correlation
/// evaluation draws (so stand-alone and one-shot accuracies meet by hash).
fn spec_from_space(a: &Args, space: u8) -> anyhow::Result<(ModelSpec, CellOrigin)> {
    let id = searchspace::SpaceId::try_from(space).map_err(anyhow::Error::msg)?;
    let index = a.index.unwrap_or(0);
    let cands = oneshot::correlation::candidates(id, a.sample, a.sample_seed);
    let c = cands.get(index).with_context(|| {
        format!(
            "--index {index}: the {} of space {space} hold {} architectures (0..{})",
            if a.sample == 0 {
                "unique models".to_string()
            } else {
                format!("sample of {} (seed {})", a.sample, a.sample_seed)
            },
            cands.len(),
            cands.len()
        )
    })?;
    let spec = c.architecture.to_spec()?;
    let origin = CellOrigin {
        source: "sample".into(),
        space: Some(id),
        sample: Some(a.sample),
        seed: Some(a.sample_seed),
        index: Some(index),
        ..Default::default()
    };
    Ok((spec, origin))
}

/// The cell's NAS-Bench-101 errors per budget (means over the repeats); `None` when the table
/// does not hold it.
fn nb101_record(
    path: &Path,
    db: &Arc<Nb101>,
    hash: &ModelHash,
) -> anyhow::Result<Option<runfmt::StandaloneNb101>> {
    use oneshot::anytime::Nb101Oracle;
    let table = oneshot::Nb101Table::new(path, Arc::clone(db));
    let Some(errors) = table.query_budgets(hash)? else {
        eprintln!(
            "train: {} does not hold cell {hash}; run.json gets no NB-101 errors",
            path.display()
        );
        return Ok(None);
    };
    let keyed = |m: &std::collections::BTreeMap<u32, f64>| {
        m.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    };
    Ok(Some(runfmt::StandaloneNb101 {
        file: path.display().to_string(),
        test_error: keyed(&errors.test),
        valid_error: keyed(&errors.valid),
    }))
}

/// The cell of the command line and where it came from.
fn resolve_cell(a: &Args, db: Option<&Nb101>) -> anyhow::Result<(ModelSpec, CellOrigin)> {
    let plain = |source: &str| CellOrigin {
        source: source.into(),
        ..Default::default()
    };
    // Options of one cell source given with another are refused, not ignored.
    if a.epoch.is_some() && a.from_run.is_none() {
        bail!("--epoch goes with --from-run (the epoch of that search run)");
    }
    if a.space.is_none() && (a.index.is_some() || a.sample != 0 || a.sample_seed != 0) {
        bail!("--index, --sample and --sample-seed go with --space");
    }
    match (&a.spec, &a.hash, &a.from_run, a.space) {
        (Some(json), ..) => Ok((spec_from_json(json)?, plain("spec"))),
        (_, Some(h), ..) => Ok((
            spec_from_table(h, a.nb101.as_deref().unwrap_or(Path::new("")), db)?,
            plain("nb101"),
        )),
        (_, _, Some(run), _) => spec_from_run(run, a.epoch),
        (.., Some(space)) => spec_from_space(a, space),
        _ => bail!("give the cell with --spec, --hash, --from-run or --space"),
    }
}

fn config(a: &Args) -> TrainConfig {
    let mut cfg = TrainConfig {
        network: NetworkConfig {
            stem_channels: a.channels,
            stacks: a.stacks,
            cells_per_stack: a.cells,
            ..Default::default()
        },
        epochs: a.epochs,
        batch_size: a.batch_size,
        eval_batch_size: a.eval_batch_size,
        train_images: a.train_images,
        valid_images: a.valid_images,
        test_images: a.test_images,
        augment: !a.no_augment,
        seed: a.seed,
        ..Default::default()
    };
    cfg.optimizer.lr = a.lr;
    cfg.model.bn_momentum = a.bn_momentum;
    cfg
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let db = a.nb101.as_deref().map(open_table).transpose()?;
    let (spec, origin) = resolve_cell(&a, db.as_deref())?;
    let hash = spec.hash().context("the cell is not a valid NB-101 cell")?;
    let cfg = config(&a);
    cfg.validate()?;
    let params = nasbench101::network::trainable_parameters(&spec, cfg.network)?;
    let nb101 = match (&a.nb101, &db) {
        (Some(path), Some(db)) => nb101_record(path, db, &hash)?,
        _ => None,
    };
    if a.dry_run {
        let out = serde_json::json!({
            "hash": hash.to_string(),
            "matrix": spec.original_matrix(),
            "ops": spec.original_ops(),
            "trainable_parameters": params,
            "origin": origin,
            "nb101": nb101,
            "config": cfg,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let device = pick_device(&a.device)?;
    tch::set_num_threads(a.threads.max(1));
    if !a.data.exists() {
        bail!(
            "CIFAR-10 folder {} does not exist: pass --data DIR (official binary layout), set \
             NB1S1_CIFAR10, or run `nb1s1 data` to fetch or import it",
            a.data.display()
        );
    }
    let set = nb1s1_data::Cifar10::load(&a.data)
        .with_context(|| format!("reading CIFAR-10 from {}", a.data.display()))?;
    let data = TrainData {
        train: Arc::new(set.train),
        test: Arc::new(set.test),
        source: a.data.display().to_string(),
    };
    eprintln!(
        "train: cell {hash}, {params} parameters, {} epochs on {} images, device {device:?}, \
         run folder {}",
        cfg.epochs,
        cfg.train_images,
        a.out.display()
    );
    let opts = TrainOptions {
        device,
        channels_last: None,
        progress: true,
        stop_after: a.stop_after,
        origin: Some(origin),
        nb101,
    };
    let out = train(&spec, &cfg, &data, &a.out, &opts)
        .with_context(|| format!("training into {}", a.out.display()))?;
    if let Some(r) = out.records.last() {
        println!(
            "epoch {}: valid accuracy {:.4}, test accuracy {:.4}{}",
            r.epoch + 1,
            r.valid_accuracy,
            r.test_accuracy,
            if out.complete {
                format!(
                    "; weights in {}",
                    a.out.join(standalone::run::MODEL_FILE).display()
                )
            } else {
                " (run again to continue)".to_string()
            }
        );
    }
    Ok(())
}
