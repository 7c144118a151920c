//! Relaxations: how the architecture state becomes the mixing weights of one forward pass.
//! DARTS and PC-DARTS use a softmax shared by all cells; GDAS draws hard Gumbel operations and
//! soft Gumbel edges independently per cell; Random-WS and ENAS put a sampled discrete
//! architecture into the supernet as one-hot weights.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use searchspace::{Architecture, SearchSpace};
use supernet::{
    one_hot_mixing, softmax_mixing, ArchParams, MixingSource, MixingWeights, SharedMixing,
};
use tch::{Device, Tensor};

use crate::error::OneShotError;
use crate::gumbel::{gumbel_softmax_hard, gumbel_softmax_soft};
use crate::sampler::ArchSampler;

/// What a forward pass is for, so a relaxation can treat them differently (SDARTS perturbs
/// the architecture weights only for the weight step).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The weight step: the loss trains the network weights.
    Weights,
    /// The architecture step: the loss trains the architecture state.
    Arch,
    /// Evaluation (one-shot error, Hessian tracking): nothing is trained from this pass.
    Eval,
}

/// What a relaxation may look at when it builds mixing weights.
pub struct MixContext<'a> {
    pub arch: &'a ArchParams,
    pub space: &'a SearchSpace,
    /// The run's generator, reseeded every epoch: all architecture randomness comes from here.
    pub rng: &'a mut ChaCha8Rng,
    pub device: Device,
    pub phase: Phase,
}

/// Turns the architecture state into a [`MixingSource`] for one forward pass.
pub trait Relaxation {
    /// Mixing weights for the next forward pass (a new draw for stochastic relaxations).
    fn mixing(&mut self, cx: &mut MixContext<'_>) -> Result<Box<dyn MixingSource>, OneShotError>;
    /// Sets the temperature for the coming epoch; ignored by relaxations without one.
    fn set_temperature(&mut self, _tau: f64) {}
    /// The current temperature, if the relaxation has one.
    fn temperature(&self) -> Option<f64> {
        None
    }
    /// Before each epoch: a schedule of the relaxation's own settings (SDARTS' ε).
    fn new_epoch(&mut self, _epoch: usize, _epochs: usize) {}
    /// The relaxation's named numbers for the epoch record (SDARTS' `sdarts_epsilon`).
    fn metrics(&self) -> crate::run_dir::Metrics {
        crate::run_dir::Metrics::new()
    }
}

/// DARTS: softmax over each architecture tensor, the same weights in every cell.
pub struct Softmax;

impl Relaxation for Softmax {
    fn mixing(&mut self, cx: &mut MixContext<'_>) -> Result<Box<dyn MixingSource>, OneShotError> {
        Ok(Box::new(SharedMixing(softmax_mixing(cx.arch))))
    }
}

/// GDAS: per cell an independent Gumbel-softmax draw at temperature τ; operations hard
/// (straight-through, only the chosen operation runs) unless `hard_ops` is off, edges and output
/// hard only if `hard_edges` (the original kept them soft: hard edges made gradients explode).
pub struct Gumbel {
    pub tau: f64,
    pub hard_ops: bool,
    pub hard_edges: bool,
}

impl Gumbel {
    /// The GDAS default: hard operations, soft edges.
    pub fn gdas(tau: f64) -> Self {
        Gumbel {
            tau,
            hard_ops: true,
            hard_edges: false,
        }
    }
}

impl Relaxation for Gumbel {
    fn mixing(&mut self, cx: &mut MixContext<'_>) -> Result<Box<dyn MixingSource>, OneShotError> {
        Ok(Box::new(GumbelSource {
            ops: cx.arch.ops.shallow_clone(),
            output: cx.arch.output.shallow_clone(),
            inputs: cx
                .arch
                .inputs
                .iter()
                .map(|t| t.as_ref().map(Tensor::shallow_clone))
                .collect(),
            tau: self.tau,
            hard_ops: self.hard_ops,
            hard_edges: self.hard_edges,
            rng: ChaCha8Rng::seed_from_u64(cx.rng.gen()),
        }))
    }
    fn set_temperature(&mut self, tau: f64) {
        self.tau = tau;
    }
    fn temperature(&self) -> Option<f64> {
        Some(self.tau)
    }
}

/// Draws a fresh Gumbel sample each time a cell asks.
struct GumbelSource {
    ops: Tensor,
    output: Tensor,
    inputs: Vec<Option<Tensor>>,
    tau: f64,
    hard_ops: bool,
    hard_edges: bool,
    /// Seeded from the run's generator when the source is made: the noise is reproducible.
    rng: ChaCha8Rng,
}

impl GumbelSource {
    fn draw(&mut self, logits: &Tensor, hard: bool) -> (Tensor, Option<Vec<usize>>) {
        if hard {
            let (w, idx) = gumbel_softmax_hard(logits, self.tau, &mut self.rng);
            let active = Vec::<i64>::try_from(&idx)
                .map(|v| v.into_iter().map(|i| i.max(0) as usize).collect())
                .ok();
            (w, active)
        } else {
            (gumbel_softmax_soft(logits, self.tau, &mut self.rng), None)
        }
    }
}

impl MixingSource for GumbelSource {
    fn for_cell(&mut self, _cell: usize) -> MixingWeights {
        let (ops, active_ops) = self.draw(&self.ops.shallow_clone(), self.hard_ops);
        let (output, _) = self.draw(&self.output.shallow_clone(), self.hard_edges);
        let edges: Vec<Option<Tensor>> = self
            .inputs
            .iter()
            .map(|t| t.as_ref().map(Tensor::shallow_clone))
            .collect();
        let hard_edges = self.hard_edges;
        let inputs = edges
            .iter()
            .map(|t| t.as_ref().map(|t| self.draw(t, hard_edges).0))
            .collect();
        MixingWeights {
            ops,
            output,
            inputs,
            active_ops,
        }
    }
}

/// Random-WS and ENAS: a discrete architecture drawn from a sampler, as one-hot weights.
pub struct SampledOneHot {
    pub sampler: Box<dyn ArchSampler>,
    /// The architecture of the last draw (what the weight step trained).
    pub last: Option<Architecture>,
}

impl SampledOneHot {
    pub fn new(sampler: Box<dyn ArchSampler>) -> Self {
        SampledOneHot {
            sampler,
            last: None,
        }
    }
}

impl Relaxation for SampledOneHot {
    fn mixing(&mut self, cx: &mut MixContext<'_>) -> Result<Box<dyn MixingSource>, OneShotError> {
        let arch = self.sampler.sample(cx.space, cx.rng)?;
        let w = one_hot(&arch, cx.device)?;
        self.last = Some(arch);
        Ok(Box::new(SharedMixing(w)))
    }
}

/// One-hot mixing weights of a discrete architecture, with the supernet's error mapped.
pub fn one_hot(arch: &Architecture, device: Device) -> Result<MixingWeights, OneShotError> {
    one_hot_mixing(arch, device).map_err(|e| OneShotError::Invalid(e.to_string()))
}
