//! The one-shot evaluation of a discrete architecture in the supernet, with optional BatchNorm
//! recalibration (Pourchot et al. 2020, "To share or not to share"): before measuring an
//! architecture's error, every BatchNorm's running statistics are reset and re-estimated on N
//! training batches under that architecture (batch statistics in train mode, their cumulative
//! average as PyTorch's `momentum=None`, no gradient step), then the error is measured in eval
//! mode and the supernet's own statistics are put back. Off by default: the original evaluates
//! with the running statistics training left (spec §3.1, eval mode).
//!
//! Two users: the search's evaluation part (`[method] evaluation = "bn_recalibration"`,
//! `[options.bn_recalibration] batches = N`) and the correlation evaluation
//! (`[correlation] bn_recalibration_batches`, `nb1s1 correlation --bn-recalibrate N`).

use std::sync::Arc;

use nb1s1_data::{Augment, Loader, Normalize, Split};
use searchspace::Architecture;
use supernet::{one_hot_mixing, MixingWeights, SharedMixing, Supernet};
use tch::{Device, Tensor};

use crate::config::SearchConfig;
use crate::error::OneShotError;
use crate::method::{DataSplit, EvaluationKind};
use crate::model::{OneShotModel, TensorBatch};
use crate::settings::BnRecalibrationConfig;

/// The images a run trains its weights on, as a count from index 0 of the training split
/// (both of `search`'s splits put them first: DARTS' first half, ENAS' [0, 45000)), limited
/// by `data.train_images`.
pub fn weight_images(cfg: &SearchConfig, n_train: usize) -> usize {
    let cut = match cfg.method.data_split {
        DataSplit::Enas => nb1s1_data::split::ENAS_TRAIN.min(n_train * 9 / 10),
        DataSplit::Halves => n_train / 2,
    };
    match cfg.data.train_images {
        0 => cut,
        k => k.min(cut),
    }
}

/// The fixed batches that re-estimate the statistics: the first `batches` × `batch_size` of the
/// run's weight-training images in order, un-augmented, normalized as the run's. The same for
/// every architecture and every call, so an evaluation is a function of the weights alone.
pub struct Recalibration {
    images: Vec<Tensor>,
}

impl Recalibration {
    /// `batches` batches of `batch_size` from the first `available` images of `train`; too few
    /// images for them is an error naming `key`.
    pub fn new(
        train: &Arc<Split>,
        available: usize,
        batches: usize,
        batch_size: usize,
        normalize: Normalize,
        device: Device,
        key: &str,
    ) -> Result<Self, OneShotError> {
        let need = batches.saturating_mul(batch_size);
        if batches == 0 || need > available {
            return Err(OneShotError::Config {
                file: key.to_string(),
                msg: format!(
                    "{batches} batches of {batch_size} images asked for, but the weight-training images are {available}"
                ),
            });
        }
        let mut loader = Loader::new(
            train.clone(),
            (0..need).collect(),
            batch_size,
            Some(Augment::eval().with_normalize(normalize)),
            0,
            false,
        )
        .map_err(|e| OneShotError::Data(e.to_string()))?;
        let images = std::iter::from_fn(|| loader.next_batch())
            .map(|b| TensorBatch::from_batch(&b, device).x)
            .collect();
        Ok(Recalibration { images })
    }

    /// The search's recalibration, when its method evaluates with `bn_recalibration`: batches
    /// of the training batch size.
    pub fn for_search(
        cfg: &SearchConfig,
        train: &Arc<Split>,
        device: Device,
    ) -> Result<Option<Self>, OneShotError> {
        if cfg.method.evaluation != EvaluationKind::BnRecalibration {
            return Ok(None);
        }
        let s: BnRecalibrationConfig = cfg.part_options("bn_recalibration")?;
        Self::new(
            train,
            weight_images(cfg, train.len()),
            s.batches,
            cfg.data.batch_size,
            cfg.normalization(),
            device,
            "[options.bn_recalibration] batches",
        )
        .map(Some)
    }

    /// Number of batches.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Runs `measure` with `net`'s statistics recalibrated under the mixing weights `w` (those
    /// `measure` evaluates) and puts the network's own statistics back afterwards (also when
    /// `measure` fails).
    pub fn with<T>(
        &self,
        net: &Supernet,
        w: MixingWeights,
        measure: impl FnOnce() -> Result<T, OneShotError>,
    ) -> Result<T, OneShotError> {
        let invalid = |e: supernet::SupernetError| OneShotError::Invalid(e.to_string());
        let saved = net.save_bn_stats();
        let out = net
            .recalibrate_bn(&self.images, &mut SharedMixing(w))
            .map_err(invalid)
            .and_then(|_| measure());
        net.restore_bn_stats(&saved).map_err(invalid)?;
        out
    }

    /// Error of `arch` on `valid` after recalibration (eval-mode BatchNorm, one-hot weights).
    pub fn error(
        &self,
        model: &OneShotModel,
        arch: &Architecture,
        valid: &[TensorBatch],
    ) -> Result<f64, OneShotError> {
        let w =
            one_hot_mixing(arch, model.device).map_err(|e| OneShotError::Invalid(e.to_string()))?;
        self.with(&model.net, w, || {
            crate::selection::architecture_error(model, arch, valid)
        })
    }
}
