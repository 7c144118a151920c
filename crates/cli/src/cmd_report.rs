//! `nb1s1 report`: a static HTML report with SVG plots, one page per study, from the results
//! database; readable in a browser without a network.

use std::path::PathBuf;

use nb1s1_bench::analysis::Reference;
use nb1s1_bench::report::{self, ReportOptions};
use nb1s1_bench::store::Store;

/// Arguments of `nb1s1 report`.
#[derive(clap::Args)]
pub struct Args {
    /// The results database (fill it with `nb1s1 results ingest`).
    #[arg(long, env = "NB1S1_RESULTS", default_value = "results.sqlite")]
    results: PathBuf,
    /// Output folder (index.html, one page per study, data.json).
    #[arg(long, default_value = "report")]
    out: PathBuf,
    /// Regret reference: `exact` (as the runs recorded it) or `paper` (the original constants).
    #[arg(long, default_value = "exact")]
    reference: Reference,
    /// Plot size in pixels, WIDTHxHEIGHT.
    #[arg(long, default_value = "560x360")]
    size: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if !args.results.exists() {
        anyhow::bail!(
            "{}: no results database (run `nb1s1 results ingest DIR --db {}` first)",
            args.results.display(),
            args.results.display()
        );
    }
    let (w, h) = args
        .size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .ok_or_else(|| anyhow::anyhow!("--size {}: expected WIDTHxHEIGHT", args.size))?;
    // Read-only: the report never changes the database it reads (which may be another
    // program's SQLite file).
    let store = Store::open_read_only(&args.results)?;
    let pages = report::write_report(
        &store,
        &args.out,
        &ReportOptions {
            reference: args.reference,
            plot_width: w,
            plot_height: h,
        },
    )?;
    for p in &pages {
        eprintln!("{} ({} plots)", args.out.join(&p.file).display(), p.plots);
    }
    println!("{}", args.out.join("index.html").display());
    Ok(())
}
