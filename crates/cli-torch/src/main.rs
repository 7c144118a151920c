//! `nb1s1-torch`: the `nb1s1` command line with the commands that need libtorch (`search`,
//! `correlation`, `demo`, `experiment`, `train`, `tune`, `zerocost`). It also runs every tabular command ([`nb1s1::Command`]), so it is a
//! complete CLI on its own; users call `nb1s1`, which hands the torch commands over to this
//! binary when it sits next to it (or where `NB1S1_TORCH_BIN` says).

mod cmd_correlation;
mod cmd_demo;
mod cmd_experiment;
mod cmd_search;
mod cmd_train;
mod cmd_tune;
mod cmd_zerocost;
mod torch_runtime;

use clap::{Parser, Subcommand};

/// Benchmarks and dissects one-shot neural architecture search (NAS-Bench-1Shot1), with the
/// libtorch commands.
#[derive(Parser)]
#[command(name = "nb1s1-torch", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Tabular(nb1s1::Command),
    /// Run a one-shot architecture search with anytime NAS-Bench-101 evaluation.
    Search(cmd_search::Args),
    /// Correlation of one-shot and NAS-Bench-101 errors over a run's checkpoints (spec §4.3).
    Correlation(cmd_correlation::Args),
    /// The main job of the quick start: a short search end to end, with its report.
    Demo(cmd_demo::Args),
    /// Run experiment files (optimizers x spaces x seeds x hyperparameters).
    Experiment(cmd_experiment::Args),
    /// Train the NB-101 network of one cell from scratch (NB-101 protocol or a proxy).
    Train(cmd_train::Args),
    /// BOHB over a one-shot optimizer's hyperparameters, each evaluation a search run.
    Tune(Box<cmd_tune::Args>),
    /// Zero-cost proxies of a space's cells (or given cells) at initialization, resumable.
    Zerocost(cmd_zerocost::Args),
    /// One evaluation of a tuning rung as a Slurm array element (written by `tune --backend slurm`).
    #[command(hide = true)]
    TuneTask(cmd_tune::TaskArgs),
}

fn main() -> std::process::ExitCode {
    nb1s1::init_tracing();
    let result = match Cli::parse().command {
        Command::Tabular(c) => c.run(),
        Command::Search(a) => cmd_search::run(a),
        Command::Correlation(a) => cmd_correlation::run(a),
        Command::Demo(a) => cmd_demo::run(a),
        Command::Experiment(a) => cmd_experiment::run(a),
        Command::Train(a) => cmd_train::run(a),
        Command::Tune(a) => cmd_tune::run(*a),
        Command::TuneTask(a) => cmd_tune::task(a),
        Command::Zerocost(a) => cmd_zerocost::run(a),
    };
    nb1s1::exit_code(result)
}
