//! DrNAS (Chen et al., ICLR 2021, "DrNAS: Dirichlet neural architecture search"): the mixing
//! weights of every row of the architecture state are a sample of Dir(β), β = elu(α) + 1, drawn
//! anew for every weight and architecture step; α learns through the pathwise (implicit
//! reparameterization) gradient of the sample plus `reg_scale` × KL(Dir(β) ‖ Dir(prior)), the
//! regularizer of the original ([`DrnasKl`], a [`Regularizer`]). Evaluation uses the mean β / Σβ; the epoch's cell is the argmax
//! of α (the mean is monotone in α). The progressive channel schedule of the original is left out.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use supernet::{ArchParams, MixingSource, MixingWeights, SharedMixing};
use tch::{Kind, Tensor};

use crate::error::OneShotError;
use crate::mixing::{MixContext, Phase, Relaxation};
use crate::model::OneShotModel;
use crate::regularizer::Regularizer;
pub use crate::settings::{DrnasKlConfig, DrnasKlConfig as DrnasConfig};

/// β = elu(α) + 1 > 0.
pub fn concentration(alpha: &Tensor) -> Tensor {
    alpha.elu() + 1.0
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
    let v: f64 = rng.gen();
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// A Gamma(shape, 1) draw (Marsaglia & Tsang; shape < 1 by boosting).
fn gamma(shape: f64, rng: &mut ChaCha8Rng) -> f64 {
    if shape < 1.0 {
        let u: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
        return gamma(shape + 1.0, rng) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// One Dir(β) sample per row of `beta` (last axis), from `rng`, with the pathwise gradient to
/// β: value x, gradient ∂x/∂β as torch's `Dirichlet.rsample` (`_dirichlet_grad`).
pub fn dirichlet_rsample(beta: &Tensor, rng: &mut ChaCha8Rng) -> Result<Tensor, OneShotError> {
    let b = beta
        .detach()
        .to_kind(Kind::Double)
        .to_device(tch::Device::Cpu);
    let k = *b.size().last().unwrap_or(&1) as usize;
    let flat = Vec::<f64>::try_from(b.flatten(0, -1))?;
    let mut x = Vec::with_capacity(flat.len());
    for row in flat.chunks(k.max(1)) {
        let g: Vec<f64> = row.iter().map(|&a| gamma(a, rng).max(1e-30)).collect();
        let s: f64 = g.iter().sum();
        x.extend(g.iter().map(|v| v / s));
    }
    let x = Tensor::from_slice(&x)
        .view(beta.size().as_slice())
        .to_kind(beta.kind())
        .to_device(beta.device());
    let bd = beta.detach();
    let total = bd.sum_dim_intlist(-1, true, bd.kind()).expand_as(&bd);
    let grad = Tensor::internal_dirichlet_grad(&x, &bd, &total);
    // y = x in value; ∂L/∂β = grad ⊙ (g − ⟨x, g⟩) as torch's `_Dirichlet_backward`.
    // With d = grad ⊙ (β − sg(β)) (zero in value): y = x + d − x·Σd.
    let d = grad * (beta - &bd);
    let total_d = d.sum_dim_intlist(-1, true, d.kind());
    Ok(&x + &d - &x * total_d)
}

/// Σ over rows of KL(Dir(β) ‖ Dir(p·1)).
pub fn kl_to_prior(beta: &Tensor, p: f64) -> Tensor {
    let k = *beta.size().last().unwrap_or(&1) as f64;
    let kind = beta.kind();
    let sum = beta.sum_dim_intlist(-1, true, kind);
    let prior_const = libm_lgamma(k * p) - k * libm_lgamma(p);
    let kl =
        sum.lgamma().squeeze_dim(-1) - beta.lgamma().sum_dim_intlist(-1, false, kind) - prior_const
            + ((beta - p) * (beta.digamma() - sum.digamma())).sum_dim_intlist(-1, false, kind);
    kl.sum(kind)
}

/// ln Γ(x) of a number, through torch (no extra dependency).
fn libm_lgamma(x: f64) -> f64 {
    Tensor::from_slice(&[x]).lgamma().double_value(&[0])
}

/// Dirichlet mixing: samples in weight and architecture steps, the mean in evaluation.
pub struct DirichletMixing;

/// `f` applied to every architecture tensor.
pub fn map_arch(
    arch: &ArchParams,
    mut f: impl FnMut(&Tensor) -> Result<Tensor, OneShotError>,
) -> Result<MixingWeights, OneShotError> {
    Ok(MixingWeights {
        ops: f(&arch.ops)?,
        output: f(&arch.output)?,
        inputs: arch
            .inputs
            .iter()
            .map(|t| t.as_ref().map(&mut f).transpose())
            .collect::<Result<_, _>>()?,
        active_ops: None,
    })
}

impl Relaxation for DirichletMixing {
    fn mixing(&mut self, cx: &mut MixContext<'_>) -> Result<Box<dyn MixingSource>, OneShotError> {
        let rng = &mut *cx.rng;
        let w = match cx.phase {
            Phase::Eval => map_arch(cx.arch, |a| {
                let b = concentration(a);
                let s = b.sum_dim_intlist(-1, true, b.kind());
                Ok(b / s)
            })?,
            _ => map_arch(cx.arch, |a| dirichlet_rsample(&concentration(a), rng))?,
        };
        Ok(Box::new(SharedMixing(w)))
    }
}

/// DrNAS' regularizer: `reg_scale` · Σ over the architecture tensors of KL(Dir(β) ‖ Dir(prior)).
pub struct DrnasKl(pub DrnasKlConfig);

impl Regularizer for DrnasKl {
    fn arch_term(&mut self, model: &OneShotModel) -> Option<Tensor> {
        let s = &self.0;
        model
            .arch_params()
            .iter()
            .map(|(_, a)| kl_to_prior(&concentration(a), s.prior))
            .reduce(|x, y| x + y)
            .map(|r| r * s.reg_scale)
    }
}
