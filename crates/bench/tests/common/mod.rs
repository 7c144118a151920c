//! Shared test helpers: a fake `nb1s1` launcher (a shell script that writes run folders the way
//! `nb1s1 search` / `nb1s1 blackbox` do, resuming what it finds) and run-folder fabrication.

#![allow(dead_code)]

use nb1s1_bench::runner::{Launcher, RunnerOptions};
use nb1s1_bench::tune::{self, LocalBackend};
use std::path::{Path, PathBuf};

/// The fake `nb1s1`: `search` writes `epochs` epochs (resuming), `blackbox` writes seed folders.
/// Optimizer `flaky` fails its first attempt, `broken` always fails. Every start and completion
/// is appended to `$FAKE_LOG`.
pub const FAKE_NB1S1: &str = r#"#!/bin/sh
cmd=$1; shift
while [ $# -gt 0 ]; do
  case $1 in
    --optimizer) opt=$2; shift;; --space) space=$2; shift;; --seed) seed=$2; shift;;
    --seeds) seeds=$2; shift;; --out) out=$2; shift;; --config) config=$2; shift;;
    --queries) queries=$2; shift;;
  esac
  shift
done
epochs=${FAKE_EPOCHS:-4}
if [ "$cmd" = search ]; then
  mkdir -p "$out"
  echo "start $out" >> "$FAKE_LOG"
  if [ "$opt" = broken ]; then echo "boom: broken optimizer" >&2; exit 3; fi
  if [ "$opt" = flaky ] && [ ! -f "$out/.flaked" ]; then touch "$out/.flaked"; echo "flake" >&2; exit 1; fi
  grep -q weight_decay "$config" 2>/dev/null && wd=1 || wd=0
  printf 'optimizer = "%s"\nspace = %s\nseed = %s\nepochs = %s\n' "$opt" "$space" "$seed" "$epochs" > "$out/config.toml"
  [ -f "$config" ] && grep -Ev '^(optimizer|space|seed|epochs) *=' "$config" >> "$out/config.toml"
  printf '{"status": "running", "message": ""}' > "$out/status.tmp" && mv "$out/status.tmp" "$out/status.json"
  done_epochs=0
  [ -f "$out/epochs.jsonl" ] && done_epochs=$(wc -l < "$out/epochs.jsonl")
  e=$done_epochs
  while [ "$e" -lt "$epochs" ]; do
    sleep ${FAKE_SLEEP:-0.05}
    r=$(( (seed + 1) * 100 + epochs - e ))
    m=""
    [ "$opt" = gdas ] && m=", \"metrics\": {\"tau\": $((10 - e))}"
    printf '{"epoch": %s, "architecture": {"space": 1, "ops": ["conv3x3-bn-relu", "maxpool3x3"], "parents": [[0], [0, 1], [1, 2]]}, "nb101_hash": "h%s", "valid_errors": [0.1, 0.1, 0.1], "test_errors": [0.11, 0.11, 0.11], "valid_regret": 0.0%s, "test_regret": 0.0%s, "one_shot_valid_error": 0.5, "train_loss": 1.0, "train_accuracy": 0.5, "lr": 0.1, "seconds": 2.0%s}\n' "$e" "$r" "$r" "$r" "$m" >> "$out/epochs.jsonl"
    e=$((e + 1))
  done
  printf '{"status": "complete", "message": "wd=%s"}' "$wd" > "$out/status.tmp" && mv "$out/status.tmp" "$out/status.json"
  echo "complete $out" >> "$FAKE_LOG"
  exit 0
