//! Hostile and careless inputs to the torch-free half (issue 13): names that would leave the
//! output root, seed ranges and grids that would exhaust memory, copies of runs counted as
//! seeds, epoch records with gaps, a report pointed at another program's database, a runner
//! that finds its unit running elsewhere. Each test fails on the code before the fix.

mod common;

use nb1s1_bench::analysis::Reference;
use nb1s1_bench::experiment::{Experiment, MAX_SEEDS};
use nb1s1_bench::query::{self, Filter};
use nb1s1_bench::runner::{self, Launcher, RunnerOptions};
use nb1s1_bench::store::Store;
use std::path::Path;
use std::time::{Duration, Instant};

fn experiment(name: &str, study: &str, seeds: &str) -> String {
    format!(
        "name = {name:?}\n[[study]]\nname = {study:?}\nkind = \"blackbox\"\n\
         optimizers = [\"re\"]\nspaces = [3]\nseeds = {seeds}\nqueries = 3\n"
    )
}

fn units_error(text: &str) -> String {
    let exp: Experiment = toml::from_str(text).expect("parses");
    exp.units(Path::new("runs/x"))
        .expect_err("refused")
        .to_string()
}

#[test]
fn names_that_leave_the_output_root_are_refused_naming_the_field() {
    for bad in ["../../x", "/abs/olute", "", "a/b", ".hidden", ".."] {
        let e = units_error(&experiment(bad, "s", "\"0..2\""));
        assert!(e.contains("experiment `name`"), "{bad:?}: {e}");
        let e = units_error(&experiment("ok", bad, "\"0..2\""));
        assert!(e.contains("study `name`"), "{bad:?}: {e}");
    }
    // Through the file too: the error names the file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exp.toml");
    std::fs::write(&path, experiment("../../escape", "s", "\"0..2\"")).unwrap();
    let e = Experiment::load(&path).unwrap_err().to_string();
    assert!(e.contains("exp.toml") && e.contains("`name`"), "{e}");
    // A grid value cannot smuggle a separator into its folder either.
    let text =
        "name = \"g\"\n[[study]]\nname = \"s\"\nkind = \"oneshot\"\noptimizers = [\"darts\"]\n\
                spaces = [1]\nseeds = [0]\nbase = \"none\"\ngrid = { \"a\" = [\"../../x\"] }\n";
    let exp: Experiment = toml::from_str(text).unwrap();
    for u in exp.units(Path::new("o")).unwrap() {
        assert!(
            u.out.starts_with("o/s/darts/space1/"),
            "{}",
            u.out.display()
        );
        assert!(
            !u.out.components().any(|c| c.as_os_str() == ".."),
            "{}",
            u.out.display()
        );
    }
}

#[test]
fn seed_ranges_and_grids_are_bounded_before_anything_is_allocated() {
    let t = Instant::now();
    for seeds in [
        "\"0..100000000\"",
        "\"0..18446744073709551615\"",
        "\"18446744073709551614..18446744073709551615\"",
    ] {
        let e = units_error(&experiment("x", "s", seeds));
        assert!(e.contains("`seeds`"), "{seeds}: {e}");
    }
    // Just at the limit is fine; one more is not.
    let at = format!("\"0..{MAX_SEEDS}\"");
    let exp: Experiment = toml::from_str(&experiment("x", "s", &at)).unwrap();
    assert_eq!(exp.units(Path::new("o")).unwrap().len(), 1);
    let over = format!("\"0..{}\"", MAX_SEEDS + 1);
    assert!(units_error(&experiment("x", "s", &over)).contains("limit"));
    // A grid whose product is astronomically large.
    let keys: Vec<String> = (0..12)
        .map(|k| format!("\"k{k}\" = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"))
        .collect();
    let text = format!(
        "name = \"g\"\n[[study]]\nname = \"s\"\nkind = \"oneshot\"\noptimizers = [\"darts\"]\n\
         spaces = [1]\nseeds = [0]\nbase = \"none\"\n[study.grid]\n{}\n",
        keys.join("\n")
    );
    assert!(units_error(&text).contains("runs"), "grid refused");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "checked, not expanded"
    );
}

#[test]
fn a_blackbox_study_with_zero_queries_is_refused() {
    let text = experiment("x", "s", "[0]").replace("queries = 3", "queries = 0");
    assert!(units_error(&text).contains("`queries`"));
}

/// A folder holding a copy of `runs/` (a backup) next to the original.
fn original_and_copy(root: &Path) {
    for seed in 0..2 {
        common::write_oneshot_run(
            &root.join(format!("runs/darts/seed{seed}")),
            "darts",
            1,
            seed,
            &[0.03, 0.02 + seed as f64 / 100.0],
        );
    }
    let copy = root.join("backup/runs/darts");
    for seed in 0..2 {
        let from = root.join(format!("runs/darts/seed{seed}"));
        let to = copy.join(format!("seed{seed}"));
        std::fs::create_dir_all(&to).unwrap();
        for f in std::fs::read_dir(&from).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
        }
    }
}

