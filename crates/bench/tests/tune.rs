//! BOHB over one-shot hyperparameters against a fake `nb1s1 search`: the original's
//! configuration spaces and bracket schedule, the tuning protocol (default first, successive
//! halving, the model's proposals), a tuner killed midway and resumed with no evaluation lost
//! or repeated, and every evaluation in the results store once with its configuration and
//! budget.

mod common;

use common::tune_backend as backend;
use nb1s1_bench::tune::{self, ConfigSpaceId, TuneSettings, Tuner};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A tiny tuning: budgets 1/2/4 epochs, η = 2, four iterations (a cycle and one bracket).
fn settings() -> TuneSettings {
    TuneSettings {
        budgets: vec![1, 2, 4],
        iterations: 4,
        seed: 3,
        ..TuneSettings::original("darts", 3, ConfigSpaceId::Cs1)
    }
}

fn log_counts(log: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
        *counts.entry(line.to_string()).or_default() += 1;
    }
    counts
}

#[test]
fn config_spaces_have_the_originals_ranges_scales_and_defaults() {
    let names = |cs| -> Vec<String> {
        tune::config_space(cs)
            .iter()
            .map(|h| h.name.clone())
            .collect()
    };
    assert_eq!(names(ConfigSpaceId::Cs1), ["weight_decay", "cutout_prob"]);
    assert_eq!(
        names(ConfigSpaceId::Cs2),
        ["weight_decay", "cutout_prob", "learning_rate"]
    );
    let cs3 = tune::config_space(ConfigSpaceId::Cs3);
    let row = |n: &str| cs3.iter().find(|h| h.name == n).unwrap().clone();
    let spec = |n: &str| {
        let h = row(n);
        (h.lower, h.upper, h.log, h.integer, h.default)
    };
    assert_eq!(spec("weight_decay"), (1e-5, 1e-3, true, false, 3e-4));
    assert_eq!(spec("cutout_prob"), (0.0, 1.0, false, false, 0.0));
    assert_eq!(spec("learning_rate"), (1e-3, 1.0, true, false, 0.025));
    assert_eq!(spec("momentum"), (0.0, 0.99, false, false, 0.495));
    // ConfigSpace's defaults where the original set none: log midpoints, rounded integers.
    assert!((row("arch_learning_rate").default - 10f64.powf(-3.5)).abs() < 1e-12);
    assert!((row("arch_weight_decay").default - 10f64.powf(-2.5)).abs() < 1e-12);
    assert_eq!(spec("cutout_length"), (2.0, 32.0, true, true, 8.0));
    assert_eq!(spec("batch_size"), (16.0, 128.0, false, true, 72.0));
    assert_eq!(spec("grad_clip"), (1.0, 9.0, false, true, 5.0));
    assert_eq!(cs3.len(), 9);
    // Log scales: the vector's midpoint is the geometric mean; integers round.
    let wd = row("weight_decay");
    assert!((wd.from_vector(0.5) - 1e-4).abs() < 1e-12);
    assert!((wd.to_vector(1e-4) - 0.5).abs() < 1e-12);
    let bs = row("batch_size");
    assert_eq!(bs.from_vector(0.0), 16.0);
    assert_eq!(bs.from_vector(1.0), 128.0);
    assert_eq!(bs.from_vector(bs.to_vector(77.0)), 77.0);
    assert!("cs4".parse::<ConfigSpaceId>().is_err());
}

