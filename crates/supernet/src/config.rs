//! The supernet's hyperparameters, including the original implementation's quirks as options.

use serde::{Deserialize, Serialize};

use crate::error::SupernetError;
use searchspace::SpaceId;

/// How the convolution and linear weights are drawn when a network is built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightInit {
    /// PyTorch's default for `Conv2d` and `Linear`, what the original code got:
    /// `kaiming_uniform_(a = √5)`, i.e. U(−1/√fan_in, 1/√fan_in); a linear bias likewise.
    #[default]
    Pytorch,
    /// tch's default: Kaiming-uniform for ReLU, U(−√(6/fan_in), √(6/fan_in)), about 2.45 times
    /// wider (what this crate drew before the default became PyTorch's).
    Tch,
}

/// How to build a [`crate::Supernet`].
///
/// The default is the search-time network of the paper as the original code builds it (C = 16,
/// 9 cells, 10 classes), so a run without a config is the paper's setup:
/// - `bn_momentum = 0.997` in PyTorch terms (the running statistics are almost the last batch's;
///   0.997 was probably meant as TensorFlow's decay, i.e. PyTorch 0.003; set 0.1 for PyTorch's
///   default);
/// - `downsample_padding = 1`: the 2×2 down-sampling pool is padded, 32 → 17 → 9 (0 gives
///   NAS-Bench-101's 32 → 16 → 8);
/// - `run_all_ops = true`: every candidate op runs, also for one-hot weights, as the original
///   MixedOp (GDAS' drawn-op path is set by its optimizer's defaults);
/// - `fuse_projections = false`: the original's separate projection layers (`true` is the same
///   function with fewer kernels).
///
/// [`SupernetConfig::faithful`] spells these values out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupernetConfig {
    /// Which search space (1, 2 or 3) the cells are built for.
    pub space: SpaceId,
    /// Channels per choice block in the first stack, and the stem width (16 during search).
    pub init_channels: i64,
    /// Number of cells; the feature maps are halved before cells `layers/3` and `2·layers/3`.
    pub layers: i64,
    /// Classifier outputs.
    pub num_classes: i64,
    /// BatchNorm momentum in PyTorch terms for every ConvBnRelu (the head BN keeps 0.1).
    pub bn_momentum: f64,
    /// Padding of the 2×2 stride-2 down-sampling max-pool: 0 (NB-101 sizes) or 1 (original).
    pub downsample_padding: i64,
    /// PC-DARTS partial channels K: the choice-block ops see only the first C/K channels.
    pub partial_channels: Option<i64>,
    /// Run every candidate op even when the mixing weights name a single active op per node.
    /// The original code did (unused ops then still update their BatchNorm running statistics);
    /// skipping them is faster and gives the same output.
    pub run_all_ops: bool,
    /// Compute the N input projections and the input→output projection of a cell as one 1×1
    /// convolution + BatchNorm + ReLU and split the result. Numerically the same model (BatchNorm
    /// is per channel), fewer and larger kernels; parameter names differ from the unfused layout.
    pub fuse_projections: bool,
    /// Keep images and convolution weights in channels-last (NHWC) memory layout: the same
    /// function (only the kernels differ), about a third faster per step on CPU (oneDNN) in
    /// docs/benchmarks.md. Unset means automatic: on for CPU, off for CUDA until measured there.
    pub channels_last: Option<bool>,
    /// How convolution and linear weights are initialized (default: PyTorch's, as the original).
    pub weight_init: WeightInit,
}

impl Default for SupernetConfig {
    fn default() -> Self {
        Self {
            space: SpaceId::Three,
            init_channels: 16,
            layers: 9,
            num_classes: 10,
            bn_momentum: 0.997,
            downsample_padding: 1,
            partial_channels: None,
            run_all_ops: true,
            fuse_projections: false,
            channels_last: None,
            weight_init: WeightInit::Pytorch,
        }
    }
}

impl SupernetConfig {
    /// The default configuration for `space`.
    pub fn for_space(space: SpaceId) -> Self {
        Self {
            space,
            ..Self::default()
        }
    }

    /// Every quirk of the original implementation: BN momentum 0.997 (PyTorch terms), pool
    /// padding 1 (32 → 17 → 9), all ops run even for one-hot mixing weights.
    pub fn faithful(space: SpaceId) -> Self {
        Self {
            space,
            bn_momentum: 0.997,
            downsample_padding: 1,
            run_all_ops: true,
            fuse_projections: false,
            ..Self::default()
        }
    }

    /// Whether a network on `device` uses the channels-last layout.
    pub fn channels_last_on(&self, device: tch::Device) -> bool {
        self.channels_last.unwrap_or(device == tch::Device::Cpu)
    }

    /// Checks that the network can be built with these values.
    pub fn validate(&self) -> Result<(), SupernetError> {
        let bad = |field: &'static str, reason: String| {
            Err(SupernetError::InvalidConfig { field, reason })
        };
        if self.init_channels < 1 {
            return bad(
                "init_channels",
                format!("must be ≥ 1, got {}", self.init_channels),
            );
        }
        if self.layers < 1 {
            return bad("layers", format!("must be ≥ 1, got {}", self.layers));
        }
        if self.num_classes < 1 {
            return bad(
                "num_classes",
                format!("must be ≥ 1, got {}", self.num_classes),
            );
        }
        if !(0.0..=1.0).contains(&self.bn_momentum) {
            return bad(
                "bn_momentum",
                format!("must lie in [0, 1], got {}", self.bn_momentum),
            );
        }
        if !(0..=1).contains(&self.downsample_padding) {
            return bad(
                "downsample_padding",
                format!(
                    "a 2×2 pool allows padding 0 or 1, got {}",
                    self.downsample_padding
                ),
            );
        }
        if let Some(k) = self.partial_channels {
            if k < 1 || self.init_channels % k != 0 {
                return bad(
                    "partial_channels",
                    format!(
                        "K = {k} must be ≥ 1 and divide init_channels = {}",
                        self.init_channels
                    ),
                );
            }
        }
        Ok(())
    }
}
