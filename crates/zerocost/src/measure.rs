//! The proxies of one network at initialization. Each function takes the network and its var
//! store, so the tests can hand them a tiny network with known weights; [`crate::Scorer`] builds
//! a fresh, seeded network per group of proxies. The layers every proxy sums over are NASLib's:
//! the weights of the convolutions and of the dense layer (BatchNorm's affine parameters and the
//! dense bias are not counted).

use standalone::{Nb101Network, Probe};
use tch::nn::VarStore;
use tch::{Kind, Tensor};

use crate::batch::Minibatch;
use crate::settings::ZenBn;

/// The convolution and dense weights of a network, in name order.
pub fn weights(vs: &VarStore) -> Vec<Tensor> {
    let mut named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(n, _)| n.ends_with("conv.weight") || n == "dense.weight")
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named.into_iter().map(|(_, t)| t).collect()
}

/// Mean cross-entropy in the logits' precision (tch's `cross_entropy_for_logits` computes in
/// float32).
fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Tensor {
    logits.log_softmax(-1, logits.kind()).nll_loss(labels)
}

fn scalar(t: &Tensor) -> f64 {
    t.double_value(&[])
}

/// Σ over the weights of `f(w, g)` summed, skipping weights without a gradient.
fn sum_pairs(ws: &[Tensor], gs: &[Tensor], f: impl Fn(&Tensor, &Tensor) -> Tensor) -> f64 {
    ws.iter()
        .zip(gs)
        .filter(|(_, g)| g.defined())
        .map(|(w, g)| scalar(&f(w, g).to_kind(Kind::Double)))
        .sum()
}

/// Records what the one-pass proxies read: each weighted layer's output with its fan-in, and
/// the NASWOT kernel of the ReLU inputs.
#[derive(Default)]
struct Recorder {
    acts: Vec<(Tensor, i64)>,
    kernel: Option<Tensor>,
}

impl Probe for Recorder {
    fn weighted(&mut self, weight: &Tensor, out: &Tensor) {
        let fan_in = weight.numel() as i64 / weight.size()[0].max(1);
        self.acts.push((out.shallow_clone(), fan_in));
    }

    fn pre_relu(&mut self, x: &Tensor) {
        tch::no_grad(|| {
            let b = x.size()[0];
            let c = x.reshape([b, -1]).gt(0.0).to_kind(Kind::Double);
            let d: Tensor = 1.0 - &c;
            let k = c.matmul(&c.tr()) + d.matmul(&d.tr());
            self.kernel = Some(match self.kernel.take() {
                Some(acc) => acc + k,
                None => k,
            });
        });
    }
}

/// The proxies one forward and two backward passes give (BatchNorm on batch statistics,
/// cross-entropy loss on the minibatch's labels).
#[derive(Clone, Debug, PartialEq)]
pub struct OnePass {
    pub snip: f64,
    pub plain: f64,
    pub grad_norm: f64,
    pub fisher: f64,
    /// Each weighted layer's fisher saliency (unweighted) with its fan-in, in forward order.
    pub fisher_layers: Vec<(f64, i64)>,
    pub jacov: f64,
    pub nwot: f64,
}

/// snip, plain, grad_norm, fisher, jacov and nwot of `net` on `batch`.
pub fn one_pass(
    vs: &VarStore,
    net: &Nb101Network,
    batch: &Minibatch,
    fisher_fan_in: bool,
) -> OnePass {
    let ws = weights(vs);
    let x = batch.images.detach().set_requires_grad(true);
    let mut rec = Recorder::default();
    let logits = net.forward_probed(&x, true, &mut rec);
    let loss = cross_entropy(&logits, &batch.labels);
    let mut inputs: Vec<Tensor> = ws.iter().map(Tensor::shallow_clone).collect();
    inputs.extend(rec.acts.iter().map(|(a, _)| a.shallow_clone()));
    let grads = Tensor::run_backward(&[&loss], &inputs, true, false);
    let (gw, ga) = grads.split_at(ws.len());
    let fisher_layers = fisher_terms(&rec.acts, ga);
    let fisher = fisher_layers
        .iter()
        .map(|&(v, f)| if fisher_fan_in { v * f as f64 } else { v })
        .sum();
    let jac = Tensor::run_backward(&[&logits.sum(logits.kind())], &[&x], false, false);
    OnePass {
        snip: sum_pairs(&ws, gw, |w, g| (w * g).abs().sum(Kind::Double)),
        plain: sum_pairs(&ws, gw, |w, g| (w * g).sum(Kind::Double)),
        grad_norm: sum_pairs(&ws, gw, |_, g| g.to_kind(Kind::Double).norm()),
        fisher,
        fisher_layers,
        jacov: jacov_score(&jac[0]),
        nwot: rec.kernel.as_ref().map_or(f64::NAN, nwot_score),
    }
}

