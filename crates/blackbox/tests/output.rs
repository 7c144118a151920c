//! Run folders: the trajectory round-trips, `run.json` marks completion, field names follow the
//! documented schema.

use std::path::Path;

use blackbox::{
    input_changes, is_complete, read_run_info, read_trajectory, run, run_dir, write_run, Benchmark,
    BudgetUnit, OptimizerKind, RunInfo, TabularBenchmark,
};
use searchspace::{synthetic, SearchSpace, SpaceId, SpaceTable};

#[test]
fn run_folder_round_trips_and_marks_completion() {
    let sp = SearchSpace::new(SpaceId::One);
    let nb = synthetic::space_table(&sp, &[108], 3, Path::new("synthetic-s1")).unwrap();
    let b = TabularBenchmark::new(SpaceTable::build(&sp, &nb).unwrap());
    let records = run(OptimizerKind::Re, &b, 120, 4).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(tmp.path(), OptimizerKind::Re, SpaceId::One, 4);
    assert!(dir.ends_with("re/space1/seed4"));
    assert!(!is_complete(&dir));
    let info = RunInfo {
        optimizer: OptimizerKind::Re,
        space: SpaceId::One,
        seed: 4,
        queries: records.len(),
        budget: Some(120),
        budget_unit: BudgetUnit::Queries,
        budgets: b.budgets().to_vec(),
        nb101_file: "synthetic-s1".into(),
        nb101_fingerprint: Some(nb.fingerprint()),
        synthetic: true,
        reference: b.reference().clone(),
        simulated_seconds: records.last().unwrap().simulated_seconds,
        final_incumbent_test_regret: Some(records.last().unwrap().incumbent_test_regret),
        complete: true,
    };
    write_run(&dir, &info, &records).unwrap();
    assert!(is_complete(&dir));
    let back = read_trajectory(&dir.join("trajectory.jsonl")).unwrap();
    assert_eq!(back, records);
    // The documented field names.
    let first = std::fs::read_to_string(dir.join("trajectory.jsonl")).unwrap();
    let v: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    for f in [
        "query",
        "simulated_seconds",
        "architecture",
        "hash",
        "valid_error",
        "test_error",
        "incumbent_valid_error",
        "incumbent_test_error",
        "incumbent_test_regret",
        "incumbent_valid_regret",
    ] {
        assert!(v.get(f).is_some(), "missing {f}");
    }
    assert_eq!(v["hash"].as_str().unwrap().len(), 32);
    let run_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(run_json["optimizer"], "re");
    assert_eq!(run_json["space"], 1);
    assert_eq!(run_json["complete"], true);
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // The inputs that define the numbers: the same call finds nothing changed, a larger budget
    // or another table is named.
    let back = read_run_info(&dir).unwrap().unwrap();
    assert!(input_changes(&back, &info).is_empty());
    let more = RunInfo {
        budget: Some(280),
        nb101_fingerprint: Some("sha256:other".into()),
        ..info.clone()
    };
    let changes = input_changes(&back, &more);
    assert!(
        changes.iter().any(|c| c.starts_with("budget: 120")),
        "{changes:?}"
    );
    assert!(
        changes.iter().any(|c| c.starts_with("NAS-Bench-101 table")),
        "{changes:?}"
    );
    // A run.json that is a link out of the folder is not read.
    let outside = tmp.path().join("elsewhere.json");
    std::fs::copy(dir.join("run.json"), &outside).unwrap();
    std::fs::remove_file(dir.join("run.json")).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("run.json")).unwrap();
    assert!(read_run_info(&dir).is_err());
    assert!(!is_complete(&dir));
    std::fs::remove_file(dir.join("run.json")).unwrap();
    std::fs::copy(&outside, dir.join("run.json")).unwrap();
    // A corrupt run.json does not count as complete.
    std::fs::write(dir.join("run.json"), b"{").unwrap();
    assert!(!is_complete(&dir));
    assert!(read_trajectory(&tmp.path().join("nope.jsonl")).is_err());
}
