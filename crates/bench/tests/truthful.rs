//! Truthful results (issue 25): an edited experiment is refused instead of "already done", the
//! store keeps runs of different NB-101 tables apart, drops runs whose folder is gone, checks
//! ranges, and reads a database it may not write.

mod common;

use nb1s1_bench::experiment::Experiment;
use nb1s1_bench::runner::{self, Launcher, RunnerOptions};
use nb1s1_bench::store::Store;
use nb1s1_bench::BenchError;
use std::path::Path;

fn experiment(lr: f64, queries: usize) -> Experiment {
    toml::from_str(&format!(
        r#"
        name = "edit"
        [[study]]
        name = "os"
        kind = "oneshot"
        optimizers = ["darts"]
        spaces = [1]
        seeds = [0]
        base = "none"
        config = {{ epochs = 2, weights = {{ lr = {lr} }} }}
        [[study]]
        name = "bb"
        kind = "blackbox"
        optimizers = ["re"]
        spaces = [3]
        seeds = "0..1"
        queries = {queries}
        "#
    ))
    .unwrap()
}

fn launcher(dir: &Path, log: &Path) -> Launcher {
    let script = common::fake_launcher(dir);
    Launcher {
        program: "env".into(),
        prefix_args: vec![
            format!("FAKE_LOG={}", log.display()),
            "FAKE_SLEEP=0".into(),
            script.to_string_lossy().into_owned(),
        ],
    }
}

fn options() -> RunnerOptions {
    RunnerOptions {
        workers: 1,
        gpus: Vec::new(),
        max_retries: 0,
        experiment: "edit".into(),
    }
}

#[test]
fn an_edited_experiment_is_refused_not_reported_done() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let log = tmp.path().join("log");
    let launch = launcher(tmp.path(), &log);
    let units = experiment(0.025, 3).units(&out).unwrap();
    let first = runner::run_experiment(&units, &out, &launch, &options(), &|_| {}).unwrap();
    assert_eq!(first.completed.len(), 2);
    // The same file again: already done.
    let again = runner::run_experiment(&units, &out, &launch, &options(), &|_| {}).unwrap();
    assert_eq!(again.skipped.len(), 2);
    // Another learning rate: refused, naming the key, the old and new value and the way out.
    let edited = experiment(0.1, 3).units(&out).unwrap();
    let err = runner::run_experiment(&edited, &out, &launch, &options(), &|_| {}).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, BenchError::InputsChanged { .. }), "{msg}");
    assert!(msg.contains("config.weights.lr: 0.025 → 0.1"), "{msg}");
    assert!(msg.contains("--out") && msg.contains("remove"), "{msg}");
    // Another black-box budget: refused too.
    let edited = experiment(0.025, 7).units(&out).unwrap();
    let bb: Vec<_> = edited.into_iter().filter(|u| u.study == "bb").collect();
    let msg = runner::run_experiment(&bb, &out, &launch, &options(), &|_| {})
        .unwrap_err()
        .to_string();
    assert!(msg.contains("args.--queries: \"3\" → \"7\""), "{msg}");
    // Nothing was launched again.
    let starts = std::fs::read_to_string(&log).unwrap();
    assert_eq!(starts.lines().filter(|l| l.starts_with("start")).count(), 1);
}

fn blackbox_run(dir: &Path, synthetic: bool, fingerprint: &str) {
    common::write_blackbox_run(dir, "re", 3, 0);
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap();
    meta["synthetic"] = synthetic.into();
    meta["nb101_fingerprint"] = fingerprint.into();
    std::fs::write(dir.join("run.json"), meta.to_string()).unwrap();
}

#[test]
fn runs_on_different_tables_are_not_merged_and_vanished_ones_are_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("runs");
    let real = root.join("real/re/space3/seed0");
    let synth = root.join("synth/re/space3/seed0");
    blackbox_run(&real, false, "sha256:aaaa");
    blackbox_run(&synth, true, "sha256:bbbb");
    let copy = root.join("copy/re/space3/seed0");
    blackbox_run(&copy, false, "sha256:aaaa");
    let mut store = Store::open(&tmp.path().join("r.sqlite")).unwrap();
    let s = store.ingest_dir(&root).unwrap();
    assert_eq!(s.added, 2, "{s:?}");
    assert_eq!(
        s.duplicates.len(),
        1,
        "a true copy is still counted once: {s:?}"
    );
    let count = |store: &Store| -> i64 {
        store
            .conn()
            .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(count(&store), 2);
    // A deleted run folder: dropped and reported, not counted on.
    std::fs::remove_dir_all(root.join("synth")).unwrap();
    let s = store.ingest_dir(&root).unwrap();
    assert_eq!(s.vanished.len(), 1, "{s:?}");
    assert!(s.vanished[0].ends_with("synth/re/space3/seed0"));
    assert_eq!(count(&store), 1);
}

