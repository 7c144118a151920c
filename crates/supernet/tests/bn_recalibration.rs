//! BatchNorm recalibration: the running statistics re-estimated on N batches are their
//! cumulative average (PyTorch's `momentum=None`), computed here by hand for the stem's
//! BatchNorm; saving and restoring them leaves the network as it was.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use searchspace::{SearchSpace, SpaceId};
use supernet::{one_hot_mixing, SharedMixing, Supernet, SupernetConfig};
use tch::{nn, Device, Kind, Tensor};

fn setup() -> (nn::VarStore, Supernet, SharedMixing) {
    tch::manual_seed(5);
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = SupernetConfig {
        space: SpaceId::Two,
        init_channels: 4,
        layers: 3,
        ..SupernetConfig::default()
    };
    let net = Supernet::new(&vs.root(), &cfg).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let arch = SearchSpace::new(SpaceId::Two).sample(&mut rng);
    let mixing = SharedMixing(one_hot_mixing(&arch, Device::Cpu).unwrap());
    (vs, net, mixing)
}

fn var(vs: &nn::VarStore, name: &str) -> Tensor {
    vs.variables()
        .get(name)
        .unwrap_or_else(|| panic!("no variable {name}"))
        .shallow_clone()
}

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).unwrap()
}

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= 1e-5 * w.abs().max(1.0),
            "{what}: {got:?} vs {want:?}"
        );
    }
}

#[test]
fn stem_statistics_are_the_mean_of_the_batch_statistics() {
    let (vs, net, mut mixing) = setup();
    let batches: Vec<Tensor> = (0..3)
        .map(|i| Tensor::randn([5 + i, 3, 8, 8], (Kind::Float, Device::Cpu)) * (1.0 + i as f64))
        .collect();
    let n = net.recalibrate_bn(&batches, &mut mixing).unwrap();
    assert_eq!(n, 3);
    // By hand: the stem's conv output per batch, its per-channel mean and unbiased variance
    // (what BatchNorm keeps), averaged over the batches with equal weight.
    let w = var(&vs, "stem.conv.weight").contiguous();
    let (mut mean, mut varsum) = (vec![0.0; 4], vec![0.0; 4]);
    for x in &batches {
        let y = x.conv2d(&w, None::<Tensor>, [1, 1], [1, 1], [1, 1], 1);
        let m = values(&y.mean_dim([0, 2, 3].as_slice(), false, Kind::Float));
        let v = values(&y.var_dim([0, 2, 3].as_slice(), true, false));
        for c in 0..4 {
            mean[c] += m[c] / 3.0;
            varsum[c] += v[c] / 3.0;
        }
    }
    assert_close(&values(&var(&vs, "stem.bn.running_mean")), &mean, "mean");
    assert_close(&values(&var(&vs, "stem.bn.running_var")), &varsum, "var");
    // Not the layer's own momentum (0.997 keeps almost only the last batch).
    let last = batches[2].conv2d(&w, None::<Tensor>, [1, 1], [1, 1], [1, 1], 1);
    let last = values(&last.mean_dim([0, 2, 3].as_slice(), false, Kind::Float));
    assert!(last.iter().zip(&mean).any(|(l, m)| (l - m).abs() > 1e-3));
}

#[test]
fn recalibration_is_repeatable_and_restoring_puts_every_statistic_back() {
    let (vs, net, mut mixing) = setup();
    let running = |vs: &nn::VarStore| -> Vec<(String, Vec<f64>)> {
        let mut v: Vec<(String, Vec<f64>)> = vs
            .variables()
            .into_iter()
            .filter(|(k, _)| k.contains("running_"))
            .map(|(k, t)| (k, values(&t)))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    // Some training first, so the statistics are not the initial 0 / 1.
    let x = Tensor::randn([6, 3, 8, 8], (Kind::Float, Device::Cpu));
    let _ = tch::no_grad(|| net.forward(&x, &mut mixing, true));
    let before = running(&vs);
    let saved = net.save_bn_stats();
    let batches: Vec<Tensor> = (0..2)
        .map(|_| Tensor::randn([4, 3, 8, 8], (Kind::Float, Device::Cpu)))
        .collect();
    net.recalibrate_bn(&batches, &mut mixing).unwrap();
    let once = running(&vs);
    assert_ne!(once, before);
    // Every statistic was reset first: the same batches give the same values again.
    let _ = tch::no_grad(|| net.forward(&x, &mut mixing, true));
    net.recalibrate_bn(&batches, &mut mixing).unwrap();
    assert_eq!(running(&vs), once);
    net.restore_bn_stats(&saved).unwrap();
    assert_eq!(running(&vs), before);
    assert!(net.restore_bn_stats(&saved[1..]).is_err());
}
