//! `nb1s1 space`: counts, enumeration and exhaustive statistics of search spaces 1-3.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Subcommand;
use searchspace::{ModelIndex, SearchSpace, SpaceId, SpaceTable};
use serde_json::json;

/// Arguments of `nb1s1 space`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: SpaceCommand,
}

#[derive(Subcommand)]
enum SpaceCommand {
    /// Counts of a space: raw configurations, the paper's count, unique NB-101 models.
    Info(InfoArgs),
    /// List every configuration (or, with --unique, one per NB-101 model).
    Enumerate(EnumerateArgs),
    /// Every unique model of a space looked up in NAS-Bench-101: best models, distribution,
    /// regret references next to the original constants.
    Stats(StatsArgs),
}

#[derive(clap::Args)]
struct InfoArgs {
    /// Search space: 1, 2 or 3.
    #[arg(long)]
    space: SpaceId,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct EnumerateArgs {
    /// Search space: 1, 2 or 3.
    #[arg(long)]
    space: SpaceId,
    /// One line per unique NB-101 model (its first configuration) instead of every configuration.
    #[arg(long)]
    unique: bool,
    /// JSON lines with the architecture, hash and pruned NB-101 "matrix" and "ops" (pipe into
    /// `nb1s1 nb101 generate --specs -`).
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct StatsArgs {
    /// Search space: 1, 2 or 3.
    #[arg(long)]
    space: SpaceId,
    /// NAS-Bench-101 file: a store or an official tfrecord.
    #[arg(long)]
    nb101: PathBuf,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write every unique model (hash, configurations, architecture, per-repeat and mean
    /// accuracies at every budget) as JSON lines to this file.
    #[arg(long)]
    models: Option<PathBuf>,
    /// Also write the exact regret reference (JSON) to this file, for reuse by benchmarks.
    #[arg(long)]
    reference_out: Option<PathBuf>,
    /// Histogram bins.
    #[arg(long, default_value_t = 20)]
    bins: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        SpaceCommand::Info(a) => info(a),
        SpaceCommand::Enumerate(a) => ignore_broken_pipe(enumerate(a)),
        SpaceCommand::Stats(a) => stats(a),
    }
}

/// A closed stdout (e.g. `| head`) ends the listing quietly.
fn ignore_broken_pipe(r: anyhow::Result<()>) -> anyhow::Result<()> {
    match r {
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(())
        }
        other => other,
    }
}

fn info(a: InfoArgs) -> anyhow::Result<()> {
    let sp = SearchSpace::new(a.space);
    let index = ModelIndex::build(&sp);
    let v = json!({
        "space": sp.id(),
        "choice_blocks": sp.num_choice_blocks(),
        "parents_per_node": sp.parents_per_node(),
        "parent_configurations": sp.parent_configurations(),
        "raw_configurations": sp.raw_configurations(),
        "paper_count": sp.paper_count(),
        "unique_nb101_models": index.models().len(),
        "architecture_weights": sp.num_architecture_weights(),
    });
    if a.json {
        println!("{v}");
        return Ok(());
    }
    println!("search space {}", sp.id());
    println!("  choice blocks             {}", sp.num_choice_blocks());
    println!("  parents per node (1..out) {:?}", sp.parents_per_node());
    println!("  raw configurations        {}", sp.raw_configurations());
    println!("  paper's count rule        {}", sp.paper_count());
    if sp.id() == SpaceId::Two {
        println!("    (the paper prints 29160 for space 2: the raw count, not this rule)");
    }
    println!("  unique NB-101 models      {}", index.models().len());
    println!(
        "  architecture weights      {}",
        sp.num_architecture_weights()
    );
    Ok(())
}

fn enumerate(a: EnumerateArgs) -> anyhow::Result<()> {
    let sp = SearchSpace::new(a.space);
    let index = ModelIndex::build(&sp);
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let line = |config: u64, model: u32, out: &mut dyn Write| -> anyhow::Result<()> {
        let (Some(arch), Some(m)) = (sp.configuration(config), index.models().get(model as usize))
        else {
            return Ok(());
        };
        if a.json {
            let g = arch.pruned_graph()?;
            let v = json!({
                "configuration": config,
                "architecture": arch,
                "hash": m.hash.to_string(),
                "matrix": g.matrix(),
                "ops": g.op_names(),
            });
            writeln!(out, "{v}")?;
        } else {
            let ops: Vec<&str> = arch.ops.iter().map(|&o| searchspace::op_name(o)).collect();
            writeln!(
                out,
                "{config}\t{}\t{}\t{:?}",
                m.hash,
                ops.join(","),
                arch.parents
            )?;
        }
        Ok(())
    };
    if a.unique {
        for (id, m) in index.models().iter().enumerate() {
            line(m.representative, id as u32, &mut out)?;
        }
    } else {
        for (config, &model) in index.config_to_model().iter().enumerate() {
            line(config as u64, model, &mut out)?;
        }
    }
    out.flush()?;
    Ok(())
}

fn stats(a: StatsArgs) -> anyhow::Result<()> {
    let nb = nasbench101::Nb101::open(&a.nb101)
        .with_context(|| format!("opening {}", a.nb101.display()))?;
    let start = Instant::now();
    let sp = SearchSpace::new(a.space);
    let table = SpaceTable::build(&sp, &nb)?;
    let stats = table.stats(a.bins);
    let elapsed = start.elapsed().as_secs_f64();
    eprintln!(
        "space {}: {} configurations hashed, looked up and aggregated in {elapsed:.3} s",
        sp.id(),
        sp.raw_configurations()
    );
    if let Some(path) = &a.models {
        let mut buf = Vec::new();
        for m in table.model_stats() {
            serde_json::to_writer(&mut buf, &m)?;
            buf.push(b'\n');
        }
        nasbench101::atomic_write(path, &buf)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &a.reference_out {
        let mut buf = serde_json::to_vec_pretty(&stats.reference)?;
        buf.push(b'\n');
        nasbench101::atomic_write(path, &buf)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&stats)?);
        return Ok(());
    }
    println!(
        "search space {} against {}{}",
        stats.space,
        stats.nb101_file,
        if stats.synthetic { " (SYNTHETIC)" } else { "" }
    );
    println!(
        "  configurations {}   unique NB-101 models {}   missing from file {}",
        stats.raw_configurations, stats.unique_nb101_models, stats.missing_models
    );
    println!("  budget {} epochs", stats.epochs);
    println!();
    println!(
        "  {:<13} {:<34} {:>10} {:>10} {:>10}",
        "best by", "hash", "error", "mean test", "mean valid"
    );
    for b in &stats.best {
        // Padding needs the hex as a String (Display of the hash ignores width).
        let hash = b.hash.to_string();
        println!(
            "  {:<13} {hash:<34} {:>10.6} {:>10.6} {:>10.6}",
            b.criterion, b.error, b.mean_test_error, b.mean_valid_error
        );
    }
    println!();
    println!("  regret reference         exact        original     difference");
    let r = &stats.reference;
    let o = &stats.original;
    println!(
        "  min test error (1 run)   {:<12.9} {:<12.9} {:+.9}",
        r.min_test_error, o.min_test_error, stats.difference.test
    );
    println!(
        "  min valid error (1 run)  {:<12.9} {:<12.9} {:+.9}",
        r.min_valid_error, o.min_valid_error, stats.difference.valid
    );
    if let (Some(t), Some(v)) = (r.min_mean_test_error, r.min_mean_valid_error) {
        println!("  min mean test error      {t:<12.9}");
        println!("  min mean valid error     {v:<12.9}");
    }
    println!();
    println!("  mean test error quantiles");
    for (q, e) in &stats.quantiles {
        println!("    q{q:<5} {e:.6}");
    }
    println!();
    println!("  histogram of mean test error");
    let h = &stats.histogram;
    let max = h.counts.iter().copied().max().unwrap_or(1).max(1);
    let width = (h.hi - h.lo) / h.counts.len().max(1) as f64;
    for (i, &c) in h.counts.iter().enumerate() {
        let lo = h.lo + width * i as f64;
        let bar = "#".repeat(((c as f64 / max as f64) * 50.0).round() as usize);
        println!("    [{lo:.4}, {:.4}) {c:>7} {bar}", lo + width);
    }
    Ok(())
}
