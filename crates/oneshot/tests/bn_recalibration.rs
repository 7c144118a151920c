//! BN recalibration as the search's evaluation part and as an option of the correlation
//! evaluation: typed and range-checked, recorded, repeatable, without a trace in training, and
//! written as a series of its own.

mod common;

use std::sync::Arc;

use common::{cpu_options, structured_split, tiny, FakeTable};
use oneshot::correlation::{correlate_run, correlate_run_on, CorrelateOptions, CorrelationMeta};
use oneshot::evaluation::Recalibration;
use oneshot::method::EvaluationKind;
use oneshot::model::{OneShotModel, TensorBatch};
use oneshot::{CorrelationConfig, OptimizerKind, SearchConfig, SearchData};
use rand::SeedableRng;
use tch::Device;

fn data() -> SearchData {
    SearchData {
        train: Arc::new(structured_split(48, 1)),
        test: Arc::new(structured_split(32, 2)),
        source: "structured (tests)".into(),
    }
}

/// DARTS on space 2 at the test sizes, its evaluation part as `toml` says.
fn config(toml: &str) -> SearchConfig {
    let mut cfg = SearchConfig::from_toml(toml, "bn.toml", Some("darts"), Some(2)).unwrap();
    let t = tiny(OptimizerKind::Darts, 2);
    (cfg.model, cfg.data, cfg.selection) = (t.model, t.data, t.selection);
    cfg.epochs = 2;
    cfg
}

const RECALIBRATED: &str =
    "[method]\nevaluation = \"bn_recalibration\"\n[options.bn_recalibration]\nbatches = 2\n";

#[test]
fn the_evaluation_part_loads_typed_and_range_checked() {
    let cfg = config(RECALIBRATED);
    assert_eq!(cfg.method.evaluation, EvaluationKind::BnRecalibration);
    assert_eq!(
        cfg.options["bn_recalibration"]["batches"].as_integer(),
        Some(2)
    );
    let plain = config("");
    assert_eq!(plain.method.evaluation, EvaluationKind::RunningStatistics);
    assert!(!plain.options.contains_key("bn_recalibration"));
    // Off by default, and then absent from config.toml (files of before stay the same).
    assert!(!plain.to_toml().contains("evaluation"));
    for (bad, key) in [
        ("batches = 0", "batches"),
        ("batches = 100000", "batches"),
        ("batchez = 3", "batchez"),
    ] {
        let text = format!(
            "[method]\nevaluation = \"bn_recalibration\"\n[options.bn_recalibration]\n{bad}\n"
        );
        let e = SearchConfig::from_toml(&text, "b.toml", Some("darts"), Some(2))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("b.toml") && e.contains("bn_recalibration") && e.contains(key),
            "{e}"
        );
    }
    // Settings without the part are refused, naming it.
    let e = SearchConfig::from_toml(
        "[options.bn_recalibration]\nbatches = 2\n",
        "c",
        Some("darts"),
        Some(2),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("bn_recalibration"), "{e}");
    let e = SearchConfig::from_toml(
        "[correlation]\nbn_recalibration_batches = 100000\n",
        "d",
        Some("darts"),
        Some(2),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("correlation.bn_recalibration_batches"), "{e}");
}

/// Twice the same number, the network's own statistics untouched, and not the number of the
/// running statistics.
#[test]
fn a_recalibrated_error_is_repeatable_and_leaves_the_statistics_alone() {
    let _torch = common::torch_lock();
    tch::manual_seed(0);
    let cfg = config(RECALIBRATED);
    let model = OneShotModel::new(&cfg.model, Device::Cpu).unwrap();
    let d = data();
    // Validation batches from the architecture half (images 24..40).
    let mut loader = nb1s1_data::Loader::new(
        d.train.clone(),
        (24..40).collect(),
        8,
        Some(nb1s1_data::Augment::eval()),
        0,
        false,
    )
    .unwrap();
    let valid: Vec<TensorBatch> = std::iter::from_fn(|| loader.next_batch())
        .map(|b| TensorBatch::from_batch(&b, Device::Cpu))
        .collect();
    assert_eq!(valid.len(), 2);
    let r = Recalibration::for_search(&cfg, &d.train, Device::Cpu)
        .unwrap()
        .unwrap();
    assert_eq!(r.len(), 2);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let before = model.net.save_bn_stats();
    let mut differs = false;
    for _ in 0..4 {
        let arch = model.space.sample(&mut rng);
        let a = r.error(&model, &arch, &valid).unwrap();
        let b = r.error(&model, &arch, &valid).unwrap();
        assert_eq!(a, b);
        let plain = oneshot::selection::architecture_error(&model, &arch, &valid).unwrap();
        differs |= plain != a;
    }
    let after = model.net.save_bn_stats();
    assert_eq!(before.len(), after.len());
    assert!(before.iter().zip(&after).all(|(x, y)| x.equal(y)));
    assert!(differs, "recalibration changed no error");
    // More batches than the weight half holds (24 images: 3 batches of 8) is an error.
    let mut big = cfg.clone();
    common::set_option(&mut big, "bn_recalibration", "batches", 4.into());
    let e = Recalibration::for_search(&big, &d.train, Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("bn_recalibration") && e.contains("24"), "{e}");
}

