//! Hessian tracking against the exact Hessian, and DARTS-ES on a tiny real search.

mod common;

use oneshot::hessian::dominant_eigenvalue;
use oneshot::optim::grads_or_zeros;
use oneshot::{run_search, RunStatus, SearchConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

/// A tiny mixed model in double precision: 4 choice blocks, each mixing 3 "operations"
/// (fixed random linear maps of its input) by softmax(α_block), then a cross-entropy.
fn tiny_loss(alpha: &Tensor, beta: &Tensor) -> Tensor {
    tch::manual_seed(7);
    let opt = (Kind::Double, Device::Cpu);
    let x = Tensor::randn([16, 5], opt);
    let y = Tensor::randint(3, [16], (Kind::Int64, Device::Cpu));
    let ops = Tensor::randn([4, 3, 5, 5], opt) * 0.6;
    let head = Tensor::randn([5, 3], opt);
    let w = alpha.softmax(-1, Kind::Double);
    let mut h = x;
    for b in 0..4 {
        let mixed = (0..3)
            .map(|o| h.matmul(&ops.get(b).get(o)).tanh() * w.get(b).get(o))
            .reduce(|a, c| a + c)
            .unwrap();
        h = mixed * beta.get(b).sigmoid() + h * (1.0 - beta.get(b).sigmoid());
    }
    h.matmul(&head).cross_entropy_for_logits(&y)
}

/// The full Hessian by differentiating every entry of the gradient again.
fn exact_hessian(loss: &Tensor, params: &[(String, Tensor)]) -> Tensor {
    let g = Tensor::cat(
        &grads_or_zeros(loss, params, true)
            .iter()
            .map(|t| t.flatten(0, -1))
            .collect::<Vec<_>>(),
        0,
    );
    let n = g.size()[0];
    let rows: Vec<Tensor> = (0..n)
        .map(|i| {
            let gi = g.get(i);
            Tensor::cat(
                &grads_or_zeros(&gi, params, true)
                    .iter()
                    .map(|t| t.detach().flatten(0, -1))
                    .collect::<Vec<_>>(),
                0,
            )
        })
        .collect();
    Tensor::stack(&rows, 0)
}

#[test]
fn power_iteration_finds_the_dominant_eigenvalue_of_the_exact_hessian() {
    let _torch = common::torch_lock();
    let opt = (Kind::Double, Device::Cpu);
    let alpha = (Tensor::randn([4, 3], opt) * 0.5).set_requires_grad(true);
    let beta = Tensor::zeros([4], opt).set_requires_grad(true);
    let params = vec![
        ("a".to_string(), alpha.shallow_clone()),
        ("b".to_string(), beta.shallow_clone()),
    ];
    let loss = tiny_loss(&alpha, &beta);
    let h = exact_hessian(&loss, &params);
    let asym = (&h - h.transpose(0, 1)).abs().max().double_value(&[]);
    let scale = h.abs().max().double_value(&[]);
    assert!(
        asym <= 1e-6 * scale,
        "Hessian not symmetric: {asym} (scale {scale})"
    );
    let (eig, _) = h.linalg_eigh("L");
    let eig = Vec::<f64>::try_from(eig).unwrap();
    let mut by_mag = eig.clone();
    by_mag.sort_by(|a, b| b.abs().total_cmp(&a.abs()));
    let exact = by_mag[0];
    assert!(
        by_mag[1].abs() < 0.99 * exact.abs(),
        "no spectral gap: {by_mag:?}"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let est = dominant_eigenvalue(&loss, &params, 300, 1e-9, &mut rng).unwrap();
    let rel = (est - exact).abs() / exact.abs();
    assert!(
        rel < 1e-3,
        "power iteration {est} vs exact {exact} (rel {rel:e}, spectrum {eig:?})"
    );
}

fn tiny_es(epochs: usize, threshold: f64) -> SearchConfig {
    let mut cfg = common::tiny_registered("darts_es", 1);
    cfg.epochs = epochs;
    let es = |cfg: &mut SearchConfig, k: &str, v| common::set_option(cfg, "early_stop", k, v);
    es(&mut cfg, "window", toml::Value::Integer(1));
    es(&mut cfg, "lag", toml::Value::Integer(1));
    es(&mut cfg, "threshold", toml::Value::Float(threshold));
    // A few power-iteration steps keep the test fast; the exactness test above checks convergence.
    common::set_option(&mut cfg, "hessian", "iterations", toml::Value::Integer(4));
    common::set_option(&mut cfg, "hessian", "tolerance", toml::Value::Float(1e-2));
    cfg.validate().unwrap();
    cfg
}

#[test]
fn darts_es_stops_on_eigenvalue_growth_and_backtracks() {
    let _torch = common::torch_lock();
    let data = common::synthetic_data(48, 8);
    let tmp = tempfile::tempdir().unwrap();
    // Threshold 1e9: any positive ratio counts as growth, so the first check (epoch 1) stops.
    let cfg = tiny_es(4, 1e9);
    let out = run_search(
        &cfg,
        &data,
        Some(&common::FakeTable),
        tmp.path(),
        &common::cpu_options(),
    )
    .unwrap();
    assert_eq!(out.status, RunStatus::Complete);
    let eig: Vec<f64> = out
        .records
        .iter()
        .map(|r| r.metric("hessian_eigenvalue").expect("eigenvalue recorded"))
        .collect();
    assert!(eig.iter().all(|l| l.is_finite()), "{eig:?}");
    // With window = lag = 1 the rule is λ_{i-1} / λ_i < T with λ_i > 0: the run must end at
    // the first epoch where that holds. (The dominant eigenvalue of a tiny random problem can
    // be negative, so which epoch that is depends on the seed.)
    let stop = (1..eig.len())
        .find(|&i| eig[i] > 0.0 && eig[i - 1] / eig[i] < 1e9)
        .expect("a positive eigenvalue within 4 epochs");
    assert_eq!(out.records.len(), stop + 1, "eigenvalues {eig:?}");
    let why = out.stopped_early.expect("stopped early");
    assert!(why.contains("DARTS-ES"), "{why}");
    // Backtracked: the reported weights are those of the epoch before.
    assert_eq!(
        out.records[stop].arch_weights,
        out.records[stop - 1].arch_weights
    );
    let status: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("status.json")).unwrap())
            .unwrap();
    assert_eq!(status["status"], "complete");
    assert!(status["message"]
        .as_str()
        .unwrap()
        .contains("stopped early"));
    // Resuming a stopped run has nothing left to do.
    let again = run_search(
        &cfg,
        &data,
        Some(&common::FakeTable),
        tmp.path(),
        &oneshot::SearchOptions {
            resume: true,
            ..common::cpu_options()
        },
    )
    .unwrap();
    assert_eq!(again.records.len(), stop + 1);
    assert!(again.stopped_early.is_some());
    // Threshold −∞: never stops (0 would not do: a sign change from a negative to a positive
    // eigenvalue gives a negative ratio, which counts as growth).
    let tmp2 = tempfile::tempdir().unwrap();
    let full = run_search(
        &tiny_es(3, f64::NEG_INFINITY),
        &data,
        None,
        tmp2.path(),
        &common::cpu_options(),
    )
    .unwrap();
    assert_eq!((full.records.len(), full.stopped_early), (3, None));
}
