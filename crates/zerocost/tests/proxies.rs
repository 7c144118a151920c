//! Each proxy against a value computed independently on a tiny network (double precision):
//! closed forms (synflow's path norm, flops, l2_norm, jacov and nwot on two images), finite
//! differences of the loss (snip, plain, grad_norm; grasp's Hessian-vector product) and the
//! dense layer's Fisher term from the logits; params against NB-101's records.

use std::path::PathBuf;

use nasbench101::network::{NetworkConfig, NetworkPlan};
use nasbench101::{ModelSpec, Op};
use standalone::model::build;
use standalone::{count_trainable, ModelOptions, Nb101Network, Probe};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use zerocost::measure::{self, weights};
use zerocost::{Minibatch, Proxy, Scorer, Settings, ZenBn};

fn config(stem: usize, labels: usize) -> NetworkConfig {
    NetworkConfig {
        stem_channels: stem,
        stacks: 1,
        cells_per_stack: 1,
        num_labels: labels,
    }
}

/// input -> conv1x1 -> output.
fn chain(op: Op) -> ModelSpec {
    ModelSpec::from_ops(vec![vec![0, 1, 0], vec![0, 0, 1], vec![0, 0, 0]], &[op]).unwrap()
}

/// Two branches and an input-output edge: conv3x3 -> maxpool, conv1x1, both to the output.
fn branchy() -> ModelSpec {
    ModelSpec::from_ops(
        vec![
            vec![0, 1, 0, 1, 1],
            vec![0, 0, 1, 0, 0],
            vec![0, 0, 0, 0, 1],
            vec![0, 0, 0, 0, 1],
            vec![0, 0, 0, 0, 0],
        ],
        &[Op::Conv3x3, Op::MaxPool3x3, Op::Conv1x1],
    )
    .unwrap()
}

/// Every test holds this: they draw from torch's global generator (the initial weights, the
/// images, zen's redraw), which a test running beside would advance.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn net(spec: &ModelSpec, cfg: NetworkConfig, seed: u64) -> (VarStore, Nb101Network) {
    let plan = NetworkPlan::new(spec, cfg).unwrap();
    let (mut vs, net) = build(&plan, &ModelOptions::default(), Device::Cpu, false, seed);
    vs.double();
    (vs, net)
}

fn batch(n: i64, side: i64, labels: i64, seed: i64) -> Minibatch {
    tch::manual_seed(seed);
    Minibatch {
        images: Tensor::randn([n, 3, side, side], (Kind::Double, Device::Cpu)),
        labels: Tensor::arange(n, (Kind::Int64, Device::Cpu)).remainder(labels),
    }
}

fn var(vs: &VarStore, name: &str) -> Vec<f64> {
    let t = &vs.variables()[name];
    Vec::<f64>::try_from(t.flatten(0, -1)).unwrap()
}

fn close(got: f64, want: f64, rel: f64) {
    assert!(
        (got - want).abs() <= rel * want.abs().max(1e-12),
        "got {got}, want {want}"
    );
}

fn loss(net: &Nb101Network, b: &Minibatch) -> f64 {
    tch::no_grad(|| {
        net.forward_t(&b.images, true)
            .log_softmax(-1, Kind::Double)
            .nll_loss(&b.labels)
            .double_value(&[])
    })
}

/// Sets a weight tensor to `values`.
fn set(w: &Tensor, values: &[f64]) {
    tch::no_grad(|| {
        let mut w = w.shallow_clone();
        w.copy_(&Tensor::from_slice(values).view(w.size().as_slice()));
    });
}

/// The loss gradient of every weight by central differences.
fn fd_gradients(ws: &[Tensor], f: impl Fn() -> f64) -> Vec<Vec<f64>> {
    let eps = 1e-6;
    ws.iter()
        .map(|w| {
            let base = Vec::<f64>::try_from(w.flatten(0, -1)).unwrap();
            let g = (0..base.len())
                .map(|i| {
                    let mut v = base.clone();
                    v[i] = base[i] + eps;
                    set(w, &v);
                    let up = f();
                    v[i] = base[i] - eps;
                    set(w, &v);
                    let down = f();
                    (up - down) / (2.0 * eps)
                })
                .collect();
            set(w, &base);
            g
        })
        .collect()
}

