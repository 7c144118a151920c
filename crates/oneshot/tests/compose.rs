//! Methods as compositions: the new parts against hand computations (β-decay, zero-one loss),
//! configuration errors that name the part or key, and a composition given only in TOML that
//! runs a tiny real search under its own name and resumes bit-identically.

mod common;

use oneshot::beta_decay::{beta_decay_loss, BetaDecay, BetaDecayConfig};
use oneshot::zero_one::zero_one_loss;
use oneshot::{run_search, Regularizer, RunStatus, SearchConfig, SearchOptions};
use tch::{Kind, Tensor};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

/// L = mean over rows of logsumexp(row); ∂L/∂α = softmax(row) / rows.
#[test]
fn beta_decay_value_and_gradient_match_the_hand_computation() {
    let _torch = common::torch_lock();
    let (l2, l3) = (2f64.ln(), 3f64.ln());
    let ops = Tensor::from_slice(&[0.0, 0.0, 0.0, 0.0, l2, l3])
        .view([2, 3])
        .to_kind(Kind::Double)
        .set_requires_grad(true);
    let loss = beta_decay_loss(&ops);
    assert!(close(loss.double_value(&[]), (3f64.ln() + 6f64.ln()) / 2.0));
    let g = Tensor::run_backward(&[loss], &[&ops], false, false);
    let g = Vec::<f64>::try_from(g[0].flatten(0, -1)).unwrap();
    let want = [
        1.0 / 6.0,
        1.0 / 6.0,
        1.0 / 6.0,
        1.0 / 12.0,
        2.0 / 12.0,
        3.0 / 12.0,
    ];
    for (x, y) in g.iter().zip(want) {
        assert!(close(*x, y), "{g:?}");
    }
    // λ_e = λ_min + (λ_max − λ_min)·e/E; the defaults are the authors' 0 → 50, whose code
    // computes `0 + 50 * epoch / 100` over its 100 epochs: 0, 0.5, 25, 49.5 at e = 0, 1, 50, 99.
    let mut r = BetaDecay::new(BetaDecayConfig::default());
    assert_eq!(r.metrics()["beta_decay_lambda"], 0.0);
    for (e, want) in [(0, 0.0), (1, 0.5), (50, 25.0), (99, 49.5)] {
        r.new_epoch(e, 100);
        let got = r.metrics()["beta_decay_lambda"];
        assert!(close(got, want), "epoch {e}: {got} vs {want}");
        assert!(close(got, 50.0 * e as f64 / 100.0));
    }
    // Other ends and run lengths: 1 → 3 over 4 epochs is 1, 1.5, 2, 2.5.
    let mut r = BetaDecay::new(BetaDecayConfig {
        lambda_min: 1.0,
        lambda_max: 3.0,
    });
    let lambdas: Vec<f64> = (0..4)
        .map(|e| {
            r.new_epoch(e, 4);
            r.metrics()["beta_decay_lambda"]
        })
        .collect();
    assert_eq!(lambdas, [1.0, 1.5, 2.0, 2.5]);
}

/// L = −mean (σ(α) − ½)²; ∂L/∂α_i = −2 (σ_i − ½) σ_i (1 − σ_i) / N.
#[test]
fn zero_one_loss_value_and_gradient_match_the_hand_computation() {
    let _torch = common::torch_lock();
    let a = Tensor::from_slice(&[0.0, 3f64.ln()]).set_requires_grad(true);
    let b = Tensor::from_slice(&[-(3f64.ln())]).set_requires_grad(true);
    let loss = zero_one_loss(&[a.shallow_clone(), b.shallow_clone()]).unwrap();
    // σ = ½, ¾, ¼: squares 0, 1/16, 1/16.
    assert!(close(loss.double_value(&[]), -(2.0 / 16.0) / 3.0));
    let g = Tensor::run_backward(&[loss], &[&a, &b], false, false);
    let ga = Vec::<f64>::try_from(&g[0]).unwrap();
    let gb = Vec::<f64>::try_from(&g[1]).unwrap();
    let d = |s: f64| -2.0 * (s - 0.5) * s * (1.0 - s) / 3.0;
    assert!(close(ga[0], 0.0) && close(ga[1], d(0.75)) && close(gb[0], d(0.25)));
}

