//! The results store: idempotent and concurrent ingest, and the usual queries against values
//! computed by hand from fabricated run folders.

mod common;

use nb1s1_bench::analysis::{self, Reference};
use nb1s1_bench::query::{self, Filter};
use nb1s1_bench::store::{Outcome, Store};
use std::path::Path;

/// Three DARTS seeds and one GDAS seed in space 1, two RE seeds in space 1.
fn fabricate(root: &Path) {
    let regrets = [[0.03, 0.02, 0.01], [0.05, 0.04, 0.03], [0.04, 0.03, 0.02]];
    for (seed, r) in regrets.iter().enumerate() {
        common::write_oneshot_run(
            &root.join(format!("darts/seed{seed}")),
            "darts",
            1,
            seed as u64,
            r,
        );
    }
    common::write_oneshot_run(&root.join("gdas/seed0"), "gdas", 1, 0, &[0.09, 0.08]);
    for seed in 0..2 {
        common::write_blackbox_run(
            &root.join(format!("bb/re/space1/seed{seed}")),
            "re",
            1,
            seed,
        );
    }
}

fn count(store: &Store, table: &str) -> i64 {
    store
        .conn()
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn ingest_is_idempotent_and_sees_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("runs");
    fabricate(&root);
    let mut store = Store::open(&tmp.path().join("results.sqlite")).unwrap();
    let first = store.ingest_dir(&root).unwrap();
    assert_eq!((first.added, first.unchanged), (6, 0), "{first:?}");
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    let second = store.ingest_dir(&root).unwrap();
    assert_eq!((second.added, second.updated, second.unchanged), (0, 0, 6));
    assert_eq!(count(&store, "runs"), 6);
    assert_eq!(count(&store, "epochs"), 3 * 3 + 2);
    assert_eq!(count(&store, "queries"), 2 * 5);

    // A run that changes is replaced, not duplicated.
    std::fs::write(
        root.join("gdas/seed0/status.json"),
        r#"{"status": "diverged", "message": "loss nan"}"#,
    )
    .unwrap();
    assert_eq!(
        store.ingest_run(&root.join("gdas/seed0")).unwrap(),
        Outcome::Updated
    );
    assert_eq!(count(&store, "runs"), 6);
    assert_eq!(count(&store, "epochs"), 3 * 3 + 2);
    let status: String = store
        .conn()
        .query_row(
            "SELECT status FROM runs WHERE optimizer = 'gdas'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "diverged");

    // A broken folder is reported by path, and the rest still ingests.
    std::fs::create_dir_all(root.join("bad")).unwrap();
    std::fs::write(root.join("bad/epochs.jsonl"), "{\"epoch\": 0}\nnot json\n").unwrap();
    std::fs::write(
        root.join("bad/config.toml"),
        "optimizer = \"x\"\nspace = 1\nseed = 0\n",
    )
    .unwrap();
    let third = store.ingest_dir(&root).unwrap();
    assert_eq!(third.errors.len(), 1);
    // The record lacks the architecture the run format requires: named with file and line.
    let e = &third.errors[0].1;
    assert!(
        e.contains("epochs.jsonl, line 1") && e.contains("architecture"),
        "{e}"
    );
}

/// Child process of `concurrent_ingest_from_several_processes_keeps_one_copy`.
#[test]
#[ignore = "child process of the concurrent ingest test"]
fn child_ingest_process() {
    let db = std::env::var("NB1S1_TEST_DB").expect("started by the concurrent ingest test");
    let root = std::env::var("NB1S1_TEST_RUNS").expect("started by the concurrent ingest test");
    let mut store = Store::open(Path::new(&db)).unwrap();
    let summary = store.ingest_dir(Path::new(&root)).unwrap();
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    assert_eq!(summary.added + summary.unchanged + summary.updated, 6);
}

#[test]
fn concurrent_ingest_from_several_processes_keeps_one_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("runs");
    fabricate(&root);
    let db = tmp.path().join("results.sqlite");
    let children: Vec<_> = (0..3)
        .map(|_| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "child_ingest_process", "--ignored", "--quiet"])
                .env("NB1S1_TEST_DB", &db)
                .env("NB1S1_TEST_RUNS", &root)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    // And two connections in this process at the same time.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut store = Store::open(&db).unwrap();
                let summary = store.ingest_dir(&root).unwrap();
                assert!(summary.errors.is_empty(), "{:?}", summary.errors);
            });
        }
    });
    for mut child in children {
        assert!(
            child.wait().unwrap().success(),
            "a concurrent ingest process failed"
        );
    }
    let store = Store::open(&db).unwrap();
    assert_eq!(count(&store, "runs"), 6);
    assert_eq!(count(&store, "epochs"), 11);
    assert_eq!(count(&store, "queries"), 10);
}