fn values(ws: &[Tensor]) -> Vec<Vec<f64>> {
    ws.iter()
        .map(|w| Vec::<f64>::try_from(w.flatten(0, -1)).unwrap())
        .collect()
}

#[test]
fn snip_plain_grad_norm_match_finite_differences() {
    let _serial = serial();
    let (vs, net) = net(&branchy(), config(3, 3), 1);
    let b = batch(4, 2, 3, 2);
    let ws = weights(&vs);
    assert_eq!(
        ws.len(),
        1 + 2 + 3 + 1,
        "stem, 2 convolutions, 3 projections, dense"
    );
    let r = measure::one_pass(&vs, &net, &b, false);
    let fd = fd_gradients(&ws, || loss(&net, &b));
    let w = values(&ws);
    let pairs = || w.iter().flatten().zip(fd.iter().flatten());
    let snip: f64 = pairs().map(|(w, g)| (w * g).abs()).sum();
    let plain: f64 = pairs().map(|(w, g)| w * g).sum();
    let norm: f64 = fd
        .iter()
        .map(|g| g.iter().map(|x| x * x).sum::<f64>().sqrt())
        .sum();
    close(r.snip, snip, 1e-5);
    close(r.grad_norm, norm, 1e-5);
    // BatchNorm makes the loss blind to a convolution's scale: plain is the dense layer's part.
    close(r.plain, plain, 1e-4);
    assert!(r.snip > 0.0 && r.grad_norm > 0.0);
}

#[test]
fn grasp_matches_a_finite_difference_hessian_vector_product() {
    let _serial = serial();
    let (vs, net) = net(&branchy(), config(3, 3), 3);
    let b = batch(4, 2, 3, 4);
    let ws = weights(&vs);
    let grad = || {
        let l = net
            .forward_t(&b.images, true)
            .log_softmax(-1, Kind::Double)
            .nll_loss(&b.labels);
        values(&Tensor::run_backward(&[&l], &ws, false, false))
    };
    let g = grad();
    let w = values(&ws);
    let eps = 1e-5;
    let shifted = |sign: f64| {
        for ((t, w), g) in ws.iter().zip(&w).zip(&g) {
            let v: Vec<f64> = w.iter().zip(g).map(|(w, g)| w + sign * eps * g).collect();
            set(t, &v);
        }
        let out = grad();
        for (t, w) in ws.iter().zip(&w) {
            set(t, w);
        }
        out
    };
    let (up, down) = (shifted(1.0), shifted(-1.0));
    let mut want = 0.0;
    for l in 0..w.len() {
        for i in 0..w[l].len() {
            let hg = (up[l][i] - down[l][i]) / (2.0 * eps);
            want -= w[l][i] * hg;
        }
    }
    close(measure::grasp(&vs, &net, &b), want, 1e-3);
}

#[test]
fn fisher_dense_term_is_half_the_mean_square_of_logit_times_error() {
    let _serial = serial();
    let (vs, net) = net(&branchy(), config(3, 4), 5);
    let b = batch(5, 2, 4, 6);
    let r = measure::one_pass(&vs, &net, &b, false);
    assert_eq!(r.fisher_layers.len(), weights(&vs).len());
    let (dense, fan_in) = *r.fisher_layers.last().unwrap();
    assert_eq!(fan_in, 3, "the cell's 3 output channels");
    let z = tch::no_grad(|| net.forward_t(&b.images, true));
    let p = z.softmax(1, Kind::Double);
    let y = b.labels.one_hot(4).to_kind(Kind::Double);
    let n = b.len() as f64;
    // dL/dz = (softmax - onehot) / n for the batch-mean cross-entropy.
    let g: Tensor = (&z * (p - y)) / n;
    let want: Tensor = 0.5
        * g.pow_tensor_scalar(2)
            .mean_dim([0i64].as_slice(), false, None::<Kind>)
            .sum(Kind::Double);
    close(dense, want.double_value(&[]), 1e-9);
    let sum: f64 = r.fisher_layers.iter().map(|l| l.0).sum();
    close(r.fisher, sum, 1e-12);
    let weighted: f64 = r.fisher_layers.iter().map(|&(v, f)| v * f as f64).sum();
    close(
        measure::one_pass(&vs, &net, &b, true).fisher,
        weighted,
        1e-9,
    );
}

