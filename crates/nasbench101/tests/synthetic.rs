//! Synthetic files: generator output is in the official format, carries the synthetic marker,
//! and survives tfrecord → store conversion with every value bit-identical to a record-by-record
//! reference decode.

use nasbench101::record::decode_payload;
use nasbench101::tfrecord::Frames;
use nasbench101::{Api, ModelHash, Nb101, OpenOptions, SYNTHETIC_MARKER};
use nb1s1_synthetic::{generate, generate_from_specs, GenerateConfig, ONLY108_BUDGETS};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

type Reference = HashMap<ModelHash, HashMap<u32, Vec<[f64; 8]>>>;

/// Decodes every record on its own (no table code involved).
fn reference(bytes: &[u8]) -> (Reference, Vec<ModelHash>) {
    let mut map: Reference = HashMap::new();
    let mut order = Vec::new();
    for f in Frames::new(bytes, true) {
        let rec = decode_payload(f.unwrap().payload).unwrap();
        if rec.hash == SYNTHETIC_MARKER {
            continue;
        }
        if !map.contains_key(&rec.hash) {
            order.push(rec.hash);
        }
        let e = &rec.metrics.evaluation_data;
        map.entry(rec.hash)
            .or_default()
            .entry(rec.epochs)
            .or_default()
            .push([
                e[1].training_time,
                e[1].train_accuracy,
                e[1].validation_accuracy,
                e[1].test_accuracy,
                e[2].training_time,
                e[2].train_accuracy,
                e[2].validation_accuracy,
                e[2].test_accuracy,
            ]);
    }
    (map, order)
}

fn compare(db: &Nb101, want: &Reference, order: &[ModelHash]) -> usize {
    assert_eq!(db.hashes().collect::<Vec<_>>(), order);
    let mut n = 0;
    for (h, budgets) in want {
        let m = db.model(h).unwrap();
        for (e, reps) in budgets {
            let got = m.repeats(*e).unwrap();
            assert_eq!(got.len(), reps.len());
            for (g, w) in got.iter().zip(reps) {
                for (a, b) in g.to_array().iter().zip(w) {
                    assert_eq!(a.to_bits(), b.to_bits());
                    n += 1;
                }
            }
        }
    }
    n
}

#[test]
fn synthetic_round_trip_every_value() {
    let cfg = GenerateConfig {
        models: 300,
        seed: 5,
        true_hashes: true,
        ..GenerateConfig::default()
    };
    let mut bytes = Vec::new();
    let summary = generate(&mut bytes, &cfg, &mut |_| {}).unwrap();
    assert_eq!(summary.models, 300);
    assert_eq!(summary.records, 1 + 300 * 4 * 3);
    let (want, order) = reference(&bytes);
    assert_eq!(want.len(), 300);
    let db =
        Nb101::from_tfrecord_bytes(&bytes, Path::new("mem"), OpenOptions::default(), None).unwrap();
    assert!(db.is_synthetic());
    assert_eq!(db.epochs(), &[4, 12, 36, 108]);
    assert_eq!(db.model(&SYNTHETIC_MARKER).map(|m| m.index()), None);
    let n = compare(&db, &want, &order);
    assert_eq!(n, 300 * 4 * 3 * 8);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.nb101");
    nasbench101::atomic_write(&store, db.store_bytes()).unwrap();
    let st = Nb101::open(&store).unwrap();
    st.verify().unwrap();
    assert!(st.is_synthetic());
    assert!(st.values_are_f32());
    assert_eq!(compare(&st, &want, &order), n);
    // True hashes: each stored cell hashes to its key and can be queried by spec.
    for m in st.models() {
        let spec = m.spec().unwrap();
        assert_eq!(spec.hash().unwrap(), m.hash());
        assert_eq!(st.model_by_spec(&spec).unwrap().index(), m.index());
    }
}

