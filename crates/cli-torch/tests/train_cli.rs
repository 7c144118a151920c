//! `nb1s1 nb101 params` (no table needed), the cell sources of `nb1s1 train` (`--spec`,
//! `--hash`, `--from-run`, `--space`; resolved with `--dry-run`) and their errors.

use std::path::{Path, PathBuf};
use std::process::Command;

fn nb1s1(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nb1s1-torch"))
        .args(args)
        .output()
        .expect("run nb1s1")
}

const INCEPTION: &str = r#"{"matrix": [[0,1,1,1,1,0,0],[0,0,0,0,0,0,1],[0,0,0,0,0,0,1],[0,0,0,0,0,0,1],[0,0,0,0,0,1,0],[0,0,0,0,0,0,1],[0,0,0,0,0,0,0]], "ops": ["input","conv3x3-bn-relu","conv1x1-bn-relu","maxpool3x3","conv3x3-bn-relu","conv3x3-bn-relu","output"]}"#;

#[test]
fn params_gives_the_recorded_count_without_a_table() {
    let out = nb1s1(&["nb101", "params", "--spec", INCEPTION]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2694282");
    let out = nb1s1(&[
        "nb101",
        "params",
        "--matrix",
        "0110/0001/0001/0000",
        "--ops",
        "input,conv3x3-bn-relu,maxpool3x3,output",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["vertex_channels"][0],
        serde_json::json!([128, 64, 64, 128])
    );
}

#[test]
fn params_and_train_refuse_bad_cells_with_the_reason() {
    let out = nb1s1(&[
        "nb101",
        "params",
        "--matrix",
        "0110/0001/0001/0000",
        "--ops",
        "input,conv3x3-bn-relu,maxpool3x3,output",
        "--channels",
        "1",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("bad_network"));
    let tmp = tempfile::tempdir().unwrap();
    let out = nb1s1(&[
        "train",
        "--spec",
        r#"{"matrix": [[0,0],[0,0]], "ops": ["input","output"]}"#,
        "--out",
        tmp.path().to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("disconnected"), "{err}");
}

/// A fixture of `../shared/fixtures/nb101`; absent in CI is a failure.
fn fixture(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/nb101")
        .join(name);
    if p.is_file() {
        return Some(p);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "NB-101 fixture absent in CI: {}",
        p.display()
    );
    eprintln!("SKIPPED (fixture absent): {}", p.display());
    None
}

/// `train ... --dry-run` as JSON, or the failure's stderr.
fn dry_run(args: &[&str]) -> Result<serde_json::Value, String> {
    let tmp = tempfile::tempdir().unwrap();
    let mut all = vec!["train", "--out", tmp.path().to_str().unwrap(), "--dry-run"];
    all.extend_from_slice(args);
    let out = nb1s1(&all);
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("dry run prints JSON"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn train_hash_takes_the_cell_from_the_table() {
    let Some(table) = fixture("real_30_only108.tfrecord") else {
        return;
    };
    let t = table.to_str().unwrap();
    let v = dry_run(&["--hash", "ff92c322c5d9d3d587d9c146a63d0807", "--nb101", t]).unwrap();
    assert_eq!(v["hash"], "ff92c322c5d9d3d587d9c146a63d0807");
    // The record's `trainable_parameters` (expected.json) for the default network.
    assert_eq!(v["trainable_parameters"], 6315018);
    assert_eq!(v["origin"]["source"], "nb101");
    assert_eq!(v["config"]["epochs"], 108);
    // The record's mean test error at 108 epochs goes into run.json.
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("expected.json").unwrap()).unwrap())
            .unwrap();
    let reps = expected["models"]["ff92c322c5d9d3d587d9c146a63d0807"]["computed_stats"]["108"]
        .as_array()
        .unwrap();
    let mean_err = reps
        .iter()
        .map(|r| 1.0 - r["final_test_accuracy"].as_f64().unwrap())
        .sum::<f64>()
        / reps.len() as f64;
    let got = v["nb101"]["test_error"]["108"].as_f64().unwrap();
    assert!((got - mean_err).abs() < 1e-12, "{got} vs {mean_err}");
    // An unknown hash names itself and the file; a malformed one says what a hash is.
    let e = dry_run(&["--hash", "00000000000000000000000000000000", "--nb101", t]).unwrap_err();
    assert!(
        e.contains("00000000000000000000000000000000") && e.contains("real_30_only108"),
        "{e}"
    );
    let e = dry_run(&["--hash", "xyz", "--nb101", t]).unwrap_err();
    assert!(e.contains("--hash xyz") && e.contains("32-digit"), "{e}");
    let e = dry_run(&[
        "--hash",
        "ff92c322c5d9d3d587d9c146a63d0807",
        "--nb101",
        "/nonexistent.tfrecord",
    ])
    .unwrap_err();
    assert!(e.contains("/nonexistent.tfrecord"), "{e}");
}

/// A search run folder whose epochs chose `archs` (one record per epoch), as `nb1s1 search`
/// writes it.
fn search_run(dir: &Path, archs: &[searchspace::Architecture]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut lines = String::new();
    for (epoch, a) in archs.iter().enumerate() {
        let rec = runfmt::EpochRecord {
            epoch,
            architecture: a.clone(),
            nb101_hash: a.to_spec().ok().map(|s| s.hash().unwrap().to_string()),
            valid_errors: vec![],
            test_errors: vec![],
            valid_regret: None,
            test_regret: None,
            nb101_train_seconds: None,
            other_budgets: Default::default(),
            one_shot_valid_error: 0.5,
            train_loss: 1.0,
            train_accuracy: 0.5,
            lr: 0.01,
            metrics: Default::default(),
            arch_weights: None,
            seconds: 1.0,
        };
        lines.push_str(&serde_json::to_string(&rec).unwrap());
        lines.push('\n');
    }
    std::fs::write(dir.join("epochs.jsonl"), lines).unwrap();
    std::fs::write(
        dir.join("run.json"),
        r#"{"optimizer": "gdas", "space": 2, "seed": 0, "device": "cpu", "epochs": 2,
            "cifar10": "x", "nb101_path": null, "nb101_synthetic": null,
            "regret_reference": null, "nb1s1_version": "0"}"#,
    )
    .unwrap();
}

#[test]
fn train_from_run_takes_the_architecture_of_the_chosen_epoch() {
    let cands = oneshot::correlation::candidates(searchspace::SpaceId::Two, 2, 5);
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("search");
    search_run(
        &run,
        &[cands[0].architecture.clone(), cands[1].architecture.clone()],
    );
    let r = run.to_str().unwrap();
    let last = dry_run(&["--from-run", r]).unwrap();
    assert_eq!(last["hash"], cands[1].hash.to_string());
    assert_eq!(last["origin"]["epoch"], 1);
    assert_eq!(last["origin"]["optimizer"], "gdas");
    assert_eq!(last["origin"]["space"], 2);
    let first = dry_run(&["--from-run", r, "--epoch", "0"]).unwrap();
    assert_eq!(first["hash"], cands[0].hash.to_string());

    // A run without that epoch, a folder without records, no folder, a damaged file.
    let e = dry_run(&["--from-run", r, "--epoch", "7"]).unwrap_err();
    assert!(
        e.contains("no record of epoch 7") && e.contains("0..=1"),
        "{e}"
    );
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = dry_run(&["--from-run", empty.to_str().unwrap()]).unwrap_err();
    assert!(e.contains("no epochs.jsonl"), "{e}");
    let e = dry_run(&["--from-run", "/nonexistent/run"]).unwrap_err();
    assert!(
        e.contains("/nonexistent/run") && e.contains("no such run folder"),
        "{e}"
    );
    std::fs::write(run.join("epochs.jsonl"), "{\"epoch\": 0}\n{}\n").unwrap();
    let e = dry_run(&["--from-run", r]).unwrap_err();
    assert!(e.contains("epochs.jsonl") && e.contains("line 1"), "{e}");
    // `--epoch` only goes with `--from-run`.
    let e = dry_run(&["--spec", INCEPTION, "--epoch", "1"]).unwrap_err();
    assert!(e.contains("--epoch goes with --from-run"), "{e}");
}

#[test]
fn train_space_takes_the_correlation_sample_architecture() {
    let cands = oneshot::correlation::candidates(searchspace::SpaceId::One, 4, 2);
    let v = dry_run(&[
        "--space",
        "1",
        "--sample",
        "4",
        "--sample-seed",
        "2",
        "--index",
        "3",
    ])
    .unwrap();
    assert_eq!(v["hash"], cands[3].hash.to_string());
    assert_eq!(v["origin"]["source"], "sample");
    assert_eq!(v["origin"]["index"], 3);
    let e = dry_run(&["--space", "1", "--sample", "4", "--index", "4"]).unwrap_err();
    assert!(
        e.contains("--index 4") && e.contains("4 architectures"),
        "{e}"
    );
    assert!(dry_run(&["--space", "4", "--index", "0"]).is_err());
}
