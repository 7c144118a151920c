//! DrNAS: the pathwise Dirichlet gradient, the KL regularizer, a tiny real search.

mod common;

use oneshot::drnas::{dirichlet_rsample, kl_to_prior};
use oneshot::{run_search, RunStatus};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

#[test]
fn pathwise_gradient_matches_the_gradient_of_the_mean() {
    let _torch = common::torch_lock();
    let opt = (Kind::Double, Device::Cpu);
    let c = Tensor::from_slice(&[2.0f64, 0.7, 1.3]).set_requires_grad(true);
    let n = 20000;
    let beta = c.unsqueeze(0).expand([n, 3], false);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x = dirichlet_rsample(&beta, &mut rng).unwrap();
    // Rows sum to one and the sample mean is β / Σβ.
    let rows = x.sum_dim_intlist(-1, false, Kind::Double);
    assert!(rows.allclose(&Tensor::ones([n], opt), 1e-9, 1e-9, false));
    let mean = Vec::<f64>::try_from(x.detach().mean_dim(0, false, Kind::Double)).unwrap();
    let s = 4.0;
    for (m, b) in mean.iter().zip([2.0, 0.7, 1.3]) {
        assert!((m - b / s).abs() < 0.01, "mean {m} vs {}", b / s);
    }
    // d E[x_0] / dβ = ((S − β0) / S², −β0 / S², −β0 / S²).
    let g = Tensor::run_backward(&[x.select(1, 0).mean(Kind::Double)], &[&c], false, false);
    let g = Vec::<f64>::try_from(&g[0]).unwrap();
    let exact = [(s - 2.0) / (s * s), -2.0 / (s * s), -2.0 / (s * s)];
    for (a, e) in g.iter().zip(exact) {
        assert!((a - e).abs() < 0.1 * e.abs(), "pathwise {g:?} vs {exact:?}");
    }
}

#[test]
fn kl_to_the_prior_is_zero_only_at_the_prior() {
    let _torch = common::torch_lock();
    let p = Tensor::full([2, 3], 1.0, (Kind::Double, Device::Cpu));
    assert!(kl_to_prior(&p, 1.0).double_value(&[]).abs() < 1e-12);
    let q = Tensor::from_slice(&[3.0f64, 0.5, 1.0]).view([1, 3]);
    assert!(kl_to_prior(&q, 1.0).double_value(&[]) > 0.1);
}

#[test]
fn drnas_searches_and_learns_the_architecture() {
    let _torch = common::torch_lock();
    let data = common::synthetic_data(48, 8);
    let mut cfg = common::tiny_registered("drnas", 1);
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
    let (w0, w1) = (&out.records[0].arch_weights, &out.records[1].arch_weights);
    assert!(
        w0.is_some() && w0 != w1,
        "architecture weights did not learn"
    );
    for r in &out.records {
        r.architecture.validate().unwrap();
        assert!(r.one_shot_valid_error.is_finite());
    }
}
