//! The torch-free half of the `nb1s1` command line: every tabular subcommand (NAS-Bench-101,
//! spaces, black-box optimizers, data sets, results, reports, imports) as one module each
//! (`cmd_*.rs`, a clap `Args` type and a `run` function), gathered in [`Command`].
//!
//! Two binaries use it. `nb1s1` (this crate) never links libtorch, so a tabular command starts in
//! milliseconds; it hands the torch commands (`search`, `correlation`, `demo`, `experiment`) over to the
//! `nb1s1-torch` binary next to it ([`handoff`]). `nb1s1-torch` (crates/cli-torch) flattens
//! [`Command`] into its own command set, so it runs every command itself.

pub mod cmd_blackbox;
pub mod cmd_data;
pub mod cmd_import;
pub mod cmd_nb101;
pub mod cmd_report;
pub mod cmd_results;
pub mod cmd_space;
pub mod handoff;
pub mod nb101_bench;

use clap::Subcommand;

/// The tabular subcommands: the same in both binaries.
#[derive(Subcommand)]
pub enum Command {
    /// NAS-Bench-101: convert, inspect, query, hash and validate.
    Nb101(cmd_nb101::Args),
    /// Search spaces 1-3 of NAS-Bench-1Shot1: counts, enumeration, exhaustive statistics.
    Space(cmd_space::Args),
    /// Run a black-box NAS optimizer on a search space against NAS-Bench-101.
    Blackbox(cmd_blackbox::Args),
    /// Data sets: download (NAS-Bench-101, CIFAR-10) and import image folders.
    Data(cmd_data::Args),
    /// The results store: ingest run folders, answer queries.
    Results(cmd_results::Args),
    /// Write a static HTML report with the paper's plots.
    Report(cmd_report::Args),
    /// Import runs of one-shot methods written elsewhere (the original code's run folders).
    Import(cmd_import::Args),
}

impl Command {
    /// Runs the subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            Command::Nb101(a) => cmd_nb101::run(a),
            Command::Space(a) => cmd_space::run(a),
            Command::Blackbox(a) => cmd_blackbox::run(a),
            Command::Data(a) => cmd_data::run(a),
            Command::Results(a) => cmd_results::run(a),
            Command::Report(a) => cmd_report::run(a),
            Command::Import(a) => cmd_import::run(a),
        }
    }
}

/// Logs go to stderr, filtered by `NB1S1_LOG` (default `warn`).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NB1S1_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// The process exit status of a command's result; an error is printed with its causes.
pub fn exit_code(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
