//! Zero-cost proxies: train-free scores of the NAS-Bench-101 network of a cell (built by crate
//! `standalone`, layer for layer as NB-101) at initialization, on one seeded minibatch of
//! CIFAR-10 training images: `params`, `flops`, `synflow`, `snip`, `grasp`, `fisher`,
//! `grad_norm`, `jacov`, `nwot`, `l2_norm`, `plain` and `zen`, each as its paper and NASLib's
//! reference implementation compute it (docs/zerocost.md states each one's BatchNorm mode, loss,
//! data and layers, and where ours differs).
//!
//! ```no_run
//! use nasbench101::{ModelSpec, Op};
//! use zerocost::{Minibatch, Proxy, Scorer, Settings};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let set = nb1s1_data::Cifar10::load("data/cifar10")?;
//! let settings = Settings::default(); // the NB-101 network, 64 images
//! let batch = Minibatch::draw(&set.train, settings.batch_size, settings.data_seed)?;
//! let scorer = Scorer::new(settings, batch)?;
//! let spec = ModelSpec::from_ops(
//!     vec![vec![0, 1, 1], vec![0, 0, 1], vec![0, 0, 0]],
//!     &[Op::Conv3x3],
//! )?;
//! let scores = scorer.score(&spec, &Proxy::ALL)?;
//! println!("{:?}", scores[&Proxy::Synflow]);
//! # Ok(())
//! # }
//! ```

pub mod batch;
mod error;
pub mod measure;
mod proxy;
mod scorer;
pub mod settings;

pub use batch::Minibatch;
pub use error::ZeroCostError;
pub use proxy::Proxy;
pub use scorer::{torch_rng_lock, Scorer, Scores};
pub use settings::{Settings, ZenBn};
