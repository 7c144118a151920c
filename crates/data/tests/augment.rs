//! Properties of each augmentation step: the crop shifts content and pads with zeros, the flip
//! is a mirror, Cutout zeroes at most length² pixels per channel, normalization gives the
//! documented mean and spread.

use nb1s1_data::cifar::IMAGE_BYTES;
use nb1s1_data::{Augment, Cutout, HorizontalFlip, Normalize, RandomCrop};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn at(img: &[u8; IMAGE_BYTES], c: usize, y: usize, x: usize) -> u8 {
    img[c * 1024 + y * 32 + x]
}

fn varied() -> [u8; IMAGE_BYTES] {
    let mut img = [0u8; IMAGE_BYTES];
    for (i, v) in img.iter_mut().enumerate() {
        *v = (1 + i % 254) as u8; // never 0, so padding is recognisable
    }
    img
}

#[test]
fn crop_shifts_content_and_pads_with_zero() {
    let src = varied();
    let crop = RandomCrop { padding: 4 };
    for (top, left) in [(0, 0), (4, 4), (8, 8), (1, 7), (6, 2)] {
        let mut dst = [0u8; IMAGE_BYTES];
        crop.apply_at(&src, top, left, &mut dst);
        for c in 0..3 {
            for y in 0..32 {
                for x in 0..32 {
                    let sy = y as isize + top as isize - 4;
                    let sx = x as isize + left as isize - 4;
                    let want = if (0..32).contains(&sy) && (0..32).contains(&sx) {
                        at(&src, c, sy as usize, sx as usize)
                    } else {
                        0
                    };
                    assert_eq!(
                        at(&dst, c, y, x),
                        want,
                        "corner {top},{left} at {c},{y},{x}"
                    );
                }
            }
        }
    }
    let mut dst = [0u8; IMAGE_BYTES];
    crop.apply_at(&src, 4, 4, &mut dst);
    assert_eq!(dst, src, "the centred crop is the identity");
}

#[test]
fn crop_corners_cover_the_whole_range() {
    let crop = RandomCrop { padding: 4 };
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut seen = [[false; 9]; 9];
    for _ in 0..5000 {
        let (t, l) = crop.sample(&mut rng);
        seen[t][l] = true;
    }
    assert!(
        seen.iter().flatten().all(|&s| s),
        "every corner 0..=8 occurs"
    );
}

#[test]
fn flip_is_a_mirror_and_an_involution() {
    let src = varied();
    let mut img = src;
    HorizontalFlip::mirror(&mut img);
    for c in 0..3 {
        for y in 0..32 {
            for x in 0..32 {
                assert_eq!(at(&img, c, y, x), at(&src, c, y, 31 - x));
            }
        }
    }
    HorizontalFlip::mirror(&mut img);
    assert_eq!(img, src);
}

#[test]
fn flip_probability_is_respected() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let half = HorizontalFlip { p: 0.5 };
    let mut img = varied();
    let flips = (0..4000).filter(|_| half.apply(&mut img, &mut rng)).count();
    assert!((1800..2200).contains(&flips), "{flips} flips of 4000");
    let never = HorizontalFlip { p: 0.0 };
    assert!((0..100).all(|_| !never.apply(&mut img, &mut rng)));
}

#[test]
fn normalization_matches_the_formula_and_statistics() {
    let norm = Normalize::CIFAR10;
    let mut src = [0u8; IMAGE_BYTES];
    src[0] = 255;
    src[1024] = 0;
    src[2048] = 128;
    let mut dst = [0f32; IMAGE_BYTES];
    norm.apply(&src, &mut dst);
    assert!((dst[0] - (1.0 - 0.4914) / 0.2470).abs() < 1e-5);
    assert!((dst[1024] - (0.0 - 0.4822) / 0.2435).abs() < 1e-5);
    assert!((dst[2048] - (128.0 / 255.0 - 0.4465) / 0.2616).abs() < 1e-5);

    // Pixels drawn with the channel's own mean and std normalize to mean 0, std 1.
    let custom = Normalize {
        mean: [0.5, 0.5, 0.5],
        std: [0.5, 0.5, 0.5],
    };
    let mut img = [0u8; IMAGE_BYTES];
    for (i, v) in img.iter_mut().enumerate() {
        *v = if i % 2 == 0 { 0 } else { 255 };
    }
    custom.apply(&img, &mut dst);
    let mean = dst.iter().sum::<f32>() / dst.len() as f32;
    let var = dst.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / dst.len() as f32;
    assert!(mean.abs() < 1e-5 && (var.sqrt() - 1.0).abs() < 1e-5);
}

