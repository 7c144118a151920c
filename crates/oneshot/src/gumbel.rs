//! Gumbel-softmax samples (GDAS): soft samples for edges, hard straight-through samples for
//! operations (forward one-hot, backward through the soft sample).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

/// Standard Gumbel noise shaped like `like`, drawn from `rng` (the run's seeded generator, not
/// torch's process-wide one) on the CPU and moved to `like`'s device.
pub fn gumbel_noise(like: &Tensor, rng: &mut ChaCha8Rng) -> Tensor {
    // −log(−log U) is Gumbel(0, 1); U in (0, 1) keeps both logarithms finite.
    let n = like.numel();
    let g: Vec<f32> = (0..n)
        .map(|_| {
            let u: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
            -(-u.ln()).ln() as f32
        })
        .collect();
    Tensor::from_slice(&g)
        .view(like.size().as_slice())
        .to_device(like.device())
        .to_kind(like.kind())
}

/// Soft Gumbel-softmax over the last axis.
pub fn gumbel_softmax_soft(logits: &Tensor, tau: f64, rng: &mut ChaCha8Rng) -> Tensor {
    ((logits + gumbel_noise(logits, rng)) / tau).softmax(-1, Kind::Float)
}

/// Hard Gumbel-softmax over the last axis with the straight-through gradient; also returns the
/// chosen index per row so a mixed operation can run only the chosen operation.
pub fn gumbel_softmax_hard(logits: &Tensor, tau: f64, rng: &mut ChaCha8Rng) -> (Tensor, Tensor) {
    let soft = gumbel_softmax_soft(logits, tau, rng);
    let index = soft.argmax(-1, true);
    let hard = soft.zeros_like().scatter_value(-1, &index, 1.0);
    (&hard - soft.detach() + &soft, index.squeeze_dim(-1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_sample_is_one_hot_and_passes_gradient() {
        tch::manual_seed(3);
        let logits = Tensor::randn([5, 3], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        let mut rng = <ChaCha8Rng as rand::SeedableRng>::seed_from_u64(3);
        let (h, idx) = gumbel_softmax_hard(&logits, 1.0, &mut rng);
        // The same seed gives the same draw; torch's generator plays no part.
        let mut again = <ChaCha8Rng as rand::SeedableRng>::seed_from_u64(3);
        tch::manual_seed(99);
        let (h2, _) = gumbel_softmax_hard(&logits, 1.0, &mut again);
        assert!(h.equal(&h2));
        let rows = h.detach().sum_dim_intlist(-1, false, Kind::Float);
        assert!(rows.allclose(
            &Tensor::ones([5], (Kind::Float, tch::Device::Cpu)),
            1e-6,
            1e-6,
            false
        ));
        let maxes = h.detach().amax(-1, false);
        assert!(maxes.allclose(&rows, 1e-6, 1e-6, false));
        assert_eq!(idx.size(), vec![5]);
        // A loss that depends on which row entries are chosen must reach the logits.
        let w = Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
        (h * w).sum(Kind::Float).backward();
        assert!(logits.grad().abs().sum(Kind::Float).double_value(&[]) > 0.0);
    }
}
