//! The proxy names and how they parse.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ZeroCostError;

/// One zero-cost proxy (docs/zerocost.md defines each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proxy {
    Params,
    Flops,
    Synflow,
    Snip,
    Grasp,
    Fisher,
    GradNorm,
    Jacov,
    Nwot,
    L2Norm,
    Plain,
    Zen,
}

impl Proxy {
    /// Every proxy, in the order of the output columns.
    pub const ALL: [Proxy; 12] = [
        Proxy::Params,
        Proxy::Flops,
        Proxy::Synflow,
        Proxy::Snip,
        Proxy::Grasp,
        Proxy::Fisher,
        Proxy::GradNorm,
        Proxy::Jacov,
        Proxy::Nwot,
        Proxy::L2Norm,
        Proxy::Plain,
        Proxy::Zen,
    ];

    /// The name used on the command line and as the JSON key (NASLib's).
    pub fn name(self) -> &'static str {
        match self {
            Proxy::Params => "params",
            Proxy::Flops => "flops",
            Proxy::Synflow => "synflow",
            Proxy::Snip => "snip",
            Proxy::Grasp => "grasp",
            Proxy::Fisher => "fisher",
            Proxy::GradNorm => "grad_norm",
            Proxy::Jacov => "jacov",
            Proxy::Nwot => "nwot",
            Proxy::L2Norm => "l2_norm",
            Proxy::Plain => "plain",
            Proxy::Zen => "zen",
        }
    }

    /// Parses a comma-separated list (`all` for every proxy); sorted, without repeats.
    pub fn parse_list(s: &str) -> Result<Vec<Proxy>, ZeroCostError> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "all" {
                out.extend(Proxy::ALL);
            } else {
                out.push(part.parse()?);
            }
        }
        out.sort();
        out.dedup();
        if out.is_empty() {
            return Err(ZeroCostError::Config {
                field: "proxies",
                why: "no proxy named".into(),
            });
        }
        Ok(out)
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Proxy {
    type Err = ZeroCostError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Proxy::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| ZeroCostError::UnknownProxy {
                name: s.to_string(),
                known: Proxy::ALL.map(Proxy::name).join(","),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_lists_parse() {
        for p in Proxy::ALL {
            assert_eq!(p.name().parse::<Proxy>().unwrap(), p);
        }
        assert_eq!(
            Proxy::parse_list("snip, synflow,snip").unwrap(),
            [Proxy::Synflow, Proxy::Snip]
        );
        assert_eq!(Proxy::parse_list("all").unwrap().len(), 12);
        let err = Proxy::parse_list("snip,bogus").unwrap_err().to_string();
        assert!(err.contains("\"bogus\""), "{err}");
        assert!(Proxy::parse_list(" , ").is_err());
    }
}