#[test]
fn the_bracket_schedule_is_the_originals() {
    // hpbandster's budgets for min 25, max 100, η = 2, and its brackets: s = 2, 1, 0.
    assert_eq!(
        blackbox::hyperband::budgets(25.0, 100.0, 2),
        vec![25.0, 50.0, 100.0]
    );
    let plan: Vec<(usize, Vec<usize>)> = (0..4)
        .map(|i| {
            let b = blackbox::hyperband::bracket(i, 3, 2);
            (b.first_budget, b.configs)
        })
        .collect();
    assert_eq!(
        plan,
        vec![
            (0, vec![4, 2, 1]),
            (1, vec![2, 1]),
            (2, vec![3]),
            (0, vec![4, 2, 1])
        ]
    );
    // 64 iterations: 21 cycles of 13 evaluations and one more bracket of 7.
    let evals: usize = (0..64)
        .map(|i| {
            blackbox::hyperband::bracket(i, 3, 2)
                .configs
                .iter()
                .sum::<usize>()
        })
        .sum();
    assert_eq!(evals, 21 * 13 + 7);
}

#[test]
fn a_tiny_tuning_follows_the_protocol_and_lands_in_the_store_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("tune");
    let log = tmp.path().join("fake.log");
    let be = backend(tmp.path(), &out, &log, "0");
    let mut tuner = Tuner::open(settings(), &out, Vec::new()).unwrap();
    tuner.run(&be, &|_| {}).unwrap();
    let state = tune::read_state(&out).unwrap();
    let evals = &state.evaluations;
    // Brackets s = 2 (4 + 2 + 1), 1 (2 + 1), 0 (3), 2 again (7).
    assert_eq!(evals.len(), 20);
    let mut names: Vec<&str> = evals.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 20, "every evaluation once");
    // The first configuration is the default.
    assert_eq!(evals[0].name, "it000-br2-cfg00-e1");
    assert_eq!(evals[0].values["weight_decay"], 3e-4);
    assert_eq!(evals[0].values["cutout_prob"], 0.0);
    // Successive halving: the best half of the rung goes on to the next budget.
    let rung = |it: usize, b: u32| -> Vec<&tune::Evaluation> {
        evals
            .iter()
            .filter(|e| e.iteration == it && e.budget == b)
            .collect()
    };
    let first = rung(0, 1);
    assert_eq!(first.len(), 4);
    let mut by_loss: Vec<_> = first.iter().map(|e| (e.loss.unwrap(), e.config)).collect();
    by_loss.sort_by(|a, b| a.0.total_cmp(&b.0));
    let promoted: Vec<usize> = rung(0, 2).iter().map(|e| e.config).collect();
    let mut best_two = vec![by_loss[0].1, by_loss[1].1];
    best_two.sort_unstable();
    let mut promoted_sorted = promoted.clone();
    promoted_sorted.sort_unstable();
    assert_eq!(promoted_sorted, best_two);
    assert_eq!(rung(0, 4).len(), 1);
    assert_eq!(rung(2, 4).len(), 3);
    // Each run is an ordinary search with the budget as epochs and the configuration applied.
    let e = &evals[5];
    let config =
        std::fs::read_to_string(out.join("runs").join(&e.name).join("config.toml")).unwrap();
    let config: toml::Table = toml::from_str(&config).unwrap();
    assert_eq!(config["epochs"].as_integer(), Some(i64::from(e.budget)));
    assert_eq!(
        config["weights"]["weight_decay"].as_float(),
        Some(e.values["weight_decay"])
    );
    // The intended worker switches cutout on; cs1 fixes batch size, momentum and lr.
    assert_eq!(config["data"]["cutout"].as_bool(), Some(true));
    assert_eq!(config["data"]["batch_size"].as_integer(), Some(96));
    assert_eq!(config["weights"]["lr"].as_float(), Some(0.025));
    // The incumbent is the best at the largest budget, written as a search config.
    let best = evals
        .iter()
        .filter(|e| e.budget == 4)
        .min_by(|a, b| a.loss.unwrap().total_cmp(&b.loss.unwrap()))
        .unwrap();
    assert_eq!(state.incumbent.as_deref(), Some(best.name.as_str()));
    let inc = std::fs::read_to_string(out.join("incumbent.toml")).unwrap();
    assert!(inc.contains(&best.name), "{inc}");

    // Every evaluation is in the store once, with its configuration and budget.
    let db = tmp.path().join("results.sqlite");
    let mut store = nb1s1_bench::store::Store::open(&db).unwrap();
    let s = store.ingest_dir(&out).unwrap();
    assert_eq!((s.added, s.errors.len()), (20, 0), "{:?}", s.errors);
    let again = store.ingest_dir(&out).unwrap();
    assert_eq!((again.added, again.unchanged), (0, 20));
    let rows: Vec<(String, String, String)> = {
        let mut st = store
            .conn()
            .prepare("SELECT variant, study, config FROM runs WHERE experiment = ?1")
            .unwrap();
        st.query_map([tune::EXPERIMENT], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
    };
    assert_eq!(rows.len(), 20);
    for e in evals {
        let (_, study, config) = rows.iter().find(|r| r.0 == e.name).unwrap();
        assert_eq!(study, "darts-space3-cs1");
        let config: serde_json::Value = serde_json::from_str(config).unwrap();
        assert_eq!(
            config["epochs"].as_u64(),
            Some(u64::from(e.budget)),
            "{}",
            e.name
        );
        assert_eq!(
            config["weights"]["weight_decay"].as_f64(),
            Some(e.values["weight_decay"])
        );
    }

    // A second run has nothing to do and launches nothing.
    let before = log_counts(&log);
    let mut again = Tuner::open(settings(), &out, Vec::new()).unwrap();
    again.run(&be, &|_| {}).unwrap();
    assert_eq!(log_counts(&log), before);
    // Other settings on the same folder are refused, naming the field.
    let other = TuneSettings {
        eta: 3,
        ..settings()
    };
    let e = Tuner::open(other, &out, Vec::new())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("settings.eta"), "{e}");
    // The same settings but other launch arguments (another table): each evaluation's inputs
    // differ from those recorded, so it is refused, not read back as done.
    let extra = vec!["--nb101".to_string(), "other.store".to_string()];
    let mut moved = Tuner::open(settings(), &out, extra).unwrap();
    let e = moved.run(&be, &|_| {}).unwrap_err().to_string();
    assert!(e.contains("args.--nb101: added"), "{e}");
    assert_eq!(log_counts(&log), before);
}

