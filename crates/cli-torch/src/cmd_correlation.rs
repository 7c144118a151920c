//! `nb1s1 correlation`: the correlation between one-shot and stand-alone performance (spec §4.3
//! A). Loads the checkpoints of a search run, evaluates every unique architecture of its space
//! (or a seeded sample) on CIFAR-10 test images with the supernet's weights, and writes
//! `RUN/correlation/epoch<E>.jsonl` next to each architecture's NAS-Bench-101 errors;
//! `nb1s1 results ingest` turns the files into Spearman / Kendall correlations
//! (docs/oneshot.md, docs/report.md).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use oneshot::correlation::{correlate_run_on, read_run_meta, CorrelateOptions, EpochOutcome};
use oneshot::{CorrelationConfig, CorrelationSet, EvalMixing, Nb101Table};

/// Arguments of `nb1s1 correlation`.
#[derive(clap::Args)]
pub struct Args {
    /// Run folder of `nb1s1 search`.
    #[arg(long)]
    pub run: PathBuf,
    /// Epochs (0-based) to evaluate, e.g. 5,15,25; default: every checkpoint the run has
    /// (`checkpoints/epoch<E>/` kept by `keep_checkpoints`, or `checkpoints/one_shot_model_<e>/`
    /// under `faithful.record_at_epoch_start`, and the latest `checkpoint/`).
    #[arg(long, value_delimiter = ',')]
    pub epochs: Vec<usize>,
    /// Evaluate a seeded sample of N unique architectures instead of all of them.
    #[arg(long)]
    pub sample: Option<usize>,
    /// Seed of the sample.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Evaluate on M test images spread evenly over the split (every (10,000/M)-th; default:
    /// all 10,000, as the paper).
    #[arg(long)]
    pub images: Option<usize>,
    /// Test images per forward pass and architecture.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Architectures per forward pass (stacked along the batch axis); default 1 on CPU, 16 on
    /// CUDA.
    #[arg(long)]
    pub batch_archs: Option<usize>,
    /// one-hot (the discrete cell) or darts-softmax (the original's DARTS-family evaluation:
    /// softmax over one-hot ops, edges and output divided by their sums).
    #[arg(long, default_value = "one-hot")]
    pub mixing: String,
    /// Replicate the original's spaces-1/2 bug that zeroes node 4's output weight.
    #[arg(long)]
    pub gamma4_bug: bool,
    /// Evaluate the original enumerator's (incomplete) set of configurations, one point per
    /// NB-101 repeat, instead of every unique model.
    #[arg(long)]
    pub original_set: bool,
    /// BN recalibration (Pourchot et al. 2020): before each architecture's error, re-estimate
    /// the BatchNorm statistics on N batches of the run's weight-training images (one
    /// architecture per pass). Written as `correlation/epoch<E>-bn<N>.jsonl`, a series of its
    /// own; default: the running statistics, as the original.
    #[arg(long, value_name = "N")]
    pub bn_recalibrate: Option<usize>,
    /// Evaluate again epochs whose correlation file exists.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub torch: crate::cmd_search::TorchArgs,
    /// NAS-Bench-101 file; default: the one the run used (`run.json`).
    #[arg(long, env = "NB1S1_NB101")]
    pub nb101: Option<PathBuf>,
}

fn parse_mixing(s: &str) -> anyhow::Result<EvalMixing> {
    match s.to_ascii_lowercase().replace('_', "-").as_str() {
        "one-hot" | "onehot" => Ok(EvalMixing::OneHot),
        "darts-softmax" => Ok(EvalMixing::DartsSoftmax),
        other => bail!("--mixing {other}: expected one-hot or darts-softmax"),
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if !args.run.is_dir() {
        bail!(
            "--run {}: no such run folder (a folder written by `nb1s1 search --out`)",
            args.run.display()
        );
    }
    let mixing = parse_mixing(&args.mixing)?;
    if args.batch_size == 0 || args.batch_archs == Some(0) || args.sample == Some(0) {
        bail!("--batch-size, --batch-archs and --sample must be at least 1");
    }
    if let Some(n) = args.bn_recalibrate {
        oneshot::settings::bn_batches("--bn-recalibrate", n).map_err(anyhow::Error::msg)?;
    }
    let recorded = read_run_meta(&args.run)?.and_then(|m| m.nb101_path);
    let nb101 = match (&args.nb101, recorded) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => PathBuf::from(p),
        (None, None) => bail!(
            "no NAS-Bench-101 file: the run recorded none in run.json; pass --nb101 FILE (or set NB1S1_NB101)"
        ),
    };
    if !nb101.is_file() {
        bail!(
            "NAS-Bench-101 file {} does not exist (pass --nb101 FILE)",
            nb101.display()
        );
    }
    let device = args.torch.device()?;
    let table = Nb101Table::open(&nb101)?;
    if oneshot::Nb101Oracle::is_synthetic(&table) {
        eprintln!(
            "note: {} is a SYNTHETIC NAS-Bench-101 table: the correlations are not real",
            nb101.display()
        );
    }
    let data = crate::cmd_search::load_data(&args.torch.data)?;
    let settings = CorrelationConfig {
        epochs: args.epochs.clone(),
        sample: args.sample.unwrap_or(0),
        seed: args.seed,
        images: args.images.unwrap_or(0),
        batch_size: args.batch_size,
        batch_archs: args.batch_archs.unwrap_or(0),
        mixing,
        gamma4_bug: args.gamma4_bug,
        set: match args.original_set {
            true => CorrelationSet::Original,
            false => CorrelationSet::Unique,
        },
        bn_recalibration_batches: args.bn_recalibrate.unwrap_or(0),
    };
    let opts = CorrelateOptions {
        settings,
        force: args.force,
        device,
        progress: true,
    };
    let test = Arc::clone(&data.test);
    let outcomes = correlate_run_on(&args.run, &test, Some(&data.train), &table, &opts)
        .with_context(|| format!("correlation evaluation of {}", args.run.display()))?;
    for o in &outcomes {
        match o {
            EpochOutcome::Skipped { epoch, path } => eprintln!(
                "epoch {epoch}: {} exists, skipped (--force evaluates again)",
                path.display()
            ),
            EpochOutcome::Written { path, meta } => {
                eprintln!(
                    "epoch {}: {} architectures on {} images in {:.1} s ({:.2} architectures/s, {} per pass, {}){}",
                    meta.epoch,
                    meta.evaluated,
                    meta.images,
                    meta.eval_seconds,
                    meta.architectures_per_second,
                    meta.batch_archs,
                    meta.device,
                    if meta.missing_from_table > 0 {
                        format!(
                            "; {} of {} architectures are not in the NB-101 table and were skipped",
                            meta.missing_from_table, meta.candidates
                        )
                    } else {
                        String::new()
                    }
                );
                println!("{}", path.display());
            }
        }
    }
    Ok(())
}