#[test]
fn jacov_on_two_images_is_the_closed_form_of_their_correlation() {
    let _serial = serial();
    let (vs, net) = net(&branchy(), config(3, 3), 7);
    let b = batch(2, 2, 3, 8);
    let r = measure::one_pass(&vs, &net, &b, false);
    // d(sum of logits)/d(image pixels) by central differences.
    let x = &b.images;
    let base = Vec::<f64>::try_from(x.flatten(0, -1)).unwrap();
    let out = |v: &[f64]| {
        let xs = Tensor::from_slice(v).view(x.size().as_slice());
        tch::no_grad(|| net.forward_t(&xs, true).sum(Kind::Double).double_value(&[]))
    };
    let eps = 1e-6;
    let jac: Vec<f64> = (0..base.len())
        .map(|i| {
            let mut v = base.clone();
            v[i] += eps;
            let up = out(&v);
            v[i] -= 2.0 * eps;
            (up - out(&v)) / (2.0 * eps)
        })
        .collect();
    let (a, c) = jac.split_at(jac.len() / 2);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (ma, mc) = (mean(a), mean(c));
    let cov: f64 = a.iter().zip(c).map(|(a, c)| (a - ma) * (c - mc)).sum();
    let sa = a.iter().map(|a| (a - ma).powi(2)).sum::<f64>().sqrt();
    let sc = c.iter().map(|c| (c - mc).powi(2)).sum::<f64>().sqrt();
    let rho = cov / (sa * sc);
    // The eigenvalues of [[1, r], [r, 1]] are 1 + r and 1 - r.
    let k = 1e-5;
    let want = -[1.0 + rho, 1.0 - rho]
        .iter()
        .map(|v| (v + k).ln() + 1.0 / (v + k))
        .sum::<f64>();
    close(r.jacov, want, 1e-5);
}

/// Records every ReLU input.
#[derive(Default)]
struct PreRelu(Vec<Tensor>);

impl Probe for PreRelu {
    fn pre_relu(&mut self, x: &Tensor) {
        self.0.push(x.detach().copy());
    }
}

#[test]
fn nwot_on_two_images_is_the_log_of_units_squared_minus_agreements_squared() {
    let _serial = serial();
    let (vs, net) = net(&branchy(), config(3, 3), 9);
    let b = batch(2, 2, 3, 10);
    let r = measure::one_pass(&vs, &net, &b, false);
    let mut probe = PreRelu::default();
    let _ = tch::no_grad(|| net.forward_probed(&b.images, true, &mut probe));
    // Units per image on 2x2 pixels: stem 3; the output's 3 channels split 2 (vertex 2, so
    // vertex 1 too) and 1 (vertex 3): projection and conv of vertex 1 (2 + 2) and vertex 3
    // (1 + 1), the input-output projection 3.
    let units: i64 = probe.0.iter().map(|t| t.numel() as i64 / 2).sum();
    assert_eq!(units, (3 + 2 + 2 + 1 + 1 + 3) * 4);
    let mut agree = 0i64;
    for t in &probe.0 {
        let v = Vec::<f64>::try_from(t.flatten(0, -1)).unwrap();
        let (a, c) = v.split_at(v.len() / 2);
        agree += a
            .iter()
            .zip(c)
            .filter(|(a, c)| (**a > 0.0) == (**c > 0.0))
            .count() as i64;
    }
    let d = units as f64;
    let s = agree as f64;
    close(r.nwot, (d * d - s * s).ln(), 1e-9);
    // Two identical images: a singular kernel, no finite score.
    let same = Minibatch {
        images: Tensor::cat(&[b.images.narrow(0, 0, 1), b.images.narrow(0, 0, 1)], 0),
        labels: b.labels.shallow_clone(),
    };
    assert!(!measure::one_pass(&vs, &net, &same, false).nwot.is_finite());
}

