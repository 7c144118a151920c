//! The budgets below 108 epochs (4, 12 and 36 in `nasbench_full`) in the epoch record: on the
//! real full-file fixture (`../shared/fixtures/nb101/p1_full.tfrecord`, one cell at all four
//! budgets), on a synthetic full table of a space that this test generates, and absent (no
//! key) with a 108-only table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nasbench101::ModelHash;
use record::{import_folder, ImportOptions, Lookup, Recorder, RunSpec};
use runfmt::{EpochRecord, ExternalKind};
use searchspace::{SearchSpace, SpaceId, TopKTies};

fn fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/nb101");
    if dir.join("expected.json").exists() {
        return Some(dir);
    }
    // CI must have the real data: a missing fixture is a failure there, not a skip.
    assert!(
        std::env::var_os("CI").is_none(),
        "real data absent: {} (the NB-101 fixtures of ../shared)",
        dir.display()
    );
    eprintln!("SKIPPED (real data absent): {}", dir.display());
    None
}

/// The official API's numbers of one budget, as errors (1 − accuracy) per repeat.
fn expected_errors(repeats: &serde_json::Value, key: &str) -> Vec<f64> {
    repeats
        .as_array()
        .unwrap()
        .iter()
        .map(|r| 1.0 - r[key].as_f64().unwrap())
        .collect()
}

#[test]
fn the_real_full_fixture_gives_every_budget_of_its_cell() {
    let Some(dir) = fixtures() else { return };
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let hash = "28cfc7874f6d200472e1a9dcd8650aa0";
    let stats = expected["models"][hash]["computed_stats"]
        .as_object()
        .unwrap();
    let lookup = Lookup::open(&dir.join("p1_full.tfrecord")).unwrap();
    let cell = lookup.cell(&hash.parse::<ModelHash>().unwrap()).unwrap();
    let budgets: Vec<u32> = cell.other_budgets.keys().copied().collect();
    assert_eq!(budgets, [4, 12, 36]);
    for (epochs, repeats) in stats {
        let got = match epochs.as_str() {
            "108" => &cell.at_108,
            e => &cell.other_budgets[&e.parse::<u32>().unwrap()],
        };
        // Exactly the official API's values (f32 widened to f64), repeat by repeat.
        assert_eq!(
            got.valid_errors,
            expected_errors(repeats, "final_validation_accuracy"),
            "{epochs} epochs"
        );
        assert_eq!(
            got.test_errors,
            expected_errors(repeats, "final_test_accuracy"),
            "{epochs} epochs"
        );
        let times: Vec<f64> = repeats
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["final_training_time"].as_f64().unwrap())
            .collect();
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        assert!((got.train_seconds.unwrap() - mean).abs() < 1e-9, "{epochs}");
    }
    // A cell the table lacks has no numbers at all.
    let other = lookup.cell(&ModelHash([7; 16])).unwrap();
    assert!(other.at_108.test_errors.is_empty() && other.other_budgets.is_empty());
}

/// A synthetic table of every unique model of `space` at `budgets` (crates/synthetic), written
/// to a file in `dir` and opened as a recorder's table.
fn synthetic_table(dir: &Path, space: SpaceId, budgets: &[u32]) -> Lookup {
    let sp = SearchSpace::new(space);
    let specs: Vec<_> = sp
        .unique_models()
        .iter()
        .map(|(_, a)| a.to_spec().unwrap())
        .collect();
    let path = dir.join(format!("synthetic-{}.tfrecord", budgets.len()));
    let file = std::fs::File::create(&path).unwrap();
    nb1s1_synthetic::generate_from_specs(file, &specs, budgets, 3, &mut |_| {}).unwrap();
    Lookup::open(&path).unwrap()
}

fn spec(space: SpaceId) -> RunSpec {
    RunSpec {
        space,
        method: "budgets".into(),
        seed: 0,
        settings: serde_json::json!({}),
        ties: TopKTies::LowerIndex,
        original_reference: false,
        epochs_total: 2,
        kind: ExternalKind::Recorded,
        source: None,
    }
}

fn records(run: &Path) -> Vec<EpochRecord> {
    runfmt::read_jsonl(&run.join("epochs.jsonl")).unwrap()
}

#[test]
fn recorded_epochs_carry_the_other_budgets_of_a_full_table() {
    let tmp = tempfile::tempdir().unwrap();
    let space = SpaceId::One;
    let sp = SearchSpace::new(space);
    let full = synthetic_table(tmp.path(), space, &nb1s1_synthetic::FULL_BUDGETS);
    let archs = [sp.configuration(3).unwrap(), sp.configuration(250).unwrap()];
    let run = tmp.path().join("run");
    let mut rec = Recorder::open(&run, &spec(space), full.clone()).unwrap();
    for (e, a) in archs.iter().enumerate() {
        let r = rec
            .record(e, &sp.one_hot(a).unwrap(), BTreeMap::new())
            .unwrap();
        let want = full.cell(&a.hash().unwrap()).unwrap();
        assert_eq!(
            r.other_budgets.keys().copied().collect::<Vec<_>>(),
            [4, 12, 36]
        );
        assert_eq!(r.other_budgets, want.other_budgets);
        assert_eq!(r.test_errors, want.at_108.test_errors);
        assert_eq!(r.other_budgets[&4].test_errors.len(), 3);
        // Short budgets train less: the generator's 4-epoch errors are above its 108-epoch ones.
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        assert!(mean(&r.other_budgets[&4].test_errors) > mean(&r.test_errors));
    }
    drop(rec);
    // What the file holds reads back the same.
    let back = records(&run);
    assert_eq!(back.len(), 2);
    for (b, a) in back.iter().zip(&archs) {
        assert_eq!(
            b.other_budgets,
            full.cell(&a.hash().unwrap()).unwrap().other_budgets
        );
    }

    // A 108-only table: no other budgets, and no key in the file.
    let only108 = synthetic_table(tmp.path(), space, &nb1s1_synthetic::ONLY108_BUDGETS);
    let run = tmp.path().join("run108");
    let mut rec = Recorder::open(&run, &spec(space), only108).unwrap();
    let r = rec
        .record(0, &sp.one_hot(&archs[0]).unwrap(), BTreeMap::new())
        .unwrap();
    assert!(r.other_budgets.is_empty() && r.test_errors.len() == 3);
    drop(rec);
    let text = std::fs::read_to_string(run.join("epochs.jsonl")).unwrap();
    assert!(!text.contains("other_budgets"), "{text}");
}

#[test]
fn imported_runs_carry_the_other_budgets_of_a_full_table() {
    let tmp = tempfile::tempdir().unwrap();
    let mut full = synthetic_table(tmp.path(), SpaceId::One, &[4, 12, 36, 108]);
    let dir = tmp.path().join("darts-s1");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        r#"{"search_space": "1", "seed": 2, "optimizer": "darts"}"#,
    )
    .unwrap();
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    std::fs::copy(
        data.join("space1_p4.obj"),
        dir.join("one_shot_architecture_0.obj"),
    )
    .unwrap();
    let out = tmp.path().join("out");
    import_folder(&dir, &out, &mut full, &ImportOptions::default()).unwrap();
    let recs = records(&out.join("darts-s1"));
    assert_eq!(recs.len(), 1);
    let hash: ModelHash = recs[0].nb101_hash.as_ref().unwrap().parse().unwrap();
    let want = full.cell(&hash).unwrap();
    assert_eq!(
        recs[0].other_budgets.keys().copied().collect::<Vec<_>>(),
        [4, 12, 36]
    );
    assert_eq!(recs[0].other_budgets, want.other_budgets);
}