#[test]
fn ingest_checks_ranges() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("runs");
    let bad_space = root.join("a/re/space3/seed0");
    common::write_blackbox_run(&bad_space, "re", 200, 0);
    let bad_seed = root.join("b/re/space3/seed0");
    common::write_blackbox_run(&bad_seed, "re", 3, u64::MAX);
    let mut store = Store::open(&tmp.path().join("r.sqlite")).unwrap();
    let s = store.ingest_dir(&root).unwrap();
    assert_eq!(s.added, 0, "{s:?}");
    let errors: Vec<&String> = s.errors.iter().map(|(_, e)| e).collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("space") && e.contains("200")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("seed") && e.contains("18446744073709551615")),
        "{errors:?}"
    );
}

/// Reads the database named by `NB1S1_TEST_DB` read-only (started by the test below, as an
/// unprivileged user when the tests run as root, whom permissions do not stop).
#[test]
#[ignore = "child process of a_wal_database_is_read_where_it_cannot_be_written"]
fn child_read_only_reader() {
    let db = std::env::var("NB1S1_TEST_DB").expect("started by the WAL test");
    let store = Store::open_read_only(Path::new(&db)).expect("read without writing");
    let n: i64 = store
        .conn()
        .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn a_wal_database_is_read_where_it_cannot_be_written() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db?#%");
    std::fs::create_dir(&dir).unwrap();
    let db = dir.join("r.sqlite");
    {
        let mut store = Store::open(&db).unwrap();
        common::write_blackbox_run(&tmp.path().join("runs/x"), "re", 3, 1);
        store.ingest_dir(&tmp.path().join("runs")).unwrap();
    }
    assert!(!dir.join("r.sqlite-wal").exists(), "closed cleanly");
    let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    mode(tmp.path(), 0o755).unwrap();
    mode(&db, 0o644).unwrap();
    mode(&dir, 0o555).unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child
        .args([
            "--ignored",
            "--exact",
            "child_read_only_reader",
            "--nocapture",
        ])
        .env("NB1S1_TEST_DB", &db);
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } == 0 {
        child.uid(65534).gid(65534);
    }
    let o = child.output().unwrap();
    mode(&dir, 0o755).unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && text.contains("1 passed"), "{text}");
    assert!(
        !dir.join("r.sqlite-shm").exists(),
        "the reader wrote nothing"
    );
}

#[test]
fn ingest_refuses_fifos_devices_and_links_out_of_a_run_folder_without_hanging() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("runs");
    let fifo_run = root.join("a/re/space3/seed0");
    common::write_blackbox_run(&fifo_run, "re", 3, 0);
    std::fs::remove_file(fifo_run.join("trajectory.jsonl")).unwrap();
    let c =
        std::ffi::CString::new(fifo_run.join("trajectory.jsonl").as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let zero_run = root.join("b/re/space3/seed1");
    common::write_blackbox_run(&zero_run, "re", 3, 1);
    std::fs::remove_file(zero_run.join("trajectory.jsonl")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", zero_run.join("trajectory.jsonl")).unwrap();
    let leak_run = root.join("c/re/space3/seed2");
    common::write_blackbox_run(&leak_run, "re", 3, 2);
    let outside = tmp.path().join("outside.json");
    std::fs::rename(leak_run.join("run.json"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, leak_run.join("run.json")).unwrap();
    let mut store = Store::open(&tmp.path().join("r.sqlite")).unwrap();
    let t = std::time::Instant::now();
    let s = store.ingest_dir(&root).unwrap();
    assert!(
        t.elapsed() < std::time::Duration::from_secs(20),
        "ingest hung"
    );
    // The FIFO and the device do not make a run folder (no regular trajectory); the link out
    // of its folder is refused, naming it.
    assert_eq!(s.added, 0, "{s:?}");
    assert!(
        s.errors
            .iter()
            .any(|(p, e)| p.ends_with("c/re/space3/seed2") && e.contains("leads outside")),
        "{s:?}"
    );
}