/// Fisher saliency of each weighted layer, Σ_k ½ mean_n (Σ_hw a·∂L/∂a)², with its fan-in
/// (NASLib broadcasts a channel's value to its fan-in weights before summing).
fn fisher_terms(acts: &[(Tensor, i64)], grads: &[Tensor]) -> Vec<(f64, i64)> {
    acts.iter()
        .zip(grads)
        .filter(|(_, g)| g.defined())
        .map(|((a, f), g)| {
            let prod = (a.detach() * g).to_kind(Kind::Double);
            let g_nk = if prod.dim() > 2 {
                prod.sum_dim_intlist([2i64, 3].as_slice(), false, None::<Kind>)
            } else {
                prod
            };
            let per_channel =
                g_nk.pow_tensor_scalar(2)
                    .mean_dim([0i64].as_slice(), false, None::<Kind>)
                    * 0.5;
            (scalar(&per_channel.sum(Kind::Double)), *f)
        })
        .collect()
}

/// jacov from the input gradients `[B, ...]`: −Σ (ln(λ + k) + 1/(λ + k)) over the eigenvalues
/// λ of the images' correlation matrix, k = 1e-5. NaN (a `null` score) where the matrix has
/// no eigenvalues: an image whose gradient is constant makes its correlations NaN, and
/// torch's `eigh` then fails, as NASLib's score does.
pub fn jacov_score(jac: &Tensor) -> f64 {
    let b = jac.size()[0];
    let corr = jac.reshape([b, -1]).to_kind(Kind::Double).corrcoef();
    match corr.f_linalg_eigvalsh("L") {
        Ok(v) => {
            let v = v + 1e-5;
            -scalar(&(v.log() + v.reciprocal()).sum(Kind::Double))
        }
        Err(_) => f64::NAN,
    }
}

/// nwot from the Hamming kernel: ln |det K|.
pub fn nwot_score(kernel: &Tensor) -> f64 {
    let (_, logabs) = Tensor::linalg_slogdet(kernel);
    scalar(&logabs)
}

/// grasp: Σ −θ ⊙ (H g) over the weights, g the loss gradient, H the loss Hessian.
pub fn grasp(vs: &VarStore, net: &Nb101Network, batch: &Minibatch) -> f64 {
    let ws = weights(vs);
    let logits = net.forward_t(&batch.images, true);
    let loss = cross_entropy(&logits, &batch.labels);
    let g = Tensor::run_backward(&[&loss], &ws, true, true);
    let z = g
        .iter()
        .filter(|g| g.defined())
        .map(|g| (g.detach() * g).sum(g.kind()))
        .reduce(|a, b| a + b);
    let Some(z) = z else { return 0.0 };
    let hg = Tensor::run_backward(&[&z], &ws, false, false);
    sum_pairs(&ws, &hg, |w, hg| (-(w * hg)).sum(Kind::Double))
}

/// A probe that leaves BatchNorm out (synflow's network).
struct NoBatchNorm;

impl Probe for NoBatchNorm {
    fn batch_norm(&self) -> bool {
        false
    }
}

/// synflow: ln Σ |θ ⊙ ∂R/∂θ| where R sums the logits of an all-ones image through the network
/// with |θ| for every variable, without BatchNorm, in double precision. Changes the weights.
pub fn synflow(vs: &mut VarStore, net: &Nb101Network, image_shape: &[i64]) -> f64 {
    vs.double();
    tch::no_grad(|| {
        for (_, mut v) in vs.variables() {
            let _ = v.abs_();
        }
    });
    let ws = weights(vs);
    let mut shape = vec![1i64];
    shape.extend_from_slice(image_shape);
    let ones = Tensor::ones(shape.as_slice(), (Kind::Double, vs.device()));
    let r = net
        .forward_probed(&ones, true, &mut NoBatchNorm)
        .sum(Kind::Double);
    let gs = Tensor::run_backward(&[&r], &ws, false, false);
    sum_pairs(&ws, &gs, |w, g| (w * g).abs().sum(Kind::Double)).ln()
}

/// l2_norm: Σ over the weights of their Euclidean norm.
pub fn l2_norm(vs: &VarStore) -> f64 {
    weights(vs)
        .iter()
        .map(|w| scalar(&w.to_kind(Kind::Double).norm()))
        .sum()
}

