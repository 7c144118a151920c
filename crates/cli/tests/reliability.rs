//! The `nb1s1` binary against hostile and careless input (issue 13): every case exits with a
//! message naming the file or setting, never with a panic (exit 101), and never destroys input.
//! Each test fails on the code before the fix.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NB1S1: &str = env!("CARGO_BIN_EXE_nb1s1");

fn nb1s1(args: &[&str]) -> Output {
    Command::new(NB1S1)
        .args(args)
        .env_remove("NB1S1_RESULTS")
        .output()
        .expect("run nb1s1")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A clean failure: exit 1 (not 101), no panic, stderr containing every `needle`.
fn assert_refused(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "exit status; stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}: {err}");
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small synthetic tfrecord of the official format.
fn tfrecord(dir: &Path) -> PathBuf {
    let path = dir.join("tiny.tfrecord");
    let o = nb1s1(&[
        "nb101",
        "generate",
        "--out",
        s(&path),
        "--models",
        "12",
        "--budgets",
        "108",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    path
}

#[test]
fn blackbox_seed_ranges_and_budgets_near_the_limits_are_errors_naming_the_setting() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let nb = tmp.path().join("none.store");
    let base = ["blackbox", "--optimizer", "rs", "--space", "1"];
    let run = |extra: &[&str]| {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--nb101", s(&nb), "--out", s(&out)]);
        nb1s1(&args)
    };
    for seeds in [
        "0..18446744073709551615",
        "0..=18446744073709551615",
        "0..100000000",
    ] {
        assert_refused(&run(&["--seeds", seeds]), &["--seeds"]);
    }
    for queries in ["0", "18446744073709551615"] {
        assert_refused(
            &run(&["--seeds", "0..2", "--queries", queries]),
            &["--queries"],
        );
    }
    assert!(!out.exists(), "nothing may be written");
}

#[test]
fn nb101_files_that_are_folders_empty_or_cut_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let o = nb1s1(&["nb101", "info", "--nb101", s(tmp.path())]);
    assert_refused(&o, &["is a directory", s(tmp.path())]);
    let empty = tmp.path().join("empty.store");
    std::fs::write(&empty, b"").unwrap();
    assert_refused(
        &nb1s1(&["nb101", "info", "--nb101", s(&empty)]),
        &["empty.store", "empty"],
    );
    let cut = tmp.path().join("cut.store");
    std::fs::write(&cut, b"NB1S1-NB10").unwrap();
    assert_refused(
        &nb1s1(&["nb101", "info", "--nb101", s(&cut)]),
        &["cut.store", "truncated"],
    );
    // Converting an empty file writes nothing.
    let out = tmp.path().join("out.store");
    assert_refused(
        &nb1s1(&["nb101", "convert", s(&empty), s(&out)]),
        &["empty.store"],
    );
    assert!(!out.exists());
}

#[test]
fn convert_never_overwrites_its_input() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tfrecord(tmp.path());
    let bytes = std::fs::read(&input).unwrap();
    let hard = tmp.path().join("hard.tfrecord");
    std::fs::hard_link(&input, &hard).unwrap();
    let soft = tmp.path().join("soft.tfrecord");
    std::os::unix::fs::symlink(&input, &soft).unwrap();
    let dotted = tmp.path().join(".").join("tiny.tfrecord");
    for output in [&input, &hard, &soft, &dotted] {
        let o = nb1s1(&["nb101", "convert", s(&input), s(output)]);
        assert_refused(&o, &["input file"]);
        assert_eq!(
            std::fs::read(&input).unwrap(),
            bytes,
            "input changed via {output:?}"
        );
    }
    // A real output still works.
    let store = tmp.path().join("tiny.store");
    let o = nb1s1(&["nb101", "convert", s(&input), s(&store)]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_non_utf8_batch_line_is_that_lines_error_and_the_batch_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let batch = tmp.path().join("b.jsonl");
    let good = br#"{"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"]}"#;
    let mut bytes = good.to_vec();
    bytes.extend_from_slice(b"\n{\"matrix\": \xff\xfe}\n");
    bytes.extend_from_slice(good);
    bytes.push(b'\n');
    std::fs::write(&batch, &bytes).unwrap();
    let o = nb1s1(&["nb101", "hash", "--batch", s(&batch), "--json"]);
    let lines: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    assert_eq!(
        lines.len(),
        3,
        "one answer per line: {lines:?}; {}",
        stderr(&o)
    );
    assert!(lines[0].contains("\"hash\":\"") && lines[2].contains("\"hash\":\""));
    assert!(
        lines[1].contains("UTF-8") && lines[1].contains("line 2"),
        "{}",
        lines[1]
    );
    assert_refused(&o, &["1 of 3"]);
}

#[test]
fn a_huge_invalid_field_is_not_echoed_back_in_full() {
    let tmp = tempfile::tempdir().unwrap();
    let batch = tmp.path().join("b.jsonl");
    let huge = "x".repeat(5_000_000);
    std::fs::write(
        &batch,
        format!("{{\"matrix\": [[0, 1], [0, 0]], \"ops\": [\"input\", \"{huge}\"]}}\n{{\"hash\": \"{huge}\"}}\n"),
    )
    .unwrap();
    let db = tfrecord(tmp.path());
    let o = nb1s1(&[
        "nb101",
        "query",
        "--nb101",
        s(&db),
        "--batch",
        s(&batch),
        "--json",
    ]);
    assert_refused(&o, &["2 of 2"]);
    let total = o.stdout.len() + o.stderr.len();
    assert!(total < 4_000, "{total} bytes of output for two bad lines");
}

/// Two one-shot runs, written as `nb1s1 search` does.
fn runs(root: &Path) {
    for seed in 0..2u64 {
        let dir = root.join(format!("darts/space1/seed{seed}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.toml"),
            format!("optimizer = \"darts\"\nspace = 1\nseed = {seed}\nepochs = 2\n"),
        )
        .unwrap();
        let mut lines = String::new();
        for e in 0..2 {
            lines += &serde_json::json!({
                "epoch": e,
                "architecture": {"space": 1, "ops": ["conv3x3-bn-relu", "maxpool3x3"], "parents": [[0], [0, 1], [1, 2]]},
                "nb101_hash": "h", "valid_errors": [0.1], "test_errors": [0.1],
                "valid_regret": 0.01, "test_regret": 0.01 * (seed + 1) as f64,
                "one_shot_valid_error": 0.5, "train_loss": 1.0, "train_accuracy": 0.5,
                "lr": 0.1, "seconds": 1.0
            })
            .to_string();
            lines.push('\n');
        }
        std::fs::write(dir.join("epochs.jsonl"), lines).unwrap();
        std::fs::write(
            dir.join("status.json"),
            r#"{"status": "complete", "epochs_done": 2, "epochs_total": 2}"#,
        )
        .unwrap();
        std::fs::write(dir.join("run.json"), r#"{"optimizer": "darts"}"#).unwrap();
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn ingesting_runs_and_a_copy_counts_each_seed_once() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("runs");
    runs(&root);
    copy_tree(&root, &tmp.path().join("backup"));
    let db = tmp.path().join("r.sqlite");
    let o = nb1s1(&[
        "results",
        "ingest",
        "--db",
        s(&db),
        s(&root),
        s(&tmp.path().join("backup")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("counted once"), "{}", stderr(&o));
    let o = nb1s1(&[
        "results",
        "query",
        "--db",
        s(&db),
        "final-regret",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let text = rows.to_string();
    assert!(
        text.contains("\"seeds\":2") || text.contains("\"n\":2"),
        "{text}"
    );
    assert!(
        !text.contains("\"seeds\":4") && !text.contains("\"n\":4"),
        "{text}"
    );
}

#[test]
fn ingest_rejects_a_run_with_a_gap_naming_its_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("runs");
    runs(&root);
    let broken = root.join("darts/space1/seed1/epochs.jsonl");
    let text = std::fs::read_to_string(&broken).unwrap();
    let first = text.lines().next().unwrap().to_string();
    std::fs::write(&broken, format!("{first}\n{first}\n")).unwrap();
    let db = tmp.path().join("r.sqlite");
    let o = nb1s1(&["results", "ingest", "--db", s(&db), s(&root)]);
    assert_refused(&o, &["seed1", "duplicated"]);
}

#[test]
fn report_never_writes_to_the_database_it_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let foreign = tmp.path().join("firefox.sqlite");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE bookmarks (id INTEGER PRIMARY KEY, url TEXT);")
        .unwrap();
    let before = std::fs::read(&foreign).unwrap();
    let out = tmp.path().join("report");
    let o = nb1s1(&["report", "--results", s(&foreign), "--out", s(&out)]);
    assert_refused(&o, &["firefox.sqlite", "`runs`"]);
    assert_eq!(std::fs::read(&foreign).unwrap(), before);
    // A results database whose epochs table was dropped.
    let root = tmp.path().join("runs");
    runs(&root);
    let db = tmp.path().join("r.sqlite");
    assert!(nb1s1(&["results", "ingest", "--db", s(&db), s(&root)])
        .status
        .success());
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("DROP TABLE epochs;")
        .unwrap();
    let o = nb1s1(&["report", "--results", s(&db), "--out", s(&out)]);
    assert_refused(&o, &["r.sqlite", "`epochs`"]);
    assert!(!out.join("index.html").exists());
}

/// A synthetic table holding every unique model of space 1.
fn space1_table(dir: &Path) -> PathBuf {
    use searchspace::{SearchSpace, SpaceId};
    let specs: Vec<_> = SearchSpace::new(SpaceId::One)
        .unique_models()
        .iter()
        .map(|(_, a)| a.to_spec().unwrap())
        .collect();
    let nb = dir.join("space1.tfrecord");
    nb1s1_synthetic::generate_from_specs(
        std::io::BufWriter::new(std::fs::File::create(&nb).unwrap()),
        &specs,
        &[108],
        3,
        &mut |_| {},
    )
    .unwrap();
    nb
}

#[test]
fn blackbox_refuses_a_folder_made_with_other_inputs_and_duplicate_jobs() {
    let tmp = tempfile::tempdir().unwrap();
    let nb = space1_table(tmp.path());
    let out = tmp.path().join("out");
    let run = |queries: &str, seeds: &str| {
        nb1s1(&[
            "blackbox",
            "--optimizer",
            "rs",
            "--space",
            "1",
            "--seeds",
            seeds,
            "--queries",
            queries,
            "--budget-unit",
            "queries",
            "--nb101",
            s(&nb),
            "--out",
            s(&out),
        ])
    };
    let o = run("5", "0..1");
    assert!(o.status.success(), "{}", stderr(&o));
    let again = run("5", "0..1");
    assert!(
        again.status.success() && stderr(&again).contains("1 skipped"),
        "{}",
        stderr(&again)
    );
    // Another budget on the same folder: refused, naming the change, the old run kept.
    let before = std::fs::read(out.join("rs/space1/seed0/trajectory.jsonl")).unwrap();
    assert_refused(&run("9", "0..1"), &["seed0", "budget: 5", "→ 9", "--force"]);
    assert_eq!(
        std::fs::read(out.join("rs/space1/seed0/trajectory.jsonl")).unwrap(),
        before
    );
    // One call naming a seed twice would race on one folder.
    assert_refused(&run("5", "1,1"), &["seed 1 twice"]);
}
