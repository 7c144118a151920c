//! `nb1s1 experiment`.

/// Arguments of `nb1s1 experiment`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`nb1s1 experiment` is not implemented yet")
}
