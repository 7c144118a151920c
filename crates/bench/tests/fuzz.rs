//! Fuzz targets for the user-facing parsers of the results side, run for a fixed number of cases
//! in the normal test suite: experiment files (TOML, then the expansion into runs), and run
//! folders (`run.json`, `status.json`, `epochs.jsonl` through runfmt's reader, `config.toml`,
//! `experiment.json`) as the store reads them. Each input gives a value or an error, never a
//! panic, and an expansion never exceeds the documented limit.

use nb1s1_bench::experiment::{Experiment, MAX_UNITS};
use nb1s1_bench::runs::{self, EpochRecord, StatusFile};
use proptest::prelude::*;
use std::path::Path;

const EXPERIMENT: &str = r#"name = "fz"
max_retries = 1
[[study]]
name = "wd"
kind = "oneshot"
optimizers = ["darts", "gdas"]
spaces = [1, 3]
seeds = "0..3"
base = "none"
[study.grid]
"weights.weight_decay" = [1e-4, 3e-4]
[[study]]
name = "bb"
kind = "blackbox"
optimizers = ["re"]
spaces = [2]
seeds = "10..14"
seeds_per_run = 2
queries = 5
"#;

const EPOCH: &str = r#"{"epoch": 0, "architecture": {"space": 1, "ops": ["conv3x3-bn-relu", "maxpool3x3"], "parents": [[0], [0, 1], [1, 2]]}, "nb101_hash": "h", "valid_errors": [0.1, 0.1, 0.1], "test_errors": [0.1, 0.1, 0.1], "valid_regret": 0.01, "test_regret": 0.01, "one_shot_valid_error": 0.5, "train_loss": 1.0, "train_accuracy": 0.5, "lr": 0.1, "seconds": 1.0, "metrics": {"tau": 3.0}}
{"epoch": 1, "architecture": {"space": 1, "ops": ["conv3x3-bn-relu", "maxpool3x3"], "parents": [[0], [0, 1], [1, 2]]}, "nb101_hash": null, "valid_errors": [], "test_errors": [], "valid_regret": null, "test_regret": null, "one_shot_valid_error": 0.5, "train_loss": 1.0, "train_accuracy": 0.5, "lr": 0.1, "seconds": 1.0}
"#;

const RUN_JSON: &str = r#"{"optimizer": "darts", "space": 1, "seed": 3, "device": "cpu", "epochs": 2, "nb101_synthetic": false}"#;
const STATUS: &str = r#"{"status": "complete", "message": "", "epochs_done": 2, "epochs_total": 2, "updated_unix": 5}"#;
const CONFIG: &str =
    "optimizer = \"darts\"\nspace = 1\nseed = 3\nepochs = 2\n[weights]\nlr = 0.025\n";
const TAG: &str = r#"{"experiment": "e", "study": "s", "variant": "default", "device": "cpu"}"#;

/// `base` with a few bytes replaced, inserted or removed (mostly still near-valid input).
fn mutated(base: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let edit = (any::<usize>(), any::<u8>(), 0..3u8);
    proptest::collection::vec(edit, 0..6).prop_map(move |edits| {
        let mut b = base.as_bytes().to_vec();
        for (at, byte, how) in edits {
            let i = at % (b.len() + 1);
            match how {
                0 if i < b.len() => b[i] = byte,
                1 => b.insert(i, byte),
                _ if i < b.len() => {
                    b.remove(i);
                }
                _ => {}
            }
        }
        b
    })
}

/// Valid-looking experiment text with extreme values in the places that size the expansion.
fn extreme_experiment() -> impl Strategy<Value = String> {
    let num = prop_oneof![
        0u64..5,
        Just(u64::MAX),
        Just(u64::MAX - 1),
        Just(i64::MAX as u64),
        Just(100_000_000u64),
    ];
    (
        "[a-z./]{0,6}",
        num.clone(),
        num,
        1usize..5,
        0usize..4,
        0u64..3,
    )
        .prop_map(|(name, a, b, grid_values, grid_keys, queries)| {
            let values: Vec<String> = (0..grid_values).map(|v| v.to_string()).collect();
            let grid: Vec<String> = (0..grid_keys)
                .map(|k| format!("\"k{k}\" = [{}]", values.join(", ")))
                .collect();
            format!(
                "name = {name:?}\n[[study]]\nname = \"s\"\nkind = \"oneshot\"\n\
                 optimizers = [\"darts\"]\nspaces = [1, 2, 3]\nseeds = \"{a}..{b}\"\n\
                 base = \"none\"\n[study.grid]\n{}\n[[study]]\nname = \"b\"\nkind = \"blackbox\"\n\
                 optimizers = [\"re\"]\nspaces = [1]\nseeds = \"{a}..{b}\"\nqueries = {queries}\n",
                grid.join("\n")
            )
        })
}

fn expand(text: &str) {
    if let Ok(exp) = toml::from_str::<Experiment>(text) {
        if let Ok(units) = exp.units(Path::new("out")) {
            assert!(units.len() as u64 <= MAX_UNITS);
            for u in &units {
                assert!(u.out.starts_with("out"), "{}", u.out.display());
                assert!(!u.out.components().any(|c| c.as_os_str() == ".."));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn experiment_files_parse_or_fail_cleanly(bytes in mutated(EXPERIMENT)) {
        expand(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_text_is_no_experiment_but_no_panic(text in "\\PC{0,200}") {
        expand(&text);
    }

    #[test]
    fn extreme_sizes_are_refused_before_expansion(text in extreme_experiment()) {
        expand(&text);
    }
}

fn write_folder(dir: &Path, files: [(&str, &[u8]); 5]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn run_folders_read_or_fail_cleanly(
        epochs in mutated(EPOCH),
        meta in mutated(RUN_JSON),
        status in mutated(STATUS),
        config in mutated(CONFIG),
        tag in mutated(TAG),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        write_folder(&dir, [
            ("epochs.jsonl", &epochs),
            ("run.json", &meta),
            ("status.json", &status),
            ("config.toml", &config),
            ("experiment.json", &tag),
        ]);
        // runfmt's readers, one file at a time...
        let _ = runs::read_jsonl::<EpochRecord>(&dir.join("epochs.jsonl"));
        let _ = runs::read_json::<StatusFile>(&dir.join("status.json"));
        let _ = runs::read_json::<runfmt::RunMeta>(&dir.join("run.json"));
        // ...and the whole folder as the store ingests it.
        if let Ok(run) = runs::read_run(&dir) {
            // What is accepted is consistent: epochs 0, 1, ... in order.
            for (i, e) in run.epochs.iter().enumerate() {
                prop_assert_eq!(e.epoch, i);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_in_every_run_file_fail_cleanly(
        a in proptest::collection::vec(any::<u8>(), 0..300),
        b in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        write_folder(&dir, [
            ("epochs.jsonl", &a),
            ("run.json", &b),
            ("status.json", &a),
            ("config.toml", &b),
            ("trajectory.jsonl", &a),
        ]);
        let _ = runs::read_run(&dir);
    }
}
