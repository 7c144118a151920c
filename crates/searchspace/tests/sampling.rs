//! Property tests of sampling, mutation and the encodings (seeded, many draws).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use searchspace::{Mutation, SearchSpace, SpaceId, PRIMITIVES};

fn decisions_changed(
    sp: &SearchSpace,
    a: &searchspace::Architecture,
    b: &searchspace::Architecture,
) -> usize {
    let x = sp.encode_categorical(a).unwrap();
    let y = sp.encode_categorical(b).unwrap();
    x.iter().zip(&y).filter(|(p, q)| p != q).count()
}

#[test]
fn samples_and_mutants_are_valid_and_convert() {
    for space in SpaceId::ALL {
        let sp = SearchSpace::new(space);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..2000 {
            let a = sp.sample(&mut rng);
            a.validate().unwrap();
            assert!(a.to_spec().unwrap().is_valid());
            let b = sp.mutate(&a, &mut rng);
            b.validate().unwrap();
            assert!(b.to_spec().unwrap().is_valid());
            assert_eq!(decisions_changed(&sp, &a, &b), 1, "{a:?} -> {b:?}");
        }
    }
}

#[test]
fn each_mutation_kind_changes_what_it_says() {
    let sp = SearchSpace::new(SpaceId::One);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for _ in 0..500 {
        let a = sp.sample(&mut rng);
        let id = sp.mutate_with(&a, Mutation::Identity, &mut rng);
        assert_eq!(id, a);
        let h = sp.mutate_with(&a, Mutation::HiddenState, &mut rng);
        assert_eq!(h.ops, a.ops);
        assert_ne!(h.parents, a.parents);
        // Space 1 never mutates node 1 or the forced node 2.
        assert_eq!(h.parents[0], vec![0]);
        assert_eq!(h.parents[1], vec![0, 1]);
        let o = sp.mutate_with(&a, Mutation::Op, &mut rng);
        assert_eq!(o.parents, a.parents);
        assert_eq!(o.ops.iter().zip(&a.ops).filter(|(x, y)| x != y).count(), 1);
    }
    assert_eq!(sp.mutable_nodes(), vec![3, 4, 5]);
    assert_eq!(
        SearchSpace::new(SpaceId::Three).mutable_nodes(),
        vec![2, 3, 4, 5, 6]
    );
}

#[test]
fn sampling_is_roughly_uniform_over_ops_and_deterministic() {
    let sp = SearchSpace::new(SpaceId::Three);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut counts = [0usize; 3];
    for _ in 0..3000 {
        for op in sp.sample(&mut rng).ops {
            counts[PRIMITIVES.iter().position(|&p| p == op).unwrap()] += 1;
        }
    }
    for c in counts {
        assert!((4500..5500).contains(&c), "{counts:?}");
    }
    let a = sp.sample(&mut ChaCha8Rng::seed_from_u64(5));
    let b = sp.sample(&mut ChaCha8Rng::seed_from_u64(5));
    assert_eq!(a, b);
}

#[test]
fn categorical_and_configspace_encodings_round_trip() {
    for space in SpaceId::ALL {
        let sp = SearchSpace::new(space);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let card: Vec<usize> = sp.decisions().iter().map(|d| d.cardinality).collect();
        let parent_product: usize = card[sp.num_choice_blocks()..].iter().product();
        assert_eq!(parent_product as u64, sp.parent_configurations());
        for _ in 0..200 {
            let a = sp.sample(&mut rng);
            let v = sp.encode_categorical(&a).unwrap();
            assert_eq!(sp.decode_categorical(&v).unwrap(), a);
            let cfg = sp.to_configuration(&a).unwrap();
            assert_eq!(cfg.len(), 2 * sp.num_choice_blocks() + 1);
            assert_eq!(sp.from_configuration(&cfg).unwrap(), a);
        }
        let mut bad = vec![0; card.len()];
        bad[0] = 3;
        assert!(sp.decode_categorical(&bad).is_err());
        assert!(sp.decode_categorical(&[0]).is_err());
    }
}

#[test]
fn configspace_values_look_like_the_original() {
    let sp = SearchSpace::new(SpaceId::Three);
    let a = sp.configuration(sp.raw_configurations() - 1).unwrap();
    let cfg = sp.to_configuration(&a).unwrap();
    assert_eq!(cfg["choice_block_1_parents"], "(0,)");
    assert_eq!(cfg["choice_block_6_parents"], "(4, 5)");
    assert_eq!(cfg["choice_block_5_op"], "conv1x1");
}

#[test]
fn one_hot_weights_have_supernet_shapes_and_discretize_back() {
    for (space, total) in [(SpaceId::One, 24), (SpaceId::Two, 26), (SpaceId::Three, 35)] {
        let sp = SearchSpace::new(space);
        assert_eq!(sp.num_architecture_weights(), total);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for _ in 0..300 {
            let a = sp.sample(&mut rng);
            let w = sp.one_hot(&a).unwrap();
            let flat = w.flatten();
            assert_eq!(flat.len(), total);
            let ones = flat.iter().filter(|&&x| x == 1.0).count();
            let edge_parents: usize = sp
                .edge_weight_nodes()
                .iter()
                .map(|&k| sp.num_parents(k))
                .sum();
            assert_eq!(
                ones,
                sp.num_choice_blocks() + sp.num_parents(sp.output_node()) + edge_parents
            );
            assert_eq!(sp.discretize(&w).unwrap(), a);
        }
    }
    assert_eq!(
        SearchSpace::new(SpaceId::One).edge_weight_nodes(),
        vec![3, 4]
    );
}

#[test]
fn discretize_breaks_ties_toward_lower_index() {
    let sp = SearchSpace::new(SpaceId::Three);
    let a = sp.configuration(0).unwrap();
    let mut w = sp.one_hot(&a).unwrap();
    for row in &mut w.ops {
        *row = [0.5, 0.5, 0.1];
    }
    w.output = vec![0.2; 6];
    let d = sp.discretize(&w).unwrap();
    assert_eq!(d.ops, vec![PRIMITIVES[0]; 5]);
    assert_eq!(d.parents[5], vec![0, 1]);
    w.output.pop();
    assert!(sp.discretize(&w).is_err());
}
