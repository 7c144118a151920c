//! Epoch hooks: after each epoch's training (and the architecture update's end of epoch), in
//! composition order, each hook may measure, report metrics, keep checkpointed state and stop
//! the run (Hessian tracking, DARTS-ES' early stop).

use std::collections::BTreeMap;

use tch::Tensor;

use crate::error::OneShotError;
use crate::mixing::Relaxation;
use crate::optimizer::{EpochContext, EpochEnd};
use crate::run_dir::Metrics;

pub trait EpochHook {
    /// Before the epoch's first step.
    fn new_epoch(&mut self, _epoch: usize, _epochs: usize) {}

    /// Before the epoch's first step, after every part's [`EpochHook::new_epoch`], with the
    /// model and the weight optimizer (DARTS-PT projects and sets its fine-tuning rate here).
    fn start_epoch(&mut self, _cx: &mut EpochContext<'_>) -> Result<(), OneShotError> {
        Ok(())
    }

    /// After the epoch's steps. `relaxation` gives the evaluation mixing; `seen` holds the
    /// metrics the hooks before this one reported this epoch.
    fn end_epoch(
        &mut self,
        cx: &mut EpochContext<'_>,
        relaxation: &mut dyn Relaxation,
        seen: &Metrics,
    ) -> Result<EpochEnd, OneShotError>;

    /// Named numbers of the epoch.
    fn metrics(&self) -> Metrics {
        Metrics::new()
    }

    /// State to checkpoint, as named tensors (names unique to the hook).
    fn state(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// Restores [`EpochHook::state`].
    fn load_state(&mut self, _tensors: &BTreeMap<String, Tensor>) -> Result<(), OneShotError> {
        Ok(())
    }
}
