//! The worked example of docs/new-variant.md: DARTS with Gumbel-softmax edges, built only from
//! the crate's public primitives, then searched with the standard run loop.

mod common;

use oneshot::arch_update::FirstOrder;
use oneshot::gumbel::gumbel_softmax_soft;
use oneshot::optimizer::arch_adam;
use oneshot::selection::Argmax;
use oneshot::{
    MixContext, OneShotError, OneShotModel, OneShotOptimizer, Relaxation, SearchConfig,
    SearchOptimizer, Variant,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use supernet::{MixingSource, MixingWeights};
use tch::{Kind, Tensor};

// --- the variant (docs/new-variant.md) -------------------------------------------------------

/// Operations mixed by softmax as in DARTS; edges and output drawn as soft Gumbel samples at
/// temperature τ, independently for every cell.
struct GumbelEdges {
    tau: f64,
}

struct GumbelEdgesPerCell {
    ops: Tensor,
    output: Tensor,
    inputs: Vec<Option<Tensor>>,
    tau: f64,
    /// Seeded from the run's generator: the noise is reproducible.
    rng: ChaCha8Rng,
}

impl MixingSource for GumbelEdgesPerCell {
    fn for_cell(&mut self, _cell: usize) -> MixingWeights {
        let (tau, rng) = (self.tau, &mut self.rng);
        let mut draw = |t: &Tensor| gumbel_softmax_soft(t, tau, rng);
        let output = draw(&self.output);
        let inputs = self
            .inputs
            .iter()
            .map(|t| t.as_ref().map(&mut draw))
            .collect();
        MixingWeights {
            ops: self.ops.shallow_clone(),
            output,
            inputs,
            active_ops: None,
        }
    }
}

impl Relaxation for GumbelEdges {
    fn mixing(&mut self, cx: &mut MixContext<'_>) -> Result<Box<dyn MixingSource>, OneShotError> {
        Ok(Box::new(GumbelEdgesPerCell {
            ops: cx.arch.ops.softmax(-1, Kind::Float),
            output: cx.arch.output.shallow_clone(),
            inputs: cx
                .arch
                .inputs
                .iter()
                .map(|t| t.as_ref().map(Tensor::shallow_clone))
                .collect(),
            tau: self.tau,
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

fn gumbel_edges_darts(
    cfg: &SearchConfig,
    model: &OneShotModel,
) -> Result<Box<dyn SearchOptimizer>, OneShotError> {
    Ok(Box::new(OneShotOptimizer {
        tau_schedule: Some((cfg.arch.tau_max, cfg.arch.tau_min)),
        ..OneShotOptimizer::new(
            Box::new(GumbelEdges {
                tau: cfg.arch.tau_max,
            }),
            Box::new(FirstOrder(arch_adam(cfg, model))),
            Box::new(Argmax),
        )
    }))
}

// --- its test ---------------------------------------------------------------------------------

#[test]
fn gumbel_edge_darts_searches_with_the_standard_loop() {
    let _torch = common::torch_lock();
    let data = common::synthetic_data(48, 8);
    let mut cfg = common::tiny(oneshot::OptimizerKind::Darts, 2);
    cfg.epochs = 2;
    let tmp = tempfile::tempdir().unwrap();
    let out = oneshot::run_search_with(
        &cfg,
        &data,
        Some(&common::FakeTable),
        tmp.path(),
        &common::cpu_options(),
        Variant {
            name: "gumbel_edges",
            build: &gumbel_edges_darts,
            method: None,
        },
    )
    .unwrap();
    assert_eq!(out.records.len(), 2);
    // τ follows the schedule: 10 in epoch 0, 10 − 9/2 in epoch 1.
    assert_eq!(out.records[0].metric("tau"), Some(10.0));
    assert_eq!(out.records[1].metric("tau"), Some(5.5));
    // The run is recorded (and so stored and reported) under the variant's own name.
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("run.json")).unwrap())
            .unwrap();
    assert_eq!(meta["optimizer"], "gumbel_edges");
    let (w0, w1) = (&out.records[0].arch_weights, &out.records[1].arch_weights);
    assert!(
        w0.is_some() && w0 != w1,
        "architecture weights did not learn"
    );
    // Edges are stochastic, operations are not.
    tch::manual_seed(0);
    let model = OneShotModel::new(&cfg.model, tch::Device::Cpu).unwrap();
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    let mut cx = MixContext {
        arch: &model.arch,
        space: &model.space,
        rng: &mut rng,
        device: tch::Device::Cpu,
        phase: oneshot::Phase::Weights,
    };
    let mut src = GumbelEdges { tau: 1.0 }.mixing(&mut cx).unwrap();
    let (a, b) = (src.for_cell(0), src.for_cell(1));
    assert!(a.ops.equal(&b.ops));
    assert!(!a.output.equal(&b.output));
}
