//! `nb1s1 experiment plan --json` prints every run's effective, fully resolved config: the
//! shipped experiments resolve to the paper's settings, and a bad override fails before
//! anything runs, naming the run and the key.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn plan(file: &Path) -> Result<Vec<Value>, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_nb1s1-torch"))
        .args(["experiment", "plan", file.to_str().unwrap(), "--json"])
        .output()
        .expect("run nb1s1");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let v: Value = serde_json::from_slice(&out.stdout).expect("plan prints JSON");
    Ok(v.as_array().expect("an array of runs").clone())
}

fn shipped(name: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../experiments")
        .join(name);
    plan(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn shipped_experiments_resolve_to_the_papers_settings() {
    for name in [
        "oneshot-optimizers.toml",
        "correlation.toml",
        "regularization.toml",
        "bohb-transfer.toml",
    ] {
        let runs = shipped(name);
        assert!(!runs.is_empty(), "{name}");
        for r in &runs {
            let c = &r["config"];
            let id = r["id"].as_str().unwrap();
            // Fully resolved: sections the files never mention are present.
            for section in ["data", "weights", "arch", "model", "faithful", "selection"] {
                assert!(c[section].is_object(), "{name} {id}: no [{section}]");
            }
            // The original supernet and initialization.
            let m = &c["model"];
            assert_eq!(m["bn_momentum"], 0.997, "{name} {id}");
            assert_eq!(m["downsample_padding"], 1, "{name} {id}");
            assert_eq!(m["fuse_projections"], false, "{name} {id}");
            assert_eq!(m["weight_init"], "pytorch", "{name} {id}");
            assert_eq!(m["run_all_ops"], r["optimizer"] != "gdas", "{name} {id}");
            assert_eq!(c["faithful"]["scheduler_shift"], true, "{name} {id}");
            assert_eq!(c["seed"], r["seeds"][0], "{name} {id}");
            assert_eq!(c["space"], r["space"], "{name} {id}");
            assert_eq!(c["optimizer"], r["optimizer"], "{name} {id}");
            if c["data"]["cutout"] == true {
                assert!(c["data"]["cutout_prob"].as_f64().unwrap() > 0.0, "{id}");
                assert_eq!(c["faithful"]["cutout_constant"], true, "{id}");
            }
            // The paper's per-optimizer values survive the layering.
            match r["optimizer"].as_str().unwrap() {
                "gdas" => {
                    assert_eq!(c["arch"]["grad_clip"], 5.0, "{id}");
                    assert_eq!(c["arch"]["tau_max"], 10.0, "{id}");
                }
                "pc_darts" => assert_eq!(m["partial_channels"], 4, "{id}"),
                "random_ws" => assert_eq!(c["weights"]["grad_clip"], 0.25, "{id}"),
                "enas" => assert_eq!(c["weights"]["weight_decay"], 1e-4, "{id}"),
                _ => {}
            }
        }
    }
    let reg = shipped("regularization.toml");
    let wd: Vec<_> = reg
        .iter()
        .filter(|r| r["study"] == "weight-decay" && r["optimizer"] == "gdas")
        .collect();
    assert!(wd.iter().all(|r| r["config"]["epochs"] == 100));
    // The original's checkpoints under its own epoch numbering, on its enumerator's set.
    let corr = shipped("correlation.toml");
    for r in &corr {
        let c = &r["config"];
        assert_eq!(
            c["correlation"]["epochs"],
            serde_json::json!([5, 15, 25, 35, 45])
        );
        assert_eq!(c["keep_checkpoints"], c["correlation"]["epochs"]);
        assert_eq!(c["faithful"]["record_at_epoch_start"], true);
        assert_eq!(c["correlation"]["set"], "original");
    }
    // The DARTS family records at the start of an epoch, the sampling methods after it.
    for r in shipped("oneshot-optimizers.toml") {
        let f = &r["config"]["faithful"];
        let darts_family = !matches!(r["optimizer"].as_str(), Some("enas" | "random_ws"));
        assert_eq!(f["record_at_epoch_start"], darts_family, "{}", r["id"]);
        for key in [
            "step_zero_grads",
            "augment_valid",
            "rank_next_batches",
            "original_normalization",
            "argpartition_ties",
        ] {
            assert_eq!(f[key], true, "{} {key}", r["id"]);
        }
    }
}

#[test]
fn a_bad_override_fails_the_plan_naming_run_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bad.toml");
    std::fs::write(
        &file,
        "name = \"bad\"\n[[study]]\nname = \"s\"\nkind = \"oneshot\"\noptimizers = [\"darts\"]\n\
         spaces = [1]\nseeds = [0]\nconfig = { weights = { lrr = 0.1 } }\n",
    )
    .unwrap();
    let e = plan(&file).unwrap_err();
    assert!(
        e.contains("s/darts/space1/default/seed0") && e.contains("lrr"),
        "{e}"
    );
    // A study with `base = "none"` resolves over the code defaults alone.
    std::fs::write(
        &file,
        "name = \"plain\"\n[[study]]\nname = \"s\"\nkind = \"oneshot\"\noptimizers = [\"darts\"]\n\
         spaces = [1]\nseeds = [0]\nbase = \"none\"\n",
    )
    .unwrap();
    let runs = plan(&file).unwrap();
    assert_eq!(runs[0]["base"], "none");
    assert_eq!(runs[0]["config"]["epochs"], 50);
    assert_eq!(
        runs[0]["config"]["keep_checkpoints"],
        serde_json::json!([5, 15, 25, 35, 45])
    );
}

#[test]
fn transfer_studies_plan_their_training_runs() {
    let runs = shipped("transfer-tiny.toml");
    let sa: Vec<&Value> = runs.iter().filter(|r| r["kind"] == "standalone").collect();
    assert_eq!(sa.len(), 3 * 4);
    assert!(sa
        .iter()
        .all(|r| r["args"][0] == "train" && r["config"].is_null()));
    let os: Vec<&Value> = runs.iter().filter(|r| r["kind"] == "oneshot").collect();
    assert_eq!(os[0]["config"]["correlation"]["sample"], 3);
    assert_eq!(shipped("transfer.toml").len(), 3 * 9 * 30 + 3);
    // A value `nb1s1 train` refuses fails the plan, naming the run and the option.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "name = \"b\"\n[[study]]\nname = \"t\"\nkind = \"standalone\"\nspaces = [1]\n\
         seeds = [0]\narchitectures = 1\nconfig = { epochs = \"many\" }\n",
    )
    .unwrap();
    let e = plan(&file).unwrap_err();
    assert!(
        e.contains("t/standalone/space1/default/arch0/seed0") && e.contains("--epochs"),
        "{e}"
    );
}