fn load(text: &str) -> Result<SearchConfig, String> {
    SearchConfig::from_toml(text, "m.toml", None, Some(2)).map_err(|e| e.to_string())
}

#[test]
fn compositions_load_with_defaults_and_errors_name_the_part_or_key() {
    let _torch = common::torch_lock();
    let cfg = load("optimizer = \"mine\"\n[method]\nbase = \"drnas\"\nregularizers = [\"drnas_kl\", \"beta_decay\"]\nhooks = [\"hessian\"]\n").unwrap();
    assert_eq!(cfg.optimizer, "mine");
    assert_eq!(cfg.method.base, "drnas");
    // Every part's settings are filled in, so config.toml is complete.
    for part in ["drnas_kl", "beta_decay", "hessian"] {
        assert!(cfg.options.contains_key(part), "{part}: {:?}", cfg.options);
    }
    let again = SearchConfig::from_toml(&cfg.to_toml(), "again", None, None).unwrap();
    assert_eq!(again, cfg);
    let cases = [
        ("optimizer = \"mine\"\n", "base"),
        (
            "optimizer = \"darts\"\n[method]\nrelaxation = \"softmaxx\"\n",
            "softmaxx",
        ),
        (
            "optimizer = \"darts\"\n[method]\nregularisers = []\n",
            "regularisers",
        ),
        (
            "optimizer = \"beta_darts\"\n[options.beta_decay]\nlambda_max = -1.0\n",
            "lambda_max",
        ),
        (
            "optimizer = \"beta_darts\"\n[options.beta_decay]\nlamda = 1.0\n",
            "lamda",
        ),
        (
            "optimizer = \"darts\"\n[options.hessian]\nevery = 2\n",
            "hessian",
        ),
        (
            "optimizer = \"darts\"\n[method]\nbase = \"drnas\"\n",
            "name of its own",
        ),
        (
            "optimizer = \"My Run\"\n[method]\nbase = \"darts\"\n",
            "My Run",
        ),
        (
            "optimizer = \"x\"\n[method]\nbase = \"darts\"\nhooks = [\"early_stop\"]\n",
            "early_stop",
        ),
        (
            "optimizer = \"x\"\n[method]\nbase = \"random_ws\"\nregularizers = [\"beta_decay\"]\n",
            "uniform_one_hot",
        ),
        // A flat `[options]` key of an old run folder with no new home (known ones move to
        // their part when the file loads: tests/old_options.rs).
        (
            "optimizer = \"drnas\"\n[options]\nreg_scal = 1.0\n",
            "reg_scal",
        ),
    ];
    for (text, key) in cases {
        let e = load(text).expect_err(text);
        assert!(e.contains("m.toml") && e.contains(key), "{text}: {e}");
    }
}

