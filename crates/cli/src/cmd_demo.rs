//! `nb1s1 demo`.

/// Arguments of `nb1s1 demo`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`nb1s1 demo` is not implemented yet")
}
