//! `nb1s1 demo`: the quick start's main job. It chains the real subcommands (each as a child
//! process of this binary, so every step is exactly what a user would type):
//! CIFAR-10 import → NAS-Bench-101 data (the official file when present, else a SYNTHETIC table
//! of the space, labelled as such) → a short one-shot search with anytime NB-101 evaluation →
//! black-box baselines on the same table (seconds) → results store and HTML report, so every
//! page of the first report compares methods.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

/// The demo's black-box baselines, their seeds and their queries per run. More queries than
/// regularized evolution's population of 100, whose first 100 are random samples: with 100,
/// RE's curve would be random search's.
const DEMO_BASELINES: &str = "rs,re";
const DEMO_BASELINE_SEEDS: &str = "0..3";
const DEMO_BASELINE_QUERIES: usize = 300;

/// Arguments of `nb1s1 demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Folder for everything the demo writes (run, results database, report).
    #[arg(long, default_value = "runs/demo")]
    out: PathBuf,
    /// Run configuration of the search.
    #[arg(long, default_value = "configs/demo.toml")]
    config: PathBuf,
    /// One-shot optimizer (overrides the config).
    #[arg(long)]
    optimizer: Option<String>,
    /// Search space 1, 2 or 3.
    #[arg(long, default_value_t = 3)]
    space: u8,
    /// Epochs of search (overrides the config).
    #[arg(long)]
    epochs: Option<usize>,
    /// CIFAR-10 in the official binary layout; imported from --cifar-archive when missing.
    #[arg(long, env = "NB1S1_CIFAR10", default_value = "data/cifar10")]
    data: PathBuf,
    /// Image-folder tree or .tar.gz to import CIFAR-10 from when --data holds no binary set
    /// (default: ../shared/data/cifar10-jpeg.tar.gz when it exists).
    #[arg(long)]
    cifar_archive: Option<PathBuf>,
    /// NAS-Bench-101 file (store or tfrecord). Default: data/nasbench_only108.{store,tfrecord}
    /// or data/nasbench_full.{store,tfrecord}; else a SYNTHETIC table of the space is made.
    #[arg(long, env = "NB1S1_NB101")]
    nb101: Option<PathBuf>,
    /// Start the search from scratch even if --out holds an earlier run.
    #[arg(long)]
    fresh: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the nb1s1 binary")?;
    let step = |n: usize, what: &str| eprintln!("\n== demo step {n}/5: {what}");

    step(1, "CIFAR-10");
    ensure_cifar10(&exe, &args)?;

    step(2, "NAS-Bench-101");
    let (nb101, synthetic) = ensure_nb101(&exe, &args)?;

    step(3, "one-shot search with anytime NAS-Bench-101 evaluation");
    let run_dir = args.out.join("search");
    let resume = !args.fresh && run_dir.join("config.toml").exists();
    if args.fresh && run_dir.exists() {
        std::fs::remove_dir_all(&run_dir)
            .with_context(|| format!("removing the earlier run {}", run_dir.display()))?;
    }
    let mut search = vec!["search".to_string(), "--out".into(), path_arg(&run_dir)];
    if resume {
        eprintln!(
            "resuming the run in {} (pass --fresh to start over)",
            run_dir.display()
        );
        search.push("--resume".into());
    } else {
        search.extend(["--config".into(), path_arg(&args.config)]);
        search.extend(["--space".into(), args.space.to_string()]);
        if let Some(o) = &args.optimizer {
            search.extend(["--optimizer".into(), o.clone()]);
        }
    }
    if let Some(e) = args.epochs {
        search.extend(["--epochs".into(), e.to_string()]);
    }
    search.extend(["--data".into(), path_arg(&args.data)]);
    search.extend(["--nb101".into(), path_arg(&nb101)]);
    run_step(&exe, &search)?;

    step(4, "black-box baselines on the same table");
    // Random search and regularized evolution over a few seeds cost seconds on a tabular
    // benchmark; the report then has a comparison on every page. Finished seeds are kept.
    run_step(
        &exe,
        &[
            "blackbox",
            "--optimizer",
            DEMO_BASELINES,
            "--space",
            &args.space.to_string(),
            "--seeds",
            DEMO_BASELINE_SEEDS,
            "--queries",
            &DEMO_BASELINE_QUERIES.to_string(),
            "--nb101",
            &path_arg(&nb101),
            "--out",
            &path_arg(&args.out.join("blackbox")),
        ],
    )?;

    step(5, "results store and report");
    let db = args.out.join("results.sqlite");
    let report = args.out.join("report");
    run_step(
        &exe,
        &[
            "results",
            "ingest",
            &path_arg(&args.out),
            "--db",
            &path_arg(&db),
        ],
    )?;
    run_step(
        &exe,
        &[
            "report",
            "--results",
            &path_arg(&db),
            "--out",
            &path_arg(&report),
        ],
    )?;

    println!("\nDemo finished.");
    if synthetic {
        println!(
            "NOTE: NAS-Bench-101 values are SYNTHETIC ({}): put the official \
             nasbench_only108.tfrecord in data/ (nb1s1 data fetch nb101) for real regrets.",
            nb101.display()
        );
    }
    println!("  run folder:       {}", run_dir.display());
    println!(
        "  per-epoch record: {}",
        run_dir.join("epochs.jsonl").display()
    );
    println!(
        "  black-box runs:   {} ({DEMO_BASELINES}, seeds {DEMO_BASELINE_SEEDS})",
        args.out.join("blackbox").display()
    );
    println!("  results database: {}", db.display());
    println!(
        "  report:           {}",
        report.join("index.html").display()
    );
    Ok(())
}

