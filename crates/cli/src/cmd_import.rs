//! `nb1s1 import original DIR... --nb101 FILE --out ROOT`: run folders of the original
//! NAS-Bench-1Shot1 code (`config.json`, `one_shot_architecture_<e>.obj`) as nb1s1 run folders,
//! discretized and looked up as `nb1s1 search` does, for `nb1s1 results ingest` and the report.

use std::path::PathBuf;

use clap::Subcommand;
use record::{import_folder, ImportOptions, Lookup};
use searchspace::TopKTies;

/// Arguments of `nb1s1 import`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// Run folders of the original code (and forks in its layout): one run folder each under
    /// --out, named after the input folder; re-running continues and adds no duplicates.
    Original(OriginalArgs),
}

#[derive(clap::Args)]
struct OriginalArgs {
    /// Folders holding `config.json` and `one_shot_architecture_<epoch>.obj`.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// The NAS-Bench-101 file (official tfrecord or converted store).
    #[arg(long, env = "NB1S1_NB101")]
    nb101: PathBuf,
    /// Where the run folders go.
    #[arg(long)]
    out: PathBuf,
    /// The method's name (default: `optimizer`/`method` in config.json, else the folder after
    /// `experiments/` in its `save` path).
    #[arg(long)]
    method: Option<String>,
    /// The seed (default: config.json `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Break ties among equal edge weights as the original's `np.argpartition` did (the default
    /// takes the lower index, as `nb1s1 search`).
    #[arg(long)]
    argpartition_ties: bool,
    /// Regret against the paper's constants instead of the table's own minima.
    #[arg(long)]
    original_reference: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let What::Original(a) = args.what;
    let mut lookup = Lookup::open(&a.nb101)?;
    let opts = ImportOptions {
        method: a.method,
        seed: a.seed,
        ties: match a.argpartition_ties {
            true => TopKTies::Argpartition,
            false => TopKTies::LowerIndex,
        },
        original_reference: a.original_reference,
    };
    for dir in &a.dirs {
        let got = import_folder(dir, &a.out, &mut lookup, &opts)?;
        eprintln!(
            "{} -> {}: {} space {} seed {}: {} epochs imported, {} already there",
            dir.display(),
            got.out.display(),
            got.method,
            got.space,
            got.seed,
            got.recorded,
            got.kept
        );
        println!("{}", got.out.display());
    }
    Ok(())
}