/// Counts multiply-accumulates of the weighted layers.
#[derive(Default)]
struct MacCounter(u64);

impl Probe for MacCounter {
    fn weighted(&mut self, weight: &Tensor, out: &Tensor) {
        let per_output = weight.numel() as u64 / weight.size()[0].max(1) as u64;
        self.0 += out.numel() as u64 / out.size()[0].max(1) as u64 * per_output;
    }
}

/// flops: multiply-accumulates of the convolutions and the dense layer for one image of
/// `image_shape` (`[3, H, W]`).
pub fn flops(net: &Nb101Network, image_shape: &[i64], kind: Kind) -> u64 {
    let mut shape = vec![1i64];
    shape.extend_from_slice(image_shape);
    let mut count = MacCounter::default();
    tch::no_grad(|| {
        let x = Tensor::zeros(shape.as_slice(), (kind, tch::Device::Cpu));
        let _ = net.forward_probed(&x, false, &mut count);
    });
    count.0
}

/// Captures the feature map before the pool and the variance of each BatchNorm's input.
#[derive(Default)]
struct ZenProbe {
    features: Option<Tensor>,
    /// Per BatchNorm: its input's per-channel variance, biased and unbiased.
    vars: Vec<(Tensor, Tensor)>,
}

impl Probe for ZenProbe {
    fn weighted(&mut self, _weight: &Tensor, out: &Tensor) {
        if out.dim() == 4 {
            let dims = [0i64, 2, 3];
            let biased = out.var_dim(dims.as_slice(), false, false);
            let unbiased = out.var_dim(dims.as_slice(), true, false);
            self.vars.push((biased, unbiased));
        }
    }

    fn features(&mut self, x: &Tensor) {
        self.features = Some(x.shallow_clone());
    }
}

/// zen: with Gaussian weights (N(0, 1) convolutions and dense layer, BatchNorm at 1 and 0) and
/// Gaussian images x, ε: ln mean_n Σ |f(x) − f(x + 0.01 ε)| + Σ_BN ln √(mean_k σ²_k), f the
/// feature map before the pool, σ² as `bn` says. Changes the weights.
pub fn zen(vs: &VarStore, net: &Nb101Network, batch: &Minibatch, bn: ZenBn, seed: u64) -> f64 {
    let (x, eps) = zen_redraw(vs, batch, seed);
    zen_score(net, &x, &eps, bn)
}

/// zen's draws from libtorch's (process-global) generator seeded with `seed`: the weights
/// redrawn, then the Gaussian images x and ε of the minibatch's shape.
pub fn zen_redraw(vs: &VarStore, batch: &Minibatch, seed: u64) -> (Tensor, Tensor) {
    tch::manual_seed(seed as i64);
    // In name order: the draws must not follow the hash map's order.
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    tch::no_grad(|| {
        for (name, mut v) in vars {
            if name.ends_with("conv.weight") || name == "dense.weight" {
                let _ = v.normal_(0.0, 1.0);
            } else if name == "dense.bias" || name.ends_with("bn.bias") {
                let _ = v.zero_();
            } else if name.ends_with("bn.weight") {
                let _ = v.fill_(1.0);
            }
        }
        (batch.images.randn_like(), batch.images.randn_like())
    })
}

/// zen of a network whose weights [`zen_redraw`] drew, on its images `x` and noise `eps`.
pub fn zen_score(net: &Nb101Network, x: &Tensor, eps: &Tensor, bn: ZenBn) -> f64 {
    tch::no_grad(|| {
        let (mut p1, mut p2) = (ZenProbe::default(), ZenProbe::default());
        let _ = net.forward_probed(x, true, &mut p1);
        let _ = net.forward_probed(&(x + eps * 0.01), true, &mut p2);
        let (Some(f1), Some(f2)) = (p1.features, p2.features) else {
            return f64::NAN;
        };
        let diff = (f1 - f2).abs().to_kind(Kind::Double);
        let per_image = diff.sum_dim_intlist([1i64, 2, 3].as_slice(), false, None::<Kind>);
        let mut score = scalar(&per_image.mean(Kind::Double)).ln();
        for (a, b) in p1.vars.iter().zip(&p2.vars) {
            let var = match bn {
                ZenBn::Batch => a.0.to_kind(Kind::Double),
                ZenBn::Running => {
                    (a.1.to_kind(Kind::Double) * 0.09) + (b.1.to_kind(Kind::Double) * 0.1) + 0.81
                }
            };
            score += 0.5 * scalar(&var.mean(Kind::Double)).ln();
        }
        score
    })
}
