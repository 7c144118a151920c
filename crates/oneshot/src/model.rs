//! What the optimizers act on: the supernet with its weights, the architecture weights in their
//! own store, and minibatches as tensors.

use nb1s1_data::Batch;
use searchspace::SearchSpace;
use supernet::{ArchParams, MixingSource, Supernet, SupernetConfig};
use tch::{nn, Device, Kind, Tensor};

use crate::error::OneShotError;
use crate::optim::named_trainable;

/// The supernet, its weights and its architecture weights.
pub struct OneShotModel {
    pub space: SearchSpace,
    pub device: Device,
    pub weights: nn::VarStore,
    pub arch_store: nn::VarStore,
    pub net: Supernet,
    pub arch: ArchParams,
}

impl OneShotModel {
    /// Builds both stores from torch's global generator (seed it first for reproducibility).
    pub fn new(cfg: &SupernetConfig, device: Device) -> Result<Self, OneShotError> {
        let space = SearchSpace::new(cfg.space);
        let weights = nn::VarStore::new(device);
        cfg.validate()
            .map_err(|e| OneShotError::Invalid(format!("[model]: {e}")))?;
        // tch panics when libtorch cannot allocate a tensor (a supernet far too large for the
        // device): that becomes an error naming the settings, not a crash.
        let net = crate::torch_guard::catch(
            || {
                format!(
                    "[model] init_channels = {}, layers = {} on {device:?}",
                    cfg.init_channels, cfg.layers
                )
            },
            || Supernet::new(&weights.root(), cfg),
        )?
        .map_err(|e| OneShotError::Invalid(e.to_string()))?;
        let arch_store = nn::VarStore::new(device);
        let arch = ArchParams::new(&arch_store.root(), &space);
        Ok(OneShotModel {
            space,
            device,
            weights,
            arch_store,
            net,
            arch,
        })
    }

    /// The network weights by name (what the weight optimizer updates).
    pub fn weight_params(&self) -> Vec<(String, Tensor)> {
        named_trainable(&self.weights)
    }

    /// The architecture weights by name.
    pub fn arch_params(&self) -> Vec<(String, Tensor)> {
        named_trainable(&self.arch_store)
    }

    /// Cross-entropy loss and number of correct predictions on `batch`.
    pub fn loss(
        &self,
        batch: &TensorBatch,
        mixing: &mut dyn MixingSource,
        train: bool,
    ) -> (Tensor, i64) {
        let logits = self.net.forward(&batch.x, mixing, train);
        let correct = logits
            .argmax(-1, false)
            .eq_tensor(&batch.y)
            .sum(Kind::Int64)
            .int64_value(&[]);
        (logits.cross_entropy_for_logits(&batch.y), correct)
    }
}

/// A minibatch on the model's device.
pub struct TensorBatch {
    pub x: Tensor,
    pub y: Tensor,
    pub len: usize,
}

impl TensorBatch {
    pub fn from_batch(b: &Batch, device: Device) -> Self {
        let n = b.len as i64;
        TensorBatch {
            x: Tensor::from_slice(&b.images)
                .view([n, 3, 32, 32])
                .to_device(device),
            y: Tensor::from_slice(&b.labels).to_device(device),
            len: b.len,
        }
    }
}
