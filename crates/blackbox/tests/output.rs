//! Run folders: the trajectory round-trips, `run.json` marks completion, field names follow the
//! documented schema.

use std::path::Path;

use blackbox::{
    is_complete, read_trajectory, run, run_dir, write_run, Benchmark, BudgetUnit, OptimizerKind,
    RunInfo, TabularBenchmark,
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
    // A corrupt run.json does not count as complete.
    std::fs::write(dir.join("run.json"), b"{").unwrap();
    assert!(!is_complete(&dir));
    assert!(read_trajectory(&tmp.path().join("nope.jsonl")).is_err());
}
