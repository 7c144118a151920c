//! Shapes, parameter counts, gradient flow and numerical equivalences of the supernet.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use searchspace::{SearchSpace, SpaceId};
use supernet::{
    one_hot_mixing, softmax_mixing, ArchParams, MixingSource, MixingWeights, SharedMixing,
    Supernet, SupernetConfig, SupernetError,
};
use tch::{nn, Device, Kind, Tensor};

fn small(space: SpaceId) -> SupernetConfig {
    SupernetConfig {
        space,
        init_channels: 4,
        layers: 3,
        ..SupernetConfig::default()
    }
}

fn param_count(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum()
}

/// The weight count from the layer formulas of §2, written independently of the model code:
/// conv k×k without bias = cin·cout·k², affine BN = 2c, linear = cin·cout + cout.
fn expected_params(n: i64, c0: i64, layers: i64, classes: i64, partial: Option<i64>) -> i64 {
    let conv_bn = |cin: i64, cout: i64, k: i64| cin * cout * k * k + 2 * cout;
    let mut total = conv_bn(3, c0, 3);
    let (mut c, mut cin) = (c0, c0);
    for i in 0..layers {
        if i == layers / 3 || i == 2 * layers / 3 {
            c *= 2;
        }
        let cc = partial.map_or(c, |k| c / k);
        total += n * conv_bn(cin, c, 1) + conv_bn(cin, n * c, 1);
        total += n * (conv_bn(cc, cc, 3) + conv_bn(cc, cc, 1));
        cin = n * c;
    }
    total + cin * c + c * classes + classes
}

fn num_blocks(space: SpaceId) -> i64 {
    match space {
        SpaceId::One | SpaceId::Two => 4,
        SpaceId::Three => 5,
    }
}

#[test]
fn parameter_counts_match_layer_formulas() {
    // The PyTorch reference (benches/pytorch/supernet_step.py) prints these for C = 16, 9 cells.
    assert_eq!(expected_params(4, 16, 9, 10, None), 1_101_402);
    assert_eq!(expected_params(5, 16, 9, 10, None), 1_509_594);
    for space in SpaceId::ALL {
        for fuse in [false, true] {
            for partial in [None, Some(4)] {
                let cfg = SupernetConfig {
                    space,
                    fuse_projections: fuse,
                    partial_channels: partial,
                    ..SupernetConfig::default()
                };
                let vs = nn::VarStore::new(Device::Cpu);
                Supernet::new(&vs.root(), &cfg).unwrap();
                let want = expected_params(num_blocks(space), 16, 9, 10, partial);
                assert_eq!(
                    param_count(&vs),
                    want,
                    "space {space} fuse {fuse} partial {partial:?}"
                );
            }
        }
    }
}

#[test]
fn forward_gives_logits_per_space_and_padding() {
    tch::set_num_threads(1);
    tch::manual_seed(0);
    for space in SpaceId::ALL {
        for pad in [0, 1] {
            let cfg = SupernetConfig {
                downsample_padding: pad,
                ..small(space)
            };
            let vs = nn::VarStore::new(Device::Cpu);
            let net = Supernet::new(&vs.root(), &cfg).unwrap();
            let avs = nn::VarStore::new(Device::Cpu);
            let arch = ArchParams::new(&avs.root(), &SearchSpace::new(space));
            let x = Tensor::randn([2, 3, 16, 16], (Kind::Float, Device::Cpu));
            let y = net.forward(&x, &mut SharedMixing(softmax_mixing(&arch)), true);
            assert_eq!(y.size(), vec![2, 10], "space {space} pad {pad}");
            assert!(bool::try_from(y.isfinite().all()).unwrap());
        }
    }
}

#[test]
fn architecture_value_counts_follow_spec() {
    let counts: Vec<i64> = SpaceId::ALL
        .iter()
        .map(|&s| {
            let avs = nn::VarStore::new(Device::Cpu);
            let arch = ArchParams::new(&avs.root(), &SearchSpace::new(s));
            assert_eq!(param_count(&avs), arch.num_values());
            arch.num_values()
        })
        .collect();
    assert_eq!(counts, vec![24, 26, 35]);
}

