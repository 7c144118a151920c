//! Graph hash vectors (published and re-computed) and the relational tests of the official
//! suite, plus pruning and validity cases of `model_spec_test.py`.
#![allow(clippy::needless_range_loop)]

use nasbench101::{hash_module, ModelHash, ModelSpec, Op, SpecError};

fn rows(text: &str) -> Vec<Vec<u8>> {
    text.split('/')
        .map(|r| r.bytes().map(|b| b - b'0').collect())
        .collect()
}

fn flat(text: &str) -> Vec<Vec<u8>> {
    let n = (text.len() as f64).sqrt() as usize;
    text.as_bytes()
        .chunks(n)
        .map(|r| r.iter().map(|b| b - b'0').collect())
        .collect()
}

fn ops(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

const C3: &str = "conv3x3-bn-relu";
const C1: &str = "conv1x1-bn-relu";
const MP: &str = "maxpool3x3";

fn spec_hash(m: Vec<Vec<u8>>, o: &[&str]) -> String {
    ModelSpec::new(m, ops(o))
        .unwrap()
        .hash()
        .unwrap()
        .to_string()
}

#[test]
fn worked_example_two_vertices() {
    let h = hash_module(&[vec![0, 1], vec![0, 0]], &[-1, -2]);
    assert_eq!(h.to_string(), "043721b9c7fe8c5fad811d47d83132ec");
}

#[test]
fn published_hash_vectors() {
    assert_eq!(
        spec_hash(
            rows("0111010/0000001/0000001/0000100/0000001/0000001/0000000"),
            &["input", C1, C3, C3, C3, MP, "output"]
        ),
        "28cfc7874f6d200472e1a9dcd8650aa0"
    );
    assert_eq!(
        spec_hash(
            rows("0111100/0000001/0000001/0000001/0000010/0000001/0000000"),
            &["input", C3, C1, MP, C3, C3, "output"]
        ),
        "28cfc7874f6d200472e1a9dcd8650aa0"
    );
    assert_eq!(
        spec_hash(
            flat("0100110001000000010010000010000001000000010000000"),
            &["input", C3, MP, C3, C3, C1, "output"]
        ),
        "00005c142e6f48ac74fdcf73e3439874"
    );
    assert_eq!(
        spec_hash(
            rows("0110110/0000100/0001000/0000100/0000010/0000001/0000000"),
            &["input", MP, C3, C1, C1, C3, "output"]
        ),
        "ff940d27cbe9ed0a639a68a9c3f87283"
    );
}

#[test]
fn recomputed_hash_vectors() {
    let chain = || rows("010/001/000");
    assert_eq!(
        spec_hash(chain(), &["input", C3, "output"]),
        "b49ac8c578b4561d79ac7087988f1c61"
    );
    assert_eq!(
        spec_hash(chain(), &["input", C1, "output"]),
        "d1269d9156ddc027c40473008192958a"
    );
    assert_eq!(
        spec_hash(chain(), &["input", MP, "output"]),
        "53cee42601ad14d661bb6878031d6acb"
    );
    assert_eq!(
        spec_hash(rows("011/001/000"), &["input", C3, "output"]),
        "d32d0b26d534203b48d866facd98cc3e"
    );
    assert_eq!(
        spec_hash(
            rows("0110011/0000010/0001000/0000100/0000010/0000001/0000000"),
            &["input", C1, C3, MP, C3, C3, "output"]
        ),
        "02e5a0247bbdcf2860b7e96f74961594"
    );
}

#[test]
fn hash_text_round_trip_and_serde() {
    let h: ModelHash = "28cfc7874f6d200472e1a9dcd8650aa0".parse().unwrap();
    assert_eq!(h.to_string(), "28cfc7874f6d200472e1a9dcd8650aa0");
    let json = serde_json::to_string(&h).unwrap();
    assert_eq!(json, "\"28cfc7874f6d200472e1a9dcd8650aa0\"");
    let back: ModelHash = serde_json::from_str(&json).unwrap();
    assert_eq!(back, h);
    assert!("28cfc7874f6d200472e1a9dcd8650aa"
        .parse::<ModelHash>()
        .is_err());
    assert!("28cfc7874f6d200472e1a9dcd8650aaz"
        .parse::<ModelHash>()
        .is_err());
}

// Relational tests in the spirit of the official graph_util_test.py.
fn gh(m: &str, labels: &[i32]) -> ModelHash {
    hash_module(&rows(m), labels)
}

#[test]
fn isomorphic_graphs_hash_equal() {
    // Same diamond, interior vertices swapped.
    assert_eq!(
        gh("0110/0001/0001/0000", &[-1, 0, 1, -2]),
        gh("0110/0001/0001/0000", &[-1, 1, 0, -2])
    );
    // Chain with a skip, vertex order permuted.
    let a = gh("01100/00010/00010/00001/00000", &[-1, 0, 2, 1, -2]);
    let b = gh("01100/00010/00010/00001/00000", &[-1, 2, 0, 1, -2]);
    assert_eq!(a, b);
    // A relabelled 5-vertex graph: permutation (1 3)(2) of the interior vertices.
    let m1 = "01100/00010/00001/00001/00000";
    let m2 = "01100/00001/00010/00001/00000";
    assert_eq!(gh(m1, &[-1, 0, 1, 2, -2]), gh(m2, &[-1, 1, 0, 2, -2]));
}

#[test]
fn non_isomorphic_graphs_hash_differ() {
    // Different labels on the same structure.
    assert_ne!(
        gh("0110/0001/0001/0000", &[-1, 0, 0, -2]),
        gh("0110/0001/0001/0000", &[-1, 0, 1, -2])
    );
    // Same degree sequences and label multiset, different wiring: a tricky pair
    // (conv3x3->conv3x3 and conv1x1->conv1x1 branches vs two mixed branches).
    assert_ne!(
        gh(
            "011000/000100/000010/000001/000001/000000",
            &[-1, 0, 1, 0, 1, -2]
        ),
        gh(
            "011000/000010/000100/000001/000001/000000",
            &[-1, 0, 1, 0, 1, -2]
        )
    );
    // Direction matters: a chain with an extra edge at the start vs at the end.
    assert_ne!(
        gh("0110/0010/0001/0000", &[-1, 0, 0, -2]),
        gh("0100/0011/0001/0000", &[-1, 0, 0, -2])
    );
}

#[test]
fn bipartite_counterexample_collides() {
    // Two 10-vertex graphs, a 6-cycle-like and two 3-cycle-like bipartite layouts between
    // the same input and output: the WL-style hash cannot tell them apart.
    // Layout: 0 input, 1..=4 left, 5..=8 right, 9 output.
    let build = |pairs: &[(usize, usize)]| {
        let mut m = vec![vec![0u8; 10]; 10];
        for v in 1..=4 {
            m[0][v] = 1;
        }
        for v in 5..=8 {
            m[v][9] = 1;
        }
        for &(a, b) in pairs {
            m[a][b] = 1;
        }
        m
    };
    // One 8-cycle vs two 4-cycles in the bipartite middle: every vertex has the same
    // neighbourhood degrees, so refinement never separates them.
    let one_cycle = build(&[
        (1, 5),
        (1, 6),
        (2, 6),
        (2, 7),
        (3, 7),
        (3, 8),
        (4, 8),
        (4, 5),
    ]);
    let two_cycles = build(&[
        (1, 5),
        (1, 6),
        (2, 5),
        (2, 6),
        (3, 7),
        (3, 8),
        (4, 7),
        (4, 8),
    ]);
    let labels = [-1, 0, 0, 0, 0, 0, 0, 0, 0, -2];
    assert_eq!(
        hash_module(&one_cycle, &labels),
        hash_module(&two_cycles, &labels)
    );
}

#[test]
fn construction_errors() {
    let e = ModelSpec::new(vec![vec![0, 1], vec![0]], ops(&["input", "output"])).unwrap_err();
    assert_eq!(e.code(), "not_square");
    let e = ModelSpec::new(rows("01/00"), ops(&["input"])).unwrap_err();
    assert_eq!(e.code(), "ops_length");
    let e = ModelSpec::new(rows("01/10"), ops(&["input", "output"])).unwrap_err();
    assert_eq!(e, SpecError::NotUpperTriangular { row: 1, col: 0 });
    let e = ModelSpec::new(rows("02/00"), ops(&["input", "output"])).unwrap_err();
    assert_eq!(e.code(), "not_binary");
    let e = ModelSpec::new(vec![], vec![]).unwrap_err();
    assert_eq!(e.code(), "not_square");
}

#[test]
fn pruning_removes_island_and_dangling_vertices() {
    // Vertex 2 is an island, vertex 3 dangles (no path to output), vertex 4 has no input.
    let m = rows("010100/000001/000000/000000/000001/000000");
    let s = ModelSpec::new(m, ops(&["input", C3, C1, MP, C3, "output"])).unwrap();
    assert_eq!(s.pruned_matrix().unwrap(), &rows("010/001/000")[..]);
    assert_eq!(s.pruned_ops().unwrap(), &ops(&["input", C3, "output"])[..]);
    assert!(s.is_valid());
    // Same hash as the plain chain.
    assert_eq!(
        s.hash().unwrap().to_string(),
        "b49ac8c578b4561d79ac7087988f1c61"
    );
    // Originals are kept.
    assert_eq!(s.original_matrix().len(), 6);
}

#[test]
fn disconnected_specs_are_invalid() {
    let s = ModelSpec::new(rows("00/00"), ops(&["input", "output"])).unwrap();
    assert!(s.pruned_matrix().is_none());
    assert_eq!(s.check().unwrap_err().code(), "disconnected");
    let s = ModelSpec::new(rows("010/000/000"), ops(&["input", C3, "output"])).unwrap();
    assert_eq!(s.hash().unwrap_err(), SpecError::Disconnected);
    let s = ModelSpec::new(rows("0"), ops(&["input"])).unwrap();
    assert!(!s.is_valid());
}

#[test]
fn invalid_op_on_pruned_vertex_is_accepted() {
    let m = rows("0101/0000/0000/0000");
    let s = ModelSpec::new(m, ops(&["input", "bogus", "bogus", "output"])).unwrap();
    // 0 -> 1 (dangling) and 0 -> 3: only input and output survive.
    assert_eq!(s.pruned_ops().unwrap(), &ops(&["input", "output"])[..]);
    assert_eq!(
        s.hash().unwrap().to_string(),
        "043721b9c7fe8c5fad811d47d83132ec"
    );
}

#[test]
fn check_order_and_codes() {
    // 8 vertices that stay after pruning: too many vertices (the official TypeError bug).
    let mut m = vec![vec![0u8; 8]; 8];
    for v in 0..7 {
        m[v][v + 1] = 1;
    }
    let mut o = vec![C3; 8];
    o[0] = "input";
    o[7] = "output";
    let s = ModelSpec::new(m.clone(), ops(&o)).unwrap();
    assert_eq!(s.check().unwrap_err().code(), "too_many_vertices");
    // 8 vertices where one is pruned: valid.
    m[3][4] = 0;
    m[3][5] = 0;
    m[2][4] = 1;
    let s = ModelSpec::new(m, ops(&o)).unwrap();
    let s_pruned_len = s.pruned_ops().unwrap().len();
    assert_eq!(s_pruned_len, 7);
    assert!(s.is_valid());
    // 13 edges on 7 vertices.
    let s = ModelSpec::new(
        rows("0111111/0010001/0001001/0000001/0000001/0000001/0000000"),
        ops(&["input", C3, C3, C3, C3, C3, "output"]),
    )
    .unwrap();
    assert_eq!(
        s.check().unwrap_err(),
        SpecError::TooManyEdges { edges: 13 }
    );
    // Bad input/output names.
    let s = ModelSpec::new(rows("01/00"), ops(&["in", "output"])).unwrap();
    assert_eq!(s.check().unwrap_err().code(), "bad_input_output");
    // Unknown interior op.
    let s = ModelSpec::new(rows("010/001/000"), ops(&["input", "conv5x5", "output"])).unwrap();
    assert_eq!(
        s.check().unwrap_err(),
        SpecError::UnsupportedOp {
            vertex: 1,
            op: "conv5x5".into()
        }
    );
    // from_ops adds the ends.
    let s = ModelSpec::from_ops(rows("010/001/000"), &[Op::MaxPool3x3]).unwrap();
    assert_eq!(
        s.hash().unwrap().to_string(),
        "53cee42601ad14d661bb6878031d6acb"
    );
}

#[test]
fn op_names_round_trip() {
    for op in Op::ALL {
        assert_eq!(Op::from_name(op.name()), Some(op));
        assert_eq!(Op::from_label(op.label()), Some(op));
    }
    assert_eq!(Op::from_name("input"), None);
    assert_eq!(Op::ALL.map(|o| o.label()), [0, 1, 2]);
}

proptest::proptest! {
    /// Hash text parsing agrees with a plain reading: 32 hex digits of either case, nothing else.
    #[test]
    fn hash_text_parsing_matches_reference(text in "[0-9a-fA-F]{32}|[0-9a-fA-Fg-zG-Z \\-]{30,34}") {
        let reference = (text.len() == 32 && text.bytes().all(|c| c.is_ascii_hexdigit()))
            .then(|| {
                let bytes: Vec<u8> = (0..16)
                    .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap())
                    .collect();
                ModelHash(bytes.try_into().unwrap())
            });
        proptest::prop_assert_eq!(text.parse::<ModelHash>().ok(), reference);
        if let Some(h) = reference {
            proptest::prop_assert_eq!(h.to_string(), text.to_ascii_lowercase());
        }
    }
}