/// Many connections opening one fresh database at the same instant (each switches it to WAL
/// and creates the schema): every open succeeds, none is refused as busy.
#[test]
fn simultaneous_opens_of_a_fresh_database_all_succeed() {
    for round in 0..30 {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("results.sqlite");
        let start = std::sync::Barrier::new(6);
        let failures: Vec<String> = std::thread::scope(|s| {
            let opens: Vec<_> = (0..6)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        Store::open(&db).err().map(|e| e.to_string())
                    })
                })
                .collect();
            opens
                .into_iter()
                .filter_map(|h| h.join().unwrap())
                .collect()
        });
        assert!(failures.is_empty(), "round {round}: {failures:?}");
    }
}

#[test]
fn final_regret_and_curves_match_hand_computation() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("runs");
    fabricate(&root);
    let mut store = Store::open(&tmp.path().join("r.sqlite")).unwrap();
    store.ingest_dir(&root).unwrap();

    let finals = query::final_regrets(&store, &Filter::default(), Reference::Exact).unwrap();
    let darts = finals.iter().find(|f| f.key.optimizer == "darts").unwrap();
    // Final regrets 0.01, 0.03, 0.02: mean 0.02, sample sd 0.01, se 0.01/√3.
    assert!((darts.test_regret.mean - 0.02).abs() < 1e-12);
    assert!((darts.test_regret.se - 0.01 / 3f64.sqrt()).abs() < 1e-12);
    assert_eq!(darts.test_regret.n, 3);
    assert!((darts.valid_regret.unwrap().mean - 0.01).abs() < 1e-12);
    let re = finals.iter().find(|f| f.key.optimizer == "re").unwrap();
    assert_eq!(re.kind, "blackbox");
    assert!((re.test_regret.mean - 0.01).abs() < 1e-12);

    // With the paper's constant: mean test error (0.06 + r) − 0.05448716878890991.
    let paper = query::final_regrets(&store, &Filter::default(), Reference::Paper).unwrap();
    let darts = paper.iter().find(|f| f.key.optimizer == "darts").unwrap();
    assert!((darts.test_regret.mean - (0.08 - 0.05448716878890991)).abs() < 1e-12);

    let only_gdas = Filter {
        optimizer: Some("gdas".into()),
        space: Some(1),
    };
    let t = query::final_regret_table(
        &query::final_regrets(&store, &only_gdas, Reference::Exact).unwrap(),
    );
    assert_eq!(t.rows.len(), 1);

    let curves = analysis::regret_curves(&store, Reference::Exact).unwrap();
    let darts = curves.iter().find(|c| c.key.optimizer == "darts").unwrap();
    assert_eq!(darts.seeds, 3);
    assert_eq!(darts.points.len(), 3);
    // Epoch 0: 0.03, 0.05, 0.04 → mean 0.04; cumulative seconds 10, 20, 30.
    assert!((darts.points[0].test_regret.mean - 0.04).abs() < 1e-12);
    assert!((darts.points[2].seconds.unwrap().mean - 30.0).abs() < 1e-12);
    // Plus the NB-101 training seconds of epoch 2's result (300), not summed over epochs.
    let with_nb101 = darts.points[2].seconds_with_nb101.unwrap().mean;
    assert!((with_nb101 - 330.0).abs() < 1e-9, "{with_nb101}");
    assert!((darts.points[1].one_shot_valid_error.unwrap().mean - 0.49).abs() < 1e-12);

    let bb = analysis::blackbox_curves(&store, Reference::Exact).unwrap();
    assert_eq!(bb.len(), 1);
    let last = bb[0].points.last().unwrap();
    assert!((last.0 - 5000.0).abs() < 1e-6 && (last.1.mean - 0.01).abs() < 1e-12);
    assert!((bb[0].points[0].1.mean - 0.05).abs() < 1e-12);

    let best = query::best_architectures(&store, &Filter::default()).unwrap();
    let b = best.iter().find(|b| b.optimizer == "darts").unwrap();
    // Lowest final validation error: seed 0 (0.06 + 0.01).
    assert_eq!(b.hash, "hash0e2");
    assert_eq!((b.found_by, b.runs), (1, 3));
    assert_eq!(b.architecture.as_ref().unwrap().ops.len(), 5);
}

