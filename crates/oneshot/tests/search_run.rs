//! The search run end to end on synthetic images: run files, resume bit-identity, divergence.

mod common;

use common::{cpu_options, synthetic_data, tiny, FakeTable};
use oneshot::run_dir::{RunStatus, StatusFile};
use oneshot::{run_search, EpochRecord, OneShotError, OptimizerKind, SearchOptions};

fn read_records(dir: &std::path::Path) -> Vec<EpochRecord> {
    std::fs::read_to_string(dir.join("epochs.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn status(dir: &std::path::Path) -> StatusFile {
    serde_json::from_str(&std::fs::read_to_string(dir.join("status.json")).unwrap()).unwrap()
}

fn file_bytes(dir: &std::path::Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join("checkpoint").join(name)).unwrap()
}

#[test]
fn resumed_run_ends_bit_identical_to_uninterrupted_run() {
    let _torch = common::torch_lock();
    let data = synthetic_data(64, 16);
    let mut cfg = tiny(OptimizerKind::Darts, 1);
    cfg.keep_checkpoints = vec![1];
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("straight"), tmp.path().join("resumed"));
    let full = run_search(&cfg, &data, Some(&FakeTable), &a, &cpu_options()).unwrap();
    assert_eq!(full.status, RunStatus::Complete);
    let stop = SearchOptions {
        stop_after: Some(2),
        ..cpu_options()
    };
    let part = run_search(&cfg, &data, Some(&FakeTable), &b, &stop).unwrap();
    assert_eq!(part.status, RunStatus::Running);
    assert_eq!(status(&b).epochs_done, 2);
    // Starting again without --resume must refuse to overwrite the run.
    let again = run_search(&cfg, &data, Some(&FakeTable), &b, &cpu_options());
    assert!(matches!(again, Err(OneShotError::RunDir { .. })));
    let resume = SearchOptions {
        resume: true,
        ..cpu_options()
    };
    let rest = run_search(&cfg, &data, Some(&FakeTable), &b, &resume).unwrap();
    assert_eq!(rest.status, RunStatus::Complete);
    assert_eq!(
        file_bytes(&a, "arch.safetensors"),
        file_bytes(&b, "arch.safetensors")
    );
    assert_eq!(
        file_bytes(&a, "weights.safetensors"),
        file_bytes(&b, "weights.safetensors")
    );
    // The checkpoint kept after epoch 1 (the last one before the stop) matches too.
    let kept = |d: &std::path::Path| {
        std::fs::read(d.join("checkpoints/epoch1/weights.safetensors")).unwrap()
    };
    assert_eq!(kept(&a), kept(&b));
    assert_ne!(kept(&a), file_bytes(&a, "weights.safetensors"));
    let (ra, rb) = (read_records(&a), read_records(&b));
    assert_eq!(ra.len(), 3);
    for (x, y) in ra.iter().zip(&rb) {
        assert_eq!(
            (x.epoch, &x.architecture, x.train_loss),
            (y.epoch, &y.architecture, y.train_loss)
        );
        assert_eq!(x.arch_weights, y.arch_weights);
    }
    // The architecture weights moved during the search.
    let first = ra[0].arch_weights.as_ref().unwrap().to_string();
    assert_ne!(first, ra[2].arch_weights.as_ref().unwrap().to_string());
}

