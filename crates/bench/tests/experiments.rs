//! The shipped experiment files (experiments/*.toml) parse and expand to the paper's studies.

use nb1s1_bench::experiment::Experiment;
use nb1s1_bench::runs::RunKind;
use std::path::{Path, PathBuf};

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../experiments")
        .join(name)
}

#[test]
fn six_one_shot_optimizers_on_three_spaces() {
    let exp = Experiment::load(&shipped("oneshot-optimizers.toml")).unwrap();
    let units = exp.units(Path::new("runs")).unwrap();
    // 4 optimizers × 3 spaces × 12 seeds, GDAS on its own 12 seeds, DARTS second order.
    assert_eq!(units.len(), 4 * 3 * 12 + 3 * 12 + 3 * 12);
    let series: std::collections::BTreeSet<(String, String)> = units
        .iter()
        .map(|u| (u.optimizer.clone(), u.variant.clone()))
        .collect();
    assert_eq!(series.len(), 6, "{series:?}");
    assert!(units.iter().all(|u| u.study == "optimizers"));
    let second = units
        .iter()
        .find(|u| u.variant == "arch.order=second")
        .unwrap();
    assert_eq!(
        second.config.as_ref().unwrap()["arch"]["order"].as_str(),
        Some("second")
    );
    assert_eq!(
        second.config.as_ref().unwrap()["epochs"].as_integer(),
        Some(100)
    );
}

#[test]
fn regularization_sweeps_cover_the_grid() {
    let exp = Experiment::load(&shipped("regularization.toml")).unwrap();
    let units = exp.units(Path::new("runs")).unwrap();
    let count = |study: &str| units.iter().filter(|u| u.study == study).count();
    assert_eq!(count("weight-decay"), 3 * 3 * 5 * 3);
    assert_eq!(count("cutout"), 3 * 3 * 2 * 3);
    assert_eq!(count("learning-rate"), 3 * 3 * 3 * 3);
    assert_eq!(count("warm-start"), 3 * 3 * 2 * 3);
    assert_eq!(count("order"), 3 * 4 * 3);
    let wd: std::collections::BTreeSet<String> = units
        .iter()
        .filter(|u| u.study == "weight-decay")
        .map(|u| u.variant.clone())
        .collect();
    assert!(wd.contains("weights.weight_decay=0.0081"), "{wd:?}");
}

#[test]
fn one_shot_against_black_box_and_the_smoke_test() {
    let exp = Experiment::load(&shipped("oneshot-vs-blackbox.toml")).unwrap();
    let units = exp.units(Path::new("runs")).unwrap();
    let bb: Vec<_> = units
        .iter()
        .filter(|u| u.kind == RunKind::BlackBox)
        .collect();
    assert_eq!(bb.len(), 6 * 3 * 5, "500 seeds in chunks of 100");
    assert_eq!(bb.iter().map(|u| u.seeds.len()).sum::<usize>(), 6 * 3 * 500);
    assert!(bb[0].args.windows(2).any(|w| w == ["--queries", "280"]));
    assert_eq!(units.len() - bb.len(), 5 * 3 * 6);
    let smoke = Experiment::load(&shipped("smoke.toml")).unwrap();
    assert_eq!(smoke.units(Path::new("runs")).unwrap().len(), 4);
}
