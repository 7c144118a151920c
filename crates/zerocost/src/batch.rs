//! The one minibatch every cell is scored on: seeded images of the NB-101 training split,
//! normalized with NB-101's channel statistics.

use nb1s1_data::Split;
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use standalone::config::{NB101_RGB_MEAN, NB101_RGB_STD, NB101_TRAIN_IMAGES};
use tch::{Kind, Tensor};

use crate::ZeroCostError;

/// Images `[B, 3, H, W]` (float) with their labels `[B]` (int64).
#[derive(Debug)]
pub struct Minibatch {
    pub images: Tensor,
    pub labels: Tensor,
}

impl Minibatch {
    /// `batch_size` distinct images drawn with `seed` from the first 40,000 of `train` (the
    /// NB-101 training images; fewer if the split is smaller).
    pub fn draw(train: &Split, batch_size: usize, seed: u64) -> Result<Minibatch, ZeroCostError> {
        let pool = train.len().min(NB101_TRAIN_IMAGES);
        if batch_size > pool {
            return Err(ZeroCostError::Config {
                field: "batch_size",
                why: format!("{batch_size} images asked, the training split has {pool}"),
            });
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut idx = sample(&mut rng, pool, batch_size).into_vec();
        idx.sort_unstable();
        let mut pixels = Vec::with_capacity(batch_size * 3072);
        let mut labels = Vec::with_capacity(batch_size);
        for &i in &idx {
            let img = train.image(i).ok_or_else(|| ZeroCostError::Config {
                field: "batch_size",
                why: format!("image {i} missing from the training split"),
            })?;
            for (c, plane) in img.chunks_exact(1024).enumerate() {
                let (m, s) = (NB101_RGB_MEAN[c], NB101_RGB_STD[c]);
                pixels.extend(plane.iter().map(|&p| (f32::from(p) - m) / s));
            }
            labels.push(i64::from(train.labels[i]));
        }
        let n = batch_size as i64;
        Ok(Minibatch {
            images: Tensor::from_slice(&pixels).view([n, 3, 32, 32]),
            labels: Tensor::from_slice(&labels),
        })
    }

    /// Images of a given kind (synflow and the tests run in double precision).
    pub fn to_kind(&self, kind: Kind) -> Minibatch {
        Minibatch {
            images: self.images.to_kind(kind),
            labels: self.labels.shallow_clone(),
        }
    }

    /// A copy with storage of its own (a scorer per thread: tensors are not shared between
    /// threads).
    pub fn deep_copy(&self) -> Minibatch {
        Minibatch {
            images: self.images.copy(),
            labels: self.labels.copy(),
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.size()[0] as usize
    }

    /// Whether it holds no image.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
