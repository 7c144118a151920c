//! `nb1s1 nb101 bench`'s harness (`nb1s1::nb101_bench`) on a small synthetic file.

use nasbench101::record::decode_payload;
use nasbench101::tfrecord::Frames;
use nasbench101::{Nb101, SYNTHETIC_MARKER};
use nb1s1::nb101_bench;
use nb1s1_synthetic::{generate, GenerateConfig, ONLY108_BUDGETS};

/// Mean final test accuracy at 108 epochs over every record, decoded one by one (no table code).
fn reference_mean_test_accuracy(bytes: &[u8]) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for f in Frames::new(bytes, true) {
        let rec = decode_payload(f.unwrap().payload).unwrap();
        if rec.hash != SYNTHETIC_MARKER && rec.epochs == 108 {
            sum += rec.metrics.evaluation_data[2].test_accuracy;
            n += 1;
        }
    }
    sum / n as f64
}

/// `run` on a small file: the store it leaves is the file's, every round counted, the ratio's
/// quartiles around its median; a stale file where the store goes is replaced.
#[test]
fn bench_measures_a_small_file() {
    let cfg = GenerateConfig {
        models: 300,
        budgets: ONLY108_BUDGETS.to_vec(),
        seed: 12,
        true_hashes: true,
        ..GenerateConfig::default()
    };
    let mut bytes = Vec::new();
    generate(&mut bytes, &cfg, &mut |_| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (input, store) = (dir.path().join("in.tfrecord"), dir.path().join("in.nb101"));
    std::fs::write(&input, &bytes).unwrap();
    std::fs::write(&store, b"not a store").unwrap();
    let r = nb101_bench::run(&input, &store, 500, 3).unwrap();
    assert_eq!((r.models, r.runs, r.convert_rounds), (300, 900, 3));
    assert!(r.synthetic);
    let (q1, q3) = r.convert_ratio_quartiles;
    assert!(q1 > 0.0 && q1 <= r.convert_ratio_median && r.convert_ratio_median <= q3);
    assert!(r.read_s > 0.0 && r.convert_s > 0.0);
    // Every cell has its true hash, so queries by spec were timed.
    assert!(r.query_by_spec_median_s > 0.0);
    let db = Nb101::open(&store).unwrap();
    db.verify().unwrap();
    assert_eq!(db.len(), 300);
    assert_eq!(r.store_bytes, std::fs::metadata(&store).unwrap().len());
    // The mean test accuracy the scan found is the one of the file's own values.
    let mean = reference_mean_test_accuracy(&bytes);
    assert!(
        (r.scan_mean_test_accuracy - mean).abs() < 1e-9,
        "{} vs {mean}",
        r.scan_mean_test_accuracy
    );
}
