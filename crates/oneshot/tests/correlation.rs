//! The correlation evaluation (spec §4.3 A): batched and one-at-a-time evaluation agree; a tiny
//! run's checkpoints become correlation files that the benchmark reads, with NB-101 values equal
//! to direct API queries and architectures missing from the table counted; the search's inline
//! evaluation, kept checkpoints and live TensorBoard file.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{cpu_options, structured_split, synthetic_data, tiny, FakeTable};
use indicatif::ProgressBar;
use nasbench101::{Api, Nb101};
use nb1s1_synthetic::{generate_from_specs, FULL_BUDGETS};
use oneshot::correlation::{
    candidates, candidates_in, correlate_run, eval_mixing, one_shot_errors, run_checkpoints,
    CorrelateOptions, CorrelationMeta, EpochOutcome, EvalImages,
};
use oneshot::{
    run_search, CorrelationConfig, CorrelationSet, EvalMixing, Nb101Oracle, Nb101Table,
    OneShotError, OptimizerKind,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use searchspace::{Architecture, SpaceId};
use supernet::{SharedMixing, Supernet, SupernetConfig};
use tch::{nn, Device, Tensor};

/// A tiny supernet whose weights come from a local seeded generator (tests run in parallel
/// threads and share torch's global one), with BatchNorm running statistics moved away from
/// their initial values by a few training-mode passes over `warm_up` images.
fn tiny_net(space: SpaceId, warm_up: &EvalImages) -> (nn::VarStore, Supernet) {
    let cfg = SupernetConfig {
        init_channels: 4,
        layers: 3,
        ..SupernetConfig::for_space(space)
    };
    let vs = nn::VarStore::new(Device::Cpu);
    let net = Supernet::new(&vs.root(), &cfg).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    tch::no_grad(|| {
        for (name, mut t) in vars {
            let size = t.size();
            let n = t.numel();
            let values: Vec<f32> = if size.len() >= 2 {
                // Kaiming-uniform bound for ReLU networks.
                let bound = (6.0 / (n / size[0] as usize) as f32).sqrt();
                (0..n).map(|_| rng.gen_range(-bound..bound)).collect()
            } else if name.ends_with("bias") {
                vec![0.0; n]
            } else {
                continue;
            };
            t.copy_(&Tensor::from_slice(&values).view(size.as_slice()));
        }
        for c in candidates(space, 4, 8) {
            let mix = supernet::one_hot_mixing(&c.architecture, Device::Cpu).unwrap();
            for x in warm_up.images() {
                let _ = net.forward(x, &mut SharedMixing(mix.clone()), true);
            }
        }
    });
    (vs, net)
}

#[test]
fn batched_architectures_give_the_errors_of_one_at_a_time() {
    let _torch = common::torch_lock();
    tch::set_num_threads(2);
    // 40 images in batches of 16: the last batch is shorter, so the stacked weights are rebuilt.
    let test = Arc::new(structured_split(40, 9));
    let images = EvalImages::load(&test, 0, 16, Device::Cpu).unwrap();
    assert_eq!(images.len(), 40);
    let warm_up =
        EvalImages::load(&Arc::new(structured_split(32, 21)), 0, 16, Device::Cpu).unwrap();
    for (space, mixing, bug) in [
        (SpaceId::One, EvalMixing::OneHot, false),
        (SpaceId::One, EvalMixing::DartsSoftmax, true),
        (SpaceId::Three, EvalMixing::OneHot, false),
        (SpaceId::Three, EvalMixing::DartsSoftmax, false),
    ] {
        let (_vs, net) = tiny_net(space, &warm_up);
        let cands = candidates(space, 11, 5);
        assert_eq!(cands.len(), 11);
        let archs: Vec<&Architecture> = cands.iter().map(|c| &c.architecture).collect();
        let bar = ProgressBar::hidden();
        let single = one_shot_errors(&net, &archs, &images, mixing, bug, 1, &bar).unwrap();
        let batched = one_shot_errors(&net, &archs, &images, mixing, bug, 4, &bar).unwrap();
        assert_eq!(bar.position(), 22);
        assert_eq!(single.len(), 11);
        for (i, (a, b)) in single.iter().zip(&batched).enumerate() {
            assert!(
                (a - b).abs() < 1e-12,
                "space {space} {mixing:?} arch {i}: one at a time {a}, batched {b}"
            );
            assert!((0.0..=1.0).contains(a));
        }
        let distinct = single
            .iter()
            .map(|e| (e * 40.0).round() as i64)
            .collect::<std::collections::BTreeSet<_>>();
        assert!(
            distinct.len() > 1,
            "space {space}: every architecture has the same error {single:?}"
        );
    }
}

#[test]
fn eval_mixing_encodes_the_original_quirks_only_when_asked() {
    let _torch = common::torch_lock();
    let cands = candidates(SpaceId::Two, 3, 1);
    let arch = &cands[0].architecture;
    let values = |t: &Tensor| Vec::<f32>::try_from(t.flatten(0, -1)).unwrap();
    let plain = eval_mixing(arch, EvalMixing::OneHot, false, Device::Cpu).unwrap();
    assert!(plain.active_ops.is_some());
    let out = values(&plain.output);
    assert!(out.iter().all(|&v| v == 0.0 || v == 1.0));
    let quirk = eval_mixing(arch, EvalMixing::DartsSoftmax, false, Device::Cpu).unwrap();
    assert!(quirk.active_ops.is_none());
    // A softmax of a one-hot row: e / (e + 2) and 1 / (e + 2).
    let e = std::f32::consts::E;
    for row in values(&quirk.ops).chunks(3) {
        let mut r = row.to_vec();
        r.sort_by(f32::total_cmp);
        assert!((r[2] - e / (e + 2.0)).abs() < 1e-6 && (r[0] - 1.0 / (e + 2.0)).abs() < 1e-6);
    }
    let gamma = values(&quirk.output);
    assert!((gamma.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    for t in quirk.inputs.iter().flatten() {
        assert!((values(t).iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
    // The spaces-1/2 row-deletion bug: γ[4] is always 0; space 3 is unaffected.
    let with_out4 = candidates(SpaceId::Two, 0, 0)
        .into_iter()
        .find(|c| c.architecture.parents.last().unwrap().contains(&4))
        .unwrap();
    let bug = eval_mixing(
        &with_out4.architecture,
        EvalMixing::OneHot,
        true,
        Device::Cpu,
    )
    .unwrap();
    assert_eq!(values(&bug.output)[4], 0.0);
    let no_bug = eval_mixing(
        &with_out4.architecture,
        EvalMixing::OneHot,
        false,
        Device::Cpu,
    )
    .unwrap();
    assert_eq!(values(&no_bug.output)[4], 1.0);
    let s3 = candidates(SpaceId::Three, 1, 2);
    let a3 = eval_mixing(&s3[0].architecture, EvalMixing::OneHot, true, Device::Cpu).unwrap();
    let b3 = eval_mixing(&s3[0].architecture, EvalMixing::OneHot, false, Device::Cpu).unwrap();
    assert_eq!(values(&a3.output), values(&b3.output));
}

/// A synthetic NB-101 file (all four budgets, three repeats) holding every unique model of
/// space 1 except `leave_out`.
fn synthetic_table(dir: &Path, leave_out: &[nasbench101::ModelHash]) -> std::path::PathBuf {
    let specs: Vec<_> = candidates(SpaceId::One, 0, 0)
        .iter()
        .filter(|c| !leave_out.contains(&c.hash))
        .map(|c| c.architecture.to_spec().unwrap())
        .collect();
    let path = dir.join("nb101-space1.tfrecord");
    let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    generate_from_specs(file, &specs, &FULL_BUDGETS, 3, &mut |_| {}).unwrap();
    path
}

fn meta(dir: &Path, epoch: usize) -> CorrelationMeta {
    let text = std::fs::read_to_string(
        dir.join("correlation")
            .join(format!("epoch{epoch}.meta.json")),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn run_checkpoints_become_correlation_files_the_benchmark_reads() {
    let _torch = common::torch_lock();
    let tmp = tempfile::tempdir().unwrap();
    let settings = CorrelationConfig {
        sample: 30,
        seed: 4,
        images: 24,
        batch_size: 16,
        batch_archs: 4,
        ..CorrelationConfig::default()
    };
    let sampled = candidates(SpaceId::One, settings.sample, settings.seed);
    let left_out: Vec<_> = sampled.iter().step_by(10).map(|c| c.hash).collect();
    assert_eq!(left_out.len(), 3);
    let nb_path = synthetic_table(tmp.path(), &left_out);
    let table = Nb101Table::open(&nb_path).unwrap();
    let api = Api::new(Arc::new(Nb101::open(&nb_path).unwrap()), 0);

    // Structured images: on pure noise a tiny net tends to predict one class for every image,
    // and then every cell has the same error at every epoch.
    let data = oneshot::SearchData {
        train: Arc::new(structured_split(48, 1)),
        test: Arc::new(structured_split(32, 2)),
        source: "structured (tests)".into(),
    };
    let mut cfg = tiny(OptimizerKind::Darts, 1);
    cfg.epochs = 2;
    cfg.keep_checkpoints = vec![0];
    let run = tmp.path().join("runs").join("darts-s1");
    run_search(&cfg, &data, Some(&table), &run, &cpu_options()).unwrap();
    // The kept checkpoint holds what evaluation needs, without the optimizer buffers.
    let kept = run.join("checkpoints").join("epoch0");
    assert!(kept.join("weights.safetensors").is_file() && kept.join("arch.safetensors").is_file());
    assert!(!kept.join("optimizers.safetensors").exists());
    let cks = run_checkpoints(&run).unwrap();
    assert_eq!(
        cks.iter().map(|c| c.epoch).collect::<Vec<_>>(),
        vec![0, 1],
        "{cks:?}"
    );

    let opts = CorrelateOptions {
        settings: settings.clone(),
        force: false,
        device: Device::Cpu,
        progress: false,
    };
    let out = correlate_run(&run, &data.test, &table, &opts).unwrap();
    assert_eq!(out.len(), 2);
    for epoch in [0, 1] {
        let path = run.join("correlation").join(format!("epoch{epoch}.jsonl"));
        let file = nb1s1_bench::correlation::CorrelationFile::read(&path).unwrap();
        assert_eq!(file.epoch, epoch);
        assert_eq!(file.run_dir.as_deref(), Some(run.as_path()));
        assert_eq!(file.points.len(), 27);
        let m = meta(&run, epoch);
        assert_eq!(
            (m.candidates, m.evaluated, m.missing_from_table),
            (30, 27, 3)
        );
        assert_eq!((m.images, m.batch_archs), (24, 4));
        for p in &file.points {
            // A top-1 error on 24 images: a whole number of misclassified images.
            let wrong = p.one_shot_error * m.images as f64;
            assert!((wrong - wrong.round()).abs() < 1e-9, "{p:?}");
            assert!((0.0..=24.0).contains(&wrong.round()), "{p:?}");
            assert!(!left_out.iter().any(|h| h.to_string() == p.hash));
            let hash: nasbench101::ModelHash = p.hash.parse().unwrap();
            let (_, computed) = api.get_metrics_from_hash(&hash).unwrap();
            assert_eq!(computed.len(), 4);
            for (budget, reps) in computed {
                let n = reps.len() as f64;
                let test = reps
                    .iter()
                    .map(|d| 1.0 - d.final_test_accuracy)
                    .sum::<f64>()
                    / n;
                let valid = reps
                    .iter()
                    .map(|d| 1.0 - d.final_validation_accuracy)
                    .sum::<f64>()
                    / n;
                let key = budget.to_string();
                assert!((p.nb101_test_error[&key] - test).abs() < 1e-12, "{p:?}");
                assert!((p.nb101_valid_error[&key] - valid).abs() < 1e-12, "{p:?}");
            }
        }
        let stats = file.statistics(nb1s1_bench::correlation::TOP_K).unwrap();
        assert_eq!(stats.len(), 8, "test and valid at 4 budgets");
        assert!(stats.iter().all(|s| s.stats.n == 27));
    }
    // The two epochs' weights differ, and so do the one-shot errors of some architecture.
    let read = |e: usize| {
        nb1s1_bench::correlation::CorrelationFile::read(
            &run.join("correlation").join(format!("epoch{e}.jsonl")),
        )
        .unwrap()
        .points
    };
    let key = |ps: &[nb1s1_bench::correlation::Point]| {
        ps.iter()
            .map(|p| (p.hash.clone(), p.one_shot_error, p.nb101_test_error.clone()))
            .collect::<Vec<_>>()
    };
    let (p0, p1) = (read(0), read(1));
    assert!(p0
        .iter()
        .zip(&p1)
        .any(|(a, b)| a.one_shot_error != b.one_shot_error));

    // Cheap to rerun: existing files are skipped unless forced; unknown epochs are errors.
    let again = correlate_run(&run, &data.test, &table, &opts).unwrap();
    assert!(again
        .iter()
        .all(|o| matches!(o, EpochOutcome::Skipped { .. })));
    let forced = CorrelateOptions {
        force: true,
        settings: CorrelationConfig {
            epochs: vec![1],
            batch_archs: 1,
            ..settings.clone()
        },
        ..opts
    };
    let redo = correlate_run(&run, &data.test, &table, &forced).unwrap();
    assert!(matches!(&redo[..], [EpochOutcome::Written { meta, .. }] if meta.epoch == 1));
    assert_eq!(
        key(&read(1)),
        key(&p1),
        "batch_archs 1 and 4 write the same file"
    );
    let bad = CorrelateOptions {
        settings: CorrelationConfig {
            epochs: vec![7],
            ..settings.clone()
        },
        force: false,
        device: Device::Cpu,
        progress: false,
    };
    let err = correlate_run(&run, &data.test, &table, &bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("epoch 7") && err.contains("0, 1"), "{err}");
    let err = correlate_run(&tmp.path().join("nope"), &data.test, &table, &bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no such run folder"), "{err}");

    // End to end: ingest yields correlation rows per budget for this run's optimizer and space.
    let mut store = nb1s1_bench::store::Store::open(&tmp.path().join("results.sqlite")).unwrap();
    let summary = store.ingest_dir(&tmp.path().join("runs")).unwrap();
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    assert_eq!((summary.added, summary.correlation_files), (1, 2));
    let series = nb1s1_bench::analysis::correlation_series(&store).unwrap();
    assert_eq!(series.len(), 8, "{series:?}");
    for s in &series {
        assert_eq!((s.optimizer.as_str(), s.space), ("darts", 1));
        assert_eq!(
            s.points.iter().map(|p| p.epoch).collect::<Vec<_>>(),
            vec![0, 1]
        );
        assert!(s.points.iter().all(|p| p.spearman.is_some()));
    }
}

#[test]
fn search_evaluates_inline_and_writes_live_tensorboard_scalars() {
    let _torch = common::torch_lock();
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_data(48, 24);
    let mut cfg = tiny(OptimizerKind::Darts, 3);
    cfg.epochs = 2;
    cfg.correlation = CorrelationConfig {
        epochs: vec![1],
        sample: 6,
        images: 20,
        batch_size: 8,
        batch_archs: 3,
        ..CorrelationConfig::default()
    };
    cfg.tensorboard.step_interval = 2;
    // The inline evaluation needs a table: refused before any training.
    let err = run_search(&cfg, &data, None, &tmp.path().join("x"), &cpu_options()).unwrap_err();
    assert!(matches!(err, OneShotError::Config { .. }), "{err}");
    assert!(!tmp.path().join("x").exists());

    let run = tmp.path().join("run");
    let out = run_search(&cfg, &data, Some(&FakeTable), &run, &cpu_options()).unwrap();
    assert!(!run.join("correlation").join("epoch0.jsonl").exists());
    let file = nb1s1_bench::correlation::CorrelationFile::read(
        &run.join("correlation").join("epoch1.jsonl"),
    )
    .unwrap();
    assert_eq!(file.points.len(), 6);
    assert!(file
        .points
        .iter()
        .all(|p| p.nb101_test_error.keys().eq(["108"])));
    // The inline file equals a later evaluation of the final checkpoint.
    let again = correlate_run(
        &run,
        &data.test,
        &FakeTable,
        &CorrelateOptions {
            settings: CorrelationConfig {
                batch_archs: 1,
                ..cfg.correlation.clone()
            },
            force: true,
            device: Device::Cpu,
            progress: false,
        },
    )
    .unwrap();
    assert_eq!(again.len(), 1);
    let later = nb1s1_bench::correlation::CorrelationFile::read(
        &run.join("correlation").join("epoch1.jsonl"),
    )
    .unwrap();
    let errs = |f: &nb1s1_bench::correlation::CorrelationFile| {
        f.points
            .iter()
            .map(|p| (p.hash.clone(), p.one_shot_error))
            .collect::<Vec<_>>()
    };
    assert_eq!(errs(&file), errs(&later));

    // Live TensorBoard: one file whose records parse back (CRCs checked) with every epoch's tags.
    let tb: Vec<_> = std::fs::read_dir(run.join("tensorboard"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(tb.len(), 1, "{tb:?}");
    assert!(tb[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("events.out.tfevents."));
    let events = tfevents::read_events(&std::fs::read(&tb[0]).unwrap()).unwrap();
    assert!(matches!(
        events[0].kind,
        tfevents::EventKind::FileVersion(_)
    ));
    let scalars = tfevents::scalars(&events);
    for tag in [
        "train/loss",
        "train/accuracy",
        "train/lr",
        "one_shot/valid_error",
        "regret/valid",
        "regret/test",
        "nb101/valid_error",
        "nb101/test_error",
        "time/epoch_seconds",
    ] {
        let steps: Vec<i64> = scalars
            .iter()
            .filter(|(t, _, _)| t == tag)
            .map(|(_, s, _)| *s)
            .collect();
        assert_eq!(steps, vec![0, 1], "{tag}");
    }
    let loss1 = scalars
        .iter()
        .find(|(t, s, _)| t == "train/loss" && *s == 1)
        .unwrap()
        .2;
    assert_eq!(loss1, out.records[1].train_loss as f32);
    // 24 weight-training images in batches of 8: 3 steps per epoch, 6 in all; every 2nd logged.
    let steps: Vec<i64> = scalars
        .iter()
        .filter(|(t, _, _)| t == "train/step_loss")
        .map(|(_, s, _)| *s)
        .collect();
    assert_eq!(steps, vec![2, 4, 6]);
    // The run folder still ingests as a run with one correlation file.
    let mut store = nb1s1_bench::store::Store::open(&tmp.path().join("r.sqlite")).unwrap();
    let summary = store.ingest_dir(&run).unwrap();
    assert_eq!((summary.added, summary.correlation_files), (1, 1));
}

/// The original enumerator's set (spec §1.5): 2,487 / 3,609 / 24,066 configurations of
/// 2,127 / 3,258 / 17,940 NB-101 hashes; all of them valid architectures of the space.
#[test]
fn original_enumerator_set_has_the_specs_counts() {
    let _torch = common::torch_lock();
    for (space, configs, hashes) in [
        (SpaceId::One, 2_487, 2_127),
        (SpaceId::Two, 3_609, 3_258),
        (SpaceId::Three, 24_066, 17_940),
    ] {
        let all = candidates_in(space, CorrelationSet::Original, 0, 0);
        assert_eq!(all.len(), configs, "space {space}");
        let unique: std::collections::HashSet<_> = all.iter().map(|c| c.hash).collect();
        assert_eq!(unique.len(), hashes, "space {space}");
        assert!(all.iter().all(|c| c.architecture.validate().is_ok()));
    }
}

/// `[correlation] set = "original"`: one line per NB-101 repeat with that repeat's errors, the
/// configuration's one-shot error repeated, as `evaluate_one_shot_models.py`.
#[test]
fn original_set_writes_one_point_per_repeat() {
    let _torch = common::torch_lock();
    let tmp = tempfile::tempdir().unwrap();
    let data = oneshot::SearchData {
        train: Arc::new(structured_split(32, 1)),
        test: Arc::new(structured_split(16, 2)),
        source: "structured (tests)".into(),
    };
    let mut cfg = tiny(OptimizerKind::Darts, 1);
    cfg.epochs = 1;
    let run = tmp.path().join("run");
    run_search(&cfg, &data, Some(&FakeTable), &run, &cpu_options()).unwrap();
    let settings = CorrelationConfig {
        sample: 5,
        images: 16,
        batch_size: 16,
        set: CorrelationSet::Original,
        ..CorrelationConfig::default()
    };
    let opts = CorrelateOptions {
        settings,
        force: false,
        device: Device::Cpu,
        progress: false,
    };
    correlate_run(&run, &data.test, &FakeTable, &opts).unwrap();
    let path = run.join("correlation").join("epoch0.jsonl");
    let points = nb1s1_bench::correlation::CorrelationFile::read(&path)
        .unwrap()
        .points;
    assert_eq!(points.len(), 15);
    for triple in points.chunks(3) {
        assert!(triple
            .iter()
            .all(|p| p.hash == triple[0].hash && p.one_shot_error == triple[0].one_shot_error));
        let hash: nasbench101::ModelHash = triple[0].hash.parse().unwrap();
        let want = FakeTable.query(&hash).unwrap().unwrap().test;
        let got: Vec<f64> = triple.iter().map(|p| p.nb101_test_error["108"]).collect();
        assert_eq!(got, want);
    }
    assert_eq!(meta(&run, 0).set, CorrelationSet::Original);
}