#[test]
fn f64_values_are_kept_when_not_f32_exact() {
    use nasbench101::proto::{EvaluationData, ModelMetrics};
    use nasbench101::record::encode_payload;
    use nasbench101::tfrecord::write_record;
    let ev = |x: f64| EvaluationData {
        current_epoch: 1.0,
        training_time: x,
        train_accuracy: 0.1,
        validation_accuracy: 0.2,
        test_accuracy: 0.3,
        checkpoint_path: String::new(),
    };
    let metrics = ModelMetrics {
        evaluation_data: vec![ev(0.0), ev(1.0 / 3.0), ev(413.7015450000763)],
        trainable_parameters: -5,
        total_time: 1.0,
    };
    let h: ModelHash = "043721b9c7fe8c5fad811d47d83132ec".parse().unwrap();
    let payload = encode_payload(
        &h,
        108,
        &[vec![0, 1], vec![0, 0]],
        &["input".into(), "output".into()],
        &metrics,
    );
    let mut bytes = Vec::new();
    write_record(&mut bytes, &payload).unwrap();
    let db =
        Nb101::from_tfrecord_bytes(&bytes, Path::new("mem"), OpenOptions::default(), None).unwrap();
    assert!(!db.values_are_f32());
    assert!(!db.is_synthetic());
    let m = db.model(&h).unwrap();
    assert_eq!(m.trainable_parameters(), -5);
    let p = m.repeat(108, 0).unwrap();
    assert_eq!(p.halfway_training_time, 1.0 / 3.0);
    assert_eq!(p.final_training_time, 413.7015450000763);
    assert_eq!(p.final_test_accuracy, 0.3);
    let st = Nb101::from_store_bytes(db.store_bytes().to_vec(), Path::new("mem")).unwrap();
    assert_eq!(st.model(&h).unwrap().repeat(108, 0).unwrap(), p);
}