/// Stopped after epoch 0 and resumed, every registered optimizer (old and new) ends with the
/// same checkpoint and records as its uninterrupted run: all randomness (Gumbel noise, the ENAS
/// controller, the Hessian's start vector) comes from the run's seeded generators.
#[test]
fn every_registered_optimizer_resumes_bit_identically() {
    let _torch = common::torch_lock();
    let data = synthetic_data(32, 16);
    let tmp = tempfile::tempdir().unwrap();
    // DARTS-PT needs a run longer than its projection phase: tests/projection.rs resumes it
    // bit-identically in the middle of that phase.
    for r in oneshot::registry::REGISTRY
        .iter()
        .filter(|r| r.name != "darts" && r.name != "darts_pt")
    {
        let mut cfg = common::tiny_registered(r.name, 2);
        cfg.data.train_images = 16;
        cfg.data.valid_images = 16;
        cfg.epochs = 2;
        if r.name == "pc_darts" {
            cfg.model.init_channels = 8;
        }
        // Few power-iteration / PGD steps: the resume, not the quality, is under test.
        if cfg.options.contains_key("hessian") {
            common::set_option(&mut cfg, "hessian", "iterations", toml::Value::Integer(3));
            common::set_option(&mut cfg, "hessian", "tolerance", toml::Value::Float(1e-2));
        }
        if cfg.options.contains_key("adversarial") {
            common::set_option(&mut cfg, "adversarial", "steps", toml::Value::Integer(2));
        }
        let (a, b) = (
            tmp.path().join(format!("{}-a", r.name)),
            tmp.path().join(format!("{}-b", r.name)),
        );
        run_search(&cfg, &data, Some(&FakeTable), &a, &cpu_options()).unwrap();
        let stop = SearchOptions {
            stop_after: Some(1),
            ..cpu_options()
        };
        run_search(&cfg, &data, Some(&FakeTable), &b, &stop).unwrap();
        let resume = SearchOptions {
            resume: true,
            ..cpu_options()
        };
        let rest = run_search(&cfg, &data, Some(&FakeTable), &b, &resume).unwrap();
        assert_eq!(rest.status, RunStatus::Complete, "{}", r.name);
        let mut files = vec![
            "weights.safetensors",
            "arch.safetensors",
            "optimizers.safetensors",
        ];
        if r.name == "enas" {
            files.push("controller.safetensors");
        }
        for f in files {
            assert_eq!(file_bytes(&a, f), file_bytes(&b, f), "{}: {f}", r.name);
        }
        let (ra, rb) = (read_records(&a), read_records(&b));
        assert_eq!(ra.len(), 2, "{}", r.name);
        for (x, y) in ra.iter().zip(&rb) {
            assert_eq!(
                (&x.architecture, x.train_loss, &x.metrics, &x.arch_weights),
                (&y.architecture, y.train_loss, &y.metrics, &y.arch_weights),
                "{}",
                r.name
            );
        }
        if r.name.starts_with("darts_") {
            assert!(ra[1].metric("hessian_eigenvalue").is_some(), "{}", r.name);
        }
    }
}

#[test]
fn every_optimizer_writes_complete_epoch_records() {
    let _torch = common::torch_lock();
    let data = synthetic_data(48, 16);
    let tmp = tempfile::tempdir().unwrap();
    for (opt, space) in [
        (OptimizerKind::Gdas, 2u8),
        (OptimizerKind::PcDarts, 3),
        (OptimizerKind::RandomWs, 1),
        (OptimizerKind::Enas, 3),
    ] {
        let mut cfg = tiny(opt, space);
        cfg.epochs = 1;
        if opt == OptimizerKind::PcDarts {
            cfg.model.init_channels = 8;
        }
        let dir = tmp.path().join(opt.name());
        let out = run_search(&cfg, &data, Some(&FakeTable), &dir, &cpu_options()).unwrap();
        assert_eq!(out.status, RunStatus::Complete, "{opt:?}");
        let recs = read_records(&dir);
        assert_eq!(recs.len(), 1, "{opt:?}");
        let r = &recs[0];
        r.architecture.validate().unwrap();
        assert_eq!(r.architecture.space.number(), space);
        assert_eq!(
            (r.valid_errors.len(), r.test_errors.len()),
            (3, 3),
            "{opt:?}"
        );
        // The fake table's training seconds lie in [1000, 1001).
        let t = r.nb101_train_seconds.unwrap();
        assert!((1000.0..1001.0).contains(&t), "{opt:?}: {t}");
        let vr = r.valid_regret.unwrap();
        let mean = r.valid_errors.iter().sum::<f64>() / 3.0;
        assert!((vr - (mean - 0.05)).abs() < 1e-12);
        assert!(r.one_shot_valid_error >= 0.0 && r.one_shot_valid_error <= 1.0);
        assert!(r.train_loss.is_finite() && r.train_loss > 0.0);
        assert_eq!(r.metric("tau").is_some(), opt == OptimizerKind::Gdas);
        assert_eq!(
            r.arch_weights.is_some(),
            matches!(opt, OptimizerKind::Gdas | OptimizerKind::PcDarts)
        );
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
        assert_eq!(meta["optimizer"], opt.name());
        assert_eq!(meta["nb101_synthetic"], true);
        let cfg_back =
            oneshot::SearchConfig::load(Some(&dir.join("config.toml")), None, None).unwrap();
        assert_eq!(cfg_back, cfg);
        if opt == OptimizerKind::Enas {
            assert!(dir.join("checkpoint/controller.safetensors").is_file());
        }
    }
}

