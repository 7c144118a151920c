//! Gumbel-softmax samples (GDAS): soft samples for edges, hard straight-through samples for
//! operations (forward one-hot, backward through the soft sample).

use tch::{Kind, Tensor};

/// Standard Gumbel noise shaped like `like`, from torch's global generator (seeded per epoch).
pub fn gumbel_noise(like: &Tensor) -> Tensor {
    // −log(Exp(1)) is Gumbel(0, 1); exponential_ never returns 0 in float.
    let mut e = like.empty_like();
    -e.exponential_(1.0).log()
}

/// Soft Gumbel-softmax over the last axis.
pub fn gumbel_softmax_soft(logits: &Tensor, tau: f64) -> Tensor {
    ((logits + gumbel_noise(logits)) / tau).softmax(-1, Kind::Float)
}

/// Hard Gumbel-softmax over the last axis with the straight-through gradient; also returns the
/// chosen index per row so a mixed operation can run only the chosen operation.
pub fn gumbel_softmax_hard(logits: &Tensor, tau: f64) -> (Tensor, Tensor) {
    let soft = gumbel_softmax_soft(logits, tau);
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
        let (h, idx) = gumbel_softmax_hard(&logits, 1.0);
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
