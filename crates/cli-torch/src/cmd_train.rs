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
use standalone::{train, TrainConfig, TrainData, TrainOptions};

/// Arguments of `nb1s1 train`.
#[derive(clap::Args)]
#[command(group(ArgGroup::new("cell").required(true).args(["spec", "hash", "from_run"])))]
pub struct Args {
    /// The cell as JSON: `{"matrix": [[0,1,..],..], "ops": ["input",..,"output"]}`.
    #[arg(long)]
    spec: Option<String>,
    /// A model of the NB-101 table by its hash (needs --nb101).
    #[arg(long, requires = "nb101")]
    hash: Option<String>,
    /// NB-101 data file (tfrecord or store) for --hash.
    #[arg(long, env = "NB1S1_NB101")]
    nb101: Option<PathBuf>,
    /// A one-shot search's run folder: trains the architecture its epochs.jsonl selected.
    #[arg(long)]
    from_run: Option<PathBuf>,
    /// Epoch of --from-run (default: the last recorded).
    #[arg(long, requires = "from_run")]
    epoch: Option<usize>,
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

fn spec_from_table(hash: &str, path: &Path) -> anyhow::Result<ModelSpec> {
    let h: ModelHash = hash
        .parse()
        .with_context(|| format!("--hash {hash}: not a 32-digit hex hash"))?;
    let db = Nb101::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let model = db
        .model(&h)
        .with_context(|| format!("{}: no model with hash {hash}", path.display()))?;
    model
        .spec()
        .with_context(|| format!("{}: model {hash}", path.display()))
}

/// The architecture a search run recorded for `epoch` (the last when `None`).
fn spec_from_run(run: &Path, epoch: Option<usize>) -> anyhow::Result<ModelSpec> {
    let path = run.join("epochs.jsonl");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let mut chosen = None;
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{}: line {}", path.display(), i + 1))?;
        let e = v["epoch"].as_u64().map(|e| e as usize);
        if epoch.is_none() || e == epoch {
            chosen = Some((i + 1, v));
        }
    }
    let Some((line, v)) = chosen else {
        bail!(
            "{}: no record{}",
            path.display(),
            epoch.map_or(String::new(), |e| format!(" of epoch {e}"))
        );
    };
    let arch: searchspace::Architecture = serde_json::from_value(v["architecture"].clone())
        .with_context(|| format!("{}: line {line}: field `architecture`", path.display()))?;
    arch.to_spec()
        .with_context(|| format!("{}: line {line}: the architecture", path.display()))
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
    let spec = match (&a.spec, &a.hash, &a.from_run) {
        (Some(json), _, _) => spec_from_json(json)?,
        (_, Some(h), _) => spec_from_table(h, a.nb101.as_deref().unwrap_or(Path::new("")))?,
        (_, _, Some(run)) => spec_from_run(run, a.epoch)?,
        _ => bail!("give the cell with --spec, --hash or --from-run"),
    };
    let hash = spec.hash().context("the cell is not a valid NB-101 cell")?;
    let cfg = config(&a);
    cfg.validate()?;
    let params = nasbench101::network::trainable_parameters(&spec, cfg.network)?;
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
