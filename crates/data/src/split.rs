//! The search split: which training images train the network weights and which train the
//! architecture weights. DARTS-family optimizers cut the 50,000 training images by index at
//! `floor(train_portion * N)` (0.5 → 25,000 / 25,000); ENAS trains on the first 45,000, rewards
//! the controller on the last 5,000 and uses the test set as its "valid" queue.

use serde::{Deserialize, Serialize};

use crate::DataError;

/// Number of training images ENAS trains its child network on.
pub const ENAS_TRAIN: usize = 45_000;

/// Which protocol produced a [`SearchSplit`]; it decides what the evaluation ("valid") set is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SplitProtocol {
    /// DARTS, GDAS, PC-DARTS, Random-WS: the architecture half is also the one-shot validation set.
    Darts,
    /// ENAS: the architecture (reward) part is `[45000, N)`; the valid queue is the test set.
    Enas,
}

/// Indices into the training [`crate::Split`] for the two queues of a one-shot search.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchSplit {
    /// Images that train the network weights.
    pub weights: Vec<usize>,
    /// Images that train the architecture weights (the "valid" queue of DARTS).
    pub arch: Vec<usize>,
    /// The protocol this split follows.
    pub protocol: SplitProtocol,
}

impl SearchSplit {
    /// DARTS split of `n_train` images: the first `floor(train_portion * n_train)` train the
    /// weights, the rest the architecture weights.
    pub fn darts(n_train: usize, train_portion: f64) -> Result<SearchSplit, DataError> {
        if !(train_portion > 0.0 && train_portion < 1.0) {
            return Err(DataError::config(
                "train_portion",
                format!("{train_portion} is not strictly between 0 and 1"),
            ));
        }
        let cut = (train_portion * n_train as f64).floor() as usize;
        Ok(SearchSplit {
            weights: (0..cut).collect(),
            arch: (cut..n_train).collect(),
            protocol: SplitProtocol::Darts,
        })
    }

    /// ENAS split of `n_train` images: `[0, 45000)` and `[45000, n_train)`. Fails when there
    /// are not more than 45,000 images (use [`SearchSplit::enas_at`] for smaller sets).
    pub fn enas(n_train: usize) -> Result<SearchSplit, DataError> {
        Self::enas_at(n_train, ENAS_TRAIN)
    }

    /// ENAS-style split with the cut at `cut` instead of 45,000.
    pub fn enas_at(n_train: usize, cut: usize) -> Result<SearchSplit, DataError> {
        if cut == 0 || cut >= n_train {
            return Err(DataError::config(
                "enas cut",
                format!("cut {cut} leaves an empty side of {n_train} training images"),
            ));
        }
        Ok(SearchSplit {
            weights: (0..cut).collect(),
            arch: (cut..n_train).collect(),
            protocol: SplitProtocol::Enas,
        })
    }

    /// Keeps only the first `weights` / `arch` images of each side, for quick runs.
    pub fn limit(mut self, weights: Option<usize>, arch: Option<usize>) -> SearchSplit {
        if let Some(k) = weights {
            self.weights.truncate(k);
        }
        if let Some(k) = arch {
            self.arch.truncate(k);
        }
        self
    }
}
