//! Training-time augmentation as in the DARTS code the paper builds on: random 32x32 crop of the
//! zero-padded image, horizontal flip, per-channel normalization of [0, 1] pixels, and Cutout
//! applied after normalization. Each step is its own small type; [`Augment`] chains them.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::cifar::{CHANNELS, IMAGE_BYTES, SIDE};

const PLANE: usize = SIDE * SIDE;

/// Random crop of size 32 from the image padded with `padding` zero pixels on every side
/// (torchvision `RandomCrop(32, padding)`): the crop's corner is uniform in `0..=2*padding`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RandomCrop {
    /// Zero padding on each side, in pixels (4 in DARTS).
    pub padding: usize,
}

impl RandomCrop {
    /// Draws the crop corner `(top, left)` in padded coordinates.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> (usize, usize) {
        let top = rng.gen_range(0..=2 * self.padding);
        let left = rng.gen_range(0..=2 * self.padding);
        (top, left)
    }

    /// Crops at a given corner: `dst(y, x) = src(y + top - padding, x + left - padding)`, zero
    /// where that falls outside the image.
    pub fn apply_at(
        &self,
        src: &[u8; IMAGE_BYTES],
        top: usize,
        left: usize,
        dst: &mut [u8; IMAGE_BYTES],
    ) {
        dst.fill(0);
        let dy = top as isize - self.padding as isize;
        let dx = left as isize - self.padding as isize;
        // Destination columns whose source column lies inside the image.
        let x0 = (-dx).clamp(0, SIDE as isize) as usize;
        let x1 = (SIDE as isize - dx).clamp(0, SIDE as isize) as usize;
        if x0 >= x1 {
            return;
        }
        for (src_plane, dst_plane) in src.chunks_exact(PLANE).zip(dst.chunks_exact_mut(PLANE)) {
            for (y, dst_row) in dst_plane.chunks_exact_mut(SIDE).enumerate() {
                let sy = y as isize + dy;
                if !(0..SIDE as isize).contains(&sy) {
                    continue;
                }
                let sy = sy as usize;
                let sx0 = (x0 as isize + dx) as usize;
                let sx1 = (x1 as isize + dx) as usize;
                if let (Some(d), Some(s)) = (
                    dst_row.get_mut(x0..x1),
                    src_plane.get(sy * SIDE + sx0..sy * SIDE + sx1),
                ) {
                    d.copy_from_slice(s);
                }
            }
        }
    }

    /// Draws a corner and crops.
    pub fn apply<R: Rng + ?Sized>(
        &self,
        src: &[u8; IMAGE_BYTES],
        dst: &mut [u8; IMAGE_BYTES],
        rng: &mut R,
    ) {
        let (top, left) = self.sample(rng);
        self.apply_at(src, top, left, dst);
    }
}

/// Horizontal (left-right) mirror with probability `p` (0.5 in DARTS).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HorizontalFlip {
    /// Probability of mirroring.
    pub p: f64,
}

impl HorizontalFlip {
    /// Mirrors every row of every plane in place.
    pub fn mirror(img: &mut [u8; IMAGE_BYTES]) {
        for row in img.chunks_exact_mut(SIDE) {
            row.reverse();
        }
    }

    /// Mirrors with probability `p`; returns whether it did.
    pub fn apply<R: Rng + ?Sized>(&self, img: &mut [u8; IMAGE_BYTES], rng: &mut R) -> bool {
        let flip = rng.gen::<f64>() < self.p;
        if flip {
            Self::mirror(img);
        }
        flip
    }
}

/// Per-channel normalization of pixels scaled to [0, 1]: `(p / 255 - mean) / std`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalize {
    /// Channel means (R, G, B).
    pub mean: [f32; CHANNELS],
    /// Channel standard deviations (R, G, B).
    pub std: [f32; CHANNELS],
}

impl Normalize {
    /// The CIFAR-10 statistics used by DARTS and NAS-Bench-1Shot1, rounded to 4 digits.
    pub const CIFAR10: Normalize = Normalize {
        mean: [0.4914, 0.4822, 0.4465],
        std: [0.2470, 0.2435, 0.2616],
    };

    /// The same statistics unrounded, as the original DARTS pipeline (`optimizers/darts/utils.py`,
    /// used by DARTS, GDAS, PC-DARTS and Random-WS) writes them.
    pub const CIFAR10_DARTS: Normalize = Normalize {
        mean: [0.491_399_68, 0.482_158_27, 0.446_531_24],
        std: [0.247_032_33, 0.243_485_05, 0.261_587_68],
    };

    /// The original ENAS data pipeline's (`optimizers/enas/data.py`): the rounded means with
    /// the widely copied standard deviations 0.2023 / 0.1994 / 0.2010.
    pub const CIFAR10_ENAS: Normalize = Normalize {
        mean: [0.4914, 0.4822, 0.4465],
        std: [0.2023, 0.1994, 0.2010],
    };