#[test]
fn correlation_files_are_reduced_per_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("runs/darts/seed0");
    common::write_oneshot_run(&run, "darts", 3, 0, &[0.01]);
    std::fs::create_dir_all(run.join("correlation")).unwrap();
    // One-shot errors 0.1..0.5; budget 108 perfectly ranked, budget 4 reversed with one tie.
    let mut lines = String::new();
    let budget4 = [0.5, 0.4, 0.3, 0.2, 0.2];
    for (i, y4) in budget4.iter().enumerate() {
        let rec = serde_json::json!({
            "hash": format!("a{i}"),
            "one_shot_error": 0.1 * (i + 1) as f64,
            "nb101_test_error": {"108": 0.05 + 0.01 * i as f64, "4": y4},
        });
        lines.push_str(&rec.to_string());
        lines.push('\n');
    }
    std::fs::write(run.join("correlation/epoch5.jsonl"), lines).unwrap();
    let mut store = Store::open(&tmp.path().join("r.sqlite")).unwrap();
    let summary = store.ingest_dir(&tmp.path().join("runs")).unwrap();
    assert_eq!(summary.correlation_files, 1, "{summary:?}");
    assert_eq!(
        store
            .ingest_dir(&tmp.path().join("runs"))
            .unwrap()
            .correlation_files,
        0
    );
    let series = analysis::correlation_series(&store).unwrap();
    let at = |budget: u32| {
        series
            .iter()
            .find(|s| s.budget == budget && s.metric == "test")
            .unwrap()
    };
    assert_eq!((at(108).optimizer.as_str(), at(108).space), ("darts", 3));
    let p = at(108).points[0];
    assert_eq!(p.epoch, 5);
    assert!((p.spearman.unwrap() - 1.0).abs() < 1e-12);
    assert!((p.kendall.unwrap() - 1.0).abs() < 1e-12);
    // Budget 4: x ranks 1..5, y ranks 5, 4, 3, 1.5, 1.5: dy = 2, 1, 0, −1.5, −1.5,
    // Σdxdy = −9.5, Σdx² = 10, Σdy² = 9.5 → −9.5 / √95.
    assert!((at(4).points[0].spearman.unwrap() - (-9.5 / 95f64.sqrt())).abs() < 1e-12);
    // Kendall: 9 discordant, 1 tie in y: −9 / √(10 · 9).
    assert!((at(4).points[0].kendall.unwrap() - (-9.0 / 90f64.sqrt())).abs() < 1e-12);
}

