//! The shipped experiment files (experiments/*.toml) parse and expand to the paper's studies,
//! with the original's seeds, epochs and settings (the fully resolved configs are checked
//! through `nb1s1 experiment plan` in crates/cli/tests/experiment_plan.rs).

use nb1s1_bench::experiment::{Experiment, RunUnit};
use nb1s1_bench::runs::RunKind;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../experiments")
        .join(name)
}

fn units(name: &str) -> Vec<RunUnit> {
    Experiment::load(&shipped(name))
        .unwrap()
        .units(Path::new("runs"))
        .unwrap()
}

fn cfg(u: &RunUnit) -> &toml::Table {
    u.config.as_ref().unwrap()
}

fn int(u: &RunUnit, key: &str) -> Option<i64> {
    cfg(u).get(key).and_then(|v| v.as_integer())
}

/// Seeds per (optimizer, space, variant).
fn seeds_of(units: &[RunUnit], study: &str) -> BTreeMap<(String, u8, String), Vec<u64>> {
    let mut m: BTreeMap<(String, u8, String), Vec<u64>> = BTreeMap::new();
    for u in units.iter().filter(|u| u.study == study) {
        m.entry((u.optimizer.clone(), u.space, u.variant.clone()))
            .or_default()
            .extend(&u.seeds);
    }
    m
}

#[test]
fn six_one_shot_optimizers_on_three_spaces_at_50_and_100_epochs() {
    let units = units("oneshot-optimizers.toml");
    // 4 optimizers × 3 spaces × 12 seeds, GDAS on its 13 seeds, DARTS second order; × 2 epochs.
    assert_eq!(units.len(), 2 * (4 * 3 * 12 + 3 * 13 + 3 * 12));
    let series: BTreeSet<(String, String)> = units
        .iter()
        .map(|u| (u.optimizer.clone(), u.variant.clone()))
        .collect();
    assert_eq!(series.len(), 12, "{series:?}");
    assert!(units.iter().all(|u| u.study == "optimizers"));
    for ((opt, _, variant), seeds) in seeds_of(&units, "optimizers") {
        let want: Vec<u64> = if opt == "gdas" {
            (13..=25).collect()
        } else {
            (1..=12).collect()
        };
        assert_eq!(seeds, want, "{opt} {variant}");
    }
    let second: Vec<_> = units
        .iter()
        .filter(|u| u.variant.starts_with("arch.order=second"))
        .collect();
    assert_eq!(second.len(), 2 * 3 * 12);
    for u in &units {
        let c = cfg(u);
        assert_eq!(
            u.base.as_deref(),
            Some(format!("configs/{}.toml", u.optimizer).as_str())
        );
        assert_eq!(
            c["model"]["bn_momentum"].as_float(),
            Some(0.997),
            "{}",
            u.id
        );
        assert_eq!(c["faithful"]["scheduler_shift"].as_bool(), Some(true));
        assert_eq!(int(u, "seed"), Some(u.seeds[0] as i64));
        let epochs = int(u, "epochs").unwrap();
        assert!(u.variant.contains(&format!("epochs={epochs}")), "{}", u.id);
    }
    assert_eq!(cfg(second[0])["arch"]["order"].as_str(), Some("second"));
}

