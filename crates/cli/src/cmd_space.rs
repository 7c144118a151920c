//! `nb1s1 space`.

/// Arguments of `nb1s1 space`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`nb1s1 space` is not implemented yet")
}
