//! `nb1s1 results`: the results store. `ingest` indexes run folders (idempotent, safe to run
//! concurrently), `query` answers the usual questions, `tensorboard` exports a run's epochs as
//! TensorBoard scalars.

use std::path::PathBuf;

use nb1s1_bench::analysis::Reference;
use nb1s1_bench::query::{self, Filter};
use nb1s1_bench::store::Store;
use nb1s1_bench::table::Format;

/// Arguments of `nb1s1 results`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Index every run folder (and correlation file) below the given folders.
    Ingest(IngestArgs),
    /// Answer a question as a table, CSV or JSON.
    Query(QueryArgs),
    /// Write TensorBoard event files from runs' epochs.jsonl (into RUN/tensorboard/); runs whose
    /// search already wrote live event files are skipped.
    Tensorboard(TensorboardArgs),
}

#[derive(clap::Args)]
struct Db {
    /// The results database (SQLite).
    #[arg(long, env = "NB1S1_RESULTS", default_value = "results.sqlite")]
    db: PathBuf,
}

#[derive(clap::Args)]
struct IngestArgs {
    #[command(flatten)]
    db: Db,
    /// Folders holding run folders (searched recursively).
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Question {
    /// Final regret per optimizer, grid point and space: mean and standard error over seeds.
    FinalRegret,
    /// The best final architecture per optimizer and space.
    Best,
    /// Every run with its status.
    Runs,
}

#[derive(clap::Args)]
struct QueryArgs {
    #[command(flatten)]
    db: Db,
    /// What to ask.
    #[arg(value_enum, default_value = "final-regret")]
    question: Question,
    /// table, csv or json.
    #[arg(long, default_value = "table")]
    format: Format,
    /// Only this optimizer.
    #[arg(long)]
    optimizer: Option<String>,
    /// Only this search space.
    #[arg(long)]
    space: Option<u8>,
    /// Regret reference: `exact` (as the runs recorded it) or `paper` (the original constants).
    #[arg(long, default_value = "exact")]
    reference: Reference,
}

#[derive(clap::Args)]
struct TensorboardArgs {
    /// One-shot run folders.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Ingest(a) => {
            let mut store = Store::open(&a.db.db)?;
            let mut failed = 0;
            for dir in &a.dirs {
                let s = store.ingest_dir(dir)?;
                eprintln!(
                    "{}: {} added, {} updated, {} unchanged, {} correlation files, {} zero-cost \
                     folders",
                    dir.display(),
                    s.added,
                    s.updated,
                    s.unchanged,
                    s.correlation_files,
                    s.zerocost
                );
                for (path, why) in &s.errors {
                    eprintln!("  skipped {}: {why}", path.display());
                }
                for (path, of) in &s.duplicates {
                    eprintln!(
                        "  counted once: {} is the same run as {of} (optimizer, variant, space, \
                         seed, configuration, NAS-Bench-101 table and device)",
                        path.display()
                    );
                }
                for path in &s.vanished {
                    eprintln!(
                        "  dropped {}: its folder or file is gone, its numbers are no longer \
                         counted",
                        path.display()
                    );
                }
                failed += s.errors.len();
            }
            if failed > 0 {
                anyhow::bail!("{failed} folders or files could not be ingested");
            }
            Ok(())
        }
        Command::Query(a) => {
            let store = Store::open_read_only(&a.db.db)?;
            let filter = Filter {
                optimizer: a.optimizer,
                space: a.space,
            };
            let table = match a.question {
                Question::FinalRegret => {
                    query::final_regret_table(&query::final_regrets(&store, &filter, a.reference)?)
                }
                Question::Best => query::best_table(&query::best_architectures(&store, &filter)?),
                Question::Runs => query::runs_table(&store, &filter)?,
            };
            print!("{}", table.render(a.format));
            Ok(())
        }
        Command::Tensorboard(a) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            for run in &a.runs {
                // Runs of `nb1s1 search` write their events live; exporting them again would
                // show every scalar twice.
                if let Some(live) = nb1s1_bench::tensorboard::live_event_files(run).first() {
                    eprintln!(
                        "skipped {}: the search wrote its events live ({})",
                        run.display(),
                        live.display()
                    );
                    continue;
                }
                let path = nb1s1_bench::tensorboard::write_run_events(run, now)?;
                eprintln!("wrote {}", path.display());
            }
            Ok(())
        }
    }
}
