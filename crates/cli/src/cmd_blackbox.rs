//! `nb1s1 blackbox`.

/// Arguments of `nb1s1 blackbox`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`nb1s1 blackbox` is not implemented yet")
}
