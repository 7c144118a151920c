//! `nb1s1 data`: download NAS-Bench-101 and CIFAR-10 (resumable, checksum-verified), import
//! image folders into the CIFAR-10 binary layout, and measure the data pipeline's speed.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use nb1s1_data::bench::{import_time, loader_throughput, synthetic_split, Measurement};
use nb1s1_data::fetch::{
    fetch_cifar10, fetch_nb101, CIFAR10_BASE_URL, CIFAR10_MD5, NB101_BASE_URL,
};
use nb1s1_data::{Augment, Checksum, Cifar10, DownloadOptions};

/// Data sets: download (NAS-Bench-101, CIFAR-10), import image folders, time the loader.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(clap::Subcommand)]
enum DataCommand {
    /// Download a data set (resumes an interrupted download; verifies the published checksum).
    Fetch(FetchArgs),
    /// Convert `train/<class>/*` and `test/<class>/*` images (a folder or a .tar.gz) into the
    /// CIFAR-10 binary layout plus an `import.json` manifest.
    ImportFolder(ImportArgs),
    /// Measure loader throughput with full augmentation, and optionally import time.
    Bench(BenchArgs),
}

#[derive(clap::Args)]
struct FetchArgs {
    #[command(subcommand)]
    what: FetchWhat,
    /// Extra attempts (each resumes) after an interrupted transfer.
    #[arg(long, default_value_t = 3, global = true)]
    retries: u32,
}

#[derive(clap::Subcommand)]
enum FetchWhat {
    /// NAS-Bench-101: `nasbench_only108.tfrecord` (~499 MB), or with `--full` the full file
    /// (~1.95 GB), checked against the published SHA-256.
    Nb101 {
        /// Download `nasbench_full.tfrecord` (all epoch budgets) instead.
        #[arg(long)]
        full: bool,
        /// Folder to download into.
        #[arg(long, default_value = "data")]
        out: PathBuf,
        /// Base URL (a mirror, or a local server in tests).
        #[arg(long, default_value = NB101_BASE_URL)]
        url: String,
    },
    /// CIFAR-10: the official `cifar-10-binary.tar.gz`, checked against its published MD5 and
    /// unpacked into `<out>/cifar-10-batches-bin/`.
    Cifar10 {
        /// Folder to download and unpack into.
        #[arg(long, default_value = "data")]
        out: PathBuf,
        /// Base URL (a mirror, or a local server in tests).
        #[arg(long, default_value = CIFAR10_BASE_URL)]
        url: String,
        /// Expected MD5 of the archive (defaults to the published one).
        #[arg(long, default_value = CIFAR10_MD5)]
        md5: String,
    },
}

#[derive(clap::Args)]
struct ImportArgs {
    /// Folder with `train/` and `test/`, or a `.tar.gz` archive of such a tree.
    root: PathBuf,
    /// Output folder (created): `data_batch_1..5.bin`, `test_batch.bin`, `import.json`.
    #[arg(long)]
    out: PathBuf,
    /// Seed of the shuffle of the training images (recorded in `import.json`).
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(clap::Args)]
struct BenchArgs {
    /// CIFAR-10 binary folder to load from; random images of the same shape otherwise.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Batch size.
    #[arg(long, default_value_t = 96)]
    batch: usize,
    /// Batches to time.
    #[arg(long, default_value_t = 300)]
    batches: usize,
    /// Cutout length (0 disables Cutout); applied with probability 1.
    #[arg(long, default_value_t = 16)]
    cutout: usize,
    /// Also time a full import of this folder or .tar.gz (into a temporary folder).
    #[arg(long)]
    import: Option<PathBuf>,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        DataCommand::Fetch(a) => fetch(a),
        DataCommand::ImportFolder(a) => import_folder(a),
        DataCommand::Bench(a) => bench(a),
    }
}

fn fetch(args: FetchArgs) -> anyhow::Result<()> {
    let options = DownloadOptions {
        retries: args.retries,
        ..DownloadOptions::default()
    };
    match args.what {
        FetchWhat::Nb101 { full, out, url } => {
            let path = fetch_nb101(full, &url, &out, &options)?;
            println!("{} (SHA-256 verified)", path.display());
        }
        FetchWhat::Cifar10 { out, url, md5 } => {
            let dir = fetch_cifar10(&url, &out, &Checksum::Md5(md5), &options)?;
            println!("{} (MD5 verified, batches load)", dir.display());
        }
    }
    Ok(())
}

fn import_folder(args: ImportArgs) -> anyhow::Result<()> {
    let bar = ProgressBar::new(0);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} images {per_sec} eta {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    let manifest = nb1s1_data::import(&args.root, &args.out, args.seed, &bar)
        .with_context(|| format!("importing {}", args.root.display()))?;
    bar.finish_and_clear();
    println!(
        "{}: {} train + {} test images ({} PNG, {} JPEG, {} other files skipped), seed {}",
        args.out.display(),
        manifest.train,
        manifest.test,
        manifest.png,
        manifest.jpeg,
        manifest.skipped,
        manifest.seed
    );
    if manifest.lossy {
        eprintln!("note: {}", manifest.note);
    }
    Ok(())
}

fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let train = match &args.data {
        Some(dir) => Cifar10::load(dir)?.train,
        None => synthetic_split(50_000, 0),
    };
    let mut augment = Augment::darts();
    if args.cutout > 0 {
        augment = augment.with_cutout(args.cutout, 1.0);
    }
    let mut results: Vec<Measurement> = Vec::new();
    let bar = ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar.set_message("timing the loader");
    results.push(loader_throughput(
        Arc::new(train),
        args.batch,
        args.batches,
        augment,
    )?);
    if let Some(src) = &args.import {
        bar.set_message("timing the import");
        let tmp = std::env::temp_dir().join(format!("nb1s1-data-bench-{}", std::process::id()));
        let measured = import_time(src, &tmp, 0);
        let _ = std::fs::remove_dir_all(&tmp);
        results.push(measured?);
    }
    bar.finish_and_clear();
    let threads = nb1s1_data::loader::augment_threads();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        for m in &results {
            println!(
                "{}: {} images in {:.3} s = {:.0} images/s ({threads} threads)",
                m.what, m.images, m.seconds, m.images_per_sec
            );
        }
    }
    Ok(())
}
