//! Fuzz target of `nb1s1 nb101 validate|query --batch`, end to end through the binary, for a
//! fixed number of cases: any bytes (not UTF-8, huge, broken JSON) give one answer per line and
//! a clean exit, never a panic (exit 101).

use proptest::prelude::*;
use std::path::Path;
use std::process::Command;

const NB1S1: &str = env!("CARGO_BIN_EXE_nb1s1");

const GOOD: &str = r#"{"matrix": [[0, 1, 1], [0, 0, 1], [0, 0, 0]], "ops": ["input", "conv3x3-bn-relu", "output"]}"#;

/// One batch line: a near-valid spec with a few bytes changed, or arbitrary bytes.
fn line() -> impl Strategy<Value = Vec<u8>> {
    let edits = proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4);
    prop_oneof![
        edits.prop_map(|edits| {
            let mut b = GOOD.as_bytes().to_vec();
            for (at, byte) in edits {
                let i = at % b.len();
                b[i] = byte;
            }
            b
        }),
        proptest::collection::vec(any::<u8>(), 0..80),
        Just(br#"{"hash": "00005c142e6f48ac74fdcf73e3439874"}"#.to_vec()),
    ]
    .prop_map(|b: Vec<u8>| b.into_iter().filter(|c| *c != b'\n').collect())
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(NB1S1).args(args).output().expect("run nb1s1")
}

fn lines_answered(batch: &[Vec<u8>]) -> usize {
    batch
        .iter()
        .filter(|l| !String::from_utf8_lossy(l).trim().is_empty())
        .count()
}

fn write_batch(dir: &Path, batch: &[Vec<u8>]) -> std::path::PathBuf {
    let path = dir.join("batch.jsonl");
    let mut bytes = Vec::new();
    for l in batch {
        bytes.extend_from_slice(l);
        bytes.push(b'\n');
    }
    std::fs::write(&path, bytes).unwrap();
    path
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn validate_batches_answer_every_line_and_never_panic(
        batch in proptest::collection::vec(line(), 1..12)
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let path = write_batch(tmp.path(), &batch);
        let o = run(&["nb101", "validate", "--batch", path.to_str().unwrap(), "--json"]);
        let err = String::from_utf8_lossy(&o.stderr);
        prop_assert!(!err.contains("panicked"), "{}", err);
        prop_assert_eq!(o.status.code(), Some(0), "{}", err);
        let answers = String::from_utf8_lossy(&o.stdout).lines().count();
        // A line that is blank once decoded (lossily) is skipped; non-UTF-8 lines are answered.
        prop_assert_eq!(answers, lines_answered(&batch));
    }
}

#[test]
fn query_batches_of_fuzzed_lines_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("tiny.tfrecord");
    let o = run(&[
        "nb101",
        "generate",
        "--out",
        db.to_str().unwrap(),
        "--models",
        "8",
        "--budgets",
        "108",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 12,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&proptest::collection::vec(line(), 1..10), |batch| {
            let path = write_batch(tmp.path(), &batch);
            let o = run(&[
                "nb101",
                "query",
                "--nb101",
                db.to_str().unwrap(),
                "--batch",
                path.to_str().unwrap(),
                "--json",
            ]);
            let err = String::from_utf8_lossy(&o.stderr);
            prop_assert!(!err.contains("panicked"), "{}", err);
            prop_assert!(
                matches!(o.status.code(), Some(0 | 1)),
                "{:?}: {}",
                o.status,
                err
            );
            Ok(())
        })
        .unwrap();
}
