//! A one-shot run carries its NAS-Bench-101 table's content fingerprint (issue 25): a resume on
//! another table is refused, a copy of the same table is accepted, and the results store keeps
//! runs of the same configuration on different tables apart (the real fixture table of
//! `../shared`, two synthetic ones made here).

mod common;

use std::path::{Path, PathBuf};

use common::{cpu_options, synthetic_data, tiny};
use nb1s1_bench::store::Store;
use nb1s1_synthetic::{generate_from_specs, FULL_BUDGETS};
use oneshot::anytime::{Nb101Oracle, Nb101Table};
use oneshot::run_dir::RunStatus;
use oneshot::{run_search, OneShotError, OptimizerKind, SearchOptions};
use searchspace::{SearchSpace, SpaceId};

/// A synthetic NB-101 file of the unique models of space 1 with `repeats` repeats (two repeat
/// counts give two tables of different content).
fn synthetic_table(dir: &Path, repeats: usize) -> PathBuf {
    let specs: Vec<_> = SearchSpace::new(SpaceId::One)
        .unique_models()
        .iter()
        .map(|(_, a)| a.to_spec().unwrap())
        .collect();
    let path = dir.join(format!("synthetic-{repeats}.tfrecord"));
    let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    generate_from_specs(file, &specs, &FULL_BUDGETS, repeats, &mut |_| {}).unwrap();
    path
}

/// The real NB-101 records of `../shared/fixtures/nb101`; absent in CI is a failure.
fn real_table() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/nb101/real_30_only108.store");
    if p.is_file() {
        return Some(p);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "NB-101 fixture absent in CI: {}",
        p.display()
    );
    eprintln!("SKIPPED (real data absent): {}", p.display());
    None
}

fn run_json(run: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run.join("run.json")).unwrap()).unwrap()
}

#[test]
fn a_resume_on_another_table_is_refused_and_a_copy_of_the_same_is_not() {
    let _torch = common::torch_lock();
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_data(32, 16);
    let mut cfg = tiny(OptimizerKind::Darts, 1);
    cfg.epochs = 2;
    let first = Nb101Table::open(&synthetic_table(tmp.path(), 3)).unwrap();
    let other = Nb101Table::open(&synthetic_table(tmp.path(), 2)).unwrap();
    let (a, b) = (first.fingerprint().unwrap(), other.fingerprint().unwrap());
    assert_ne!(a, b);
    let run = tmp.path().join("run");
    let stop = SearchOptions {
        stop_after: Some(1),
        ..cpu_options()
    };
    let part = run_search(&cfg, &data, Some(&first), &run, &stop).unwrap();
    assert_eq!(part.status, RunStatus::Running);
    assert_eq!(run_json(&run)["nb101_fingerprint"], a.as_str());
    let resume = SearchOptions {
        resume: true,
        ..cpu_options()
    };
    let err = run_search(&cfg, &data, Some(&other), &run, &resume).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, OneShotError::RunDir { .. }), "{msg}");
    assert!(
        msg.contains(&a) && msg.contains(&b),
        "names both tables: {msg}"
    );
    assert!(
        msg.contains("--out") && msg.contains("remove the run folder"),
        "says how to start fresh: {msg}"
    );
    assert!(
        msg.contains(first.path().as_str()),
        "names the table to resume with: {msg}"
    );
    // Nothing was run on the other table.
    let epochs = std::fs::read_to_string(run.join("epochs.jsonl")).unwrap();
    assert_eq!(epochs.lines().count(), 1);
    // The same table under another name is the same table.
    let copy = tmp.path().join("copy-of-first.tfrecord");
    std::fs::copy(first.path(), &copy).unwrap();
    let copy = Nb101Table::open(&copy).unwrap();
    let done = run_search(&cfg, &data, Some(&copy), &run, &resume).unwrap();
    assert_eq!(done.status, RunStatus::Complete);
    assert_eq!(run_json(&run)["nb101_fingerprint"], a.as_str());
}

#[test]
fn the_store_keeps_one_config_on_different_tables_apart() {
    let _torch = common::torch_lock();
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_data(32, 16);
    let mut cfg = tiny(OptimizerKind::Darts, 1);
    cfg.epochs = 1;
    let mut tables = vec![
        ("synthetic-a", synthetic_table(tmp.path(), 3)),
        ("synthetic-b", synthetic_table(tmp.path(), 2)),
    ];
    if let Some(real) = real_table() {
        tables.push(("real", real));
    }
    let runs = tmp.path().join("runs");
    let mut prints = Vec::new();
    for (name, path) in &tables {
        let table = Nb101Table::open(path).unwrap();
        let run = runs.join(name);
        run_search(&cfg, &data, Some(&table), &run, &cpu_options()).unwrap();
        let meta = run_json(&run);
        assert_eq!(
            meta["nb101_fingerprint"],
            table.fingerprint().unwrap().as_str()
        );
        prints.push(meta["nb101_fingerprint"].clone());
    }
    // The same configuration and seed on the same table, in another folder: one run.
    let again = runs.join("synthetic-a-copy");
    let table = Nb101Table::open(&tables[0].1).unwrap();
    run_search(&cfg, &data, Some(&table), &again, &cpu_options()).unwrap();
    let mut store = Store::open(&tmp.path().join("results.sqlite")).unwrap();
    let s = store.ingest_dir(&runs).unwrap();
    assert!(s.errors.is_empty(), "{s:?}");
    assert_eq!(s.added, tables.len(), "one run per table: {s:?}");
    assert_eq!(s.duplicates.len(), 1, "the copy is counted once: {s:?}");
    assert!(s.duplicates[0].0.ends_with("synthetic-a-copy"), "{s:?}");
    let stored: i64 = store
        .conn()
        .query_row("SELECT COUNT(DISTINCT identity) FROM runs", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(stored as usize, tables.len(), "{prints:?}");
}