#[test]
fn a_copy_of_the_runs_is_counted_once() {
    let tmp = tempfile::tempdir().unwrap();
    original_and_copy(tmp.path());
    let mut store = Store::open(&tmp.path().join("r.sqlite")).unwrap();
    let a = store.ingest_dir(&tmp.path().join("runs")).unwrap();
    let b = store.ingest_dir(&tmp.path().join("backup")).unwrap();
    assert_eq!(a.added, 2);
    assert_eq!((b.added, b.duplicates.len()), (0, 2), "{b:?}");
    let finals = query::final_regrets(&store, &Filter::default(), Reference::Exact).unwrap();
    assert_eq!(finals.len(), 1);
    assert_eq!(finals[0].test_regret.n, 2, "two seeds, not four");
    // Ingesting both at once (one root above them) counts them once too.
    let mut fresh = Store::open(&tmp.path().join("r2.sqlite")).unwrap();
    let s = fresh.ingest_dir(tmp.path()).unwrap();
    assert_eq!((s.added, s.duplicates.len()), (2, 2), "{s:?}");
}

#[test]
fn a_copy_that_got_further_replaces_the_stale_one() {
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old/seed0");
    common::write_oneshot_run(&old, "darts", 1, 0, &[0.05]);
    std::fs::write(old.join("status.json"), r#"{"status": "running"}"#).unwrap();
    let new = tmp.path().join("new/seed0");
    common::write_oneshot_run(&new, "darts", 1, 0, &[0.05, 0.01]);
    let mut store = Store::open(&tmp.path().join("r.sqlite")).unwrap();
    store.ingest_dir(&tmp.path().join("old")).unwrap();
    let s = store.ingest_dir(&tmp.path().join("new")).unwrap();
    assert_eq!((s.added, s.duplicates.len()), (1, 0), "{s:?}");
    let n: i64 = store
        .conn()
        .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

fn epoch_line(e: usize) -> String {
    serde_json::json!({
        "epoch": e,
        "architecture": {"space": 1, "ops": ["conv3x3-bn-relu", "maxpool3x3"], "parents": [[0], [0, 1], [1, 2]]},
        "nb101_hash": "h", "valid_errors": [0.1], "test_errors": [0.1], "valid_regret": 0.01,
        "test_regret": 0.01, "one_shot_valid_error": 0.5, "train_loss": 1.0,
        "train_accuracy": 0.5, "lr": 0.1, "seconds": 1.0
    })
    .to_string()
        + "\n"
}

#[test]
fn runs_with_epoch_gaps_duplicates_or_a_false_complete_are_rejected_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&str, &[usize], &str); 4] = [
        ("gap", &[0, 1, 3], r#"{"status": "running"}"#),
        ("dup", &[0, 1, 1, 2], r#"{"status": "running"}"#),
        (
            "short",
            &[0, 1],
            r#"{"status": "complete", "epochs_done": 3, "epochs_total": 3}"#,
        ),
        (
            "emptied",
            &[],
            r#"{"status": "complete", "epochs_done": 3, "epochs_total": 3}"#,
        ),
    ];
    for (name, epochs, status) in cases {
        let dir = tmp.path().join("runs").join(name);
        common::write_oneshot_run(&dir, "darts", 1, 0, &[0.1]);
        let lines: String = epochs.iter().map(|e| epoch_line(*e)).collect();
        std::fs::write(dir.join("epochs.jsonl"), lines).unwrap();
        std::fs::write(dir.join("status.json"), status).unwrap();
    }
    let good = tmp.path().join("runs/good");
    common::write_oneshot_run(&good, "darts", 1, 1, &[0.1, 0.1, 0.1]);
    std::fs::write(
        good.join("status.json"),
        r#"{"status": "complete", "epochs_done": 3, "epochs_total": 5}"#,
    )
    .unwrap();
    let mut store = Store::open(&tmp.path().join("r.sqlite")).unwrap();
    let s = store.ingest_dir(&tmp.path().join("runs")).unwrap();
    assert_eq!(
        s.added, 1,
        "only the intact run (stopped early at 3 of 5): {s:?}"
    );
    assert_eq!(s.errors.len(), 4, "{s:?}");
    for (path, why) in &s.errors {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(why.contains(&name), "{name}: {why}");
        let expected = match name.as_str() {
            "gap" => "gap",
            "dup" => "duplicated",
            _ => "says complete",
        };
        assert!(why.contains(expected), "{name}: {why}");
    }
}

#[test]
fn a_sidecar_study_that_is_a_path_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("runs/r");
    common::write_oneshot_run(&dir, "darts", 1, 0, &[0.1]);
    std::fs::write(
        dir.join("experiment.json"),
        r#"{"experiment": "e", "study": "../../../outside", "variant": "default"}"#,
    )
    .unwrap();
    let mut store = Store::open(&tmp.path().join("r.sqlite")).unwrap();
    let s = store.ingest_dir(&tmp.path().join("runs")).unwrap();
    assert_eq!(s.errors.len(), 1, "{s:?}");
    assert!(s.errors[0].1.contains("experiment.json"), "{:?}", s.errors);
}

