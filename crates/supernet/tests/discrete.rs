//! Discretization (argmax op, top-k parents) and the one-hot encoding of discrete architectures.

use nasbench101::Op;
use searchspace::{Architecture, SearchSpace, SpaceId};
use supernet::{channel_shuffle, discretize, one_hot_mixing, ArchParams, SupernetError};
use tch::{nn, Device, Kind, Tensor};

fn t(rows: &[&[f32]]) -> Tensor {
    let cols = rows.first().map_or(0, |r| r.len()) as i64;
    let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_slice(&flat).view([rows.len() as i64, cols])
}

fn values(x: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(x.flatten(0, -1)).unwrap()
}

#[test]
fn discretize_space3_picks_argmax_and_top_k() {
    let arch = ArchParams {
        ops: t(&[
            &[0.1, 0.9, 0.0], // node 1: conv3x3
            &[2.0, 1.0, 1.0], // node 2: maxpool
            &[0.0, 0.0, 0.5], // node 3: conv1x1
            &[0.3, 0.3, 0.3], // node 4: tie → maxpool (lowest index)
            &[0.0, 1.0, 1.0], // node 5: tie → conv3x3
        ]),
        output: t(&[&[0.0, 0.1, 0.1, 0.1, 0.5, 0.7]]), // top-2 → {4, 5}
        inputs: vec![
            None,
            Some(t(&[&[0.2, 0.8]])),                // node 2 (1 parent) → {1}
            Some(t(&[&[0.5, 0.5, 0.1]])),           // node 3 (1 parent), tie → {0}
            Some(t(&[&[0.9, 0.1, 0.1, 0.9]])),      // node 4 (2 parents) → {0, 3}
            Some(t(&[&[0.0, 0.2, 0.2, 0.2, 0.1]])), // node 5 (2 parents), tie → {1, 2}
        ],
    };
    let got = discretize(&arch, &SearchSpace::new(SpaceId::Three)).unwrap();
    let want = Architecture {
        space: SpaceId::Three,
        ops: vec![
            Op::Conv3x3,
            Op::MaxPool3x3,
            Op::Conv1x1,
            Op::MaxPool3x3,
            Op::Conv3x3,
        ],
        parents: vec![
            vec![0],
            vec![1],
            vec![0],
            vec![0, 3],
            vec![1, 2],
            vec![4, 5],
        ],
    };
    assert_eq!(got, want);
    got.validate().unwrap();
}

#[test]
fn discretize_space1_fixes_nodes_one_and_two() {
    let arch = ArchParams {
        ops: t(&[
            &[0.0, 0.0, 1.0],
            &[0.0, 1.0, 0.0],
            &[1.0, 0.0, 0.0],
            &[0.0, 1.0, 0.0],
        ]),
        output: t(&[&[0.9, 0.0, 0.0, 0.0, 0.8]]),
        inputs: vec![
            None,
            None,
            Some(t(&[&[0.0, 0.3, 0.2]])),
            Some(t(&[&[0.0, 0.0, 0.0, 0.0]])),
        ],
    };
    let got = discretize(&arch, &SearchSpace::new(SpaceId::One)).unwrap();
    assert_eq!(
        got.ops,
        vec![Op::Conv1x1, Op::Conv3x3, Op::MaxPool3x3, Op::Conv3x3]
    );
    assert_eq!(
        got.parents,
        vec![vec![0], vec![0, 1], vec![1, 2], vec![0, 1], vec![0, 4]]
    );
}

#[test]
fn discretize_rejects_tensors_of_another_space() {
    let avs = nn::VarStore::new(Device::Cpu);
    let arch = ArchParams::new(&avs.root(), &SearchSpace::new(SpaceId::Two));
    let err = discretize(&arch, &SearchSpace::new(SpaceId::Three)).unwrap_err();
    assert!(matches!(err, SupernetError::ArchShape { .. }), "{err}");
    // Space 2 has an edge vector for node 2, space 1 does not.
    let err = discretize(&arch, &SearchSpace::new(SpaceId::One)).unwrap_err();
    assert!(matches!(err, SupernetError::ArchLayout { .. }), "{err}");
}

