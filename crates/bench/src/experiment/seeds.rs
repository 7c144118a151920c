//! A study's seeds: a list, or a half-open range `"a..b"`, bounded before anything is
//! allocated.

use super::ExperimentError;
use serde::Deserialize;

/// Seeds as a list or a half-open range string `"a..b"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Seeds {
    List(Vec<u64>),
    Range(String),
}

/// Most seeds one study (or one `nb1s1 blackbox --seeds`) may name: the paper runs 500.
pub const MAX_SEEDS: u64 = 100_000;

/// Largest seed value: seeds are written to TOML configs, whose integers are `i64`.
pub const MAX_SEED: u64 = i64::MAX as u64;

impl Seeds {
    /// How many seeds, without expanding a range.
    pub fn count(&self) -> Result<u64, ExperimentError> {
        match self {
            Seeds::List(v) => Ok(v.len() as u64),
            Seeds::Range(s) => parse_range(s).map(|(a, b)| b - a),
        }
    }

    /// Every seed, checked against [`MAX_SEEDS`] and [`MAX_SEED`] before anything is allocated.
    pub fn expand(&self) -> Result<Vec<u64>, ExperimentError> {
        let n = self.count()?;
        if n > MAX_SEEDS {
            return Err(ExperimentError::TooManySeeds(n));
        }
        match self {
            Seeds::List(v) => match v.iter().find(|s| **s > MAX_SEED) {
                Some(s) => Err(ExperimentError::SeedTooLarge(*s)),
                None => Ok(v.clone()),
            },
            Seeds::Range(s) => {
                let (a, b) = parse_range(s)?;
                Ok((a..b).collect())
            }
        }
    }
}

/// `"a..b"` as `(a, b)` with `a < b <= MAX_SEED + 1`.
fn parse_range(s: &str) -> Result<(u64, u64), ExperimentError> {
    let range = runfmt::name::echo(s);
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| ExperimentError::RangeSyntax {
            range: range.clone(),
        })?;
    let num = |t: &str| {
        t.trim()
            .parse::<u64>()
            .ok()
            .filter(|v| *v <= MAX_SEED + 1)
            .ok_or_else(|| ExperimentError::RangeBound {
                range: range.clone(),
                bound: runfmt::name::echo(t),
            })
    };
    let (a, b) = (num(a)?, num(b)?);
    if b <= a {
        return Err(ExperimentError::RangeEmpty { range });
    }
    Ok((a, b))
}
