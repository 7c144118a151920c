//! Hessian tracking, an epoch hook ([`HessianHook`]) for any differentiable method: every `every` epochs, the
//! dominant eigenvalue of the Hessian of the validation loss with respect to the architecture
//! weights, by power iteration on Hessian-vector products (double backward through
//! [`grads_or_zeros`] with `create_graph`). Reported as the metric `hessian_eigenvalue`
//! (epochs.jsonl, TensorBoard `metrics/hessian_eigenvalue`, the store). Zela et al. (ICLR 2020)
//! found its growth to precede DARTS' collapse; [`crate::darts_es`] stops on it.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use crate::error::OneShotError;
use crate::hook::EpochHook;
use crate::mixing::{Phase, Relaxation};
use crate::optim::grads_or_zeros;
use crate::optimizer::{EpochContext, EpochEnd};
use crate::run_dir::Metrics;
pub use crate::settings::HessianConfig;

/// The metric's name in epoch records.
pub const METRIC: &str = "hessian_eigenvalue";

/// Σ⟨a_i, b_i⟩ over a list of tensors, as a scalar tensor (differentiable).
fn dot(a: &[Tensor], b: &[Tensor]) -> Tensor {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x * y).sum(x.kind()))
        .reduce(|s, t| s + t)
        .unwrap_or_else(|| Tensor::zeros([], (Kind::Double, tch::Device::Cpu)))
}

fn norm(v: &[Tensor]) -> f64 {
    dot(v, v).double_value(&[]).sqrt()
}

/// The eigenvalue of largest magnitude of the Hessian of `loss` with respect to `params`
/// (signed, as the Rayleigh quotient), by power iteration from a start vector drawn from `rng`.
/// `loss` must still have its graph (it is differentiated twice).
pub fn dominant_eigenvalue(
    loss: &Tensor,
    params: &[(String, Tensor)],
    iterations: usize,
    tolerance: f64,
    rng: &mut ChaCha8Rng,
) -> Result<f64, OneShotError> {
    let g = grads_or_zeros(loss, params, true);
    let mut v: Vec<Tensor> = params
        .iter()
        .map(|(_, p)| {
            let r: Vec<f64> = (0..p.numel()).map(|_| rng.gen_range(-1.0..1.0)).collect();
            Tensor::from_slice(&r)
                .view(p.size().as_slice())
                .to_kind(p.kind())
                .to_device(p.device())
        })
        .collect();
    let n0 = norm(&v).max(f64::MIN_POSITIVE);
    v.iter_mut().for_each(|t| *t = &*t / n0);
    let ts: Vec<&Tensor> = params.iter().map(|(_, t)| t).collect();
    let mut lambda = 0.0;
    for i in 0..iterations.max(1) {
        let gv = dot(&g, &v);
        let hv: Vec<Tensor> = Tensor::run_backward(&[gv], &ts, true, false)
            .into_iter()
            .zip(&ts)
            .map(|(h, p)| if h.defined() { h } else { p.zeros_like() })
            .collect();
        let next = dot(&hv, &v).double_value(&[]);
        if !next.is_finite() {
            return Err(OneShotError::Invalid(format!(
                "Hessian power iteration: eigenvalue estimate {next} at step {i}"
            )));
        }
        let n = norm(&hv);
        let converged = i > 0 && (next - lambda).abs() <= tolerance * next.abs();
        lambda = next;
        if converged || n == 0.0 {
            break;
        }
        v = hv.iter().map(|t| t / n).collect();
    }
    Ok(lambda)
}

/// Hessian tracking as an epoch hook: every `every` epochs, the eigenvalue on the first
/// validation batches under the relaxation's evaluation mixing.
pub struct HessianHook {
    pub settings: HessianConfig,
    /// This epoch's eigenvalue, once computed.
    pub current: Option<f64>,
}

impl HessianHook {
    pub fn new(settings: HessianConfig) -> Self {
        HessianHook {
            settings,
            current: None,
        }
    }

    /// The dominant eigenvalue on the first validation batches, with `relaxation`'s mixing.
    pub fn measure(
        &self,
        cx: &mut EpochContext<'_>,
        relaxation: &mut dyn Relaxation,
    ) -> Result<f64, OneShotError> {
        let n = self.settings.batches.clamp(1, cx.valid.len().max(1));
        let mut total: Option<Tensor> = None;
        for b in cx.valid.iter().take(n) {
            let mut mix = relaxation.mixing(&mut cx.mix_context(Phase::Eval))?;
            let l = cx.model.loss(b, mix.as_mut(), true).0;
            total = Some(match total {
                Some(t) => t + l,
                None => l,
            });
        }
        let loss =
            total.ok_or_else(|| OneShotError::Data("no validation batch".into()))? / n as f64;
        let arch = cx.model.arch_params();
        let s = &self.settings;
        dominant_eigenvalue(
            &loss.to_kind(Kind::Float),
            &arch,
            s.iterations,
            s.tolerance,
            cx.rng,
        )
    }
}

impl EpochHook for HessianHook {
    fn new_epoch(&mut self, _epoch: usize, _epochs: usize) {
        self.current = None;
    }
    fn end_epoch(
        &mut self,
        cx: &mut EpochContext<'_>,
        relaxation: &mut dyn Relaxation,
        _seen: &Metrics,
    ) -> Result<EpochEnd, OneShotError> {
        if (cx.epoch + 1).is_multiple_of(self.settings.every.max(1)) {
            self.current = Some(self.measure(cx, relaxation)?);
        }
        Ok(EpochEnd::Continue)
    }
    fn metrics(&self) -> Metrics {
        self.current
            .iter()
            .map(|l| (METRIC.to_string(), *l))
            .collect()
    }
}
