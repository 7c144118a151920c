//! The recorder and the import on a synthetic NAS-Bench-101 table of each space.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use record::{
    from_original, import_folder, read_weights, ImportOptions, Lookup, Recorder, RunSpec,
};
use runfmt::{EpochRecord, ExternalKind, ExternalRunMeta, RunStatus, StatusFile};
use searchspace::{synthetic, SearchSpace, SpaceId, TopKTies};

fn lookup(space: SpaceId) -> Lookup {
    let sp = SearchSpace::new(space);
    let nb = synthetic::space_table(&sp, &[108], 7, Path::new("synthetic.tfrecord")).unwrap();
    Lookup::new(nb)
}

fn spec(space: SpaceId, method: &str) -> RunSpec {
    RunSpec {
        space,
        method: method.into(),
        seed: 3,
        settings: serde_json::json!({"lr": 0.025}),
        ties: TopKTies::LowerIndex,
        original_reference: false,
        epochs_total: 4,
        kind: ExternalKind::Recorded,
        source: None,
    }
}

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn records(dir: &Path) -> Vec<EpochRecord> {
    runfmt::read_jsonl(&dir.join("epochs.jsonl")).unwrap()
}

#[test]
fn records_epochs_like_the_search_and_reopens_without_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let space = SpaceId::Three;
    let sp = SearchSpace::new(space);
    let mut lk = lookup(space);
    let reference = lk.reference(space, false).unwrap();
    let archs: Vec<_> = [5u64, 900, 4000, 77]
        .iter()
        .map(|&i| sp.configuration(i).unwrap())
        .collect();
    let mut rec = Recorder::open(&run, &spec(space, "my-darts"), lk.clone()).unwrap();
    for (e, a) in archs.iter().take(2).enumerate() {
        let metrics = BTreeMap::from([("train_loss".to_string(), 1.5), ("tau".to_string(), 2.0)]);
        let r = rec.record(e, &sp.one_hot(a).unwrap(), metrics).unwrap();
        assert_eq!(&r.architecture, a);
        assert_eq!(r.valid_errors.len(), 3);
        let mean = r.test_errors.iter().sum::<f64>() / 3.0;
        assert!((r.test_regret.unwrap() - (mean - reference.min_test_error)).abs() < 1e-12);
        assert_eq!(r.train_loss, 1.5);
        assert!(r.one_shot_valid_error.is_nan() && r.lr.is_nan());
        assert_eq!(r.metric("tau"), Some(2.0));
    }
    let w = sp.one_hot(&archs[2]).unwrap();
    let err = rec.record(1, &w, BTreeMap::new()).unwrap_err().to_string();
    assert!(err.contains("epoch 1 is already recorded"), "{err}");
    let err = rec.record(3, &w, BTreeMap::new()).unwrap_err().to_string();
    assert!(err.contains("gap"), "{err}");
    drop(rec);

    // Another method in the same folder is refused; the same one continues.
    let err = Recorder::open(&run, &spec(space, "other"), lk.clone())
        .err()
        .unwrap();
    assert!(err.to_string().contains("method my-darts"), "{err}");
    let mut rec = Recorder::open(&run, &spec(space, "my-darts"), lk.clone()).unwrap();
    assert_eq!(rec.next_epoch(), 2);
    rec.record(2, &w, BTreeMap::new()).unwrap();
    rec.finish().unwrap();
    assert!(rec.record(3, &w, BTreeMap::new()).is_err());
    drop(rec);

    let recs = records(&run);
    assert_eq!(recs.iter().map(|r| r.epoch).collect::<Vec<_>>(), [0, 1, 2]);
    let status: StatusFile = runfmt::read_json(&run.join("status.json")).unwrap();
    assert_eq!(
        (status.status, status.epochs_done),
        (RunStatus::Complete, 3)
    );
    let meta: ExternalRunMeta = runfmt::read_json(&run.join("run.json")).unwrap();
    assert_eq!(meta.run.optimizer, "my-darts");
    assert_eq!(meta.external.kind, ExternalKind::Recorded);
    assert_eq!(meta.external.settings["lr"], 0.025);
    // The same run.json reads as the search's RunMeta.
    let plain: runfmt::RunMeta = runfmt::read_json(&run.join("run.json")).unwrap();
    assert_eq!(plain.seed, 3);
}

#[test]
fn bad_weights_and_names_are_refused_naming_epoch_and_array() {
    let space = SearchSpace::new(SpaceId::Three);
    let nan = read_weights(&data("space3_nan.obj")).unwrap();
    let err = from_original(&space, 4, &nan).unwrap_err().to_string();
    assert!(
        err.contains("epoch 4") && err.contains("inputs of node 2") && err.contains("NaN"),
        "{err}"
    );
    let short = read_weights(&data("space3_missing_array.obj")).unwrap();
    let err = from_original(&space, 0, &short).unwrap_err().to_string();
    assert!(err.contains("5 arrays") && err.contains("has 6"), "{err}");
    // Space-3 weights are the wrong shapes for space 1.
    let w3 = read_weights(&data("space3_p4.obj")).unwrap();
    let err = from_original(&SearchSpace::new(SpaceId::One), 0, &w3).unwrap_err();
    assert!(err.to_string().contains("arch_parameters()"), "{err}");
    let tmp = tempfile::tempdir().unwrap();
    let bad = Recorder::open(
        &tmp.path().join("r"),
        &spec(SpaceId::Three, "../up"),
        lookup(SpaceId::Three),
    );
    assert!(bad.is_err());
}