#[test]
fn discretized_random_weights_are_valid_nb101_specs() {
    for space in SpaceId::ALL {
        let ss = SearchSpace::new(space);
        for seed in 0..200 {
            tch::manual_seed(seed);
            let avs = nn::VarStore::new(Device::Cpu);
            let arch = ArchParams::new(&avs.root(), &ss);
            // Spread the logits so the ranking is not decided by the 1e-3 initialisation alone.
            tch::no_grad(|| {
                for mut x in arch.tensors() {
                    x *= 1000.0;
                }
            });
            let a = discretize(&arch, &ss).unwrap();
            a.validate()
                .unwrap_or_else(|e| panic!("space {space} seed {seed}: {e}"));
            a.to_spec()
                .unwrap_or_else(|e| panic!("space {space} seed {seed}: {e}"));
        }
    }
}

#[test]
fn one_hot_encoding_of_worked_example_a() {
    // §1.4 example A (space 1): node3 = {0, 2}, node4 = {1, 3}, output = {2, 4}.
    let a = Architecture {
        space: SpaceId::One,
        ops: vec![Op::Conv3x3, Op::Conv1x1, Op::MaxPool3x3, Op::Conv3x3],
        parents: vec![vec![0], vec![0, 1], vec![0, 2], vec![1, 3], vec![2, 4]],
    };
    let m = one_hot_mixing(&a, Device::Cpu).unwrap();
    assert_eq!(
        values(&m.ops),
        vec![0., 1., 0., 0., 0., 1., 1., 0., 0., 0., 1., 0.]
    );
    assert_eq!(values(&m.output), vec![0., 0., 1., 0., 1.]);
    assert!(m.inputs[0].is_none() && m.inputs[1].is_none());
    assert_eq!(values(m.inputs[2].as_ref().unwrap()), vec![1., 0., 1.]);
    assert_eq!(values(m.inputs[3].as_ref().unwrap()), vec![0., 1., 0., 1.]);
    assert_eq!(m.active_ops, Some(vec![1, 2, 0, 1]));

    // Discretizing the one-hot weights gives the architecture back.
    let arch = ArchParams {
        ops: m.ops,
        output: m.output,
        inputs: m.inputs,
    };
    assert_eq!(
        discretize(&arch, &SearchSpace::new(SpaceId::One)).unwrap(),
        a
    );
}

#[test]
fn one_hot_rejects_architectures_outside_the_space() {
    let a = Architecture {
        space: SpaceId::One,
        ops: vec![Op::Conv3x3; 4],
        // Node 2 of space 1 must take both earlier nodes.
        parents: vec![vec![0], vec![1], vec![0, 2], vec![1, 3], vec![2, 4]],
    };
    assert!(matches!(
        one_hot_mixing(&a, Device::Cpu),
        Err(SupernetError::Architecture(_))
    ));
    let short = Architecture {
        ops: vec![Op::Conv3x3; 3],
        ..a
    };
    assert!(matches!(
        one_hot_mixing(&short, Device::Cpu),
        Err(SupernetError::Architecture(_))
    ));
}

#[test]
fn channel_shuffle_is_an_invertible_permutation() {
    let (b, c, h, w) = (2i64, 12i64, 3i64, 2i64);
    let x = Tensor::arange(b * c * h * w, (Kind::Float, Device::Cpu)).view([b, c, h, w]);
    for g in [1, 2, 3, 4, 6, 12] {
        let y = channel_shuffle(&x, g).unwrap();
        assert_eq!(y.size(), x.size());
        let sorted = y.flatten(0, -1).sort(0, false).0;
        assert!(
            sorted.equal(&x.flatten(0, -1)),
            "groups {g}: not a permutation"
        );
        // Output channel i·g + j holds input channel j·(c/g) + i.
        let src = |out: i64| (out % g) * (c / g) + out / g;
        for out in 0..c {
            assert!(
                y.select(1, out).equal(&x.select(1, src(out))),
                "groups {g} channel {out}"
            );
        }
        let back = channel_shuffle(&y, c / g).unwrap();
        assert!(
            back.equal(&x),
            "groups {g}: shuffling with c/g groups does not invert"
        );
    }
    assert!(matches!(
        channel_shuffle(&x, 5),
        Err(SupernetError::Shuffle(_))
    ));
    assert!(matches!(
        channel_shuffle(&x.view([-1]), 2),
        Err(SupernetError::Shuffle(_))
    ));
}
