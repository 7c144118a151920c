//! The optimizer primitives on a tiny supernet: gradients, Gumbel draws, discretization, the
//! second-order step against a numerical derivative, the ENAS controller.

mod common;

use std::collections::HashSet;

use nasbench101::Op;
use oneshot::arch_update::{ArchAdam, ArchStepContext, SecondOrder};
use oneshot::controller::{Controller, Reinforce};
use oneshot::mixing::{Gumbel, MixContext, Relaxation, Softmax};
use oneshot::model::{OneShotModel, TensorBatch};
use oneshot::optim::{grads, Adam, Sgd};
use oneshot::selection::{Argmax, SelectContext, Selection};
use oneshot::OptimizerKind;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use searchspace::{Architecture, SearchSpace, SpaceId};
use tch::{nn, Device, Kind, Tensor};

fn random_batch(n: i64, seed: i64) -> TensorBatch {
    tch::manual_seed(seed);
    TensorBatch {
        x: Tensor::randn([n, 3, 32, 32], (Kind::Float, Device::Cpu)),
        y: Tensor::randint(10, [n], (Kind::Int64, Device::Cpu)),
        len: n as usize,
    }
}

fn tiny_model(opt: OptimizerKind, space: u8) -> OneShotModel {
    tch::set_num_threads(2);
    let mut cfg = common::tiny(opt, space);
    if opt == OptimizerKind::PcDarts {
        cfg.model.init_channels = 8;
    }
    tch::manual_seed(0);
    OneShotModel::new(&cfg.model, Device::Cpu).unwrap()
}

fn loss_under(
    model: &OneShotModel,
    relax: &mut dyn Relaxation,
    batch: &TensorBatch,
    rng: &mut ChaCha8Rng,
) -> Tensor {
    let mut cx = MixContext {
        arch: &model.arch,
        space: &model.space,
        rng,
        device: Device::Cpu,
    };
    let mut mix = relax.mixing(&mut cx).unwrap();
    model.loss(batch, mix.as_mut(), true).0
}

#[test]
fn gradients_reach_every_architecture_weight() {
    let batch = random_batch(4, 7);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for space in [1u8, 2, 3] {
        for opt in [
            OptimizerKind::Darts,
            OptimizerKind::PcDarts,
            OptimizerKind::Gdas,
        ] {
            let model = tiny_model(opt, space);
            let mut relax: Box<dyn Relaxation> = if opt == OptimizerKind::Gdas {
                Box::new(Gumbel::gdas(5.0))
            } else {
                Box::new(Softmax)
            };
            let loss = loss_under(&model, relax.as_mut(), &batch, &mut rng);
            let params = model.arch_params();
            let expected = [24, 26, 35][space as usize - 1];
            assert_eq!(
                params.iter().map(|(_, t)| t.numel()).sum::<usize>(),
                expected
            );
            for ((name, _), g) in params.iter().zip(grads(&loss, &params)) {
                let g =
                    g.unwrap_or_else(|| panic!("{opt:?} space {space}: no gradient for {name}"));
                let smallest = g.abs().min().double_value(&[]);
                assert!(
                    smallest > 0.0,
                    "{opt:?} space {space}: a weight of {name} gets no gradient: {g}"
                );
            }
        }
    }
}

#[test]
fn gdas_forward_is_one_hot_per_cell_with_independent_draws() {
    let model = tiny_model(OptimizerKind::Gdas, 3);
    let mut relax = Gumbel::gdas(10.0);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    tch::manual_seed(11);
    let mut cx = MixContext {
        arch: &model.arch,
        space: &model.space,
        rng: &mut rng,
        device: Device::Cpu,
    };
    let mut src = relax.mixing(&mut cx).unwrap();
    let mut draws = HashSet::new();
    for cell in 0..9 {
        let w = src.for_cell(cell);
        let ops = w.ops.detach();
        let rows = ops.sum_dim_intlist(-1, false, Kind::Float);
        assert!(rows.allclose(
            &Tensor::ones([5], (Kind::Float, Device::Cpu)),
            1e-6,
            1e-6,
            false
        ));
        let ones = ops.eq(1.0).sum(Kind::Int64).int64_value(&[]);
        let zeros = ops.eq(0.0).sum(Kind::Int64).int64_value(&[]);
        assert_eq!(
            (ones, zeros),
            (5, 10),
            "cell {cell}: ops not one-hot: {ops}"
        );
        let active = w.active_ops.expect("hard ops name the active op");
        let argmax = Vec::<i64>::try_from(ops.argmax(-1, false)).unwrap();
        assert_eq!(
            active,
            argmax.iter().map(|&i| i as usize).collect::<Vec<_>>()
        );
        // Edges stay soft: strictly between 0 and 1.
        let out = w.output.detach();
        assert!(out.gt(0.0).all().int64_value(&[]) == 1 && out.lt(1.0).all().int64_value(&[]) == 1);
        draws.insert(active);
    }
    assert!(
        draws.len() > 1,
        "all 9 cells drew the same operations: draws are not per cell"
    );
    // The hard forward runs through the supernet.
    let loss = loss_under(&model, &mut relax, &random_batch(2, 3), &mut rng);
    assert!(loss.double_value(&[]).is_finite());
}

