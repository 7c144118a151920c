//! Anytime evaluation against NAS-Bench-101 (spec §4.1–4.2): the selected cell's three repeats
//! at 108 epochs, and the regret relative to the best single repeat of the space.

use nasbench101::ModelHash;
use searchspace::{Reference, SpaceId};

use crate::error::OneShotError;

/// The NB-101 record of one cell: errors (1 − accuracy) of its repeats at 108 epochs.
#[derive(Clone, Debug, PartialEq)]
pub struct Nb101Errors {
    pub valid: Vec<f64>,
    pub test: Vec<f64>,
}

/// A NAS-Bench-101 table as the search sees it. The CLI implements it over `nasbench101`;
/// tests use small in-memory tables.
pub trait Nb101Oracle {
    /// The file the table came from (for `run.json`).
    fn path(&self) -> String;
    /// Whether the table is a synthetic stand-in rather than the official data.
    fn is_synthetic(&self) -> bool;
    /// The repeats of `hash` at 108 epochs, or `None` when the table lacks the cell.
    fn query(&self, hash: &ModelHash) -> Result<Option<Nb101Errors>, OneShotError>;
    /// The regret reference of `space` in this table.
    fn reference(&self, space: SpaceId) -> Option<Reference>;
}

/// Mean of the repeats minus the reference; `None` without repeats.
pub fn regret(errors: &[f64], reference: f64) -> Option<f64> {
    if errors.is_empty() {
        return None;
    }
    Some(errors.iter().sum::<f64>() / errors.len() as f64 - reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regret_is_mean_minus_reference() {
        let r = regret(&[0.06, 0.07, 0.08], 0.05).unwrap();
        assert!((r - 0.02).abs() < 1e-12);
        assert_eq!(regret(&[], 0.05), None);
    }
}
