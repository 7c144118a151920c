//! β-DARTS' β-decay regularizer (Ye et al., CVPR 2022): λ · mean over the choice blocks of
//! logsumexp(α) of the block's unnormalized operation weights, λ_e = `lambda_min` +
//! (`lambda_max` − `lambda_min`) · e / E, the authors' ramp from 0 toward 50. Its gradient,
//! λ · softmax(α) / blocks, decays every weight in proportion to its softmax share, which keeps
//! the architecture weights from growing apart. NB-1Shot1's choice blocks are the rows of the operation weights; parent and output
//! weights are not regularized.

use tch::Tensor;

use crate::model::OneShotModel;
use crate::regularizer::Regularizer;
use crate::run_dir::Metrics;
pub use crate::settings::BetaDecayConfig;

/// The metric: λ of the epoch.
pub const METRIC: &str = "beta_decay_lambda";

pub struct BetaDecay {
    pub settings: BetaDecayConfig,
    pub lambda: f64,
}

impl BetaDecay {
    pub fn new(settings: BetaDecayConfig) -> Self {
        BetaDecay {
            lambda: settings.lambda_min,
            settings,
        }
    }
}

/// Mean over the rows of `ops` (one row per choice block) of logsumexp(row).
pub fn beta_decay_loss(ops: &Tensor) -> Tensor {
    ops.logsumexp([-1].as_slice(), false).mean(ops.kind())
}

impl Regularizer for BetaDecay {
    fn new_epoch(&mut self, epoch: usize, epochs: usize) {
        self.lambda = self.settings.lambda(epoch, epochs);
    }
    fn arch_term(&mut self, model: &OneShotModel) -> Option<Tensor> {
        Some(beta_decay_loss(&model.arch.ops) * self.lambda)
    }
    fn metrics(&self) -> Metrics {
        [(METRIC.to_string(), self.lambda)].into_iter().collect()
    }
}
