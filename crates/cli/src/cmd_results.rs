//! `nb1s1 results`.

/// Arguments of `nb1s1 results`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`nb1s1 results` is not implemented yet")
}
