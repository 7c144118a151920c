//! `nb1s1 <torch command>`: the torch commands run in the `nb1s1-torch` binary, so that `nb1s1`
//! itself never loads libtorch (whose start-up alone costs about a quarter of a second). The
//! hand-over replaces this process (`exec`), so the caller (a user, a script, the experiment
//! runner) sees one process with the torch binary's output, exit status and signals.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{bail, Context};

/// Environment variable naming the torch binary; default: `nb1s1-torch` next to this binary.
pub const TORCH_BIN_ENV: &str = "NB1S1_TORCH_BIN";

/// The arguments of a torch command, passed on untouched (`--help` included).
#[derive(clap::Args)]
pub struct HandOff {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    args: Vec<OsString>,
}

/// Where the torch binary is: `$NB1S1_TORCH_BIN`, else `nb1s1-torch` in this binary's folder.
pub fn torch_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(TORCH_BIN_ENV) {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().context("locating the nb1s1 binary")?;
    Ok(exe.with_file_name(format!("nb1s1-torch{}", std::env::consts::EXE_SUFFIX)))
}

/// Runs `nb1s1-torch <command> <args>` in place of this process; returns only on failure.
pub fn hand_over(command: &str, args: HandOff) -> anyhow::Result<()> {
    let bin = torch_binary()?;
    if !bin.is_file() {
        bail!(
            "`nb1s1 {command}` needs libtorch and runs in the nb1s1-torch binary, which is not at \
             {} (build it: `cargo build --release -p nb1s1-torch`, or set {TORCH_BIN_ENV})",
            bin.display()
        );
    }
    let mut child = std::process::Command::new(&bin);
    child.arg(command).args(&args.args);
    run_in_place(child).with_context(|| format!("starting {}", bin.display()))
}

#[cfg(unix)]
fn run_in_place(mut child: std::process::Command) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    // Usage lines then read `nb1s1 search ...`, the command the user typed.
    Err(child.arg0("nb1s1").exec().into())
}

#[cfg(not(unix))]
fn run_in_place(mut child: std::process::Command) -> anyhow::Result<()> {
    let status = child.status()?;
    std::process::exit(status.code().unwrap_or(1));
}