/// Sets the logits of `model` so that the expected discretization is `arch` (spec §1.4 C).
#[test]
fn argmax_discretizes_to_the_intended_cell() {
    let model = tiny_model(OptimizerKind::Darts, 3);
    let target = Architecture {
        space: SpaceId::Three,
        ops: vec![
            Op::Conv3x3,
            Op::Conv1x1,
            Op::MaxPool3x3,
            Op::Conv3x3,
            Op::Conv1x1,
        ],
        parents: vec![
            vec![0],
            vec![1],
            vec![2],
            vec![0, 3],
            vec![1, 4],
            vec![0, 5],
        ],
    };
    tch::no_grad(|| {
        let prim = |op: Op| {
            searchspace::PRIMITIVES
                .iter()
                .position(|&p| p == op)
                .unwrap()
        };
        let mut ops = vec![0f32; 15];
        for (i, &op) in target.ops.iter().enumerate() {
            ops[i * 3 + prim(op)] = 2.0;
        }
        let mut t = model.arch.ops.shallow_clone();
        t.copy_(&Tensor::from_slice(&ops).view([5, 3]));
        let mut out = vec![0f32; 6];
        for &p in &target.parents[5] {
            out[p] = 1.0;
        }
        let mut t = model.arch.output.shallow_clone();
        t.copy_(&Tensor::from_slice(&out).view([1, 6]));
        for node in 2..=5usize {
            if let Some(t) = &model.arch.inputs[node - 1] {
                let mut v = vec![0f32; node];
                for &p in &target.parents[node - 1] {
                    v[p] = 1.0;
                }
                let mut t = t.shallow_clone();
                t.copy_(&Tensor::from_slice(&v).view([1, node as i64]));
            }
        }
    });
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let sel = Argmax
        .select(&mut SelectContext {
            model: &model,
            rng: &mut rng,
            valid: &[],
        })
        .unwrap();
    assert_eq!(sel.architecture, target);
    assert_eq!(sel.architecture.hash().unwrap(), target.hash().unwrap());
}

/// J(α) = L_valid(w − η∇w L_train(w, α), α), evaluated without touching the weights for good.
fn unrolled_objective(
    model: &OneShotModel,
    eta: f64,
    train: &TensorBatch,
    valid: &TensorBatch,
) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let w = model.weight_params();
    let backup: Vec<Tensor> = tch::no_grad(|| w.iter().map(|(_, t)| t.copy()).collect());
    let g = grads(&loss_under(model, &mut Softmax, train, &mut rng), &w);
    tch::no_grad(|| {
        for ((_, p), g) in w.iter().zip(&g) {
            if let Some(g) = g {
                let mut p = p.shallow_clone();
                let _ = p.g_sub_(&(g * eta));
            }
        }
    });
    let j = tch::no_grad(|| loss_under(model, &mut Softmax, valid, &mut rng).double_value(&[]));
    tch::no_grad(|| {
        for ((_, p), b) in w.iter().zip(&backup) {
            let mut p = p.shallow_clone();
            p.copy_(b);
        }
    });
    j
}