fn sqlite_tables(path: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut st = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    let names = st.query_map([], |r| r.get(0)).unwrap();
    names.map(Result::unwrap).collect()
}

#[test]
fn readers_never_write_and_refuse_a_database_without_their_tables() {
    let tmp = tempfile::tempdir().unwrap();
    // Another program's database.
    let foreign = tmp.path().join("other.sqlite");
    {
        let c = rusqlite::Connection::open(&foreign).unwrap();
        c.execute_batch("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);")
            .unwrap();
    }
    let before = std::fs::read(&foreign).unwrap();
    let e = Store::open_read_only(&foreign).err().unwrap().to_string();
    assert!(e.contains("other.sqlite") && e.contains("`runs`"), "{e}");
    assert_eq!(
        std::fs::read(&foreign).unwrap(),
        before,
        "the file was written"
    );
    assert_eq!(sqlite_tables(&foreign), vec!["notes".to_string()]);
    // A results database whose epochs table is gone.
    let db = tmp.path().join("results.sqlite");
    common::write_oneshot_run(&tmp.path().join("runs/a"), "darts", 1, 0, &[0.1]);
    Store::open(&db)
        .unwrap()
        .ingest_dir(&tmp.path().join("runs"))
        .unwrap();
    assert!(Store::open_read_only(&db).is_ok());
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("DROP TABLE epoch_metrics; DROP TABLE epochs;")
        .unwrap();
    let e = Store::open_read_only(&db).err().unwrap().to_string();
    assert!(
        e.contains("results.sqlite") && e.contains("`epochs`"),
        "{e}"
    );
    // And a missing file is not created.
    let none = tmp.path().join("none.sqlite");
    assert!(Store::open_read_only(&none).is_err());
    assert!(!none.exists());
}

#[test]
fn a_runner_that_finds_its_unit_running_elsewhere_waits_for_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let log = tmp.path().join("fake.log");
    let exp: Experiment = toml::from_str(
        "name = \"w\"\n[[study]]\nname = \"s\"\nkind = \"oneshot\"\noptimizers = [\"darts\"]\n\
         spaces = [1]\nseeds = [0]\nbase = \"none\"\n",
    )
    .unwrap();
    let units = exp.units(&out).unwrap();
    let unit = units[0].clone();
    // "Another runner": holds the unit's lock while its run goes on.
    let lock_path = runner::state_dir(&out)
        .join("locks")
        .join(format!("{}.lock", unit.id.replace('/', "__")));
    std::fs::create_dir_all(lock_path.parent().unwrap()).unwrap();
    let other = std::fs::File::create(&lock_path).unwrap();
    {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor this test owns.
        assert_eq!(unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX) }, 0);
    }
    let script = common::fake_launcher(tmp.path());
    let launcher = Launcher {
        program: "env".into(),
        prefix_args: vec![
            format!("FAKE_LOG={}", log.display()),
            "FAKE_SLEEP=0.01".into(),
            script.to_string_lossy().into_owned(),
        ],
    };
    let options = RunnerOptions {
        workers: 1,
        gpus: Vec::new(),
        max_retries: 0,
        experiment: "w".into(),
    };
    let started = Instant::now();
    let report = std::thread::scope(|scope| {
        let h = scope.spawn(|| runner::run_experiment(&units, &out, &launcher, &options, &|_| {}));
        std::thread::sleep(Duration::from_millis(400));
        assert!(
            !h.is_finished(),
            "the runner returned while the unit ran elsewhere"
        );
        // The other process finishes the run, then lets go.
        common::write_oneshot_run(&unit.out, "darts", 1, 0, &[0.1]);
        drop(other);
        h.join().unwrap().unwrap()
    });
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(report.skipped, vec![unit.id.clone()], "{report:?}");
    assert!(report.busy.is_empty());
    assert!(
        !log.exists(),
        "the runner launched a unit that finished elsewhere"
    );
}

#[test]
fn absurd_worker_counts_are_refused_before_any_thread_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let exp: Experiment = toml::from_str(&experiment("x", "s", "[0]")).unwrap();
    let out = tmp.path().join("out");
    let units = exp.units(&out).unwrap();
    let options = RunnerOptions {
        workers: 100_000,
        gpus: Vec::new(),
        max_retries: 0,
        experiment: "x".into(),
    };
    let launcher = Launcher {
        program: "/bin/false".into(),
        prefix_args: Vec::new(),
    };
    let e = runner::run_experiment(&units, &out, &launcher, &options, &|_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("workers") && e.contains("limit"), "{e}");
}