#[test]
fn synflow_is_the_layer_count_times_the_path_norm_on_a_chain() {
    let _serial = serial();
    // stem (3x3, centre tap only on a 1x1 image) -> projection 1x1 -> conv1x1 -> dense.
    let (mut vs, net) = net(&chain(Op::Conv1x1), config(1, 2), 11);
    let abs_sum = |v: Vec<f64>| v.iter().map(|x| x.abs()).sum::<f64>();
    let stem = var(&vs, "stem.conv.weight");
    let centre: f64 = (0..3).map(|c| stem[c * 9 + 4].abs()).sum();
    let proj = abs_sum(var(&vs, "stack0.module0.vertex_1.projection.conv.weight"));
    let conv = abs_sum(var(&vs, "stack0.module0.vertex_1.conv.weight"));
    let dense = abs_sum(var(&vs, "dense.weight"));
    let path = centre * proj * conv * dense;
    let got = measure::synflow(&mut vs, &net, &[3, 1, 1]);
    close(got, (4.0 * path).ln(), 1e-9);
}

#[test]
fn flops_and_l2_norm_of_a_hand_counted_network() {
    let _serial = serial();
    let (vs, net) = net(&chain(Op::Conv3x3), config(1, 2), 12);
    // stem 3->1 3x3, projection 1->1, conv 1->1 3x3, all on 32x32; dense 1->2.
    let want = 1024 * 27 + 1024 + 1024 * 9 + 2;
    assert_eq!(measure::flops(&net, &[3, 32, 32], Kind::Double), want);
    for w in weights(&vs) {
        let n = w.numel();
        set(&w, &vec![-0.5; n]);
    }
    // Norms sqrt(n) * 0.5 of 27, 1, 9 and 2 weights.
    let want = 0.5 * (27f64.sqrt() + 1.0 + 3.0 + 2f64.sqrt());
    close(measure::l2_norm(&vs), want, 1e-12);
}

#[test]
fn zen_is_deterministic_and_its_batchnorm_variants_differ() {
    let _serial = serial();
    let spec = branchy();
    let b = batch(4, 4, 3, 13);
    let score = |bn| {
        let (vs, net) = net(&spec, config(3, 3), 14);
        measure::zen(&vs, &net, &b, bn, 5)
    };
    let (a, again, running) = (
        score(ZenBn::Batch),
        score(ZenBn::Batch),
        score(ZenBn::Running),
    );
    assert!(a.is_finite() && running.is_finite());
    assert_eq!(a, again);
    assert_ne!(a, running);
}

/// Batch-statistics BatchNorm (scale 1, shift 0, NB-101's ε) of one channel: the normalized
/// values and the biased batch variance.
fn batch_norm(z: &[f64]) -> (Vec<f64>, f64) {
    let n = z.len() as f64;
    let mean = z.iter().sum::<f64>() / n;
    let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let y = z.iter().map(|v| (v - mean) / (var + 1e-5).sqrt()).collect();
    (y, var)
}

#[test]
fn zen_of_a_one_channel_chain_is_its_hand_computed_value() {
    let _serial = serial();
    // stem (3x3, centre tap only on a 1x1 image) -> projection 1x1 -> conv1x1, one channel,
    // each followed by BatchNorm and ReLU; the feature map is the last ReLU's output.
    let spec = chain(Op::Conv1x1);
    let (vs, network) = net(&spec, config(1, 2), 15);
    let b = batch(6, 1, 2, 16);
    let (x, eps) = measure::zen_redraw(&vs, &b, 7);
    let stem = var(&vs, "stem.conv.weight");
    let wp = var(&vs, "stack0.module0.vertex_1.projection.conv.weight")[0];
    let wc = var(&vs, "stack0.module0.vertex_1.conv.weight")[0];
    assert_eq!(var(&vs, "stem.bn.weight"), [1.0]);
    let xs = Vec::<f64>::try_from(x.flatten(0, -1)).unwrap();
    let es = Vec::<f64>::try_from(eps.flatten(0, -1)).unwrap();
    let relu = |v: Vec<f64>| v.into_iter().map(|a| a.max(0.0)).collect::<Vec<_>>();
    let forward = |input: &[f64]| {
        let s: Vec<f64> = input
            .chunks(3)
            .map(|px| (0..3).map(|c| stem[c * 9 + 4] * px[c]).sum())
            .collect();
        let (a, v1) = batch_norm(&s);
        let a = relu(a);
        let (p, v2) = batch_norm(&a.iter().map(|v| wp * v).collect::<Vec<_>>());
        let p = relu(p);
        let (c, v3) = batch_norm(&p.iter().map(|v| wc * v).collect::<Vec<_>>());
        (relu(c), [v1, v2, v3])
    };
    let (f1, vars) = forward(&xs);
    let noisy: Vec<f64> = xs.iter().zip(&es).map(|(x, e)| x + 0.01 * e).collect();
    let (f2, _) = forward(&noisy);
    let diff = f1.iter().zip(&f2).map(|(a, b)| (a - b).abs()).sum::<f64>() / f1.len() as f64;
    assert!(diff > 0.0, "a dead network: pick other seeds");
    let want = diff.ln() + vars.iter().map(|v| 0.5 * v.ln()).sum::<f64>();
    let got = measure::zen_score(&network, &x, &eps, ZenBn::Batch);
    close(got, want, 1e-9);
    // zen is the redraw and the score.
    let (vs, network) = net(&spec, config(1, 2), 15);
    assert_eq!(measure::zen(&vs, &network, &b, ZenBn::Batch, 7), got);
}

