//! `nb1s1 import original` end to end: folders in the original code's layout (`config.json`
//! and `one_shot_architecture_<e>.obj`, numpy's pickles from crates/record/tests/data) are
//! imported by the binary into run folders; a second import adds nothing; a malicious pickle
//! exits non-zero naming the file and runs nothing; `nb1s1 results ingest` takes the result.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NB1S1: &str = env!("CARGO_BIN_EXE_nb1s1");

fn nb1s1(args: &[&str]) -> Output {
    Command::new(NB1S1)
        .args(args)
        .env_remove("NB1S1_NB101")
        .env_remove("NB1S1_RESULTS")
        .output()
        .expect("run nb1s1")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The record crate's pickles, written by numpy (make_pickles.py there).
fn pickle(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../record/tests/data")
        .join(name)
}

/// A synthetic NB-101 table of every unique model of space 1 at all four budgets, made with
/// the binary itself (as the demo makes its table).
fn space1_table(dir: &Path) -> PathBuf {
    let o = nb1s1(&["space", "enumerate", "--space", "1", "--unique", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let specs = dir.join("specs.jsonl");
    std::fs::write(&specs, &o.stdout).unwrap();
    let table = dir.join("space1-full.tfrecord");
    let o = nb1s1(&[
        "nb101",
        "generate",
        "--specs",
        s(&specs),
        "--budgets",
        "full",
        "--out",
        s(&table),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    table
}

/// An original-layout folder: `config.json` as the original's `train_search.py` writes it
/// (`args.__dict__`, the space as a string, the method in the `save` path) and one pickle per
/// epoch.
fn original_folder(root: &Path, name: &str, pickles: &[&str]) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let config = serde_json::json!({
        "search_space": "1", "seed": 5, "epochs": pickles.len(), "learning_rate": 0.025,
        "save": "experiments/darts/search_space_1/search-EXP-20190901-1-5",
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    for (e, p) in pickles.iter().enumerate() {
        std::fs::copy(
            pickle(p),
            dir.join(format!("one_shot_architecture_{e}.obj")),
        )
        .unwrap();
    }
    dir
}

fn epochs(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("epochs.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn imports_original_folders_once_and_refuses_malicious_pickles() {
    let tmp = tempfile::tempdir().unwrap();
    let table = space1_table(tmp.path());
    let inputs = tmp.path().join("original");
    let a = original_folder(&inputs, "darts-seed5", &["space1_p3.obj", "space1_p4.obj"]);
    let b = original_folder(&inputs, "darts-seed5-p5", &["space1_p5.obj"]);
    let out = tmp.path().join("imported");
    let import = |dirs: &[&Path], extra: &[&str]| {
        let mut args = vec!["import", "original"];
        args.extend(dirs.iter().map(|d| s(d)));
        args.extend(["--nb101", s(&table), "--out", s(&out)]);
        args.extend_from_slice(extra);
        nb1s1(&args)
    };

    let o = import(&[&a, &b], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    // One run folder per input folder, named after it, printed on stdout.
    let printed: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let (ra, rb) = (out.join("darts-seed5"), out.join("darts-seed5-p5"));
    assert_eq!(printed, [s(&ra), s(&rb)]);
    assert!(stderr(&o).contains("2 epochs imported, 0 already there"));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ra.join("run.json")).unwrap()).unwrap();
    assert_eq!(meta["optimizer"], "darts", "the method from the save path");
    assert_eq!(
        (meta["space"].as_u64(), meta["seed"].as_u64()),
        (Some(1), Some(5))
    );
    assert_eq!(meta["device"], "external (imported)");
    assert_eq!(meta["external"]["kind"], "imported");
    assert_eq!(meta["external"]["settings"]["learning_rate"], 0.025);
    let status: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ra.join("status.json")).unwrap()).unwrap();
    assert_eq!(
        (status["status"].as_str(), status["epochs_done"].as_u64()),
        (Some("complete"), Some(2))
    );
    let recs = epochs(&ra);
    assert_eq!(recs.len(), 2);
    for (e, r) in recs.iter().enumerate() {
        assert_eq!(r["epoch"], e);
        assert_eq!(r["architecture"]["space"], 1);
        // Looked up: every repeat at 108 epochs, the full table's other budgets, a regret.
        assert_eq!(r["test_errors"].as_array().unwrap().len(), 3, "{r}");
        assert!(r["test_regret"].as_f64().unwrap() >= 0.0, "{r}");
        let mut budgets: Vec<u32> = r["other_budgets"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.parse().unwrap())
            .collect();
        budgets.sort_unstable();
        assert_eq!(budgets, [4, 12, 36], "{r}");
    }
    // Protocols 3, 4 and 5 of the same weights: the same cell.
    assert_eq!(recs[0]["nb101_hash"], recs[1]["nb101_hash"]);
    assert_eq!(epochs(&rb)[0]["nb101_hash"], recs[0]["nb101_hash"]);

    // A second import adds nothing; an overridden method is refused for the same folder.
    let before = std::fs::read(ra.join("epochs.jsonl")).unwrap();
    let o = import(&[&a], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("0 epochs imported, 2 already there"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(ra.join("epochs.jsonl")).unwrap(), before);
    let o = import(&[&a], &["--method", "other"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("method darts"), "{}", stderr(&o));

    // The store takes the imported runs once, however often they are ingested.
    let db = tmp.path().join("results.sqlite");
    for _ in 0..2 {
        let o = nb1s1(&["results", "ingest", s(&out), "--db", s(&db)]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (runs, rows): (i64, i64) = conn
        .query_row(
            "SELECT COUNT(DISTINCT r.id), COUNT(*) FROM runs r JOIN epochs e ON e.run_id = r.id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((runs, rows), (2, 3));

    // A malicious pickle: a non-zero exit, an error naming the file, nothing run or written.
    let marker = Path::new("/tmp/nb1s1-pwned");
    let _ = std::fs::remove_file(marker);
    let evil = original_folder(&inputs, "evil", &["space1_p3.obj", "evil_os_system.obj"]);
    let o = import(&[&evil], &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("one_shot_architecture_1.obj") && err.contains("refused"),
        "{err}"
    );
    assert!(!marker.exists(), "the pickle ran a command");
    assert!(!out.join("evil").join("epochs.jsonl").exists());
    // A pickle cut short is refused the same way.
    let cut = original_folder(&inputs, "cut", &["truncated.obj"]);
    let o = import(&[&cut], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("one_shot_architecture_0.obj"),
        "{}",
        stderr(&o)
    );
}
