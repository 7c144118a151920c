//! `nb1s1`: the command-line front end of the workspace. Each subcommand lives in its own module
//! (`cmd_*.rs`) with a clap `Args` type and a `run` function; this file only dispatches.

mod cmd_blackbox;
mod cmd_correlation;
mod cmd_data;
mod cmd_demo;
mod cmd_experiment;
mod cmd_nb101;
mod cmd_report;
mod cmd_results;
mod cmd_search;
mod cmd_space;
mod cmd_train;
mod torch_runtime;

use clap::{Parser, Subcommand};

/// Benchmarks and dissects one-shot neural architecture search (NAS-Bench-1Shot1).
#[derive(Parser)]
#[command(name = "nb1s1", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// NAS-Bench-101: convert, inspect, query, hash and validate.
    Nb101(cmd_nb101::Args),
    /// Search spaces 1-3 of NAS-Bench-1Shot1: counts, enumeration, exhaustive statistics.
    Space(cmd_space::Args),
    /// Run a black-box NAS optimizer on a search space against NAS-Bench-101.
    Blackbox(cmd_blackbox::Args),
    /// Data sets: download (NAS-Bench-101, CIFAR-10) and import image folders.
    Data(cmd_data::Args),
    /// Run a one-shot architecture search with anytime NAS-Bench-101 evaluation.
    Search(cmd_search::Args),
    /// Train the NB-101 network of one cell from scratch (NB-101 protocol or a proxy).
    Train(cmd_train::Args),
    /// Correlation of one-shot and NAS-Bench-101 errors over a run's checkpoints (spec §4.3).
    Correlation(cmd_correlation::Args),
    /// Run experiment files (optimizers x spaces x seeds x hyperparameters).
    Experiment(cmd_experiment::Args),
    /// The results store: ingest run folders, answer queries.
    Results(cmd_results::Args),
    /// Write a static HTML report with the paper's plots.
    Report(cmd_report::Args),
    /// The main job of the quick start: a short search end to end, with its report.
    Demo(cmd_demo::Args),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NB1S1_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Nb101(a) => cmd_nb101::run(a),
        Command::Space(a) => cmd_space::run(a),
        Command::Blackbox(a) => cmd_blackbox::run(a),
        Command::Data(a) => cmd_data::run(a),
        Command::Search(a) => cmd_search::run(a),
        Command::Train(a) => cmd_train::run(a),
        Command::Correlation(a) => cmd_correlation::run(a),
        Command::Experiment(a) => cmd_experiment::run(a),
        Command::Results(a) => cmd_results::run(a),
        Command::Report(a) => cmd_report::run(a),
        Command::Demo(a) => cmd_demo::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