#[test]
fn the_faithful_worker_drops_cutout_and_the_cs3_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let values: BTreeMap<String, f64> = tune::config_space(ConfigSpaceId::Cs3)
        .iter()
        .map(|h| (h.name.to_string(), h.default))
        .collect();
    let cs3 = TuneSettings::original("darts", 1, ConfigSpaceId::Cs3);
    let intended = Tuner::open(cs3.clone(), tmp.path(), Vec::new()).unwrap();
    let c = intended.search_config(&values, 25);
    assert_eq!(c["data"]["cutout"].as_bool(), Some(true));
    assert_eq!(c["data"]["cutout_length"].as_integer(), Some(8));
    assert_eq!(c["data"]["batch_size"].as_integer(), Some(72));
    assert_eq!(c["weights"]["grad_clip"].as_float(), Some(5.0));
    assert!((c["arch"]["lr"].as_float().unwrap() - 10f64.powf(-3.5)).abs() < 1e-15);
    let faithful = Tuner::open(
        TuneSettings {
            faithful_worker: true,
            ..cs3
        },
        tmp.path(),
        Vec::new(),
    )
    .unwrap();
    let f = faithful.search_config(&values, 25);
    // configs/darts.toml's values stay: cutout off, length 16, arch lr 3e-4, clip 5.
    assert_eq!(f["data"]["cutout"].as_bool(), Some(false));
    assert!(f["data"].get("cutout_length").is_none());
    assert_eq!(f["arch"]["lr"].as_float(), Some(3e-4));
    assert_eq!(f["arch"]["weight_decay"].as_float(), Some(1e-3));
    // What the worker did pass still arrives.
    assert_eq!(f["data"]["batch_size"].as_integer(), Some(72));
    assert_eq!(f["weights"]["momentum"].as_float(), Some(0.495));
}

