//! SDARTS-RS: perturbed weight steps only, ε ramped, on a tiny real search.

mod common;

use oneshot::sdarts::RandomSmoothing;
use oneshot::{run_search, MixContext, OneShotModel, Phase, Relaxation, RunStatus};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[test]
fn random_smoothing_perturbs_only_the_weight_step() {
    let cfg = common::tiny(oneshot::OptimizerKind::Darts, 3);
    tch::manual_seed(0);
    let model = OneShotModel::new(&cfg.model, tch::Device::Cpu).unwrap();
    let mut relax = RandomSmoothing {
        epsilon: 0.2,
        schedule: None,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut draw = |phase| {
        let mut cx = MixContext {
            arch: &model.arch,
            space: &model.space,
            rng: &mut rng,
            device: tch::Device::Cpu,
            phase,
        };
        relax.mixing(&mut cx).unwrap().for_cell(0)
    };
    let (w, a, e) = (draw(Phase::Weights), draw(Phase::Arch), draw(Phase::Eval));
    let plain = supernet::softmax_mixing(&model.arch);
    assert!(a.ops.equal(&plain.ops) && e.ops.equal(&plain.ops));
    let diff = (&w.ops - &plain.ops).abs().max().double_value(&[]);
    assert!(diff > 0.0 && diff <= 0.2 + 1e-6, "perturbation {diff}");
    assert!(w.ops.min().double_value(&[]) >= 0.0 && w.ops.max().double_value(&[]) <= 1.0);
}

#[test]
fn sdarts_rs_and_adv_search_with_a_growing_epsilon() {
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
