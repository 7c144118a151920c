//! Conversion of architectures to NAS-Bench-101 specs: the worked examples A, B, C of spec §1.4
//! and agreement between the fast pruning and NB-101's own `ModelSpec`.

use nasbench101::{ModelSpec, Op};
use searchspace::{Architecture, SearchSpace, SpaceId};

fn rows(m: &[Vec<u8>]) -> Vec<String> {
    m.iter()
        .map(|r| r.iter().map(|x| x.to_string()).collect())
        .collect()
}

fn names(ops: &[&str]) -> Vec<String> {
    ops.iter().map(|s| s.to_string()).collect()
}

#[test]
fn example_a_space1_no_loose_ends() {
    let arch = Architecture {
        space: SpaceId::One,
        ops: vec![Op::Conv3x3, Op::Conv1x1, Op::MaxPool3x3, Op::Conv3x3],
        parents: vec![vec![0], vec![0, 1], vec![0, 2], vec![1, 3], vec![2, 4]],
    };
    arch.validate().unwrap();
    let (m, ops) = arch.raw_nb101();
    assert_eq!(
        rows(&m),
        vec!["0111000", "0010100", "0001001", "0000100", "0000001", "0000000", "0000000"]
    );
    assert_eq!(
        ops,
        names(&[
            "input",
            "conv3x3-bn-relu",
            "conv1x1-bn-relu",
            "maxpool3x3",
            "conv3x3-bn-relu",
            "conv1x1-bn-relu",
            "output"
        ])
    );
    let spec = arch.to_spec().unwrap();
    assert_eq!(
        spec.pruned_ops().unwrap(),
        names(&[
            "input",
            "conv3x3-bn-relu",
            "conv1x1-bn-relu",
            "maxpool3x3",
            "conv3x3-bn-relu",
            "output"
        ])
    );
    assert_eq!(arch.pruned_graph().unwrap().num_edges(), 9);
    assert_eq!(arch.hash().unwrap(), spec.hash().unwrap());
}

#[test]
fn example_b_space1_loose_end_is_pruned() {
    let arch = Architecture {
        space: SpaceId::One,
        ops: vec![Op::Conv3x3, Op::Conv1x1, Op::MaxPool3x3, Op::Conv3x3],
        parents: vec![vec![0], vec![0, 1], vec![0, 1], vec![0, 1], vec![3, 4]],
    };
    let spec = arch.to_spec().unwrap();
    assert_eq!(
        spec.pruned_ops().unwrap(),
        names(&[
            "input",
            "conv3x3-bn-relu",
            "maxpool3x3",
            "conv3x3-bn-relu",
            "output"
        ])
    );
    // 0→1, 0→2, 0→3, 1→2, 1→3, 2→out, 3→out
    assert_eq!(
        rows(spec.pruned_matrix().unwrap()),
        vec!["01110", "00110", "00001", "00001", "00000"]
    );
    assert_eq!(arch.used_blocks(), vec![1, 3, 4]);
    let g = arch.pruned_graph().unwrap();
    assert_eq!(g.matrix(), spec.pruned_matrix().unwrap());
    assert_eq!(g.op_names(), spec.pruned_ops().unwrap());
    // Node 2's operation has no effect.
    let mut other = arch.clone();
    other.ops[1] = Op::MaxPool3x3;
    assert_eq!(other.hash().unwrap(), arch.hash().unwrap());
}

#[test]
fn example_c_space3_input_output_edge() {
    let arch = Architecture {
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
    let (m, ops) = arch.raw_nb101();
    assert_eq!(
        rows(&m),
        vec!["0100101", "0010010", "0001000", "0000100", "0000010", "0000001", "0000000"]
    );
    assert_eq!(ops.len(), 7);
    let spec = arch.to_spec().unwrap();
    assert_eq!(spec.pruned_matrix().unwrap(), m.as_slice());
    assert_eq!(arch.hash().unwrap(), spec.hash().unwrap());
}

#[test]
fn invalid_architectures_are_rejected_with_the_node() {
    let mut arch = SearchSpace::new(SpaceId::Two).configuration(0).unwrap();
    arch.parents[3] = vec![3, 1];
    let e = arch.validate().unwrap_err().to_string();
    assert!(e.contains("node 4"), "{e}");
    arch.parents[3] = vec![1, 4];
    assert!(arch
        .validate()
        .unwrap_err()
        .to_string()
        .contains("parent 4"));
    arch.parents[3] = vec![1];
    assert!(arch.to_spec().is_err());
    let mut short = SearchSpace::new(SpaceId::Three).configuration(5).unwrap();
    short.ops.pop();
    assert!(short.hash().is_err());
}

/// Brute force: every configuration of space 1 and a stride through space 3, pruned by NB-101's
/// `ModelSpec`, gives the same graph and hash as the fast path.
#[test]
fn fast_pruning_agrees_with_model_spec() {
    for (space, stride) in [
        (SpaceId::One, 7u64),
        (SpaceId::Two, 13),
        (SpaceId::Three, 997),
    ] {
        let sp = SearchSpace::new(space);
        let mut checked = 0;
        let mut i = 0;
        while let Some(arch) = sp.configuration(i) {
            let spec: ModelSpec = arch.to_spec().unwrap();
            assert!(spec.is_valid(), "{arch:?}");
            let g = arch.pruned_graph().unwrap();
            assert_eq!(g.matrix(), spec.pruned_matrix().unwrap(), "{arch:?}");
            assert_eq!(g.op_names(), spec.pruned_ops().unwrap(), "{arch:?}");
            assert_eq!(g.hash(), spec.hash().unwrap(), "{arch:?}");
            checked += 1;
            i += stride;
        }
        assert!(checked > 1000, "{checked}");
    }
}

#[test]
fn architecture_serde_uses_names_and_space_number() {
    let arch = SearchSpace::new(SpaceId::Three)
        .configuration(12345)
        .unwrap();
    let json = serde_json::to_string(&arch).unwrap();
    assert!(json.starts_with("{\"space\":3,\"ops\":[\""), "{json}");
    let back: Architecture = serde_json::from_str(&json).unwrap();
    assert_eq!(back, arch);
    let bad = json.replace("conv", "deconv");
    assert!(serde_json::from_str::<Architecture>(&bad).is_err() || !json.contains("conv"));
}
