//! What a stand-alone training run does. [`TrainConfig::default`] is the NAS-Bench-101 protocol
//! (`nasbench/lib/config.py` and the paper's appendix); every field can be shrunk for a proxy run.

use nasbench101::network::NetworkConfig;
use serde::{Deserialize, Serialize};

use crate::model::ModelOptions;
use crate::optim::RmsPropConfig;
use crate::StandaloneError;

/// NB-101's per-channel CIFAR-10 statistics in pixel units (`cifar.py`: `RGB_MEAN`, `RGB_STD`).
pub const NB101_RGB_MEAN: [f32; 3] = [125.31, 122.95, 113.87];
/// See [`NB101_RGB_MEAN`].
pub const NB101_RGB_STD: [f32; 3] = [62.99, 62.09, 66.70];

/// Images of the NB-101 split: the first 40,000 training images train, the last 10,000 (the
/// official `data_batch_5`) validate, the 10,000 test images test.
pub const NB101_TRAIN_IMAGES: usize = 40_000;

/// A stand-alone training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// The network around the cell (stem channels, stacks, cells per stack, labels).
    pub network: NetworkConfig,
    /// BatchNorm settings.
    pub model: ModelOptions,
    /// Optimizer settings.
    pub optimizer: RmsPropConfig,
    /// Epochs; the cosine schedule spans all of them (NB-101: 108; also 4, 12, 36).
    pub epochs: usize,
    /// Training batch size (256); the short last batch of an epoch is dropped.
    pub batch_size: usize,
    /// Batch size of the validation and test passes (any value gives the same accuracies).
    pub eval_batch_size: usize,
    /// Training images, the first ones of the training split (40,000).
    pub train_images: usize,
    /// Validation images, spread evenly over the last 10,000 of the training split (10,000).
    pub valid_images: usize,
    /// Test images, spread evenly over the test split (10,000).
    pub test_images: usize,
    /// Random crop (zero padding 4) and horizontal flip on the training images.
    pub augment: bool,
    /// Seed of the initial weights, the shuffling and the augmentation.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            network: NetworkConfig::default(),
            model: ModelOptions::default(),
            optimizer: RmsPropConfig::default(),
            epochs: 108,
            batch_size: 256,
            eval_batch_size: 256,
            train_images: NB101_TRAIN_IMAGES,
            valid_images: 10_000,
            test_images: 10_000,
            augment: true,
            seed: 0,
        }
    }
}

impl TrainConfig {
    /// Checks the settings that the network plan does not check; names the field.
    pub fn validate(&self) -> Result<(), StandaloneError> {
        let bad = |field: &'static str, why: String| Err(StandaloneError::Config { field, why });
        if self.epochs == 0 {
            return bad("epochs", "must be at least 1".into());
        }
        if self.batch_size == 0 || self.eval_batch_size == 0 {
            return bad("batch_size", "batch sizes must be at least 1".into());
        }
        if self.train_images < self.batch_size {
            return bad(
                "train_images",
                format!(
                    "{} images make no full batch of {}",
                    self.train_images, self.batch_size
                ),
            );
        }
        if self.train_images > NB101_TRAIN_IMAGES {
            return bad(
                "train_images",
                format!("at most {NB101_TRAIN_IMAGES} (the rest validates)"),
            );
        }
        if self.valid_images == 0 || self.test_images == 0 {
            return bad("valid_images", "evaluation needs at least 1 image".into());
        }
        let m = self.model.bn_momentum;
        if !(0.0..1.0).contains(&m) {
            return bad("model.bn_momentum", format!("{m} is outside [0, 1)"));
        }
        let o = &self.optimizer;
        if !(o.lr > 0.0 && o.lr.is_finite()) || o.epsilon <= 0.0 || !(0.0..1.0).contains(&o.decay) {
            return bad(
                "optimizer",
                "lr and epsilon must be positive, decay in [0, 1)".into(),
            );
        }
        Ok(())
    }

    /// Optimizer steps per epoch (full batches only).
    pub fn steps_per_epoch(&self) -> u64 {
        (self.train_images / self.batch_size.max(1)) as u64
    }

    /// Steps of the whole run, the length of the cosine schedule.
    pub fn total_steps(&self) -> u64 {
        self.steps_per_epoch() * self.epochs as u64
    }
}

/// `n` indices spread evenly over `start..start + len` (all of them when `n >= len`). The
/// imported JPEG test split is sorted by class, so a prefix would hold few classes.
pub fn spread(start: usize, len: usize, n: usize) -> Vec<usize> {
    let n = n.min(len);
    (0..n).map(|i| start + i * len / n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_defaults() {
        let c = TrainConfig::default();
        c.validate().unwrap();
        assert_eq!(c.steps_per_epoch(), 156);
        assert_eq!(c.total_steps(), 156 * 108);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<TrainConfig>(&json).unwrap(), c);
    }

    #[test]
    fn bad_settings_name_their_field() {
        let c = TrainConfig {
            train_images: 100,
            ..Default::default()
        };
        match c.validate() {
            Err(StandaloneError::Config { field, .. }) => assert_eq!(field, "train_images"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn spread_covers_the_range() {
        assert_eq!(spread(40_000, 10_000, 4), [40_000, 42_500, 45_000, 47_500]);
        assert_eq!(spread(0, 3, 10), [0, 1, 2]);
    }
}
