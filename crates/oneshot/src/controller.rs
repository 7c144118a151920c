//! The ENAS controller (spec §3.5): an LSTM cell that walks the nodes, picks each node's parents
//! by attention over the earlier nodes' anchors and each choice block's operation from a softmax,
//! trained by REINFORCE.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use searchspace::{Architecture, SearchSpace, PRIMITIVES};
use tch::{nn, Device, Kind, Tensor};

use crate::config::ControllerConfig;
use crate::error::OneShotError;

/// The controller's weights (all uniform in ±0.1, as the original).
pub struct Controller {
    space: SearchSpace,
    hidden: i64,
    temperature: f64,
    tanh_constant: f64,
    op_tanh_reduce: f64,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor,
    b_hh: Tensor,
    /// Embeddings of "no op yet" (row 0) and the three operations (rows 1..=3).
    embed: Tensor,
    w_attn_1: Tensor,
    w_attn_2: Tensor,
    v_attn: Tensor,
    w_soft: Tensor,
    b_soft: Tensor,
    /// Fixed (not learned) operation bias favouring max-pool and conv3x3.
    b_fixed: Tensor,
    device: Device,
}

/// One draw: the architecture, the summed negative log-probability (with gradient) and the
/// summed entropy (detached, as the original).
pub struct ControllerSample {
    pub architecture: Architecture,
    pub neg_log_prob: Tensor,
    pub entropy: f64,
}

impl Controller {
    pub fn new(path: &nn::Path, space: &SearchSpace, cfg: &ControllerConfig) -> Self {
        let h = cfg.hidden;
        let u = |name: &str, dims: &[i64]| path.uniform(name, dims, -0.1, 0.1);
        let b_soft = path.var_copy("b_soft", &Tensor::from_slice(&[10.0f32, 10.0, 0.0]));
        Controller {
            space: space.clone(),
            hidden: h,
            temperature: cfg.temperature,
            tanh_constant: cfg.tanh_constant,
            op_tanh_reduce: cfg.op_tanh_reduce,
            w_ih: u("lstm_w_ih", &[4 * h, h]),
            w_hh: u("lstm_w_hh", &[4 * h, h]),
            b_ih: u("lstm_b_ih", &[4 * h]),
            b_hh: u("lstm_b_hh", &[4 * h]),
            embed: u("embed", &[PRIMITIVES.len() as i64 + 1, h]),
            w_attn_1: u("w_attn_1", &[h, h]),
            w_attn_2: u("w_attn_2", &[h, h]),
            v_attn: u("v_attn", &[1, h]),
            w_soft: u("w_soft", &[PRIMITIVES.len() as i64, h]),
            b_soft,
            b_fixed: Tensor::from_slice(&[0.25f32, 0.25, -0.25]).to_device(path.device()),
            device: path.device(),
        }
    }

    /// One LSTM-cell step on a (1, H) input.
    fn step(&self, x: &Tensor, state: &(Tensor, Tensor)) -> (Tensor, Tensor) {
        let (h, c) = state;
        let gates = x.linear(&self.w_ih, Some(&self.b_ih)) + h.linear(&self.w_hh, Some(&self.b_hh));
        let g = gates.chunk(4, 1);
        let (i, f, gg, o) = (g[0].sigmoid(), g[1].sigmoid(), g[2].tanh(), g[3].sigmoid());
        let c2 = f * c + i * gg;
        let h2 = o * c2.tanh();
        (h2, c2)
    }

    /// Operation logits after temperature, tanh squashing and the fixed bias.
    fn op_logits(&self, h: &Tensor) -> Tensor {
        let l = h.linear(&self.w_soft, Some(&self.b_soft)) / self.temperature;
        (l.tanh() * (self.tanh_constant / self.op_tanh_reduce)) + &self.b_fixed
    }