fi
if [ "$cmd" = blackbox ]; then
  first=${seeds%%..*}; end=${seeds##*..}
  s=$first
  while [ "$s" -lt "$end" ]; do
    d="$out/$opt/space$space/seed$s"; mkdir -p "$d"
    q=0; : > "$d/trajectory.jsonl"
    while [ "$q" -lt "${queries:-5}" ]; do
      printf '{"query": %s, "simulated_seconds": %s000, "hash": "b%s", "valid_error": 0.1, "test_error": 0.1, "incumbent_valid_error": 0.1, "incumbent_test_error": 0.1, "incumbent_test_regret": 0.0%s, "incumbent_valid_regret": 0.01}\n' "$q" "$((q + 1))" "$q" "$((9 - q))" >> "$d/trajectory.jsonl"
      q=$((q + 1))
    done
    printf '{"optimizer": "%s", "space": %s, "seed": %s, "queries": %s, "complete": true}' "$opt" "$space" "$s" "${queries:-5}" > "$d/run.json"
    echo "complete $d" >> "$FAKE_LOG"
    s=$((s + 1))
  done
  exit 0
fi
exit 2
"#;

/// Writes the fake launcher into `dir` and returns its path.
pub fn fake_launcher(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("fake-nb1s1.sh");
    std::fs::write(&path, FAKE_NB1S1).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Writes a complete one-shot run folder with per-epoch regrets `test_regret[e]`.
pub fn write_oneshot_run(dir: &Path, optimizer: &str, space: u8, seed: u64, test_regret: &[f64]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!("optimizer = \"config-name-run-json-wins\"\nspace = {space}\nseed = {seed}\n"),
    )
    .unwrap();
    let mut lines = String::new();
    for (e, r) in test_regret.iter().enumerate() {
        let rec = serde_json::json!({
            "epoch": e,
            "architecture": {"space": 3, "ops": ["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "conv3x3-bn-relu", "conv3x3-bn-relu"],
                             "parents": [[0], [1], [2], [0, 3], [1, 4], [4, 5]]},
            "nb101_hash": format!("hash{seed}e{e}"),
            "valid_errors": [0.06 + r, 0.06 + r, 0.06 + r],
            "test_errors": [0.06 + r, 0.06 + r, 0.06 + r],
            "valid_regret": r / 2.0,
            "test_regret": r,
            "one_shot_valid_error": 0.5 - 0.01 * e as f64,
            "train_loss": 1.0,
            "train_accuracy": 0.5,
            "lr": 0.01,
            "seconds": 10.0,
            "nb101_train_seconds": 100.0 * (e + 1) as f64,
        });
        lines.push_str(&rec.to_string());
        lines.push('\n');
    }
    std::fs::write(dir.join("epochs.jsonl"), lines).unwrap();
    std::fs::write(
        dir.join("status.json"),
        r#"{"status": "complete", "message": "", "epochs_done": 1}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("run.json"),
        format!(r#"{{"device": "cpu (test)", "optimizer": "{optimizer}"}}"#),
    )
    .unwrap();
}

/// Writes a complete black-box seed folder whose incumbent regret falls from 0.05 to 0.01.
pub fn write_blackbox_run(dir: &Path, optimizer: &str, space: u8, seed: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let mut lines = String::new();
    for q in 0..5 {
        let regret = 0.05 - 0.01 * q as f64;
        let rec = serde_json::json!({
            "query": q, "simulated_seconds": 1000.0 * (q + 1) as f64, "hash": format!("b{q}"),
            "valid_error": 0.1, "test_error": 0.1, "incumbent_valid_error": 0.1,
            "incumbent_test_error": 0.06 + regret, "incumbent_test_regret": regret,
            "incumbent_valid_regret": regret,
        });
        lines.push_str(&rec.to_string());
        lines.push('\n');
    }
    std::fs::write(dir.join("trajectory.jsonl"), lines).unwrap();
    std::fs::write(
        dir.join("run.json"),
        format!(
            r#"{{"optimizer": "{optimizer}", "space": {space}, "seed": {seed}, "complete": true}}"#
        ),
    )
    .unwrap();
}

/// A fake `nb1s1 search`: `epochs` records (resuming what is there), whose NB-101 validation
/// errors are lowest for a weight decay of 1e-4 and fall with the budget.
pub const FAKE_TUNE_SEARCH: &str = r#"#!/bin/sh
cmd=$1; shift
while [ $# -gt 0 ]; do
  case $1 in --out) out=$2; shift;; --config) config=$2; shift;; esac
  shift
done
[ "$cmd" = search ] || exit 2
mkdir -p "$out"
echo "start $out" >> "$FAKE_LOG"
epochs=$(awk '/^\[/{sec=$0} sec=="" && $1=="epochs"{print $3}' "$config")
wd=$(awk '/^\[/{sec=$0} sec=="[weights]" && $1=="weight_decay"{print $3}' "$config")
loss=$(awk -v wd="$wd" -v e="$epochs" 'BEGIN{l=log(wd)/log(10)+4; if(l<0)l=-l; printf "%.6f", 0.05+0.05*l+0.1/e}')
cp "$config" "$out/config.toml"
printf '{"status": "running", "message": ""}' > "$out/status.json"
e=0
[ -f "$out/epochs.jsonl" ] && e=$(wc -l < "$out/epochs.jsonl")
while [ "$e" -lt "$epochs" ]; do
  sleep ${FAKE_SLEEP:-0}
  printf '{"epoch": %s, "architecture": {"space": 1, "ops": ["conv3x3-bn-relu", "maxpool3x3"], "parents": [[0], [0, 1], [1, 2]]}, "nb101_hash": "h", "valid_errors": [%s, %s, %s], "test_errors": [0.1, 0.1, 0.1], "valid_regret": 0.01, "test_regret": 0.01, "one_shot_valid_error": 0.5, "train_loss": 1.0, "train_accuracy": 0.5, "lr": 0.1, "seconds": 2.0}\n' "$e" "$loss" "$loss" "$loss" >> "$out/epochs.jsonl"
  e=$((e + 1))
done
printf '{"status": "complete", "message": ""}' > "$out/status.tmp" && mv "$out/status.tmp" "$out/status.json"
echo "complete $out" >> "$FAKE_LOG"
"#;

/// The tuner's local backend over [`FAKE_TUNE_SEARCH`], logging to `log`.
pub fn tune_backend(dir: &Path, out: &Path, log: &Path, sleep: &str) -> LocalBackend {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("fake-search.sh");
    std::fs::write(&script, FAKE_TUNE_SEARCH).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    LocalBackend {
        out: out.to_path_buf(),
        launcher: Launcher {
            program: "env".into(),
            prefix_args: vec![
                format!("FAKE_LOG={}", log.display()),
                format!("FAKE_SLEEP={sleep}"),
                script.to_string_lossy().into_owned(),
            ],
        },
        options: RunnerOptions {
            workers: 2,
            gpus: Vec::new(),
            max_retries: 0,
            experiment: tune::EXPERIMENT.into(),
        },
        observer: Box::new(|_| {}),
    }
}

/// Writes a complete stand-alone training folder (`nb1s1 train`) of cell `hash` sampled from
/// `space`, on a network of `channels` stem channels and `cells` cells per stack, with
/// (valid, test) accuracies per epoch; NB-101 records the cell's test error at 108 epochs as
/// `nb101_test_error`.
pub fn write_standalone_run(
    dir: &Path,
    hash: &str,
    space: u8,
    (channels, cells): (u64, u64),
    seed: u64,
    accuracies: &[(f64, f64)],
    nb101_test_error: f64,
) {
    std::fs::create_dir_all(dir).unwrap();
    let meta = serde_json::json!({
        "cell": {"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"], "hash": hash},
        "origin": {"source": "sample", "space": space, "sample": 8, "seed": 0, "index": 0},
        "config": {"network": {"stem_channels": channels, "stacks": 3, "cells_per_stack": cells,
                               "num_labels": 10},
                   "epochs": accuracies.len(), "seed": seed, "batch_size": 64},
        "nb101": {"file": "nb101.store", "test_error": {"108": nb101_test_error},
                  "valid_error": {"108": nb101_test_error + 0.005}},
        "trainable_parameters": 1234,
        "vertex_channels": [[channels, channels]],
        "data": "test",
        "nb1s1_version": "0",
    });
    std::fs::write(dir.join("run.json"), meta.to_string()).unwrap();
    let mut lines = String::new();
    for (e, (valid, test)) in accuracies.iter().enumerate() {
        let rec = serde_json::json!({
            "epoch": e, "steps": 10 * (e + 1), "lr": 0.1, "train_loss": 2.0 - e as f64 * 0.1,
            "train_accuracy": 0.3, "valid_accuracy": valid, "test_accuracy": test,
            "seconds": 1.5,
        });
        lines.push_str(&rec.to_string());
        lines.push('\n');
    }
    std::fs::write(dir.join("epochs.jsonl"), lines).unwrap();
    std::fs::write(
        dir.join("status.json"),
        format!(
            r#"{{"status": "complete", "message": "", "epochs_done": {n}, "epochs_total": {n}}}"#,
            n = accuracies.len()
        ),
    )
    .unwrap();
}