    /// Converts CHW bytes to normalized CHW floats.
    pub fn apply(&self, src: &[u8; IMAGE_BYTES], dst: &mut [f32; IMAGE_BYTES]) {
        for (c, (s, d)) in src
            .chunks_exact(PLANE)
            .zip(dst.chunks_exact_mut(PLANE))
            .enumerate()
        {
            let mean = self.mean.get(c).copied().unwrap_or(0.0);
            let std = self.std.get(c).copied().unwrap_or(1.0);
            // Fold the three operations into one multiply-add per pixel.
            let scale = 1.0 / (255.0 * std);
            let shift = -mean / std;
            for (d, &p) in d.iter_mut().zip(s) {
                *d = f32::from(p) * scale + shift;
            }
        }
    }
}

impl Default for Normalize {
    fn default() -> Self {
        Normalize::CIFAR10
    }
}

/// Cutout (DeVries & Taylor): with probability `prob`, zero a `length`x`length` square centred
/// at a uniform pixel, clipped at the borders, in every channel. Applied after normalization,
/// so the square becomes 0 in normalized units, as in DARTS.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cutout {
    /// Side of the square (16 in DARTS).
    pub length: usize,
    /// Probability of applying it.
    pub prob: f64,
}

impl Cutout {
    /// The clipped square `(y1, y2, x1, x2)` (half-open) for a centre `(cy, cx)`.
    pub fn window(&self, cy: usize, cx: usize) -> (usize, usize, usize, usize) {
        let half = self.length / 2;
        let y1 = cy.saturating_sub(half);
        let y2 = (cy + half).min(SIDE);
        let x1 = cx.saturating_sub(half);
        let x2 = (cx + half).min(SIDE);
        (y1, y2, x1, x2)
    }

    /// Zeroes the square centred at `(cy, cx)` in every channel.
    pub fn apply_at(&self, img: &mut [f32; IMAGE_BYTES], cy: usize, cx: usize) {
        let (y1, y2, x1, x2) = self.window(cy, cx);
        for plane in img.chunks_exact_mut(PLANE) {
            for row in plane
                .chunks_exact_mut(SIDE)
                .skip(y1)
                .take(y2.saturating_sub(y1))
            {
                if let Some(seg) = row.get_mut(x1..x2.max(x1)) {
                    seg.fill(0.0);
                }
            }
        }
    }

    /// Applies Cutout with probability `prob`; returns the zeroed window when it did.
    pub fn apply<R: Rng + ?Sized>(
        &self,
        img: &mut [f32; IMAGE_BYTES],
        rng: &mut R,
    ) -> Option<(usize, usize, usize, usize)> {
        if rng.gen::<f64>() >= self.prob {
            return None;
        }
        let cy = rng.gen_range(0..SIDE);
        let cx = rng.gen_range(0..SIDE);
        self.apply_at(img, cy, cx);
        Some(self.window(cy, cx))
    }
}

/// The full pipeline: crop → flip → normalize → Cutout. Steps set to `None` are skipped, so
/// [`Augment::eval`] (normalization only) is the evaluation transform.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    /// Random crop with zero padding.
    pub crop: Option<RandomCrop>,
    /// Horizontal flip.
    pub flip: Option<HorizontalFlip>,
    /// Normalization (always applied).
    pub normalize: Normalize,
    /// Cutout after normalization.
    pub cutout: Option<Cutout>,
}

impl Augment {
    /// The DARTS training transform without Cutout: crop 32 / padding 4, flip p=0.5, CIFAR-10
    /// normalization.
    pub fn darts() -> Augment {
        Augment {
            crop: Some(RandomCrop { padding: 4 }),
            flip: Some(HorizontalFlip { p: 0.5 }),
            normalize: Normalize::CIFAR10,
            cutout: None,
        }
    }

    /// The evaluation transform: normalization only.
    pub fn eval() -> Augment {
        Augment {
            crop: None,
            flip: None,
            normalize: Normalize::CIFAR10,
            cutout: None,
        }
    }

    /// Returns this pipeline with other normalization statistics.
    pub fn with_normalize(mut self, normalize: Normalize) -> Augment {
        self.normalize = normalize;
        self
    }

    /// Returns this pipeline with Cutout of side `length` applied with probability `prob`.
    pub fn with_cutout(mut self, length: usize, prob: f64) -> Augment {
        self.cutout = Some(Cutout { length, prob });
        self
    }

    /// True when no step draws random numbers (so the output depends on the input only).
    pub fn is_deterministic(&self) -> bool {
        self.crop.is_none() && self.flip.is_none() && self.cutout.is_none()
    }

    /// Transforms one image (CHW bytes) into normalized CHW floats.
    pub fn apply<R: Rng + ?Sized>(
        &self,
        src: &[u8; IMAGE_BYTES],
        dst: &mut [f32; IMAGE_BYTES],
        rng: &mut R,
    ) {
        let mut work = [0u8; IMAGE_BYTES];
        match &self.crop {
            Some(crop) => crop.apply(src, &mut work, rng),
            None => work.copy_from_slice(src),
        }
        if let Some(flip) = &self.flip {
            flip.apply(&mut work, rng);
        }
        self.normalize.apply(&work, dst);
        if let Some(cutout) = &self.cutout {
            cutout.apply(dst, rng);
        }
    }
}