#[test]
fn optimizer_metrics_are_stored_long_format_under_the_run_json_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("runs/custom");
    common::write_oneshot_run(&dir, "darts_es", 3, 0, &[0.03, 0.02]);
    // Epoch 0 as an old file wrote GDAS' temperature (`tau`), epoch 1 with the metrics map.
    let path = dir.join("epochs.jsonl");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (mut a, mut b) = (lines[0].clone(), lines[1].clone());
    a["tau"] = serde_json::json!(10.0);
    b["metrics"] = serde_json::json!({"hessian_eigenvalue": 0.5, "tau": 5.5});
    std::fs::write(&path, format!("{a}\n{b}\n")).unwrap();
    let mut store = Store::open(&tmp.path().join("results.sqlite")).unwrap();
    let s = store.ingest_dir(&tmp.path().join("runs")).unwrap();
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    let rows: Vec<(String, i64, String, f64)> = {
        let mut st = store
            .conn()
            .prepare(
                "SELECT r.optimizer, m.epoch, m.name, m.value FROM epoch_metrics m
                 JOIN runs r ON r.id = m.run_id ORDER BY m.epoch, m.name",
            )
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let name = |s: &str| s.to_string();
    assert_eq!(
        rows,
        vec![
            (name("darts_es"), 0, name("tau"), 10.0),
            (name("darts_es"), 1, name("hessian_eigenvalue"), 0.5),
            (name("darts_es"), 1, name("tau"), 5.5),
        ]
    );
}

#[test]
fn standalone_runs_are_ingested_once_with_their_cell_and_accuracies() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("runs");
    let accs = [(0.3, 0.29), (0.45, 0.44), (0.5, 0.52)];
    common::write_standalone_run(&root.join("sa/a"), "cafe", 2, (16, 1), 3, &accs, 0.06);
    // A search run beside it stays a one-shot run.
    common::write_oneshot_run(&root.join("darts/seed0"), "darts", 1, 0, &[0.02]);
    let mut store = Store::open(&tmp.path().join("results.sqlite")).unwrap();
    let s = store.ingest_dir(&root).unwrap();
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert_eq!(s.added, 2);
    let (kind, optimizer, space, seed, status): (String, String, i64, i64, String) = store
        .conn()
        .query_row(
            "SELECT kind, optimizer, space, seed, status FROM runs WHERE kind != 'oneshot'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(
        (
            kind.as_str(),
            optimizer.as_str(),
            space,
            seed,
            status.as_str()
        ),
        ("standalone", "standalone", 2, 3, "complete")
    );
    let (hash, channels, cells, epochs, nb101): (String, i64, i64, i64, f64) = store
        .conn()
        .query_row(
            "SELECT hash, stem_channels, cells_per_stack, epochs, nb101_test_error
             FROM standalone_runs",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(
        (hash.as_str(), channels, cells, epochs, nb101),
        ("cafe", 16, 1, 3, 0.06)
    );
    let rows: Vec<(i64, f64, f64)> = {
        let mut st = store
            .conn()
            .prepare(
                "SELECT epoch, valid_accuracy, test_accuracy FROM standalone_epochs ORDER BY epoch",
            )
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(rows, vec![(0, 0.3, 0.29), (1, 0.45, 0.44), (2, 0.5, 0.52)]);
    assert_eq!(
        count(&store, "epochs"),
        1,
        "no search epochs from the stand-alone run"
    );

    // Again: unchanged. A copy of the folder is the same run (its identity is the cell and
    // the settings), counted once; another seed is another run.
    assert_eq!(store.ingest_dir(&root).unwrap().unchanged, 2);
    let copy = tmp.path().join("backup/a");
    common::write_standalone_run(&copy, "cafe", 2, (16, 1), 3, &accs, 0.06);
    assert!(matches!(
        store.ingest_run(&copy).unwrap(),
        Outcome::Duplicate(_)
    ));
    common::write_standalone_run(&root.join("sa/b"), "cafe", 2, (16, 1), 4, &accs, 0.06);
    assert_eq!(
        store.ingest_run(&root.join("sa/b")).unwrap(),
        Outcome::Added
    );
    assert_eq!(count(&store, "standalone_runs"), 2);
    assert_eq!(count(&store, "standalone_epochs"), 6);

    // A complete run missing an epoch record is refused, naming the file.
    let short = root.join("sa/short");
    common::write_standalone_run(&short, "beef", 1, (16, 1), 0, &accs, 0.06);
    let text = std::fs::read_to_string(short.join("epochs.jsonl")).unwrap();
    let two: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(short.join("epochs.jsonl"), two).unwrap();
    let e = store.ingest_run(&short).unwrap_err().to_string();
    assert!(e.contains("epochs.jsonl") && e.contains("2 of 3"), "{e}");
}
