//! Fair-DARTS' zero-one loss (Chu et al., ECCV 2020): −w · mean over every architecture weight
//! of (σ(α) − ½)², which pushes each sigmoid weight toward 0 or 1 so that the discretization
//! loses little. Gradient per weight: −w · 2(σ − ½) σ (1 − σ) / N.

use tch::Tensor;

use crate::model::OneShotModel;
use crate::regularizer::Regularizer;
pub use crate::settings::ZeroOneConfig;

/// The zero-one loss with weight `weight` (the paper's w₀₁ = 10).
pub struct ZeroOne(pub ZeroOneConfig);

/// −mean over all entries of `tensors` of (σ(t) − ½)².
pub fn zero_one_loss(tensors: &[Tensor]) -> Option<Tensor> {
    let flat: Vec<Tensor> = tensors.iter().map(|t| t.flatten(0, -1)).collect();
    let all = Tensor::cat(&flat, 0);
    (all.numel() > 0).then(|| -(all.sigmoid() - 0.5).square().mean(all.kind()))
}

impl Regularizer for ZeroOne {
    fn arch_term(&mut self, model: &OneShotModel) -> Option<Tensor> {
        let arch: Vec<Tensor> = model.arch_params().into_iter().map(|(_, t)| t).collect();
        zero_one_loss(&arch).map(|l| l * self.0.weight)
    }
}
