//! Query semantics of the official API: repeat sampling (including exact CPython replay),
//! halfway vs final values, epochs checked before the spec, and budget counter arithmetic.

use nasbench101::{Api, CPythonRandom, ModelSpec, Nb101, RepeatSampler};
use std::path::PathBuf;
use std::sync::Arc;

#[test]
fn cpython_randint_first_draws() {
    let mut r = CPythonRandom::new(0);
    let d: Vec<i64> = (0..12).map(|_| r.randint(0, 2)).collect();
    assert_eq!(d, [1, 1, 0, 1, 2, 1, 1, 1, 1, 1, 2, 0]);
    let mut r = CPythonRandom::new(42);
    let d: Vec<i64> = (0..12).map(|_| r.randint(0, 2)).collect();
    assert_eq!(d, [2, 0, 0, 2, 1, 0, 0, 0, 2, 0, 2, 2]);
}

#[test]
fn fast_sampler_covers_all_repeats_and_is_seedable() {
    let mut a = RepeatSampler::fast(7);
    let mut b = RepeatSampler::fast(7);
    let da: Vec<usize> = (0..300).map(|_| a.draw()).collect();
    let db: Vec<usize> = (0..300).map(|_| b.draw()).collect();
    assert_eq!(da, db);
    for k in 0..3 {
        let n = da.iter().filter(|&&x| x == k).count();
        assert!(n > 50, "repeat {k} drawn {n} times of 300");
    }
    assert!(da.iter().all(|&x| x < 3));
}

fn p1() -> Option<Arc<Nb101>> {
    let f = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/nb101/p1_full.tfrecord");
    if !f.exists() {
        eprintln!("SKIPPED (real data absent): {}", f.display());
        return None;
    }
    Some(Arc::new(Nb101::open(f).unwrap()))
}

fn p1_spec() -> ModelSpec {
    // The README's Inception-like cell, in a different vertex order than the stored form.
    let rows = "0111010/0000001/0000001/0000100/0000001/0000001/0000000";
    let m = rows
        .split('/')
        .map(|r| r.bytes().map(|b| b - b'0').collect())
        .collect();
    let ops = [
        "input",
        "conv1x1-bn-relu",
        "conv3x3-bn-relu",
        "conv3x3-bn-relu",
        "conv3x3-bn-relu",
        "maxpool3x3",
        "output",
    ];
    ModelSpec::new(m, ops.iter().map(|s| s.to_string()).collect()).unwrap()
}

#[test]
fn query_replays_cpython_seed_and_counts_budget() {
    let Some(db) = p1() else { return };
    let mut api = Api::with_sampler(Arc::clone(&db), RepeatSampler::cpython(0));
    let spec = p1_spec();
    let model = db.model_by_spec(&spec).unwrap();
    // Seed 0 draws 1, 1, 0, 1, 2.
    let mut want_time = 0.0;
    let mut want_epochs = 0;
    for (i, k) in [1usize, 1, 0, 1, 2].into_iter().enumerate() {
        let halfway = i % 2 == 1;
        let epochs = [108, 36, 12, 4, 108][i];
        let r = api.query(&spec, epochs, halfway).unwrap();
        let p = model.repeat(epochs, k).unwrap();
        let (t, v) = if halfway {
            (p.halfway_training_time, p.halfway_validation_accuracy)
        } else {
            (p.final_training_time, p.final_validation_accuracy)
        };
        assert_eq!(r.training_time, t);
        assert_eq!(r.validation_accuracy, v);
        // The stored canonical form is returned, not the caller's matrix.
        assert_eq!(r.module_adjacency, model.adjacency());
        assert_eq!(r.trainable_parameters, 2694282);
        want_time += t;
        want_epochs += if halfway { epochs / 2 } else { epochs } as u64;
        assert_eq!(api.get_budget_counters(), (want_time, want_epochs));
    }
    assert_eq!(want_epochs, 108 + 18 + 12 + 2 + 108);
    api.reset_budget_counters();
    assert_eq!(api.get_budget_counters(), (0.0, 0));
}

#[test]
fn errors_leave_counters_alone_and_epochs_checked_first() {
    let Some(db) = p1() else { return };
    let mut api = Api::new(db, 1);
    let bad = ModelSpec::new(
        vec![vec![0, 0], vec![0, 0]],
        vec!["input".into(), "output".into()],
    )
    .unwrap();
    // Wrong budget is reported even for a disconnected spec (epochs first).
    assert_eq!(
        api.query(&bad, 100, false).unwrap_err().code(),
        "invalid_epochs"
    );
    assert_eq!(
        api.query(&bad, 108, false).unwrap_err().code(),
        "disconnected"
    );
    // A valid spec absent from the file.
    let chain = ModelSpec::new(
        vec![vec![0, 1, 0], vec![0, 0, 1], vec![0, 0, 0]],
        vec!["input".into(), "maxpool3x3".into(), "output".into()],
    )
    .unwrap();
    assert_eq!(
        api.query(&chain, 108, false).unwrap_err().code(),
        "unknown_hash"
    );
    assert_eq!(api.get_budget_counters(), (0.0, 0));
    assert!(api.is_valid(&chain));
    assert!(!api.is_valid(&bad));
}

