//! SDARTS-RS and -ADV: perturbed weight steps only (the architecture step and evaluation see
//! the plain softmax), ε ramped, on a tiny real search.

mod common;

use oneshot::sdarts::{RandomSmoothing, SdartsConfig};
use oneshot::{
    run_search, EpochContext, OneShotModel, Perturbation, Phase, RunStatus, SearchOptimizer,
    TensorBatch,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

/// The perturbation replaces only the weight step's mixing: within ε of softmax(α), in [0, 1];
/// the composed optimizer's evaluation mixing stays the plain softmax.
#[test]
fn random_smoothing_perturbs_only_the_weight_step() {
    let _torch = common::torch_lock();
    let cfg = common::tiny_registered("sdarts_rs", 3);
    tch::manual_seed(0);
    let model = OneShotModel::new(&cfg.model, tch::Device::Cpu).unwrap();
    let mut opt = oneshot::compose::build(&cfg, &model).unwrap();
    let mut smooth = RandomSmoothing::new(SdartsConfig {
        epsilon_min: 0.2,
        ..SdartsConfig::default()
    });
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut sgd = oneshot::optim::Sgd::new(model.weight_params(), 0.1, 0.9, 0.0);
    let mut cx = EpochContext {
        model: &model,
        sgd: &mut sgd,
        rng: &mut rng,
        epoch: 0,
        epochs: 2,
        global_step: 0,
        weights: &cfg.weights,
        divergence_loss: 1e4,
        valid: &[],
    };
    let batch = TensorBatch {
        x: Tensor::zeros([1, 3, 32, 32], (tch::Kind::Float, tch::Device::Cpu)),
        y: Tensor::zeros([1], (tch::Kind::Int64, tch::Device::Cpu)),
        len: 1,
    };
    let w = smooth.weights(&mut cx, &batch).unwrap();
    let plain = supernet::softmax_mixing(&model.arch);
    let diff = (&w.ops - &plain.ops).abs().max().double_value(&[]);
    assert!(diff > 0.0 && diff <= 0.2 + 1e-6, "perturbation {diff}");
    assert!(w.ops.min().double_value(&[]) >= 0.0 && w.ops.max().double_value(&[]) <= 1.0);
    let mut mcx = cx.mix_context(Phase::Eval);
    let e = opt.mixing(&mut mcx).unwrap().for_cell(0);
    assert!(e.ops.equal(&plain.ops));
}

/// One composed step of SDARTS against one of plain DARTS from the same model: the
/// architecture step comes first and must see softmax(α) unperturbed, so α after the step is
/// the same bit for bit; the weights differ (only the weight step is perturbed). A perturbation
/// that leaked into the architecture step would move α differently.
#[test]
fn the_composed_architecture_step_sees_unperturbed_weights() {
    let _torch = common::torch_lock();
    for name in ["sdarts_rs", "sdarts_adv"] {
        let (alpha_plain, weights_plain) = one_composed_step("darts");
        let (alpha, weights) = one_composed_step(name);
        assert_eq!(alpha.len(), alpha_plain.len());
        for ((k, a), (_, b)) in alpha.iter().zip(&alpha_plain) {
            assert!(
                a.equal(b),
                "{name}: architecture weight {k} saw the perturbation"
            );
        }
        let moved = weights
            .iter()
            .zip(&weights_plain)
            .any(|((_, a), (_, b))| !a.equal(b));
        assert!(moved, "{name}: the weight step was not perturbed");
    }
}

/// Tensors by name.
type Named = Vec<(String, Tensor)>;

/// The architecture and network weights after `name`'s first composed step (α moved by the
/// architecture step, then one weight step), from a model seeded the same way every time.
fn one_composed_step(name: &str) -> (Named, Named) {
    let mut cfg = common::tiny_registered(name, 3);
    // A large ε: any leak into the architecture step would show.
    for part in ["random_smoothing", "adversarial"] {
        if cfg.options.contains_key(part) {
            common::set_option(&mut cfg, part, "epsilon_min", toml::Value::Float(0.5));
            common::set_option(&mut cfg, part, "steps", toml::Value::Integer(2));
        }
    }
    tch::manual_seed(7);
    let model = OneShotModel::new(&cfg.model, tch::Device::Cpu).unwrap();
    let mut opt = oneshot::compose::build(&cfg, &model).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let w = &cfg.weights;
    let mut sgd = oneshot::optim::Sgd::new(model.weight_params(), w.lr, w.momentum, 0.0);
    let mut cx = EpochContext {
        model: &model,
        sgd: &mut sgd,
        rng: &mut rng,
        epoch: 0,
        epochs: 2,
        global_step: 0,
        weights: w,
        divergence_loss: 1e4,
        valid: &[],
    };
    let batch = |seed: i64| {
        tch::manual_seed(seed);
        TensorBatch {
            x: Tensor::randn([8, 3, 32, 32], (tch::Kind::Float, tch::Device::Cpu)),
            y: Tensor::randint(10, [8], (tch::Kind::Int64, tch::Device::Cpu)),
            len: 8,
        }
    };
    let (train, valid) = (batch(11), batch(12));
    opt.new_epoch(&mut cx).unwrap();
    assert!(opt.wants_valid_batches(0), "{name}: no architecture step");
    opt.step(&mut cx, &train, Some(&valid)).unwrap();
    let copy = |v: Vec<(String, Tensor)>| v.into_iter().map(|(k, t)| (k, t.copy())).collect();
    (copy(model.arch_params()), copy(model.weight_params()))
}

#[test]
fn sdarts_rs_and_adv_search_with_a_growing_epsilon() {
    let _torch = common::torch_lock();
    for name in ["sdarts_rs", "sdarts_adv"] {
        search_with_growing_epsilon(name);
    }
}

fn search_with_growing_epsilon(name: &str) {
    let data = common::synthetic_data(48, 8);
    let mut cfg = common::tiny_registered(name, 2);
    cfg.epochs = 2;
    let tmp = tempfile::tempdir().unwrap();
    let out = run_search(
        &cfg,
        &data,
        Some(&common::FakeTable),
        tmp.path(),
        &common::cpu_options(),
    )
    .unwrap();
    assert_eq!(out.status, RunStatus::Complete);
    assert_eq!(
        out.records[0].metric("sdarts_epsilon"),
        Some(0.03),
        "{name}"
    );
    assert_eq!(out.records[1].metric("sdarts_epsilon"), Some(0.3), "{name}");
    let (w0, w1) = (&out.records[0].arch_weights, &out.records[1].arch_weights);
    assert!(
        w0.is_some() && w0 != w1,
        "{name}: architecture weights did not learn"
    );
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("run.json")).unwrap())
            .unwrap();
    assert_eq!(meta["optimizer"], name);
}
