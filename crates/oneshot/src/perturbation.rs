//! Perturbations: the mixing weights seen by the weight step, in place of the relaxation's
//! (SDARTS' random smoothing and adversarial attack, [`crate::sdarts`]). Architecture steps and
//! evaluation keep the relaxation's plain weights.

use supernet::MixingWeights;

use crate::error::OneShotError;
use crate::model::TensorBatch;
use crate::optimizer::EpochContext;
use crate::run_dir::Metrics;

pub trait Perturbation {
    /// Before each epoch: the perturbation's schedule.
    fn new_epoch(&mut self, _epoch: usize, _epochs: usize) {}

    /// The perturbed mixing weights for the weight step on `batch`.
    fn weights(
        &mut self,
        cx: &mut EpochContext<'_>,
        batch: &TensorBatch,
    ) -> Result<MixingWeights, OneShotError>;

    /// Named numbers of the epoch (the scheduled size).
    fn metrics(&self) -> Metrics {
        Metrics::new()
    }
}