#[test]
fn metrics_by_spec_and_hash_agree_and_all_repeats() {
    let Some(db) = p1() else { return };
    let api = Api::new(Arc::clone(&db), 3);
    let spec = p1_spec();
    let (f1, c1) = api.get_metrics_from_spec(&spec).unwrap();
    let h = spec.hash().unwrap();
    let (f2, c2) = api.get_metrics_from_hash(&h).unwrap();
    assert_eq!(f1, f2);
    assert_eq!(c1, c2);
    assert_eq!(c1.keys().copied().collect::<Vec<_>>(), [4, 12, 36, 108]);
    let all = api.query_all_repeats(&spec, 108).unwrap();
    assert_eq!(all, c1[&108]);
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].final_test_accuracy, 0.9286859035491943);
    assert_eq!(api.hash_iterator().collect::<Vec<_>>(), [h]);
    assert_eq!(api.get_budget_counters(), (0.0, 0));
    let unknown = "00000000000000000000000000000001".parse().unwrap();
    assert_eq!(
        api.get_metrics_from_hash(&unknown).unwrap_err().code(),
        "unknown_hash"
    );
}

#[test]
fn hash_cache_returns_true_hashes() {
    use rand::SeedableRng;
    let db = Arc::new(
        Nb101::from_tfrecord_bytes(
            &[],
            std::path::Path::new("empty"),
            nasbench101::OpenOptions::default(),
            None,
        )
        .unwrap(),
    );
    let api = Api::new(db, 0);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let specs: Vec<ModelSpec> = (0..300)
        .map(|_| nb1s1_synthetic::random_valid_spec(&mut rng))
        .collect();
    for _ in 0..2 {
        for s in &specs {
            assert_eq!(api.spec_hash(s).unwrap(), s.hash().unwrap());
        }
    }
    let bad = ModelSpec::new(
        vec![vec![0, 0], vec![0, 0]],
        vec!["input".into(), "output".into()],
    )
    .unwrap();
    assert_eq!(api.spec_hash(&bad).unwrap_err().code(), "disconnected");
}

#[test]
fn budget_counters_on_synthetic_data() {
    use nb1s1_synthetic::{generate, GenerateConfig};
    let cfg = GenerateConfig {
        models: 20,
        seed: 8,
        true_hashes: true,
        ..GenerateConfig::default()
    };
    let mut bytes = Vec::new();
    generate(&mut bytes, &cfg, &mut |_| {}).unwrap();
    let db = Arc::new(
        Nb101::from_tfrecord_bytes(
            &bytes,
            std::path::Path::new("mem"),
            nasbench101::OpenOptions::default(),
            None,
        )
        .unwrap(),
    );
    let mut api = Api::with_sampler(Arc::clone(&db), RepeatSampler::cpython(42));
    // CPython seed 42 draws 2, 0, 0, 2, 1, 0, ...
    let draws = [2usize, 0, 0, 2, 1, 0, 0, 0];
    let (mut time, mut epochs_spent) = (0.0f64, 0u64);
    for (i, m) in db.models().take(8).enumerate() {
        let spec = m.spec().unwrap();
        let epochs = [4u32, 12, 36, 108][i % 4];
        let halfway = i % 3 == 0;
        let r = api.query(&spec, epochs, halfway).unwrap();
        let p = m.repeat(epochs, draws[i]).unwrap();
        let want = if halfway {
            p.halfway_training_time
        } else {
            p.final_training_time
        };
        assert_eq!(r.training_time, want);
        time += want;
        epochs_spent += u64::from(if halfway { epochs / 2 } else { epochs });
        assert_eq!(api.get_budget_counters(), (time, epochs_spent));
    }
    // 2 (4 halfway) + 12 + 36 + 54 (108 halfway) + 4 + 12 + 18 (36 halfway) + 108
    assert_eq!(epochs_spent, 2 + 12 + 36 + 54 + 4 + 12 + 18 + 108);
    api.reset_budget_counters();
    assert_eq!(api.get_budget_counters(), (0.0, 0));
    // Errors leave the counters alone.
    let spec = db.models().next().unwrap().spec().unwrap();
    assert!(api.query(&spec, 5, false).is_err());
    assert_eq!(api.get_budget_counters(), (0.0, 0));
}
