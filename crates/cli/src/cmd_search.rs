//! `nb1s1 search`.

/// Arguments of `nb1s1 search`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`nb1s1 search` is not implemented yet")
}
