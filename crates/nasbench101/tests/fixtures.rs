//! Every value of `../shared/fixtures/nb101/expected.json` reproduced exactly from the fixture
//! tfrecords, through the tfrecord reader and through a converted store; the real 417-byte
//! record rebuilt byte for byte with our writer.

use nasbench101::record::{decode_payload, encode_payload};
use nasbench101::tfrecord::{masked_crc, write_record, Frames};
use nasbench101::{ModelHash, ModelSpec, Nb101};
use std::path::PathBuf;

fn fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/nb101");
    if dir.join("expected.json").exists() {
        Some(dir)
    } else {
        eprintln!("SKIPPED (real data absent): {}", dir.display());
        None
    }
}

fn check_file(db: &Nb101, expected: &serde_json::Value, name: &str) -> usize {
    let files = &expected["files"][name];
    let hashes: Vec<String> = files["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect();
    assert_eq!(db.len(), hashes.len(), "{name}: model count");
    assert!(!db.is_synthetic());
    // File order.
    let order: Vec<String> = db.hashes().map(|h| h.to_string()).collect();
    assert_eq!(order, hashes, "{name}: hash_iterator order");
    let mut values = 0;
    for h in &hashes {
        let m = &expected["models"][h.as_str()];
        let model = db.model(&h.parse::<ModelHash>().unwrap()).unwrap();
        assert_eq!(model.hash().to_string(), *h);
        let adj: Vec<Vec<u8>> = serde_json::from_value(m["module_adjacency"].clone()).unwrap();
        let ops: Vec<String> = serde_json::from_value(m["module_operations"].clone()).unwrap();
        assert_eq!(model.adjacency(), adj, "{h}");
        assert_eq!(model.ops(), ops, "{h}");
        assert_eq!(
            model.trainable_parameters(),
            m["trainable_parameters"].as_i64().unwrap()
        );
        // The stored spec hashes to its key and is valid.
        let spec = ModelSpec::new(adj, ops).unwrap();
        assert_eq!(spec.hash().unwrap().to_string(), *h);
        assert_eq!(db.model_by_spec(&spec).unwrap().index(), model.index());
        let stats = m["computed_stats"].as_object().unwrap();
        assert_eq!(model.computed_stats().len(), stats.len());
        for (epochs, repeats) in stats {
            let epochs: u32 = epochs.parse().unwrap();
            let got = model.repeats(epochs).unwrap();
            let want = repeats.as_array().unwrap();
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(want) {
                let g = serde_json::to_value(g).unwrap();
                for (key, wv) in w.as_object().unwrap() {
                    let gv = g[key.as_str()].as_f64().unwrap();
                    let wv = wv.as_f64().unwrap();
                    assert_eq!(gv.to_bits(), wv.to_bits(), "{h} {epochs} {key}");
                    values += 1;
                }
            }
        }
    }
    values
}

#[test]
fn expected_values_from_tfrecords_and_stores() {
    let Some(dir) = fixtures() else { return };
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut total = 0;
    for name in [
        "real_30_only108.tfrecord",
        "p1_full.tfrecord",
        "p2_first_record.tfrecord",
    ] {
        let db = Nb101::open(dir.join(name)).unwrap();
        total += check_file(&db, &expected, name);
        // Round trip through a store file.
        let store = tmp.path().join(format!("{name}.nb101"));
        nasbench101::atomic_write(&store, db.store_bytes()).unwrap();
        let st = Nb101::open(&store).unwrap();
        assert_eq!(st.source_kind(), nasbench101::SourceKind::Store);
        st.verify().unwrap();
        assert!(st.values_are_f32(), "fixture values are all f32-exact");
        total += check_file(&st, &expected, name);
    }
    // 32 hashes; every value twice (tfrecord and store).
    assert_eq!(total, 2 * 8 * (30 * 3 + 12 + 1));
}

#[test]
fn p1_budgets_and_p2_single_repeat() {
    let Some(dir) = fixtures() else { return };
    let p1 = Nb101::open(dir.join("p1_full.tfrecord")).unwrap();
    assert_eq!(p1.epochs(), &[4, 12, 36, 108]);
    let m = p1.models().next().unwrap();
    let r = m.repeats(108).unwrap();
    assert_eq!(r[0].final_training_time, 1155.85302734375);
    assert_eq!(r[0].final_validation_accuracy, 0.9376001358032227);
    assert_eq!(r[0].final_test_accuracy, 0.9311898946762085);
    assert_eq!(r[1].final_test_accuracy, 0.932692289352417);
    let p2 = Nb101::open(dir.join("p2_first_record.tfrecord")).unwrap();
    assert_eq!(p2.epochs(), &[4]);
    let m = p2.models().next().unwrap();
    assert_eq!(m.repeat_count(4), 1);
    assert_eq!(m.repeat(4, 1).unwrap_err().code(), "missing_repeat");
    assert_eq!(m.repeat(108, 0).unwrap_err().code(), "invalid_epochs");
}

#[test]
fn p2_record_rebuilt_byte_for_byte() {
    let Some(dir) = fixtures() else { return };
    let bytes = std::fs::read(dir.join("p2_first_record.tfrecord")).unwrap();
    assert_eq!(bytes.len(), 417);
    let frame = Frames::new(&bytes, true).next().unwrap().unwrap();
    assert_eq!(masked_crc(&bytes[..8]), 0x9bed2598);
    assert_eq!(masked_crc(frame.payload), 0x03691668);
    let rec = decode_payload(frame.payload).unwrap();
    assert_eq!(rec.hash.to_string(), "00005c142e6f48ac74fdcf73e3439874");
    assert_eq!(rec.epochs, 4);
    assert_eq!(rec.metrics.trainable_parameters, 8555530);
    assert_eq!(rec.metrics.total_time, 413.7015450000763);
    assert_eq!(rec.metrics.evaluation_data.len(), 3);
    assert_eq!(
        rec.metrics.evaluation_data[0].train_accuracy,
        0.1002604141831398
    );
    let payload = encode_payload(&rec.hash, rec.epochs, &rec.matrix, &rec.ops, &rec.metrics);
    let mut out = Vec::new();
    write_record(&mut out, &payload).unwrap();
    assert_eq!(out, bytes);
}