#[test]
fn second_order_step_matches_numerical_derivative() {
    let model = tiny_model(OptimizerKind::Darts, 1);
    let (train, valid) = (random_batch(8, 21), random_batch(8, 22));
    let eta = 0.5;
    let sgd = Sgd::new(model.weight_params(), eta, 0.0, 0.0);
    let arch = ArchAdam {
        adam: Adam::new(model.arch_params(), 3e-4, (0.5, 0.999), 1e-8, 0.0),
        grad_clip: None,
    };
    let update = SecondOrder {
        arch,
        no_momentum: false,
    };
    let mut relax = Softmax;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut cx = ArchStepContext {
        model: &model,
        sgd: &sgd,
        relaxation: &mut relax,
        rng: &mut rng,
    };
    let hyper = update.hypergradient(&mut cx, &train, &valid).unwrap();
    // The first-order gradient at w (what the second-order step corrects).
    let first = grads(
        &loss_under(&model, &mut Softmax, &valid, &mut rng),
        &model.arch_params(),
    );
    let names: Vec<String> = model.arch_params().into_iter().map(|(n, _)| n).collect();
    let ops_at = names.iter().position(|n| n.contains("mixed_op")).unwrap();
    let h = 1e-2;
    let (mut num, mut ana, mut fo) = (Vec::new(), Vec::new(), Vec::new());
    for k in 0..12i64 {
        let (r, c) = (k / 3, k % 3);
        let at = |t: &Tensor| t.double_value(&[r, c]);
        let bump = |d: f64| {
            tch::no_grad(|| {
                let t = model.arch.ops.shallow_clone();
                let v = at(&t);
                let _ = t.get(r).get(c).fill_(v + d);
            })
        };
        bump(h);
        let jp = unrolled_objective(&model, eta, &train, &valid);
        bump(-2.0 * h);
        let jm = unrolled_objective(&model, eta, &train, &valid);
        bump(h);
        num.push((jp - jm) / (2.0 * h));
        ana.push(at(&hyper[ops_at]));
        fo.push(at(first[ops_at].as_ref().unwrap()));
    }
    let dist = |a: &[f64], b: &[f64]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let norm = dist(&num, &vec![0.0; num.len()]);
    let err_second = dist(&ana, &num) / norm;
    let err_first = dist(&fo, &num) / norm;
    eprintln!("numerical {num:?}\nsecond-order {ana:?}\nrelative errors: second {err_second:.4}, first {err_first:.4}");
    assert!(
        err_second < 0.05,
        "second-order hypergradient off by {err_second:.4} (relative)"
    );
    assert!(
        err_second < err_first / 3.0,
        "the Hessian term made no measurable difference"
    );
}

#[test]
fn controller_samples_valid_cells_and_reinforce_moves_probability() {
    tch::set_num_threads(2);
    for id in SpaceId::ALL {
        let space = SearchSpace::new(id);
        let store = nn::VarStore::new(Device::Cpu);
        let cfg = oneshot::SearchConfig::defaults(OptimizerKind::Enas, id.number()).controller;
        tch::manual_seed(1);
        let c = Controller::new(&store.root(), &space, &cfg);
        for _ in 0..30 {
            let s = c.sample().unwrap();
            s.architecture.validate().unwrap();
            assert_eq!(s.architecture.space, id);
            let nlp = s.neg_log_prob.double_value(&[]);
            assert!(nlp.is_finite() && nlp > 0.0);
        }
    }
    // Reward conv1x1 on the last choice block; its frequency must rise.
    let space = SearchSpace::new(SpaceId::Two);
    let store = nn::VarStore::new(Device::Cpu);
    let mut cfg = oneshot::SearchConfig::defaults(OptimizerKind::Enas, 2).controller;
    cfg.hidden = 16;
    tch::manual_seed(5);
    let c = Controller::new(&store.root(), &space, &cfg);
    let freq = |c: &Controller| {
        let hits = (0..200)
            .filter(|_| tch::no_grad(|| c.sample().unwrap()).architecture.ops[3] == Op::Conv1x1)
            .count();
        hits as f64 / 200.0
    };
    let before = freq(&c);
    let mut adam = Adam::new(
        oneshot::optim::named_trainable(&store),
        0.05,
        (0.1, 0.999),
        1e-3,
        0.0,
    );
    let mut rl = Reinforce {
        entropy_weight: 1e-4,
        baseline_decay: 0.9,
        baseline: 0.0,
    };
    for _ in 0..150 {
        let s = c.sample().unwrap();
        let reward = if s.architecture.ops[3] == Op::Conv1x1 {
            100.0
        } else {
            0.0
        };
        let loss = rl.loss(&s, reward);
        let g = grads(&loss, &adam.params);
        adam.step_with(&g);
    }
    let after = freq(&c);
    eprintln!("conv1x1 on node 4: {before:.3} -> {after:.3}");
    assert!(
        after > before + 0.25,
        "REINFORCE did not move probability: {before} -> {after}"
    );
}