/// The original pipelines' statistics (`[faithful] original_normalization`): ENAS' standard
/// deviations, the DARTS pipeline's unrounded values; `with_normalize` swaps them in.
#[test]
fn original_pipelines_normalization_statistics() {
    let mut src = [0u8; IMAGE_BYTES];
    src[0] = 255;
    src[1024] = 255;
    src[2048] = 255;
    let mut dst = [0f32; IMAGE_BYTES];
    Normalize::CIFAR10_ENAS.apply(&src, &mut dst);
    assert!((dst[0] - (1.0 - 0.4914) / 0.2023).abs() < 1e-5);
    assert!((dst[1024] - (1.0 - 0.4822) / 0.1994).abs() < 1e-5);
    assert!((dst[2048] - (1.0 - 0.4465) / 0.2010).abs() < 1e-5);
    Normalize::CIFAR10_DARTS.apply(&src, &mut dst);
    assert!((dst[0] - (1.0 - 0.49139968) / 0.24703233).abs() < 1e-6);
    assert!((dst[1024] - (1.0 - 0.48215827) / 0.24348505).abs() < 1e-6);
    assert!((dst[2048] - (1.0 - 0.44653124) / 0.26158768).abs() < 1e-6);
    // Not the rounded values: the difference shows in the fourth digit.
    let mut rounded = [0f32; IMAGE_BYTES];
    Normalize::CIFAR10.apply(&src, &mut rounded);
    assert!((dst[0] - rounded[0]).abs() > 1e-4);
    let enas = Augment::eval().with_normalize(Normalize::CIFAR10_ENAS);
    assert_eq!(enas.normalize, Normalize::CIFAR10_ENAS);
    assert!(enas.is_deterministic());
}

#[test]
fn cutout_zeroes_at_most_length_squared_per_channel() {
    let cutout = Cutout {
        length: 16,
        prob: 1.0,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut saw_full = false;
    let mut saw_clipped = false;
    for _ in 0..500 {
        let mut img = [1f32; IMAGE_BYTES];
        let (y1, y2, x1, x2) = cutout
            .apply(&mut img, &mut rng)
            .expect("prob 1 always cuts");
        for plane in img.chunks_exact(1024) {
            let zeros = plane.iter().filter(|&&v| v == 0.0).count();
            assert!(zeros <= 256);
            assert_eq!(zeros, (y2 - y1) * (x2 - x1));
            for y in 0..32 {
                for x in 0..32 {
                    let inside = (y1..y2).contains(&y) && (x1..x2).contains(&x);
                    assert_eq!(plane[y * 32 + x] == 0.0, inside);
                }
            }
        }
        saw_full |= (y2 - y1) * (x2 - x1) == 256;
        saw_clipped |= (y2 - y1) * (x2 - x1) < 256;
    }
    assert!(saw_full && saw_clipped);
    // Window arithmetic at the corner: centre (0, 31) keeps rows 0..8 and columns 23..32.
    assert_eq!(cutout.window(0, 31), (0, 8, 23, 32));
}

#[test]
fn cutout_probability_zero_never_cuts() {
    let cutout = Cutout {
        length: 16,
        prob: 0.0,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut img = [1f32; IMAGE_BYTES];
    assert!((0..100).all(|_| cutout.apply(&mut img, &mut rng).is_none()));
    assert!(img.iter().all(|&v| v == 1.0));
}

#[test]
fn eval_pipeline_is_normalization_only_and_training_pipeline_varies() {
    let src = varied();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut a = [0f32; IMAGE_BYTES];
    let mut b = [0f32; IMAGE_BYTES];
    Augment::eval().apply(&src, &mut a, &mut rng);
    Normalize::CIFAR10.apply(&src, &mut b);
    assert_eq!(a, b);
    assert!(Augment::eval().is_deterministic());

    let train = Augment::darts().with_cutout(16, 1.0);
    assert!(!train.is_deterministic());
    let outputs: Vec<[f32; IMAGE_BYTES]> = (0..8)
        .map(|_| {
            let mut out = [0f32; IMAGE_BYTES];
            train.apply(&src, &mut out, &mut rng);
            out
        })
        .collect();
    assert!(outputs.windows(2).any(|w| w[0] != w[1]));
    for out in &outputs {
        assert!(out.iter().filter(|&&v| v == 0.0).count() >= 3 * 64);
    }
}
