//! `nb1s1 nb101`.

/// Arguments of `nb1s1 nb101`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`nb1s1 nb101` is not implemented yet")
}
