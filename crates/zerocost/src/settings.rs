//! What a scoring run computes: the network around the cell, the minibatch, the seeds and the
//! proxy variants. The whole struct is the run's identity (its fingerprint).

use nasbench101::network::NetworkConfig;
use serde::{Deserialize, Serialize};

use crate::ZeroCostError;

/// Which BatchNorm variance zen's scaling term reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZenBn {
    /// The batch variance of the unperturbed pass, as the Zen-NAS paper defines it.
    #[default]
    Batch,
    /// NASLib's: PyTorch's running variance (momentum 0.1, from 1) after the two passes.
    Running,
}

/// Settings of a scoring run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The network around the cell (NB-101's by default).
    pub network: NetworkConfig,
    /// Images in the minibatch (NASLib: 64).
    pub batch_size: usize,
    /// Seed of the minibatch draw from the first 40,000 training images.
    pub data_seed: u64,
    /// Seed of the initial weights (the same for every cell) and of zen's Gaussian inputs.
    pub init_seed: u64,
    /// fisher: weight each channel's saliency by its layer's fan-in, as NASLib's broadcast to
    /// the weights does (docs/deviations.md); default: the plain sum of channel saliencies.
    pub fisher_fan_in: bool,
    /// zen's BatchNorm variance.
    pub zen_bn: ZenBn,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            network: NetworkConfig::default(),
            batch_size: 64,
            data_seed: 0,
            init_seed: 0,
            fisher_fan_in: false,
            zen_bn: ZenBn::Batch,
        }
    }
}

impl Settings {
    /// Checks what the network plan does not; names the field.
    pub fn validate(&self) -> Result<(), ZeroCostError> {
        if self.batch_size < 2 {
            return Err(ZeroCostError::Config {
                field: "batch_size",
                why: format!(
                    "{} (jacov and nwot compare images: at least 2)",
                    self.batch_size
                ),
            });
        }
        if self.network.stem_channels == 0 || self.network.stacks == 0 {
            return Err(ZeroCostError::Config {
                field: "network",
                why: "stem channels and stacks must be at least 1".into(),
            });
        }
        Ok(())
    }

    /// A stable fingerprint of the settings (hex of a 64-bit FNV-1a of their JSON): a resumed
    /// run with other settings is refused, not merged.
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in json.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{h:016x}")
    }
}