#[test]
fn generate_from_specs_skips_duplicates_and_rewards_structure() {
    let mk = |rows: &str, ops: &[&str]| {
        let m = rows
            .split('/')
            .map(|r| r.bytes().map(|b| b - b'0').collect())
            .collect();
        nasbench101::ModelSpec::new(m, ops.iter().map(|s| s.to_string()).collect()).unwrap()
    };
    let weak = mk("010/001/000", &["input", "maxpool3x3", "output"]);
    let strong = mk(
        "0110000/0001000/0001000/0000100/0000010/0000001/0000000",
        &[
            "input",
            "conv3x3-bn-relu",
            "conv3x3-bn-relu",
            "conv3x3-bn-relu",
            "conv3x3-bn-relu",
            "conv3x3-bn-relu",
            "output",
        ],
    );
    // The same chain with an island vertex: same hash, skipped.
    let weak_again = mk(
        "0100/0001/0000/0000",
        &["input", "maxpool3x3", "conv3x3-bn-relu", "output"],
    );
    let mut bytes = Vec::new();
    let s = generate_from_specs(
        &mut bytes,
        &[weak.clone(), strong.clone(), weak_again],
        &ONLY108_BUDGETS,
        3,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(s.models, 2);
    assert_eq!(s.skipped_duplicates, 1);
    let db = Arc::new(
        Nb101::from_tfrecord_bytes(&bytes, Path::new("mem"), OpenOptions::default(), None).unwrap(),
    );
    let api = Api::new(Arc::clone(&db), 0);
    let mean = |spec| {
        let r = api.query_all_repeats(spec, 108).unwrap();
        r.iter().map(|p| p.final_validation_accuracy).sum::<f64>() / r.len() as f64
    };
    // The structure terms put them 0.053 apart before each cell's own spread (sd 0.012).
    assert!(mean(&strong) > mean(&weak) + 0.02);
    assert_eq!(
        db.hashes().collect::<Vec<_>>(),
        [weak.hash().unwrap(), strong.hash().unwrap()]
    );
    // Same input, same bytes.
    let mut again = Vec::new();
    generate_from_specs(
        &mut again,
        &[weak, strong],
        &ONLY108_BUDGETS,
        3,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(again, bytes);
}

#[test]
fn scan_agrees_with_per_model_reads() {
    let cfg = GenerateConfig {
        models: 40,
        seed: 9,
        ..GenerateConfig::default()
    };
    let mut bytes = Vec::new();
    generate(&mut bytes, &cfg, &mut |_| {}).unwrap();
    let db =
        Nb101::from_tfrecord_bytes(&bytes, Path::new("mem"), OpenOptions::default(), None).unwrap();
    for (epochs, field) in [(108, 7), (4, 0), (36, 5)] {
        let mut got = Vec::new();
        db.scan(epochs, field, |i, k, v| got.push((i, k, v)));
        let mut want = Vec::new();
        for m in db.models() {
            for (k, p) in m.repeats(epochs).unwrap().iter().enumerate() {
                want.push((m.index(), k, p.to_array()[field]));
            }
        }
        assert_eq!(got, want);
        assert_eq!(got.len(), 40 * 3);
    }
    let mut none = 0;
    db.scan(100, 7, |_, _, _| none += 1);
    assert_eq!(none, 0);
}

#[test]
fn audit_accepts_true_hashes_and_flags_random_ones() {
    let mut bytes = Vec::new();
    let cfg = GenerateConfig {
        models: 30,
        seed: 2,
        true_hashes: true,
        ..GenerateConfig::default()
    };
    generate(&mut bytes, &cfg, &mut |_| {}).unwrap();
    let db =
        Nb101::from_tfrecord_bytes(&bytes, Path::new("mem"), OpenOptions::default(), None).unwrap();
    let r = nasbench101::audit::audit(&db);
    assert!(r.is_clean(), "{r:?}");
    assert_eq!(r.models, 30);
    assert_eq!(r.repeat_histogram["108 epochs x 3 repeats"], 30);
    assert_eq!(r.vertex_histogram.values().sum::<usize>(), 30);
    let mut bytes = Vec::new();
    let cfg = GenerateConfig {
        true_hashes: false,
        ..cfg
    };
    generate(&mut bytes, &cfg, &mut |_| {}).unwrap();
    let db =
        Nb101::from_tfrecord_bytes(&bytes, Path::new("mem"), OpenOptions::default(), None).unwrap();
    let r = nasbench101::audit::audit(&db);
    assert_eq!(r.hash_mismatch_count, 30);
    assert_eq!(r.invalid_cell_count, 0);
    assert!(!r.is_clean());
}

#[test]
fn audit_of_real_fixtures_is_clean() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/nb101/real_30_only108.tfrecord");
    if !dir.exists() {
        eprintln!("SKIPPED (real data absent): {}", dir.display());
        return;
    }
    let db = Nb101::open(&dir).unwrap();
    let r = nasbench101::audit::audit(&db);
    assert!(r.is_clean(), "{r:?}");
    assert_eq!(r.models, 30);
}

#[test]
fn convert_writes_a_store_and_refuses_a_store() {
    let mut bytes = Vec::new();
    let cfg = GenerateConfig {
        models: 10,
        seed: 4,
        ..GenerateConfig::default()
    };
    generate(&mut bytes, &cfg, &mut |_| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.tfrecord");
    let output = dir.path().join("out.nb101");
    std::fs::write(&input, &bytes).unwrap();
    let s = nasbench101::convert(&input, &output, OpenOptions::default(), None).unwrap();
    assert_eq!(s.models, 10);
    assert_eq!(s.runs, 10 * 4 * 3);
    assert!(s.synthetic && s.f32_values);
    assert_eq!(std::fs::metadata(&output).unwrap().len(), s.store_bytes);
    let again = dir.path().join("again.nb101");
    let err = nasbench101::convert(&output, &again, OpenOptions::default(), None).unwrap_err();
    assert!(err.to_string().contains("already a store"), "{err}");
    assert!(!again.exists());
}

/// Payloads of a generated file (marker first), for re-framing in other orders.
fn payloads(models: usize) -> Vec<Vec<u8>> {
    let cfg = GenerateConfig {
        models,
        seed: 11,
        ..GenerateConfig::default()
    };
    let mut bytes = Vec::new();
    generate(&mut bytes, &cfg, &mut |_| {}).unwrap();
    Frames::new(&bytes, true)
        .map(|f| f.unwrap().payload.to_vec())
        .collect()
}

fn frame_all(payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in payloads {
        nasbench101::tfrecord::write_record(&mut out, p).unwrap();
    }
    out
}

/// Both ways into a store (in memory, and a convert to a file), each compared value by value
/// with the record-by-record reference. Returns whether values were stored as f32.
fn check_both_ways(bytes: &[u8]) -> bool {
    let (want, order) = reference(bytes);
    let db =
        Nb101::from_tfrecord_bytes(bytes, Path::new("mem"), OpenOptions::default(), None).unwrap();
    let n = compare(&db, &want, &order);
    assert!(n > 0);
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.tfrecord"), dir.path().join("out.nb101"));
    std::fs::write(&input, bytes).unwrap();
    let s = nasbench101::convert(&input, &output, OpenOptions::default(), None).unwrap();
    let st = Nb101::open(&output).unwrap();
    st.verify().unwrap();
    assert_eq!(compare(&st, &want, &order), n);
    assert_eq!(st.store_bytes(), db.store_bytes());
    assert_eq!(s.f32_values, db.values_are_f32());
    assert_eq!(std::fs::metadata(&output).unwrap().len(), s.store_bytes);
    db.values_are_f32()
}

/// The streaming builder's cases: the generated order (records of a model adjacent, budgets
/// ascending); budgets and repeats reversed inside each model (first-seen budget order is
/// then descending); models in descending hash order; a model split in two (the general
/// builder takes over); and a value that is not an f32 after more than one data chunk has
/// been written (values widened in place).
#[test]
fn every_record_order_and_value_width_stores_the_same_values() {
    // 3000 models x 12 runs x 32 bytes: over 1 MiB of f32 values, more than one chunk.
    let all = payloads(3000);
    let (marker, records) = all.split_first().unwrap();
    let mut ordered = vec![marker.clone()];
    ordered.extend(records.iter().cloned());
    assert!(check_both_ways(&frame_all(&ordered)));

    let mut reversed = vec![marker.clone()];
    for model in records.chunks(12) {
        reversed.extend(model.iter().rev().cloned());
    }
    assert!(check_both_ways(&frame_all(&reversed)));

    // Models in descending hash order: the index is sorted, not copied in file order.
    let mut descending = vec![marker.clone()];
    for model in records.chunks(12).rev() {
        descending.extend(model.iter().cloned());
    }
    assert!(check_both_ways(&frame_all(&descending)));

    // The first model's first run moved to the end: its hash comes back later.
    let mut split = ordered.clone();
    let first = split.remove(1);
    split.push(first);
    assert!(check_both_ways(&frame_all(&split)));

    // The last record's halfway training time becomes 1/3 (not an f32).
    let mut wide = ordered.clone();
    let last = wide.pop().unwrap();
    let rec = decode_payload(&last).unwrap();
    let mut metrics = rec.metrics.clone();
    metrics.evaluation_data[1].training_time = 1.0 / 3.0;
    wide.push(nasbench101::record::encode_payload(
        &rec.hash,
        rec.epochs,
        &rec.matrix,
        &rec.ops,
        &metrics,
    ));
    assert!(!check_both_ways(&frame_all(&wide)));
}

/// `seven_vertices` cells keep all 7 vertices (records of the released files' size).
#[test]
fn seven_vertex_cells_have_seven_vertices() {
    for true_hashes in [false, true] {
        let cfg = GenerateConfig {
            models: 200,
            budgets: ONLY108_BUDGETS.to_vec(),
            seed: 9,
            true_hashes,
            seven_vertices: true,
            ..GenerateConfig::default()
        };
        let mut bytes = Vec::new();
        generate(&mut bytes, &cfg, &mut |_| {}).unwrap();
        let db = Nb101::from_tfrecord_bytes(&bytes, Path::new("mem"), OpenOptions::default(), None)
            .unwrap();
        assert_eq!(db.len(), 200);
        for m in db.models() {
            assert_eq!(m.num_vertices(), 7);
            assert!(m.spec().unwrap().is_valid());
        }
        // 3 records of 200 models plus the marker: about 417 bytes each.
        let per_record = bytes.len() as f64 / 601.0;
        assert!((400.0..430.0).contains(&per_record), "{per_record}");
    }
}