fn original_folder(root: &Path, name: &str, space: u8, files: &[&str]) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let config = serde_json::json!({
        "search_space": space.to_string(), "seed": 11,
        "save": format!("experiments/darts/search_space_{space}/search-x"),
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    for (e, f) in files.iter().enumerate() {
        std::fs::copy(data(f), dir.join(format!("one_shot_architecture_{e}.obj"))).unwrap();
    }
    dir
}

#[test]
fn imports_original_folders_once_and_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let dir = original_folder(
        tmp.path(),
        "darts-s1",
        1,
        &["space1_p3.obj", "space1_p4.obj"],
    );
    let mut lk = lookup(SpaceId::One);
    let opts = ImportOptions::default();
    let got = import_folder(&dir, &out, &mut lk, &opts).unwrap();
    assert_eq!(
        (got.method.as_str(), got.seed, got.recorded),
        ("darts", 11, 2)
    );
    let run = out.join("darts-s1");
    let recs = records(&run);
    assert_eq!(recs.len(), 2);
    // Both files hold the same weights: the same cell.
    assert_eq!(recs[0].architecture, recs[1].architecture);
    let meta: ExternalRunMeta = runfmt::read_json(&run.join("run.json")).unwrap();
    assert_eq!(meta.external.kind, ExternalKind::Imported);
    // A second import adds nothing.
    let again = import_folder(&dir, &out, &mut lk, &opts).unwrap();
    assert_eq!((again.recorded, again.kept), (0, 2));
    assert_eq!(records(&run).len(), 2);
    // A gap in the epoch files, a malicious pickle and a wrong space are errors.
    let gap = original_folder(tmp.path(), "gap", 1, &["space1_p3.obj"]);
    std::fs::copy(
        data("space1_p3.obj"),
        gap.join("one_shot_architecture_2.obj"),
    )
    .unwrap();
    let err = import_folder(&gap, &out, &mut lk, &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("one_shot_architecture_1.obj is missing"),
        "{err}"
    );
    let evil = original_folder(tmp.path(), "evil", 1, &["evil_os_system.obj"]);
    let err = import_folder(&evil, &out, &mut lk, &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("refused") && err.contains("one_shot_architecture_0.obj"),
        "{err}"
    );
    let wrong = original_folder(tmp.path(), "wrong", 1, &["space3_p4.obj"]);
    let err = import_folder(&wrong, &out, &mut lk, &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("epoch 0") && err.contains("arch_parameters()"),
        "{err}"
    );
}

/// An epoch file that is a link to /dev/zero or a FIFO is refused by the bounded reader (no
/// hang, no read until memory runs out), naming the file; nothing is imported.
#[test]
fn epoch_files_that_are_links_or_fifos_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut lk = lookup(SpaceId::One);
    let opts = ImportOptions::default();
    let zero = original_folder(tmp.path(), "zero", 1, &["space1_p3.obj"]);
    std::os::unix::fs::symlink("/dev/zero", zero.join("one_shot_architecture_1.obj")).unwrap();
    let err = import_folder(&zero, &out, &mut lk, &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("one_shot_architecture_1.obj") && err.contains("symbolic link"),
        "{err}"
    );
    let fifo = original_folder(tmp.path(), "fifo", 1, &["space1_p3.obj"]);
    let path = fifo.join("one_shot_architecture_1.obj");
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success());
    let err = import_folder(&fifo, &out, &mut lk, &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("one_shot_architecture_1.obj") && err.contains("FIFO"),
        "{err}"
    );
    assert!(!out.join("zero").join("epochs.jsonl").exists());
}

/// A space-3 run of `method` in a fresh folder with `epochs` epochs recorded (one cell's
/// one-hot weights each): the folder, its table and the weights.
fn recorded_run(
    method: &str,
    epochs: usize,
) -> (
    tempfile::TempDir,
    PathBuf,
    Lookup,
    searchspace::ArchitectureWeights,
) {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let sp = SearchSpace::new(SpaceId::Three);
    let lk = lookup(SpaceId::Three);
    let w = sp.one_hot(&sp.configuration(5).unwrap()).unwrap();
    let mut rec = Recorder::open(&run, &spec(SpaceId::Three, method), lk.clone()).unwrap();
    for e in 0..epochs {
        rec.record(e, &w, BTreeMap::new()).unwrap();
    }
    (tmp, run, lk, w)
}

/// A kill during an append leaves the last record without its newline: reopening cuts it, so
/// that epoch is recorded again on a line of its own and the file stays readable.
#[test]
fn a_torn_last_record_is_cut_on_reopen() {
    let (_tmp, run, lk, w) = recorded_run("torn", 2);
    let path = run.join("epochs.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    // Epoch 1's record whole but for its newline: it parses, yet the next append would join it.
    std::fs::write(&path, text.trim_end_matches('\n')).unwrap();
    let mut rec = Recorder::open(&run, &spec(SpaceId::Three, "torn"), lk).unwrap();
    assert_eq!(rec.next_epoch(), 1);
    rec.record(1, &w, BTreeMap::new()).unwrap();
    rec.record(2, &w, BTreeMap::new()).unwrap();
    drop(rec);
    let epochs: Vec<usize> = records(&run).iter().map(|r| r.epoch).collect();
    assert_eq!(epochs, [0, 1, 2]);
}

/// Epochs measured against another regret reference (the paper's constants instead of the
/// table's) would not be comparable with those recorded: reopening so is refused.
#[test]
fn reopening_against_another_regret_reference_is_refused() {
    let (_tmp, run, lk, _) = recorded_run("ref", 1);
    let mut paper = spec(SpaceId::Three, "ref");
    paper.original_reference = true;
    let err = Recorder::open(&run, &paper, lk.clone()).err().unwrap();
    assert!(err.to_string().contains("regret reference"), "{err}");
    // The same settings still continue the run.
    let rec = Recorder::open(&run, &spec(SpaceId::Three, "ref"), lk).unwrap();
    assert_eq!(rec.next_epoch(), 1);
}
