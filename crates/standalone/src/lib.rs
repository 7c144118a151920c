//! Stand-alone training of NAS-Bench-101 networks: the network of any valid cell in tch, layer
//! for layer as google-research/nasbench builds it (its trainable-parameter count is NB-101's
//! `trainable_parameters`), trained from scratch with NB-101's protocol (TF-style RMSProp,
//! cosine-by-step schedule, crop + flip, 108 epochs at batch 256) or a smaller proxy of it, into a
//! resumable run folder with per-epoch validation and test accuracy and a safetensors export.
//!
//! ```no_run
//! use std::sync::Arc;
//! use nasbench101::{ModelSpec, Op};
//! use standalone::{train, TrainConfig, TrainData, TrainOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let spec = ModelSpec::from_ops(
//!     vec![vec![0, 1, 1, 0], vec![0, 0, 0, 1], vec![0, 0, 0, 1], vec![0, 0, 0, 0]],
//!     &[Op::Conv3x3, Op::MaxPool3x3],
//! )?;
//! let set = nb1s1_data::Cifar10::load("data/cifar10")?;
//! let data = TrainData { train: Arc::new(set.train), test: Arc::new(set.test), source: "data/cifar10".into() };
//! let mut cfg = TrainConfig::default(); // the NB-101 protocol
//! cfg.epochs = 4;
//! let out = train(&spec, &cfg, &data, "runs/cell".as_ref(), &TrainOptions::default())?;
//! println!("test accuracy {}", out.records.last().unwrap().test_accuracy);
//! # Ok(())
//! # }
//! ```

pub mod config;
mod error;
pub mod model;
pub mod optim;
pub mod run;
pub mod train;

pub use config::TrainConfig;
pub use error::StandaloneError;
pub use model::{count_trainable, ModelOptions, Nb101Network, Probe};
pub use optim::{RmsProp, RmsPropConfig};
pub use run::{EpochRecord, RunFolder, RunMeta, TrainState};
pub use train::{evaluate, load_exported, train, TrainData, TrainOptions, TrainOutcome};
