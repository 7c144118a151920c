//! A run folder's state is checked, not trusted (#13): resume refuses epoch records that
//! disagree with the checkpoint, a second writer, a changed NAS-Bench-101 table and damaged
//! checkpoint bytes; a supernet too large to allocate is an error, not a crash.

mod common;

use std::fs;
use std::path::Path;

use common::{cpu_options, synthetic_data, tiny, FakeTable};
use oneshot::run_dir::RunStatus;
use oneshot::{run_search, OneShotError, OptimizerKind, SearchConfig, SearchOptions};

fn resume() -> SearchOptions {
    SearchOptions {
        resume: true,
        ..cpu_options()
    }
}

/// A two-epoch DARTS run stopped after epoch 1 of 2, in `dir`.
fn stopped_run(dir: &Path) -> SearchConfig {
    let mut cfg = tiny(OptimizerKind::Darts, 1);
    cfg.epochs = 2;
    let stop = SearchOptions {
        stop_after: Some(1),
        ..cpu_options()
    };
    let data = synthetic_data(64, 16);
    let out = run_search(&cfg, &data, Some(&FakeTable), dir, &stop).unwrap();
    assert_eq!(out.status, RunStatus::Running);
    cfg
}

fn resume_err(cfg: &SearchConfig, dir: &Path) -> String {
    let data = synthetic_data(64, 16);
    let err = run_search(cfg, &data, Some(&FakeTable), dir, &resume())
        .expect_err("the resume must be refused");
    let status = fs::read_to_string(dir.join("status.json")).unwrap();
    assert!(!status.contains("\"complete\""), "{status}");
    err.to_string()
}

#[test]
fn resume_refuses_epoch_records_that_disagree_with_the_checkpoint() {
    let _torch = common::torch_lock();
    let tmp = tempfile::tempdir().unwrap();
    // An emptied epochs.jsonl while the checkpoint is past epoch 0.
    let dir = tmp.path().join("emptied");
    let cfg = stopped_run(&dir);
    fs::write(dir.join("epochs.jsonl"), "").unwrap();
    let err = resume_err(&cfg, &dir);
    assert!(
        err.contains("epochs.jsonl") && err.contains("next_epoch"),
        "{err}"
    );
    // A garbled first line.
    let dir = tmp.path().join("garbled");
    let cfg = stopped_run(&dir);
    let text = fs::read_to_string(dir.join("epochs.jsonl")).unwrap();
    fs::write(dir.join("epochs.jsonl"), format!("x{text}")).unwrap();
    let err = resume_err(&cfg, &dir);
    assert!(err.contains("line 1"), "{err}");
    // An edited `next_epoch` past the records.
    let dir = tmp.path().join("edited");
    let cfg = stopped_run(&dir);
    let state = dir.join("checkpoint/state.json");
    let text = fs::read_to_string(&state).unwrap();
    fs::write(
        &state,
        text.replace("\"next_epoch\": 1", "\"next_epoch\": 2"),
    )
    .unwrap();
    let err = resume_err(&cfg, &dir);
    assert!(err.contains("0..1"), "{err}");
}

#[test]
fn a_second_writer_is_refused_with_the_holders_pid() {
    let _torch = common::torch_lock();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let cfg = stopped_run(&dir);
    let held = runfmt::RunLock::acquire(&dir).unwrap();
    let err = resume_err(&cfg, &dir);
    assert!(
        err.contains(&std::process::id().to_string()) && err.contains("run.lock"),
        "{err}"
    );
    drop(held);
    let data = synthetic_data(64, 16);
    let done = run_search(&cfg, &data, Some(&FakeTable), &dir, &resume()).unwrap();
    assert_eq!(done.status, RunStatus::Complete);
    assert_eq!(done.records.len(), 2);
}

#[test]
fn resume_without_the_table_the_run_started_with_is_refused() {
    let _torch = common::torch_lock();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let cfg = stopped_run(&dir);
    let data = synthetic_data(64, 16);
    let err = run_search(&cfg, &data, None, &dir, &resume())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--nb101") && err.contains("nb101_path"),
        "{err}"
    );
}

#[test]
fn damaged_checkpoint_bytes_are_refused_as_corrupt() {
    let _torch = common::torch_lock();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let cfg = stopped_run(&dir);
    // Overwrite bytes near the end (tensor data), leaving the safetensors header intact.
    let p = dir.join("checkpoint/weights.safetensors");
    let mut bytes = fs::read(&p).unwrap();
    let n = bytes.len();
    for b in &mut bytes[n - 64..] {
        *b = 0xff;
    }
    fs::write(&p, bytes).unwrap();
    let err = resume_err(&cfg, &dir);
    assert!(
        err.contains("corrupt checkpoint") && err.contains("weights.safetensors"),
        "{err}"
    );
}

#[test]
fn a_supernet_too_large_to_allocate_is_an_error_naming_the_setting() {
    let _torch = common::torch_lock();
    let mut cfg = tiny(OptimizerKind::Darts, 1);
    // C² weights of 4e14 bytes exceed the 47-bit address space, so the allocation fails under
    // any overcommit policy (the 3·3·3·C stem before it is 1 GB).
    cfg.model.init_channels = 10_000_000;
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_data(64, 16);
    let err = run_search(&cfg, &data, None, tmp.path(), &cpu_options()).unwrap_err();
    assert!(matches!(err, OneShotError::TorchFailed { .. }), "{err:?}");
    assert!(
        err.to_string().contains("init_channels = 10000000"),
        "{err}"
    );
}

#[test]
fn more_images_than_the_split_holds_are_refused() {
    let _torch = common::torch_lock();
    let mut cfg = tiny(OptimizerKind::Darts, 1);
    cfg.data.train_images = 10_000;
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_data(64, 16);
    let err = run_search(&cfg, &data, None, tmp.path(), &cpu_options())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("data.train_images") && err.contains("10000"),
        "{err}"
    );
}
