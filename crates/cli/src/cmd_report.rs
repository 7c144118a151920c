//! `nb1s1 report`.

/// Arguments of `nb1s1 report`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`nb1s1 report` is not implemented yet")
}