#[test]
fn divergence_stops_with_status_and_keeps_last_good_checkpoint() {
    let _torch = common::torch_lock();
    let data = synthetic_data(32, 8);
    let mut cfg = tiny(OptimizerKind::Darts, 3);
    cfg.epochs = 2;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let stop = SearchOptions {
        stop_after: Some(1),
        ..cpu_options()
    };
    run_search(&cfg, &data, None, &dir, &stop).unwrap();
    let good = file_bytes(&dir, "weights.safetensors");
    // Same run, but any loss now counts as divergence: epoch 1 must stop at its first step.
    let mut strict = cfg.clone();
    strict.divergence_loss = 1e-9;
    // The resume check compares configs, so install the stricter one as the run's own.
    std::fs::write(dir.join("config.toml"), strict.to_toml()).unwrap();
    let resume = SearchOptions {
        resume: true,
        ..cpu_options()
    };
    let err = run_search(&strict, &data, None, &dir, &resume).unwrap_err();
    assert!(
        matches!(err, OneShotError::Diverged { epoch: 1, .. }),
        "{err}"
    );
    let st = status(&dir);
    assert_eq!(st.status, RunStatus::Diverged);
    assert!(st.message.contains("epoch 1"), "{}", st.message);
    assert_eq!(st.epochs_done, 1);
    assert_eq!(file_bytes(&dir, "weights.safetensors"), good);
    assert_eq!(read_records(&dir).len(), 1);
}

/// `faithful.record_at_epoch_start`: the record of epoch e holds the architecture the epoch
/// started from (epoch 0 = the initialization), and kept checkpoints are named by the epochs
/// trained, as the original's `one_shot_model_e`. DARTS' selection draws no random numbers, so
/// the training is the same as nb1s1's convention, shifted by one epoch.
#[test]
fn original_epoch_indexing_records_the_state_an_epoch_starts_from() {
    let _torch = common::torch_lock();
    let data = synthetic_data(64, 16);
    let mut after = tiny(OptimizerKind::Darts, 1);
    after.keep_checkpoints = vec![1];
    let mut start = after.clone();
    start.faithful.record_at_epoch_start = true;
    start.keep_checkpoints = vec![0, 2];
    let tmp = tempfile::tempdir().unwrap();
    let (a, s) = (tmp.path().join("after"), tmp.path().join("start"));
    run_search(&after, &data, Some(&FakeTable), &a, &cpu_options()).unwrap();
    run_search(&start, &data, Some(&FakeTable), &s, &cpu_options()).unwrap();
    let (ra, rs) = (read_records(&a), read_records(&s));
    assert_eq!(rs.iter().map(|r| r.epoch).collect::<Vec<_>>(), [0, 1, 2]);
    // Start of epoch e+1 = end of epoch e; the last epoch's weights are never recorded.
    for e in 0..2 {
        assert_eq!(rs[e + 1].arch_weights, ra[e].arch_weights, "epoch {e}");
        assert_eq!(rs[e + 1].architecture, ra[e].architecture, "epoch {e}");
        assert_eq!(rs[e].train_loss, ra[e].train_loss, "epoch {e}");
    }
    assert_ne!(rs[0].arch_weights, ra[0].arch_weights);
    let weights = |d: &std::path::Path| std::fs::read(d.join("weights.safetensors")).unwrap();
    let kept = s.join("checkpoints");
    assert_eq!(
        weights(&kept.join("one_shot_model_2")),
        weights(&a.join("checkpoints/epoch1"))
    );
    let state0: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(kept.join("one_shot_model_0/state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state0["next_epoch"], 0);
    assert!(!kept.join("epoch1").exists() && !kept.join("one_shot_model_1").exists());
    // The correlation evaluation finds them under the same labels, the final rolling one as 3.
    let labels: Vec<usize> = oneshot::correlation::run_checkpoints(&s)
        .unwrap()
        .iter()
        .map(|c| c.epoch)
        .collect();
    assert_eq!(labels, [0, 2, 3]);
}
