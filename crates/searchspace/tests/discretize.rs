//! The torch-free discretization shared by the supernet, the recorder and the import.

use searchspace::discretize::{argpartition_top_k, softmax_f32, top_k};
use searchspace::{
    discretize_scores, discretize_weights, DiscretizeError, Scores, SearchSpace, SpaceId, TopKTies,
    PRIMITIVES,
};

#[test]
fn argpartition_replays_numpy_on_all_equal_weights() {
    // `sorted(np.argpartition(np.ones(n, np.float32), -k)[-k:])` under numpy 1.26.4.
    let equal: [(usize, usize, &[usize]); 6] = [
        (2, 1, &[1]),
        (3, 2, &[1, 2]),
        (5, 2, &[1, 4]),
        (6, 1, &[5]),
        (6, 2, &[1, 5]),
        (6, 3, &[1, 3, 5]),
    ];
    for (n, k, want) in equal {
        assert_eq!(argpartition_top_k(&vec![1.0; n], k), want, "n {n} k {k}");
    }
    assert_eq!(top_k(&[1.0; 6], 2), [0, 1]);
}

#[test]
fn equal_weights_discretize_differently_per_tie_rule() {
    let sp = SearchSpace::new(SpaceId::Three);
    let a = sp.configuration(0).unwrap();
    let mut w = sp.one_hot(&a).unwrap();
    for row in &mut w.ops {
        *row = [0.0, 0.0, 0.0];
    }
    w.output = vec![0.0; 6];
    for v in &mut w.inputs {
        v.iter_mut().for_each(|x| *x = 0.0);
    }
    let low = discretize_weights(&sp, &w, TopKTies::LowerIndex).unwrap();
    let np = discretize_weights(&sp, &w, TopKTies::Argpartition).unwrap();
    // np.argmax takes the first maximum in both rules.
    assert_eq!(low.ops, vec![PRIMITIVES[0]; 5]);
    assert_eq!(np.ops, low.ops);
    assert_eq!(low.parents[5], vec![0, 1]);
    assert_eq!(np.parents[5], vec![1, 5]);
    // Node 5 has 5 candidates and 2 parents: numpy picks {1, 4}.
    assert_eq!(np.parents[4], vec![1, 4]);
    assert_eq!(low.parents[4], vec![0, 1]);
}

#[test]
fn distinct_weights_agree_across_rules_and_round_trip() {
    for id in [SpaceId::One, SpaceId::Two, SpaceId::Three] {
        let sp = SearchSpace::new(id);
        for i in [0, 7, 123] {
            let a = sp.configuration(i).unwrap();
            let w = sp.one_hot(&a).unwrap();
            assert_eq!(
                discretize_weights(&sp, &w, TopKTies::LowerIndex).unwrap(),
                a
            );
            assert_eq!(
                discretize_weights(&sp, &w, TopKTies::Argpartition).unwrap(),
                a
            );
        }
    }
}

#[test]
fn wrong_layouts_name_the_array() {
    let sp = SearchSpace::new(SpaceId::Two);
    let w = sp.one_hot(&sp.configuration(3).unwrap()).unwrap();
    let mut short = w.clone();
    short.inputs[1].pop();
    let err = discretize_weights(&sp, &short, TopKTies::LowerIndex).unwrap_err();
    let DiscretizeError::Layout { array, .. } = &err;
    assert_eq!(array, "inputs[3]", "{err}");
    let mut fewer = w.clone();
    fewer.inputs.pop();
    let err = discretize_weights(&sp, &fewer, TopKTies::LowerIndex).unwrap_err();
    assert!(err.to_string().contains("inputs"), "{err}");
    let scores = Scores {
        ops: vec![0.0; 12],
        output: vec![0.0; 5],
        inputs: vec![None; 4],
    };
    let err = discretize_scores(&sp, &scores, TopKTies::LowerIndex).unwrap_err();
    assert!(err.to_string().contains("inputs[2]: missing"), "{err}");
}

#[test]
fn softmax_f32_is_normalised_and_keeps_order() {
    let s = softmax_f32(&[1.0, 3.0, 2.0]);
    assert!((s.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    assert_eq!(
        top_k(&s.iter().map(|&x| f64::from(x)).collect::<Vec<_>>(), 1),
        [1]
    );
    // Large logits do not overflow.
    assert!(softmax_f32(&[1000.0, 1000.0])
        .iter()
        .all(|x| (x - 0.5).abs() < 1e-6));
}
