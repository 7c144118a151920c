//! `nb1s1`: the command-line front end of the workspace, without libtorch. The tabular commands
//! run here ([`nb1s1::Command`]); the torch commands are handed over to `nb1s1-torch`
//! ([`nb1s1::handoff`]), so every command is still called as `nb1s1 <command>`.

use clap::{Parser, Subcommand};
use nb1s1::handoff::{hand_over, HandOff};

/// Benchmarks and dissects one-shot neural architecture search (NAS-Bench-1Shot1).
#[derive(Parser)]
#[command(name = "nb1s1", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Tabular(nb1s1::Command),
    /// Run a one-shot architecture search with anytime NAS-Bench-101 evaluation [nb1s1-torch].
    #[command(disable_help_flag = true)]
    Search(HandOff),
    /// Correlation of one-shot and NAS-Bench-101 errors over a run's checkpoints (spec §4.3)
    /// [nb1s1-torch].
    #[command(disable_help_flag = true)]
    Correlation(HandOff),
    /// The main job of the quick start: a short search end to end, with its report [nb1s1-torch].
    #[command(disable_help_flag = true)]
    Demo(HandOff),
    /// Run experiment files (optimizers x spaces x seeds x hyperparameters); resolving a run's
    /// configuration needs the one-shot config types [nb1s1-torch].
    #[command(disable_help_flag = true)]
    Experiment(HandOff),
    /// Train the NB-101 network of one cell from scratch (NB-101 protocol or a proxy) [nb1s1-torch].
    #[command(disable_help_flag = true)]
    Train(HandOff),
    /// BOHB over a one-shot optimizer's hyperparameters, each evaluation a search run
    /// [nb1s1-torch].
    #[command(disable_help_flag = true)]
    Tune(HandOff),
    /// Zero-cost proxies of a space's cells (or given cells) at initialization, resumable
    /// [nb1s1-torch].
    #[command(disable_help_flag = true)]
    Zerocost(HandOff),
}

fn main() -> std::process::ExitCode {
    nb1s1::init_tracing();
    let result = match Cli::parse().command {
        Command::Tabular(c) => c.run(),
        Command::Search(a) => hand_over("search", a),
        Command::Correlation(a) => hand_over("correlation", a),
        Command::Demo(a) => hand_over("demo", a),
        Command::Experiment(a) => hand_over("experiment", a),
        Command::Train(a) => hand_over("train", a),
        Command::Tune(a) => hand_over("tune", a),
        Command::Zerocost(a) => hand_over("zerocost", a),
    };
    nb1s1::exit_code(result)
}
