//! Weight and architecture-weight optimizers written out in tensors (PyTorch `SGD` and `Adam`
//! semantics), because the search needs what `tch::nn::Optimizer` hides: the SGD momentum buffer
//! for the DARTS virtual step, and every buffer in the checkpoint so a resumed run is exact.

use std::collections::BTreeMap;

use tch::{nn, Tensor};

/// The trainable tensors of a var store, sorted by name so every run sees the same order.
pub fn named_trainable(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Gradients of `loss` with respect to `params`, `None` where the loss does not reach. Taken
/// with `run_backward`, so nothing accumulates in `.grad()` between steps.
pub fn grads(loss: &Tensor, params: &[(String, Tensor)]) -> Vec<Option<Tensor>> {
    grads_with(loss, params, false)
}

/// [`grads`], optionally with `create_graph`: the gradients are then differentiable themselves
/// (and the graph of `loss` is kept), so second-order quantities such as Hessian-vector products
/// can be taken by a second backward pass through them.
pub fn grads_with(
    loss: &Tensor,
    params: &[(String, Tensor)],
    create_graph: bool,
) -> Vec<Option<Tensor>> {
    let ts: Vec<&Tensor> = params.iter().map(|(_, t)| t).collect();
    Tensor::run_backward(&[loss], &ts, create_graph, create_graph)
        .into_iter()
        .map(|g| Some(g).filter(Tensor::defined))
        .collect()
}

/// [`grads_with`] with zeros where the loss does not reach `params`, one tensor per parameter.
pub fn grads_or_zeros(
    loss: &Tensor,
    params: &[(String, Tensor)],
    create_graph: bool,
) -> Vec<Tensor> {
    grads_with(loss, params, create_graph)
        .into_iter()
        .zip(params)
        .map(|(g, (_, p))| g.unwrap_or_else(|| p.zeros_like()))
        .collect()
}

/// SGD with momentum and L2 weight decay, as `torch.optim.SGD` (dampening 0, no Nesterov).
pub struct Sgd {
    pub params: Vec<(String, Tensor)>,
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    /// Momentum buffers by parameter name; absent until the parameter's first step.
    pub buffers: BTreeMap<String, Tensor>,
    /// PyTorch 1.x's `zero_grad` (`[faithful] step_zero_grads`): a parameter that got a gradient
    /// once (it has a momentum buffer) and none now is stepped as if its gradient were zero, so
    /// weight decay and momentum still move it. Off: it is left as is (`set_to_none`).
    pub step_zero_grads: bool,
}

impl Sgd {
    pub fn new(params: Vec<(String, Tensor)>, lr: f64, momentum: f64, weight_decay: f64) -> Self {
        Sgd {
            params,
            lr,
            momentum,
            weight_decay,
            buffers: BTreeMap::new(),
            step_zero_grads: false,
        }
    }

    /// One update from explicit gradients, one per parameter in order; `None` (a parameter the
    /// loss did not reach, e.g. an operation GDAS did not run) leaves it and its buffer as is,
    /// unless [`Sgd::step_zero_grads`] treats it as a zero gradient.
    pub fn step_with(&mut self, grads: &[Option<Tensor>]) {
        tch::no_grad(|| {
            for ((name, p), g) in self.params.iter().zip(grads) {
                let d = match g {
                    Some(g) => g + p * self.weight_decay,
                    None if self.step_zero_grads && self.buffers.contains_key(name) => {
                        p * self.weight_decay
                    }
                    None => continue,
                };
                let d = if self.momentum != 0.0 {
                    match self.buffers.get_mut(name) {
                        Some(buf) => {
                            let _ = buf.g_mul_scalar_(self.momentum).g_add_(&d);
                            buf.shallow_clone()
                        }
                        None => {
                            let buf = d.detach().copy();
                            self.buffers.insert(name.clone(), buf.shallow_clone());
                            buf
                        }
                    }
                } else {
                    d
                };
                let mut p = p.shallow_clone();
                let _ = p.g_sub_(&(d * self.lr));
            }
        });
    }

    /// The momentum buffer of a parameter, if it has one (DARTS' virtual step uses it).
    pub fn momentum_buffer(&self, name: &str) -> Option<&Tensor> {
        self.buffers.get(name)
    }

    /// The buffers as named tensors for a checkpoint, keys prefixed with `prefix`.
    pub fn state(&self, prefix: &str) -> Vec<(String, Tensor)> {
        self.buffers
            .iter()
            .map(|(k, v)| (format!("{prefix}momentum.{k}"), v.shallow_clone()))
            .collect()
    }

    /// Restores buffers written by [`Sgd::state`]; unknown keys are ignored.
    pub fn load_state(&mut self, prefix: &str, tensors: &BTreeMap<String, Tensor>) {
        self.buffers.clear();
        for (name, p) in &self.params {
            if let Some(t) = tensors.get(&format!("{prefix}momentum.{name}")) {
                self.buffers
                    .insert(name.clone(), t.to_device(p.device()).copy());
            }
        }
    }
}

/// Adam with L2 weight decay added to the gradient, as `torch.optim.Adam`.
pub struct Adam {
    pub params: Vec<(String, Tensor)>,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Number of steps taken (bias correction).
    pub steps: i64,
    pub exp_avg: BTreeMap<String, Tensor>,
    pub exp_avg_sq: BTreeMap<String, Tensor>,
}

impl Adam {
    pub fn new(
        params: Vec<(String, Tensor)>,
        lr: f64,
        betas: (f64, f64),
        eps: f64,
        weight_decay: f64,
    ) -> Self {
        Adam {
            params,
            lr,
            beta1: betas.0,
            beta2: betas.1,
            eps,
            weight_decay,
            steps: 0,
            exp_avg: BTreeMap::new(),
            exp_avg_sq: BTreeMap::new(),
        }
    }

    /// One update from explicit gradients, one per parameter in order (DARTS' second-order
    /// step assembles its gradient outside autograd).
    pub fn step_with(&mut self, grads: &[Option<Tensor>]) {
        self.steps += 1;
        let bc1 = 1.0 - self.beta1.powi(self.steps as i32);
        let bc2 = 1.0 - self.beta2.powi(self.steps as i32);
        tch::no_grad(|| {
            for ((name, p), g) in self.params.iter().zip(grads) {
                let Some(g) = g else { continue };
                let g = g + p * self.weight_decay;
                let m = self
                    .exp_avg
                    .entry(name.clone())
                    .or_insert_with(|| p.zeros_like());
                let _ = m
                    .g_mul_scalar_(self.beta1)
                    .g_add_(&(&g * (1.0 - self.beta1)));
                let v = self
                    .exp_avg_sq
                    .entry(name.clone())
                    .or_insert_with(|| p.zeros_like());
                let _ = v
                    .g_mul_scalar_(self.beta2)
                    .g_add_(&(&g * &g * (1.0 - self.beta2)));
                let denom = v.sqrt() / bc2.sqrt() + self.eps;
                let mut p = p.shallow_clone();
                let _ = p.g_sub_(&(&*m / denom * (self.lr / bc1)));
            }
        });
    }

    /// The moments and the step count as named tensors for a checkpoint.
    pub fn state(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut out = vec![(format!("{prefix}steps"), Tensor::from_slice(&[self.steps]))];
        for (k, v) in &self.exp_avg {
            out.push((format!("{prefix}exp_avg.{k}"), v.shallow_clone()));
        }
        for (k, v) in &self.exp_avg_sq {
            out.push((format!("{prefix}exp_avg_sq.{k}"), v.shallow_clone()));
        }
        out
    }

    /// Restores what [`Adam::state`] wrote.
    pub fn load_state(&mut self, prefix: &str, tensors: &BTreeMap<String, Tensor>) {
        self.steps = tensors
            .get(&format!("{prefix}steps"))
            .map(|t| t.int64_value(&[0]))
            .unwrap_or(0);
        self.exp_avg.clear();
        self.exp_avg_sq.clear();
        for (name, p) in &self.params {
            if let Some(t) = tensors.get(&format!("{prefix}exp_avg.{name}")) {
                self.exp_avg
                    .insert(name.clone(), t.to_device(p.device()).copy());
            }
            if let Some(t) = tensors.get(&format!("{prefix}exp_avg_sq.{name}")) {
                self.exp_avg_sq
                    .insert(name.clone(), t.to_device(p.device()).copy());
            }
        }
    }
}

/// Rescales explicit gradients so their joint L2 norm is at most `max_norm`; returns the norm
/// before clipping.
pub fn clip_explicit(grads: &mut [Option<Tensor>], max_norm: f64) -> f64 {
    let sq: Vec<Tensor> = grads.iter().flatten().map(|g| g.norm().square()).collect();
    if sq.is_empty() {
        return 0.0;
    }
    let total = Tensor::stack(&sq, 0)
        .sum(tch::Kind::Float)
        .sqrt()
        .double_value(&[]);
    let coef = max_norm / (total + 1e-6);
    if coef < 1.0 {
        for g in grads.iter_mut().flatten() {
            *g = &*g * coef;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(v: f64) -> Tensor {
        Tensor::from_slice(&[v]).to_kind(tch::Kind::Double)
    }

    /// Two steps of lr 1, momentum 0.5, weight decay 0.1 on three weights: `a` graded twice, `b`
    /// graded then not, `c` never graded.
    fn run(step_zero_grads: bool) -> [f64; 3] {
        let params: Vec<(String, Tensor)> = ["a", "b", "c"]
            .iter()
            .map(|n| (n.to_string(), scalar(1.0)))
            .collect();
        let mut sgd = Sgd::new(params, 1.0, 0.5, 0.1);
        sgd.step_zero_grads = step_zero_grads;
        sgd.step_with(&[Some(scalar(1.0)), Some(scalar(1.0)), None]);
        sgd.step_with(&[Some(scalar(1.0)), None, None]);
        let v = |i: usize| sgd.params[i].1.double_value(&[0]);
        [v(0), v(1), v(2)]
    }

    #[test]
    fn zero_grad_steps_decay_and_carry_momentum_for_weights_graded_before() {
        // Step 1 for a and b: d = 1 + 0.1 = 1.1, buffer 1.1, weight 1 - 1.1 = -0.1.
        // Step 2 for a: d = 1 + 0.1·(-0.1) = 0.99, buffer 0.5·1.1 + 0.99 = 1.54, weight -1.64.
        // Step 2 for b with a zero gradient: d = -0.01, buffer 0.54, weight -0.64.
        let [a, b, c] = run(true);
        assert!((a + 1.64).abs() < 1e-12, "{a}");
        assert!((b + 0.64).abs() < 1e-12, "{b}");
        assert_eq!(
            c, 1.0,
            "a weight never graded has no .grad in PyTorch either"
        );
        let [a_off, b_off, c_off] = run(false);
        assert_eq!((a_off, c_off), (a, 1.0));
        assert!((b_off + 0.1).abs() < 1e-12, "not stepped again: {b_off}");
    }
}