#[test]
fn the_correlation_study_keeps_the_originals_checkpoints() {
    let units = units("correlation.toml");
    assert_eq!(units.len(), 4 * 3);
    for u in &units {
        let c = cfg(u);
        let kept: Vec<i64> = c["keep_checkpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_integer().unwrap())
            .collect();
        // The original's one_shot_model_e: the state after e epochs, e < the run's epochs.
        assert_eq!(kept, vec![5, 15, 25, 35, 45], "{}", u.id);
        assert_eq!(c["correlation"]["epochs"], c["keep_checkpoints"]);
        assert_eq!(
            c["faithful"]["record_at_epoch_start"].as_bool(),
            Some(true),
            "{}",
            u.id
        );
        assert_eq!(
            c["correlation"]["set"].as_str(),
            Some("original"),
            "{}",
            u.id
        );
        assert!(int(u, "epochs").unwrap() > 45, "{}", u.id);
        let mixing = c["correlation"]["mixing"].as_str().unwrap();
        assert_eq!(mixing == "one_hot", u.optimizer == "random_ws", "{}", u.id);
    }
}

#[test]
fn regularization_sweeps_as_the_original_ran_them() {
    let units = units("regularization.toml");
    let count = |study: &str| units.iter().filter(|u| u.study == study).count();
    // One seed per optimizer and space for weight decay and learning rate.
    assert_eq!(count("weight-decay"), 3 * 3 * 5);
    assert_eq!(count("learning-rate"), 3 * 3 * 3);
    for study in ["weight-decay", "learning-rate"] {
        let per: BTreeMap<(String, u8), BTreeSet<u64>> = units
            .iter()
            .filter(|u| u.study == study)
            .fold(BTreeMap::new(), |mut m, u| {
                m.entry((u.optimizer.clone(), u.space))
                    .or_default()
                    .extend(&u.seeds);
                m
            });
        assert_eq!(per.len(), 9, "{study}");
        assert!(per.values().all(|s| s.len() == 1), "{study}: {per:?}");
    }
    let seed_of = |study: &str, opt: &str, space: u8| {
        units
            .iter()
            .find(|u| u.study == study && u.optimizer == opt && u.space == space)
            .map(|u| u.seeds[0])
    };
    assert_eq!(seed_of("weight-decay", "pc_darts", 2), Some(3));
    assert_eq!(seed_of("weight-decay", "pc_darts", 3), Some(1));
    assert_eq!(seed_of("learning-rate", "gdas", 1), Some(0));
    assert_eq!(seed_of("learning-rate", "darts", 3), Some(12));
    // Each optimizer's own epochs: GDAS and PC-DARTS 100, DARTS 50.
    for u in units.iter().filter(|u| u.study == "weight-decay") {
        let want = if u.optimizer == "darts" { 50 } else { 100 };
        assert_eq!(int(u, "epochs"), Some(want), "{}", u.id);
    }
    // Cutout: the GDAS seed range has 13 seeds; DARTS 25 epochs as the scripts pass.
    assert_eq!(count("cutout"), 2 * (3 * 12 * 2) + 3 * 13 * 2);
    for u in units.iter().filter(|u| u.study == "cutout") {
        let c = cfg(u);
        assert_eq!(c["data"]["cutout_prob"].as_float(), Some(1.0));
        assert_eq!(c["faithful"]["cutout_constant"].as_bool(), Some(true));
        if u.optimizer == "darts" {
            assert_eq!(int(u, "epochs"), Some(25));
        }
    }
    // Warm start: GDAS without cutout, the others with.
    assert_eq!(count("warm-start"), 2 * 3 * 6 * 2 + 3 * 12 * 2);
    for u in units.iter().filter(|u| u.study == "warm-start") {
        let cut = cfg(u)["data"]["cutout"].as_bool();
        assert_eq!(cut, Some(u.optimizer != "gdas"), "{}", u.id);
    }
    assert_eq!(count("order"), 3 * 12 * 2 + 3 * 12 + 3 * 6 * 2 + 12);
    let wd: BTreeSet<String> = units
        .iter()
        .filter(|u| u.study == "weight-decay")
        .map(|u| u.variant.clone())
        .collect();
    assert!(wd.contains("weights.weight_decay=0.0081"), "{wd:?}");
}

#[test]
fn bohb_incumbents_transfer_to_every_space() {
    let units = units("bohb-transfer.toml");
    assert_eq!(units.len(), 3 * 3 * 6);
    for u in &units {
        let c = cfg(u);
        assert_eq!(
            u.base.as_deref(),
            Some(format!("configs/bohb/{}.toml", u.optimizer).as_str())
        );
        assert_eq!(int(u, "epochs"), Some(50));
        assert_eq!(c["data"]["cutout"].as_bool(), Some(true));
        let lr = c["weights"]["lr"].as_float().unwrap();
        let want = match u.optimizer.as_str() {
            "darts" => 0.0011765562944021056,
            "gdas" => 0.854962095974854,
            _ => 0.48710801282480837,
        };
        assert_eq!(lr, want, "{}", u.id);
    }
}

#[test]
fn one_shot_against_black_box_and_the_smoke_test() {
    let units = units("oneshot-vs-blackbox.toml");
    let bb: Vec<_> = units
        .iter()
        .filter(|u| u.kind == RunKind::BlackBox)
        .collect();
    assert_eq!(bb.len(), 7 * 3 * 5, "500 seeds in chunks of 100");
    assert_eq!(bb.iter().map(|u| u.seeds.len()).sum::<usize>(), 7 * 3 * 500);
    assert!(bb[0].args.windows(2).any(|w| w == ["--queries", "280"]));
    // HyperBand and BOHB count brackets by default: no unit overrides it.
    assert!(bb
        .iter()
        .all(|u| !u.args.iter().any(|a| a == "--budget-unit")));
    assert_eq!(units.len() - bb.len(), 4 * 3 * 12 + 3 * 13);
    assert!(units
        .iter()
        .filter(|u| u.kind == RunKind::OneShot)
        .all(|u| int(u, "epochs") == Some(100)));
    assert_eq!(self::units("smoke.toml").len(), 4);
}

#[test]
fn the_transfer_studies_train_the_cells_the_searches_score() {
    let units = units("transfer.toml");
    let sa: Vec<_> = units
        .iter()
        .filter(|u| u.kind == RunKind::Standalone)
        .collect();
    assert_eq!(
        sa.len(),
        3 * 9 * 30,
        "spaces x channels x cells x architectures"
    );
    let sizes: std::collections::BTreeSet<&str> = sa.iter().map(|u| u.variant.as_str()).collect();
    assert_eq!(sizes.len(), 9);
    assert!(sizes.contains("cells=3,channels=64"));
    assert!(sa.iter().all(|u| {
        let a = u.args.join(" ");
        a.contains("--sample 30 --sample-seed 0") && a.contains("--epochs 12")
    }));
    // The searches score the same sample at their last epoch.
    let os: Vec<_> = units
        .iter()
        .filter(|u| u.kind == RunKind::OneShot)
        .collect();
    assert_eq!(os.len(), 3);
    for u in os {
        let c = cfg(u)["correlation"].as_table().unwrap();
        assert_eq!(c["sample"].as_integer(), Some(30));
        assert_eq!(c["seed"].as_integer(), Some(0));
        assert_eq!(
            c["epochs"].as_array().unwrap()[0].as_integer(),
            Some(int(u, "epochs").unwrap() - 1)
        );
    }
    let tiny = self::units("transfer-tiny.toml");
    assert_eq!(tiny.len(), 3 * 4 + 1);
}