fn path_arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Runs `nb1s1 <args>` with inherited output; a failure names the step.
fn run_step<S: AsRef<str>>(exe: &Path, args: &[S]) -> anyhow::Result<()> {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    eprintln!("$ nb1s1 {}", args.join(" "));
    let status = Command::new(exe)
        .args(&args)
        .status()
        .with_context(|| format!("starting `nb1s1 {}`", args.join(" ")))?;
    if !status.success() {
        bail!("`nb1s1 {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

fn ensure_cifar10(exe: &Path, args: &Args) -> anyhow::Result<()> {
    if args.data.join("data_batch_1.bin").exists() && args.data.join("test_batch.bin").exists() {
        eprintln!("using CIFAR-10 in {}", args.data.display());
        return Ok(());
    }
    let archive = match &args.cifar_archive {
        Some(a) => a.clone(),
        None => {
            let shared = workspace_root().join("../shared/data/cifar10-jpeg.tar.gz");
            if !shared.exists() {
                bail!(
                    "no CIFAR-10 binary set in {} and no archive to import: run \
                     `nb1s1 data fetch cifar10 --out data` (then pass --data data/cifar-10-batches-bin) \
                     or pass --cifar-archive <folder or .tar.gz>",
                    args.data.display()
                );
            }
            shared
        }
    };
    if !archive.exists() {
        bail!("CIFAR-10 archive {} does not exist", archive.display());
    }
    run_step(
        exe,
        &[
            "data",
            "import-folder",
            &path_arg(&archive),
            "--out",
            &path_arg(&args.data),
        ],
    )
}

/// The workspace root: `NB1S1_ROOT` (exported by scripts/env.sh), else the current directory.
fn workspace_root() -> PathBuf {
    std::env::var_os("NB1S1_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Returns the NB-101 file to use and whether it is synthetic.
fn ensure_nb101(exe: &Path, args: &Args) -> anyhow::Result<(PathBuf, bool)> {
    if let Some(p) = &args.nb101 {
        if !p.exists() {
            bail!("NAS-Bench-101 file {} does not exist", p.display());
        }
        eprintln!("using NAS-Bench-101 data {}", p.display());
        return Ok((p.clone(), false));
    }
    for name in ["nasbench_only108", "nasbench_full"] {
        let store = Path::new("data").join(format!("{name}.store"));
        let tfrecord = Path::new("data").join(format!("{name}.tfrecord"));
        if store.exists() {
            match nasbench101::Nb101::open(&store) {
                Ok(_) => {
                    eprintln!("using NAS-Bench-101 store {}", store.display());
                    return Ok((store, false));
                }
                // A store this build cannot read (e.g. an older format) is rebuilt from its
                // tfrecord when that is at hand.
                Err(e) if tfrecord.exists() => eprintln!("{e}"),
                Err(e) => return Err(e.into()),
            }
        }
        if tfrecord.exists() {
            eprintln!("converting {} into {}", tfrecord.display(), store.display());
            run_step(
                exe,
                &["nb101", "convert", &path_arg(&tfrecord), &path_arg(&store)],
            )?;
            return Ok((store, false));
        }
    }
    let store = PathBuf::from(format!("data/synthetic-space{}.store", args.space));
    if store.exists() {
        match nasbench101::Nb101::open(&store) {
            Ok(_) => {
                eprintln!(
                    "no official NAS-Bench-101 file found: using the SYNTHETIC {}",
                    store.display()
                );
                return Ok((store, true));
            }
            Err(e) => eprintln!("{e}; building it again"),
        }
    }
    eprintln!(
        "no official NAS-Bench-101 file found (data/nasbench_only108.tfrecord): generating a \
         SYNTHETIC table of every unique model of space {}",
        args.space
    );
    std::fs::create_dir_all("data").context("creating data/")?;
    let tfrecord = PathBuf::from(format!("data/synthetic-space{}.tfrecord", args.space));
    let space = args.space.to_string();
    eprintln!(
        "$ nb1s1 space enumerate --space {space} --unique --json | nb1s1 nb101 generate --specs - --budgets 108 --out {}",
        tfrecord.display()
    );
    let mut enumerate = Command::new(exe)
        .args([
            "space",
            "enumerate",
            "--space",
            &space,
            "--unique",
            "--json",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .context("starting `nb1s1 space enumerate`")?;
    let specs = enumerate
        .stdout
        .take()
        .context("capturing the output of `nb1s1 space enumerate`")?;
    let generate = Command::new(exe)
        .args([
            "nb101",
            "generate",
            "--specs",
            "-",
            "--budgets",
            "108",
            "--out",
        ])
        .arg(&tfrecord)
        .stdin(specs)
        .status()
        .context("starting `nb1s1 nb101 generate`")?;
    let enumerated = enumerate
        .wait()
        .context("waiting for `nb1s1 space enumerate`")?;
    if !enumerated.success() || !generate.success() {
        bail!("building the synthetic NAS-Bench-101 table failed (enumerate: {enumerated}, generate: {generate})");
    }
    run_step(
        exe,
        &["nb101", "convert", &path_arg(&tfrecord), &path_arg(&store)],
    )?;
    std::fs::remove_file(&tfrecord)
        .with_context(|| format!("removing the intermediate {}", tfrecord.display()))?;
    Ok((store, true))
}
