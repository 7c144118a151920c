//! Hessian tracking, an add-on for any differentiable optimizer: every `every` epochs, the
//! dominant eigenvalue of the Hessian of the validation loss with respect to the architecture
//! weights, by power iteration on Hessian-vector products (double backward through
//! [`grads_or_zeros`] with `create_graph`). Reported as the metric `hessian_eigenvalue`
//! (epochs.jsonl, TensorBoard `metrics/hessian_eigenvalue`, the store). Zela et al. (ICLR 2020)
//! found its growth to precede DARTS' collapse; [`crate::darts_es`] stops on it.

use std::collections::BTreeMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use supernet::MixingSource;
use tch::{nn, Kind, Tensor};

use crate::error::OneShotError;
use crate::mixing::{MixContext, Phase};
use crate::model::TensorBatch;
use crate::optim::grads_or_zeros;
use crate::optimizer::{DataSplit, EpochContext, EpochEnd, SearchOptimizer, StepStats};
use crate::run_dir::Metrics;
use crate::selection::{SelectContext, Selected};

/// The metric's name in epoch records.
pub const METRIC: &str = "hessian_eigenvalue";

/// `[options]` of Hessian tracking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HessianConfig {
    /// Track after every this many epochs (epoch e is tracked when (e + 1) % every == 0).
    pub every: usize,
    /// Validation batches whose mean loss is differentiated (the first ones, fixed order).
    pub batches: usize,
    /// Most power-iteration steps.
    pub iterations: usize,
    /// Stop iterating when the estimate changes by less than this, relative.
    pub tolerance: f64,
}

impl Default for HessianConfig {
    fn default() -> Self {
        HessianConfig {
            every: 1,
            batches: 1,
            iterations: 50,
            tolerance: 1e-4,
        }
    }
}

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

/// An optimizer with Hessian tracking switched on; everything else is `inner`'s.
pub struct HessianTracking<O> {
    pub inner: O,
    pub settings: HessianConfig,
    /// This epoch's eigenvalue, once computed.
    pub current: Option<f64>,
}

impl<O: SearchOptimizer> HessianTracking<O> {
    pub fn new(inner: O, settings: HessianConfig) -> Self {
        HessianTracking {
            inner,
            settings,
            current: None,
        }
    }

    /// The dominant eigenvalue on the first validation batches, with `inner`'s mixing.
    pub fn measure(&mut self, cx: &mut EpochContext<'_>) -> Result<f64, OneShotError> {
        let n = self.settings.batches.clamp(1, cx.valid.len().max(1));
        let mut total: Option<Tensor> = None;
        for b in cx.valid.iter().take(n) {
            let mut mix = self.inner.mixing(&mut cx.mix_context(Phase::Eval))?;
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

impl<O: SearchOptimizer> SearchOptimizer for HessianTracking<O> {
    fn data_split(&self) -> DataSplit {
        self.inner.data_split()
    }
    fn new_epoch(&mut self, cx: &mut EpochContext<'_>) -> Result<(), OneShotError> {
        self.current = None;
        self.inner.new_epoch(cx)
    }
    fn wants_valid_batches(&self, epoch: usize) -> bool {
        self.inner.wants_valid_batches(epoch)
    }
    fn step(
        &mut self,
        cx: &mut EpochContext<'_>,
        train: &TensorBatch,
        valid: Option<&TensorBatch>,
    ) -> Result<StepStats, OneShotError> {
        self.inner.step(cx, train, valid)
    }
    fn end_epoch(
        &mut self,
        cx: &mut EpochContext<'_>,
        batches: &mut dyn FnMut() -> Result<TensorBatch, OneShotError>,
    ) -> Result<EpochEnd, OneShotError> {
        let end = self.inner.end_epoch(cx, batches)?;
        if (cx.epoch + 1).is_multiple_of(self.settings.every.max(1)) {
            self.current = Some(self.measure(cx)?);
        }
        Ok(end)
    }
    fn select(&mut self, cx: &mut SelectContext<'_>) -> Result<Selected, OneShotError> {
        self.inner.select(cx)
    }
    fn mixing(&mut self, cx: &mut MixContext<'_>) -> Result<Box<dyn MixingSource>, OneShotError> {
        self.inner.mixing(cx)
    }
    fn metrics(&self) -> Metrics {
        let mut m = self.inner.metrics();
        if let Some(l) = self.current {
            m.insert(METRIC.into(), l);
        }
        m
    }
    fn learns_arch_weights(&self) -> bool {
        self.inner.learns_arch_weights()
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        self.inner.state()
    }
    fn load_state(&mut self, tensors: &BTreeMap<String, Tensor>) -> Result<(), OneShotError> {
        self.inner.load_state(tensors)
    }
    fn own_store(&self) -> Option<&nn::VarStore> {
        self.inner.own_store()
    }
    fn own_store_mut(&mut self) -> Option<&mut nn::VarStore> {
        self.inner.own_store_mut()
    }
}