/// The same search with and without the evaluation part: the same weights and statistics bit
/// for bit (nothing leaks into training), the same architectures; run.json records the part.
#[test]
fn a_search_with_recalibrated_evaluation_trains_exactly_as_without() {
    let _torch = common::torch_lock();
    let d = data();
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("plain"), tmp.path().join("bn"));
    let oracle = Some(&FakeTable as &dyn oneshot::Nb101Oracle);
    let plain = oneshot::run_search(&config(""), &d, oracle, &a, &cpu_options()).unwrap();
    let bn = oneshot::run_search(&config(RECALIBRATED), &d, oracle, &b, &cpu_options()).unwrap();
    for f in ["weights.safetensors", "arch.safetensors"] {
        let read = |dir: &std::path::Path| std::fs::read(dir.join("checkpoint").join(f)).unwrap();
        assert_eq!(read(&a), read(&b), "{f}");
    }
    assert_eq!(plain.records.len(), bn.records.len());
    for (p, q) in plain.records.iter().zip(&bn.records) {
        assert_eq!(p.architecture, q.architecture);
        assert!((0.0..=1.0).contains(&q.one_shot_valid_error));
    }
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("run.json")).unwrap()).unwrap();
    assert_eq!(meta["method"]["evaluation"], "bn_recalibration");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("run.json")).unwrap()).unwrap();
    assert!(meta["method"].get("evaluation").is_none());
}

#[test]
fn correlation_with_recalibration_differs_and_is_labelled() {
    let _torch = common::torch_lock();
    let d = data();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let cfg = config("");
    oneshot::run_search(&cfg, &d, Some(&FakeTable), &run, &cpu_options()).unwrap();
    let settings = CorrelationConfig {
        epochs: vec![1],
        sample: 12,
        seed: 3,
        images: 16,
        batch_size: 8,
        batch_archs: 4,
        ..CorrelationConfig::default()
    };
    let opts = |bn: usize, force: bool| CorrelateOptions {
        settings: CorrelationConfig {
            bn_recalibration_batches: bn,
            ..settings.clone()
        },
        force,
        device: Device::Cpu,
        progress: false,
    };
    correlate_run(&run, &d.test, &FakeTable, &opts(0, false)).unwrap();
    // Recalibration needs the training images.
    let e = correlate_run(&run, &d.test, &FakeTable, &opts(2, false))
        .unwrap_err()
        .to_string();
    assert!(e.contains("training images"), "{e}");
    correlate_run_on(&run, &d.test, Some(&d.train), &FakeTable, &opts(2, false)).unwrap();
    let dir = run.join("correlation");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let meta = |name: &str| -> CorrelationMeta { serde_json::from_str(&read(name)).unwrap() };
    let (m0, m2) = (meta("epoch1.meta.json"), meta("epoch1-bn2.meta.json"));
    assert_eq!(
        (m0.bn_recalibration_batches, m2.bn_recalibration_batches),
        (0, 2)
    );
    assert_eq!(
        m2.batch_archs, 1,
        "one architecture per pass under recalibration"
    );
    let errors = |name: &str| -> Vec<(String, f64)> {
        nb1s1_bench::correlation::CorrelationFile::read(&dir.join(name))
            .unwrap()
            .points
            .iter()
            .map(|p| (p.hash.clone(), p.one_shot_error))
            .collect()
    };
    let (e0, e2) = (errors("epoch1.jsonl"), errors("epoch1-bn2.jsonl"));
    assert_eq!(e0.len(), e2.len());
    assert!(e0.iter().zip(&e2).all(|(a, b)| a.0 == b.0));
    assert!(
        e0.iter().zip(&e2).any(|(a, b)| a.1 != b.1),
        "{e0:?}\n{e2:?}"
    );
    // Repeatable: evaluated again, the same file.
    let first = read("epoch1-bn2.jsonl");
    correlate_run_on(&run, &d.test, Some(&d.train), &FakeTable, &opts(2, true)).unwrap();
    assert_eq!(read("epoch1-bn2.jsonl"), first);
    // The plain file is untouched, and the store sees two series.
    let path = dir.join("epoch1-bn2.jsonl");
    assert_eq!(
        nb1s1_bench::correlation::series_name("darts", &path),
        "darts+bn2"
    );
    assert_eq!(
        nb1s1_bench::correlation::series_name("darts", &dir.join("epoch1.jsonl")),
        "darts"
    );
    assert_eq!(
        nb1s1_bench::correlation::CorrelationFile::read(&path)
            .unwrap()
            .epoch,
        1
    );
}