fn fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/nb101");
    if dir.join("expected.json").exists() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "real data absent in CI: {} (the params test needs it)",
        dir.display()
    );
    eprintln!("SKIPPED (real data absent): {}", dir.display());
    None
}

#[test]
fn params_are_nb101_trainable_parameters() {
    let _serial = serial();
    let settings = Settings {
        batch_size: 2,
        ..Default::default()
    };
    let scorer = Scorer::new(settings, batch(2, 32, 10, 0).to_kind(Kind::Float)).unwrap();
    let Some(dir) = fixtures() else { return };
    let text = std::fs::read_to_string(dir.join("expected.json")).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    let models = expected["models"].as_object().unwrap();
    assert!(models.len() >= 32);
    for (hash, m) in models {
        let adj: Vec<Vec<u8>> = serde_json::from_value(m["module_adjacency"].clone()).unwrap();
        let ops: Vec<String> = serde_json::from_value(m["module_operations"].clone()).unwrap();
        let spec = ModelSpec::new(adj, ops).unwrap();
        let got = scorer.score(&spec, &[Proxy::Params]).unwrap();
        let want = m["trainable_parameters"].as_u64().unwrap() as f64;
        assert_eq!(got[&Proxy::Params], Some(want), "{hash}");
    }
}

#[test]
fn scorer_gives_every_proxy_and_params_counts_the_built_network() {
    let _serial = serial();
    let settings = Settings {
        network: NetworkConfig {
            stem_channels: 4,
            stacks: 2,
            cells_per_stack: 1,
            num_labels: 10,
        },
        batch_size: 4,
        ..Default::default()
    };
    let scorer = Scorer::new(settings.clone(), batch(4, 32, 10, 15).to_kind(Kind::Float)).unwrap();
    let spec = branchy();
    let scores = scorer.score(&spec, &Proxy::ALL).unwrap();
    assert_eq!(scores.len(), 12);
    for (p, v) in &scores {
        assert!(v.is_some(), "{p} not finite");
    }
    let plan = NetworkPlan::new(&spec, settings.network).unwrap();
    let (vs, _) = build(&plan, &ModelOptions::default(), Device::Cpu, false, 0);
    assert_eq!(scores[&Proxy::Params], Some(count_trainable(&vs) as f64));
    // Same settings, same scores; another init seed, other scores.
    assert_eq!(scorer.score(&spec, &Proxy::ALL).unwrap(), scores);
    let other = Settings {
        init_seed: 1,
        ..settings
    };
    let other = Scorer::new(other, batch(4, 32, 10, 15).to_kind(Kind::Float)).unwrap();
    let snip = other.score(&spec, &[Proxy::Snip]).unwrap();
    assert_ne!(snip[&Proxy::Snip], scores[&Proxy::Snip]);
    // A mismatched minibatch is refused.
    let bad = Scorer::new(Settings::default(), batch(4, 32, 10, 0));
    assert!(bad.is_err());
}

/// An image whose input gradient is constant has no correlation with the others (NaN): jacov
/// is then no number (a `null` score), never a panic that ends the whole scoring run.
#[test]
fn jacov_of_a_constant_gradient_is_no_number() {
    let jac = Tensor::from_slice(&[1.0f64, 1.0, 1.0, 0.0, 1.0, 2.0]).reshape([2, 3]);
    assert!(measure::jacov_score(&jac).is_nan());
}