    /// Draws an architecture from the policy with the run's seeded generator `rng`.
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> Result<ControllerSample, OneShotError> {
        let n = self.space.num_choice_blocks();
        let zeros = Tensor::zeros([1, self.hidden], (Kind::Float, self.device));
        let mut state = (zeros.shallow_clone(), zeros.shallow_clone());
        let mut anchors: Vec<Tensor> = Vec::with_capacity(n + 1);
        let mut keys: Vec<Tensor> = Vec::with_capacity(n + 1);
        let mut input = zeros.shallow_clone();
        // Nodes 0 (cell input) and 1: one step each, a zero anchor and an attention key.
        for _ in 0..2 {
            state = self.step(&input, &state);
            anchors.push(zeros.shallow_clone());
            keys.push(state.0.linear::<&Tensor>(&self.w_attn_1, None));
            input = zeros.shallow_clone();
        }
        let mut parents: Vec<Vec<usize>> = vec![vec![0]];
        let mut ops = Vec::with_capacity(n);
        let mut nll_terms: Vec<Tensor> = Vec::with_capacity(2 * n);
        let mut entropy = 0.0;
        for node in 2..=n + 1 {
            let p = self.space.num_parents(node);
            // Parents: attention over the `node` earlier anchors.
            state = self.step(&input, &state);
            let query = (Tensor::cat(&keys[..node], 0)
                + state.0.linear::<&Tensor>(&self.w_attn_2, None))
            .tanh();
            let logits = query
                .linear::<&Tensor>(&self.v_attn, None)
                .view([1, node as i64]);
            let logits = (logits / self.temperature).tanh() * self.tanh_constant;
            let probs = logits.softmax(-1, Kind::Float);
            let idx = draw_without_replacement(&probs, p, rng)?;
            let chosen = Tensor::from_slice(&idx).to_device(self.device);
            let ce = logits.repeat([p as i64, 1]).cross_entropy_loss::<&Tensor>(
                &chosen,
                None,
                tch::Reduction::None,
                -100,
                0.0,
            );
            nll_terms.push(ce.mean(Kind::Float));
            entropy += entropy_of(&logits);
            let mut set: Vec<usize> = idx.iter().map(|&i| i.max(0) as usize).collect();
            let last = *set.last().unwrap_or(&0);
            set.sort_unstable();
            parents.push(set);
            input = anchors
                .get(last)
                .map(Tensor::shallow_clone)
                .unwrap_or_else(|| zeros.shallow_clone());
            // Operation of node − 1 (the original's offset: the output step picks node N's op).
            state = self.step(&input, &state);
            let logits = self.op_logits(&state.0);
            let op_draw = draw_without_replacement(&logits.softmax(-1, Kind::Float), 1, rng)?;
            let op = Tensor::from_slice(&op_draw).to_device(self.device);
            let op_idx = op.int64_value(&[0]).clamp(0, PRIMITIVES.len() as i64 - 1) as usize;
            nll_terms.push(logits.cross_entropy_loss::<&Tensor>(
                &op,
                None,
                tch::Reduction::Mean,
                -100,
                0.0,
            ));
            entropy += entropy_of(&logits);
            ops.push(PRIMITIVES[op_idx]);
            input = self.embed.get(op_idx as i64 + 1).view([1, self.hidden]);
            state = self.step(&input, &state);
            anchors.push(state.0.shallow_clone());
            keys.push(state.0.linear::<&Tensor>(&self.w_attn_1, None));
        }
        let neg_log_prob = Tensor::stack(&nll_terms, 0).sum(Kind::Float);
        let architecture = Architecture {
            space: self.space.id(),
            ops,
            parents,
        };
        architecture
            .validate()
            .map_err(|e| OneShotError::Invalid(format!("controller drew an invalid cell: {e}")))?;
        Ok(ControllerSample {
            architecture,
            neg_log_prob,
            entropy,
        })
    }
}

/// `k` distinct indices drawn from the (1, K) probabilities `probs`, each in turn with
/// probability proportional to the mass left (what `torch.multinomial` without replacement
/// does), from `rng`.
fn draw_without_replacement(
    probs: &Tensor,
    k: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<i64>, OneShotError> {
    let mut p: Vec<f64> =
        Vec::<f64>::try_from(probs.detach().to_kind(Kind::Double).flatten(0, -1))?;
    let mut out = Vec::with_capacity(k);
    for _ in 0..k.min(p.len()) {
        let total: f64 = p.iter().sum();
        let mut u = rng.gen::<f64>() * total;
        let mut pick = p.iter().rposition(|&x| x > 0.0).unwrap_or(0);
        for (i, &x) in p.iter().enumerate() {
            if x > 0.0 && u < x {
                pick = i;
                break;
            }
            u -= x;
        }
        p[pick] = 0.0;
        out.push(pick as i64);
    }
    Ok(out)
}

/// Entropy of the softmax of (1, K) logits, as a plain number.
fn entropy_of(logits: &Tensor) -> f64 {
    let logp = logits.detach().log_softmax(-1, Kind::Float);
    -(logp.exp() * &logp).sum(Kind::Float).double_value(&[])
}

/// REINFORCE with a moving-average baseline (spec §3.5).
pub struct Reinforce {
    pub entropy_weight: f64,
    pub baseline_decay: f64,
    /// The moving average of rewards; updated before it is used, as the original.
    pub baseline: f64,
}

impl Reinforce {
    /// The loss of one draw rewarded with `reward` (accuracy in percent): updates the baseline,
    /// returns (Σ −log p)·(R − b) to minimise.
    pub fn loss(&mut self, sample: &ControllerSample, reward: f64) -> Tensor {
        let r = reward + self.entropy_weight * sample.entropy;
        self.baseline = self.baseline_decay * self.baseline + (1.0 - self.baseline_decay) * r;
        &sample.neg_log_prob * (r - self.baseline)
    }
}
