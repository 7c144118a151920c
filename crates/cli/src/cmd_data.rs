//! `nb1s1 data`.

/// Arguments of `nb1s1 data`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`nb1s1 data` is not implemented yet")
}