/// Runs in a child process (started by `a_killed_tuning_resumes_with_no_evaluation_lost_or_repeated`).
#[test]
#[ignore = "child process of the kill test"]
fn child_tuner_process() {
    let out = std::env::var("NB1S1_TEST_OUT").expect("started by the kill test");
    let log = std::env::var("FAKE_LOG").expect("started by the kill test");
    let out = Path::new(&out);
    let be = backend(out.parent().unwrap(), out, Path::new(&log), "0.05");
    let mut tuner = Tuner::open(settings(), out, Vec::new()).unwrap();
    tuner.run(&be, &|_| {}).unwrap();
}

#[test]
fn a_killed_tuning_resumes_with_no_evaluation_lost_or_repeated() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("tune");
    let log = tmp.path().join("fake.log");
    std::fs::create_dir_all(&out).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_tuner_process", "--ignored", "--nocapture"])
        .env("NB1S1_TEST_OUT", &out)
        .env("FAKE_LOG", &log)
        .process_group(0)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while log_counts(&log)
        .keys()
        .filter(|l| l.starts_with("complete"))
        .count()
        < 5
    {
        assert!(Instant::now() < deadline, "the tuner made no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    let pgid = i32::try_from(child.id()).unwrap();
    assert!(pgid > 1);
    // SAFETY: plain syscall on a process group this test created.
    assert_eq!(unsafe { libc::kill(-pgid, libc::SIGKILL) }, 0);
    let _ = child.wait();
    let before = log_counts(&log);
    let completed_before = before.keys().filter(|l| l.starts_with("complete")).count();
    assert!(completed_before < 20, "killed too late: {before:?}");

    let be = backend(tmp.path(), &out, &log, "0");
    let mut tuner = Tuner::open(settings(), &out, Vec::new()).unwrap();
    tuner.run(&be, &|_| {}).unwrap();
    let after = log_counts(&log);
    let resumed = tune::read_state(&out).unwrap();
    assert_eq!(resumed.evaluations.len(), 20);
    for e in &resumed.evaluations {
        let f = out
            .join("runs")
            .join(&e.name)
            .to_string_lossy()
            .into_owned();
        // Completed once. The fake logs "complete" just after marking its run complete, so a
        // kill between the two leaves a finished run with no log line, which must not rerun.
        let status = std::fs::read_to_string(format!("{f}/status.json")).unwrap();
        let completes = after.get(&format!("complete {f}")).copied();
        let unlogged = completes.is_none()
            && status.contains("\"complete\"")
            && after.get(&format!("start {f}")) == Some(&1);
        assert!(
            completes == Some(1) || unlogged,
            "{f} completed once: {after:?}"
        );
        if before.contains_key(&format!("complete {f}")) {
            assert_eq!(
                after.get(&format!("start {f}")),
                Some(&1),
                "{f} not relaunched"
            );
        }
        let epochs = std::fs::read_to_string(format!("{f}/epochs.jsonl")).unwrap();
        assert_eq!(
            epochs.lines().count(),
            e.budget as usize,
            "{f}: each epoch once"
        );
    }
    let logged = after.keys().filter(|l| l.starts_with("complete")).count();
    assert!((19..=20).contains(&logged), "{logged} completions logged");

    // The resumed tuning is the uninterrupted one.
    let clean_out = tmp.path().join("clean");
    let clean_log = tmp.path().join("clean.log");
    let be = backend(tmp.path(), &clean_out, &clean_log, "0");
    Tuner::open(settings(), &clean_out, Vec::new())
        .unwrap()
        .run(&be, &|_| {})
        .unwrap();
    let clean = tune::read_state(&clean_out).unwrap();
    assert_eq!(clean.evaluations, resumed.evaluations);
    assert_eq!(clean.incumbent, resumed.incumbent);
}