/// The example: DrNAS + β-decay + Hessian tracking, written only in TOML, searched,
/// stopped after one epoch and resumed: the same files and records as an uninterrupted run,
/// recorded under its own name with its composition.
#[test]
fn a_composition_written_only_in_toml_searches_and_resumes_bit_identically() {
    let _torch = common::torch_lock();
    let text = "optimizer = \"drnas_beta_hessian\"\nepochs = 2\n[method]\nbase = \"drnas\"\n\
                regularizers = [\"drnas_kl\", \"beta_decay\"]\nhooks = [\"hessian\"]\n\
                evaluation = \"bn_recalibration\"\n[options.hessian]\niterations = 3\n\
                tolerance = 1e-2\n[options.bn_recalibration]\nbatches = 2\n";
    let mut cfg = load(text).unwrap();
    let t = common::tiny(oneshot::OptimizerKind::Darts, 2);
    (cfg.model, cfg.data, cfg.selection) = (t.model, t.data, t.selection);
    cfg.data.train_images = 16;
    cfg.data.valid_images = 16;
    let data = common::synthetic_data(48, 16);
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let opts = common::cpu_options();
    let straight = run_search(&cfg, &data, Some(&common::FakeTable), &a, &opts).unwrap();
    let stop = SearchOptions {
        stop_after: Some(1),
        ..common::cpu_options()
    };
    run_search(&cfg, &data, Some(&common::FakeTable), &b, &stop).unwrap();
    let resume = SearchOptions {
        resume: true,
        ..common::cpu_options()
    };
    let rest = run_search(&cfg, &data, Some(&common::FakeTable), &b, &resume).unwrap();
    assert_eq!(rest.status, RunStatus::Complete);
    for f in [
        "weights.safetensors",
        "arch.safetensors",
        "optimizers.safetensors",
    ] {
        let read = |d: &std::path::Path| std::fs::read(d.join("checkpoint").join(f)).unwrap();
        assert_eq!(read(&a), read(&b), "{f}");
    }
    let recs = &straight.records;
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].metric("beta_decay_lambda"), Some(0.0));
    // The default ramp 0 → 50 over 2 epochs.
    assert_eq!(recs[1].metric("beta_decay_lambda"), Some(25.0));
    assert!(recs[1].metric("hessian_eigenvalue").is_some());
    assert!(recs[0].arch_weights.is_some() && recs[0].arch_weights != recs[1].arch_weights);
    let ra = std::fs::read_to_string(a.join("epochs.jsonl")).unwrap();
    let rb = std::fs::read_to_string(b.join("epochs.jsonl")).unwrap();
    let strip = |s: &str| -> Vec<serde_json::Value> {
        s.lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("seconds");
                v
            })
            .collect()
    };
    assert_eq!(strip(&ra), strip(&rb));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("run.json")).unwrap()).unwrap();
    assert_eq!(meta["optimizer"], "drnas_beta_hessian");
    assert_eq!(meta["method"]["base"], "drnas");
    assert_eq!(meta["method"]["relaxation"], "dirichlet");
    assert_eq!(meta["method"]["hooks"][0], "hessian");
    assert_eq!(meta["method"]["evaluation"], "bn_recalibration");
}

/// Fair-DARTS' relaxation: every weight is σ of its logit, independent of the others (a row
/// need not sum to 1), the same in every phase.
#[test]
fn sigmoid_relaxation_gives_independent_sigmoid_weights() {
    let _torch = common::torch_lock();
    use oneshot::{MixContext, OneShotModel, Phase, Relaxation};
    use rand::SeedableRng;
    let cfg = common::tiny_registered("fair_darts", 3);
    tch::manual_seed(1);
    let model = OneShotModel::new(&cfg.model, tch::Device::Cpu).unwrap();
    tch::no_grad(|| {
        let n = model.arch.ops.size()[0];
        let vals: Vec<f32> = (0..n * 3).map(|i| (i % 5) as f32 - 2.0).collect();
        model
            .arch
            .ops
            .shallow_clone()
            .copy_(&Tensor::from_slice(&vals).view([n, 3]));
    });
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    for phase in [Phase::Weights, Phase::Arch, Phase::Eval] {
        let mut cx = MixContext {
            arch: &model.arch,
            space: &model.space,
            rng: &mut rng,
            device: tch::Device::Cpu,
            phase,
        };
        let w = oneshot::sigmoid::Sigmoid
            .mixing(&mut cx)
            .unwrap()
            .for_cell(0);
        assert!(w.ops.allclose(&model.arch.ops.sigmoid(), 1e-6, 1e-7, false));
        assert!(w
            .output
            .allclose(&model.arch.output.sigmoid(), 1e-6, 1e-7, false));
        // Row 0 holds logits −2, −1, 0: σ(−2) + σ(−1) + σ(0) ≈ 0.888, not 1 as a softmax row.
        let row0 = w.ops.get(0).sum(Kind::Double).double_value(&[]);
        let want: f64 = [-2.0f64, -1.0, 0.0]
            .iter()
            .map(|x| 1.0 / (1.0 + (-x).exp()))
            .sum();
        assert!(close(row0, want), "{row0} vs {want}");
    }
}
