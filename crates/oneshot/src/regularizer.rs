//! Regularizers: terms added to the architecture loss, each with its own schedule and metrics
//! (DrNAS' KL, β-DARTS' β-decay, Fair-DARTS' zero-one loss). An architecture update adds every
//! regularizer's term to the loss it differentiates ([`crate::ArchStepContext::arch_loss`]).

use crate::model::OneShotModel;
use crate::run_dir::Metrics;
use tch::Tensor;

pub trait Regularizer {
    /// Before each epoch: the regularizer's schedule.
    fn new_epoch(&mut self, _epoch: usize, _epochs: usize) {}

    /// The term (a scalar with its graph to the architecture weights), or none when it is off.
    fn arch_term(&mut self, model: &OneShotModel) -> Option<Tensor>;

    /// Named numbers of the epoch (a scheduled weight).
    fn metrics(&self) -> Metrics {
        Metrics::new()
    }
}