#[test]
fn gradients_reach_every_architecture_weight() {
    tch::set_num_threads(1);
    tch::manual_seed(1);
    for space in SpaceId::ALL {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = Supernet::new(&vs.root(), &small(space)).unwrap();
        let avs = nn::VarStore::new(Device::Cpu);
        let arch = ArchParams::new(&avs.root(), &SearchSpace::new(space));
        let x = Tensor::randn([4, 3, 8, 8], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 3, 7, 9]);
        let loss = net
            .forward(&x, &mut SharedMixing(softmax_mixing(&arch)), true)
            .cross_entropy_for_logits(&y);
        loss.backward();
        for (i, t) in arch.tensors().iter().enumerate() {
            let g = t.grad();
            assert!(g.defined(), "space {space} tensor {i}: no gradient");
            let zeros = i64::try_from(g.eq(0.0).sum(Kind::Int64)).unwrap();
            assert_eq!(
                zeros, 0,
                "space {space} tensor {i}: zero gradient entries {g:?}"
            );
        }
    }
}

#[test]
fn pc_darts_forward_keeps_shapes() {
    tch::set_num_threads(1);
    for space in SpaceId::ALL {
        let cfg = SupernetConfig {
            init_channels: 8,
            partial_channels: Some(4),
            ..small(space)
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let net = Supernet::new(&vs.root(), &cfg).unwrap();
        let avs = nn::VarStore::new(Device::Cpu);
        let arch = ArchParams::new(&avs.root(), &SearchSpace::new(space));
        let x = Tensor::randn([2, 3, 8, 8], (Kind::Float, Device::Cpu));
        let y = net
            .try_forward(&x, &mut SharedMixing(softmax_mixing(&arch)), true)
            .unwrap();
        assert_eq!(y.size(), vec![2, 10]);
    }
}

/// Moves every BatchNorm's running statistics away from their initial values, so that an
/// eval-mode comparison exercises them.
fn warm_up_batch_norm(net: &Supernet, space: SpaceId) {
    let avs = nn::VarStore::new(Device::Cpu);
    let arch = ArchParams::new(&avs.root(), &SearchSpace::new(space));
    for _ in 0..2 {
        let x = Tensor::randn([4, 3, 8, 8], (Kind::Float, Device::Cpu)) * 2.0 + 0.5;
        let _ = tch::no_grad(|| net.forward(&x, &mut SharedMixing(softmax_mixing(&arch)), true));
    }
}

#[test]
fn per_sample_weights_equal_one_pass_per_architecture() {
    tch::set_num_threads(1);
    tch::manual_seed(5);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for space in SpaceId::ALL {
        for partial in [None, Some(2)] {
            let cfg = SupernetConfig {
                partial_channels: partial,
                ..small(space)
            };
            let vs = nn::VarStore::new(Device::Cpu);
            let net = Supernet::new(&vs.root(), &cfg).unwrap();
            warm_up_batch_norm(&net, space);
            let x = Tensor::randn([3, 3, 8, 8], (Kind::Float, Device::Cpu));
            // Three one-hot cells and one soft (softmax) set, mixed in one batch.
            let mut sets: Vec<MixingWeights> = (0..3)
                .map(|_| {
                    let a = SearchSpace::new(space).sample(&mut rng);
                    one_hot_mixing(&a, Device::Cpu).unwrap()
                })
                .collect();
            let avs = nn::VarStore::new(Device::Cpu);
            let soft = ArchParams::new(&avs.root(), &SearchSpace::new(space));
            sets.push(softmax_mixing(&soft));
            let singles: Vec<Tensor> = sets
                .iter()
                .map(|m| net.forward(&x, &mut SharedMixing(m.clone()), false))
                .collect();
            let per = MixingWeights::per_sample(&sets, 3).unwrap();
            assert!(per.is_per_sample() && per.active_ops.is_none());
            assert_eq!(per.ops.size()[0], 12);
            let xs = x.repeat([4, 1, 1, 1]);
            let batched = net.try_forward(&xs, &mut SharedMixing(per), false).unwrap();
            let expected = Tensor::cat(&singles, 0);
            assert_eq!(batched.size(), expected.size());
            let diff = f64::try_from((&batched - &expected).abs().max()).unwrap();
            assert!(
                diff < 1e-4,
                "space {space} partial {partial:?}: max |batched - single| = {diff}"
            );
            // The batched pass really depends on each sample's own weights.
            let spread = f64::try_from((&singles[0] - &singles[3]).abs().max()).unwrap();
            assert!(
                spread > 1e-3,
                "space {space}: architectures give equal logits"
            );
        }
    }
}

#[test]
fn per_sample_weights_are_checked() {
    let vs = nn::VarStore::new(Device::Cpu);
    let net = Supernet::new(&vs.root(), &small(SpaceId::Two)).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let a = SearchSpace::new(SpaceId::Two).sample(&mut rng);
    let one = one_hot_mixing(&a, Device::Cpu).unwrap();
    let per = MixingWeights::per_sample(&[one.clone(), one.clone()], 2).unwrap();
    // Four per-sample sets for a batch of three images.
    let x = Tensor::zeros([3, 3, 8, 8], (Kind::Float, Device::Cpu));
    let err = net
        .try_forward(&x, &mut SharedMixing(per.clone()), false)
        .unwrap_err();
    assert!(
        matches!(err, SupernetError::ArchShape { ref tensor, .. } if tensor == "ops"),
        "{err}"
    );
    let hinted = MixingWeights {
        active_ops: one.active_ops.clone(),
        ..per
    };
    let x4 = Tensor::zeros([4, 3, 8, 8], (Kind::Float, Device::Cpu));
    let err = net
        .try_forward(&x4, &mut SharedMixing(hinted), false)
        .unwrap_err();
    assert!(matches!(err, SupernetError::ArchLayout { .. }), "{err}");
    assert!(MixingWeights::per_sample(&[], 2).is_err());
    let per = MixingWeights::per_sample(std::slice::from_ref(&one), 1).unwrap();
    assert!(MixingWeights::per_sample(&[per], 1).is_err());
}

/// Runs all ops with one-hot weights (no `active_ops` hint) for comparison.
struct Dense(MixingWeights);
impl MixingSource for Dense {
    fn for_cell(&mut self, _cell: usize) -> MixingWeights {
        MixingWeights {
            active_ops: None,
            ..self.0.clone()
        }
    }
}

#[test]
fn active_ops_path_equals_full_weighted_path() {
    tch::set_num_threads(1);
    tch::manual_seed(2);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for space in SpaceId::ALL {
        for partial in [None, Some(2)] {
            let cfg = SupernetConfig {
                partial_channels: partial,
                ..small(space)
            };
            let vs = nn::VarStore::new(Device::Cpu);
            let net = Supernet::new(&vs.root(), &cfg).unwrap();
            let x = Tensor::randn([2, 3, 8, 8], (Kind::Float, Device::Cpu));
            for _ in 0..3 {
                let a = SearchSpace::new(space).sample(&mut rng);
                let mix = one_hot_mixing(&a, Device::Cpu).unwrap();
                assert!(mix.active_ops.is_some());
                let fast = net.forward(&x, &mut SharedMixing(mix.clone()), false);
                let full = net.forward(&x, &mut Dense(mix), false);
                let diff = f64::try_from((&fast - &full).abs().max()).unwrap();
                assert!(diff < 1e-5, "space {space}: max |fast - full| = {diff}");
            }
        }
    }
}

/// Copies the unfused projections of every cell into the fused layout (block projections in
/// node order, then the output projection), so both networks compute the same function.
fn copy_into_fused(src: &nn::VarStore, dst: &nn::VarStore, n: usize, layers: usize) {
    let s = src.variables();
    let mut d = dst.variables();
    tch::no_grad(|| {
        for (name, t) in d.iter_mut() {
            if let Some(v) = s.get(name) {
                t.copy_(v);
            }
        }
        for cell in 0..layers {
            for leaf in [
                "conv/weight",
                "bn/weight",
                "bn/bias",
                "bn/running_mean",
                "bn/running_var",
            ] {
                let mut parts: Vec<Tensor> = (1..=n)
                    .map(|j| {
                        s[&format!("cell{cell}.proj{j}.{}", leaf.replace('/', "."))].shallow_clone()
                    })
                    .collect();
                parts.push(
                    s[&format!("cell{cell}.proj_out.{}", leaf.replace('/', "."))].shallow_clone(),
                );
                let fused = Tensor::cat(&parts, 0);
                d.get_mut(&format!("cell{cell}.proj.{}", leaf.replace('/', ".")))
                    .unwrap()
                    .copy_(&fused);
            }
        }
    });
}

#[test]
fn fused_projections_compute_the_same_function() {
    tch::set_num_threads(1);
    tch::manual_seed(3);
    for space in SpaceId::ALL {
        let base = SupernetConfig {
            fuse_projections: false,
            ..small(space)
        };
        let src = nn::VarStore::new(Device::Cpu);
        let unfused = Supernet::new(&src.root(), &base).unwrap();
        let dst = nn::VarStore::new(Device::Cpu);
        let fused = Supernet::new(
            &dst.root(),
            &SupernetConfig {
                fuse_projections: true,
                ..base
            },
        )
        .unwrap();
        copy_into_fused(&src, &dst, num_blocks(space) as usize, 3);
        let avs = nn::VarStore::new(Device::Cpu);
        let arch = ArchParams::new(&avs.root(), &SearchSpace::new(space));
        let x = Tensor::randn([3, 3, 8, 8], (Kind::Float, Device::Cpu));
        for train in [true, false] {
            let a = unfused.forward(&x, &mut SharedMixing(softmax_mixing(&arch)), train);
            let b = fused.forward(&x, &mut SharedMixing(softmax_mixing(&arch)), train);
            let diff = f64::try_from((&a - &b).abs().max()).unwrap();
            assert!(diff < 1e-4, "space {space} train {train}: max diff {diff}");
        }
    }
}

#[test]
fn try_forward_reports_bad_shapes() {
    let vs = nn::VarStore::new(Device::Cpu);
    let net = Supernet::new(&vs.root(), &small(SpaceId::Three)).unwrap();
    let avs = nn::VarStore::new(Device::Cpu);
    // Space-1 weights in a space-3 network.
    let arch = ArchParams::new(&avs.root(), &SearchSpace::new(SpaceId::One));
    let x = Tensor::zeros([1, 3, 8, 8], (Kind::Float, Device::Cpu));
    let err = net
        .try_forward(&x, &mut SharedMixing(softmax_mixing(&arch)), false)
        .unwrap_err();
    assert!(
        matches!(err, SupernetError::ArchShape { ref tensor, .. } if tensor == "ops"),
        "{err}"
    );
    let arch3 = ArchParams::new(&avs.root().sub("s3"), &SearchSpace::new(SpaceId::Three));
    let gray = Tensor::zeros([1, 1, 8, 8], (Kind::Float, Device::Cpu));
    let err = net
        .try_forward(&gray, &mut SharedMixing(softmax_mixing(&arch3)), false)
        .unwrap_err();
    assert!(matches!(err, SupernetError::ArchShape { .. }), "{err}");
}

#[test]
fn config_validates_and_round_trips() {
    let cfg = SupernetConfig::faithful(SpaceId::Two);
    let json = serde_json::to_string(&cfg).unwrap();
    let back: SupernetConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cfg);
    assert_eq!(back.bn_momentum, 0.997);
    let partial: SupernetConfig = serde_json::from_str(r#"{"space": 1, "layers": 6}"#).unwrap();
    assert_eq!(partial.init_channels, 16);
    assert_eq!(partial.space, SpaceId::One);
    let bad = [
        SupernetConfig {
            partial_channels: Some(3),
            ..SupernetConfig::default()
        },
        SupernetConfig {
            downsample_padding: 2,
            ..SupernetConfig::default()
        },
        SupernetConfig {
            bn_momentum: 1.5,
            ..SupernetConfig::default()
        },
        SupernetConfig {
            layers: 0,
            ..SupernetConfig::default()
        },
    ];
    for b in bad {
        let vs = nn::VarStore::new(Device::Cpu);
        assert!(matches!(
            Supernet::new(&vs.root(), &b),
            Err(SupernetError::InvalidConfig { .. })
        ));
    }
}

#[test]
fn architecture_gradient_is_unchanged_when_weights_are_frozen() {
    tch::set_num_threads(1);
    tch::manual_seed(4);
    let space = SpaceId::Two;
    let mut vs = nn::VarStore::new(Device::Cpu);
    let net = Supernet::new(&vs.root(), &small(space)).unwrap();
    let avs = nn::VarStore::new(Device::Cpu);
    let arch = ArchParams::new(&avs.root(), &SearchSpace::new(space));
    let x = Tensor::randn([4, 3, 8, 8], (Kind::Float, Device::Cpu));
    let y = Tensor::from_slice(&[1i64, 2, 3, 4]);
    let arch_grads = |net: &Supernet| -> Vec<Tensor> {
        for mut t in arch.tensors() {
            t.zero_grad();
        }
        net.forward(&x, &mut SharedMixing(softmax_mixing(&arch)), true)
            .cross_entropy_for_logits(&y)
            .backward();
        arch.tensors().iter().map(|t| t.grad().copy()).collect()
    };
    let full = arch_grads(&net);
    vs.freeze();
    for mut w in vs.trainable_variables() {
        w.zero_grad();
    }
    let frozen = arch_grads(&net);
    for (a, b) in full.iter().zip(&frozen) {
        let diff = f64::try_from((a - b).abs().max()).unwrap();
        assert!(diff < 1e-7, "architecture gradient changed by {diff}");
        assert!(f64::try_from(a.abs().sum(Kind::Double)).unwrap() > 0.0);
    }
    let weight_grad: f64 = vs
        .trainable_variables()
        .iter()
        .map(|w| {
            let g = w.grad();
            if g.defined() {
                f64::try_from(g.abs().sum(Kind::Double)).unwrap()
            } else {
                0.0
            }
        })
        .sum();
    assert_eq!(weight_grad, 0.0, "frozen weights received gradient");
}

#[test]
fn channels_last_computes_the_same_function_and_gradients() {
    tch::set_num_threads(1);
    tch::manual_seed(5);
    for space in SpaceId::ALL {
        let base = SupernetConfig {
            channels_last: Some(false),
            ..small(space)
        };
        let nchw_vs = nn::VarStore::new(Device::Cpu);
        let nchw = Supernet::new(&nchw_vs.root(), &base).unwrap();
        let mut nhwc_vs = nn::VarStore::new(Device::Cpu);
        let nhwc = Supernet::new(
            &nhwc_vs.root(),
            &SupernetConfig {
                channels_last: Some(true),
                ..base
            },
        )
        .unwrap();
        assert!(nhwc.is_channels_last() && !nchw.is_channels_last());
        nhwc_vs.copy(&nchw_vs).unwrap();
        // The layout took: every conv weight has stride 1 along its input channels, and
        // loading values (as a checkpoint does) kept it.
        for (name, w) in nhwc_vs.variables() {
            if w.dim() == 4 {
                assert_eq!(w.stride()[1], 1, "{name} is not channels-last");
            }
        }
        let avs = nn::VarStore::new(Device::Cpu);
        let arch = ArchParams::new(&avs.root(), &SearchSpace::new(space));
        let x = Tensor::randn([4, 3, 8, 8], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 3, 7, 9]);
        for train in [true, false] {
            let a = nchw.forward(&x, &mut SharedMixing(softmax_mixing(&arch)), train);
            let b = nhwc.forward(&x, &mut SharedMixing(softmax_mixing(&arch)), train);
            let diff = f64::try_from((&a - &b).abs().max()).unwrap();
            assert!(
                diff < 1e-4,
                "space {space} train {train}: max logit diff {diff}"
            );
        }
        // Gradients of the weights agree too (by name), so training follows the same path.
        let grads = |vs: &nn::VarStore, net: &Supernet| {
            for t in vs.trainable_variables() {
                t.grad().defined().then(|| t.grad().zero_());
            }
            net.forward(&x, &mut SharedMixing(softmax_mixing(&arch)), true)
                .cross_entropy_for_logits(&y)
                .backward();
            vs.variables()
                .into_iter()
                .filter(|(_, t)| t.requires_grad())
                .map(|(n, t)| (n, t.grad().contiguous()))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let ga = grads(&nchw_vs, &nchw);
        let gb = grads(&nhwc_vs, &nhwc);
        assert_eq!(ga.len(), gb.len());
        for (name, g) in &ga {
            let diff = f64::try_from((g - &gb[name]).abs().max()).unwrap();
            assert!(
                diff < 1e-4,
                "space {space}: gradient of {name} differs by {diff}"
            );
        }
    }
}
