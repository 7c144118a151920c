//! The experiment runner against a fake `nb1s1`: skip, resume, retry, and a runner killed
//! midway (SIGKILL to its whole process group) then restarted, with every run exactly once.

mod common;

use nb1s1_bench::experiment::Experiment;
use nb1s1_bench::runner::{self, Event, Launcher, RunnerOptions};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn experiment(seeds: &str, optimizers: &str) -> Experiment {
    toml::from_str(&format!(
        r#"
        name = "tiny"
        [[study]]
        name = "wd"
        kind = "oneshot"
        optimizers = [{optimizers}]
        spaces = [1]
        seeds = "{seeds}"
        base = "none"
        grid = {{ "weights.weight_decay" = [1e-4, 9e-4] }}
        [[study]]
        name = "bb"
        kind = "blackbox"
        optimizers = ["re"]
        spaces = [3]
        seeds = "0..4"
        seeds_per_run = 2
        queries = 3
        "#
    ))
    .unwrap()
}

fn options(workers: usize, gpus: &[&str]) -> RunnerOptions {
    RunnerOptions {
        workers,
        gpus: gpus.iter().map(|g| g.to_string()).collect(),
        max_retries: 2,
        experiment: "tiny".into(),
    }
}

/// The fake launcher through `env`, so each test passes its own log without global state.
fn launcher(dir: &Path, log: &Path, sleep: &str) -> Launcher {
    let script = common::fake_launcher(dir);
    Launcher {
        program: "env".into(),
        prefix_args: vec![
            format!("FAKE_LOG={}", log.display()),
            format!("FAKE_SLEEP={sleep}"),
            script.to_string_lossy().into_owned(),
        ],
    }
}

fn log_counts(log: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
        *counts.entry(line.to_string()).or_default() += 1;
    }
    counts
}

/// Runs in a child process (started by `killed_midway_and_restarted_runs_everything_once`).
#[test]
#[ignore = "child process of the kill test"]
fn child_runner_process() {
    let out = std::env::var("NB1S1_TEST_OUT").expect("started by the kill test");
    let out = Path::new(&out);
    let log = std::env::var("FAKE_LOG").expect("started by the kill test");
    let launcher = launcher(out.parent().unwrap(), Path::new(&log), "0.1");
    let units = experiment("0..4", "\"darts\", \"gdas\"")
        .units(out)
        .unwrap();
    runner::run_experiment(&units, out, &launcher, &options(2, &["0"]), &|_| {}).unwrap();
}

#[test]
fn killed_midway_and_restarted_runs_everything_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let log = tmp.path().join("fake.log");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_runner_process",
            "--ignored",
            "--nocapture",
        ])
        .env("NB1S1_TEST_OUT", &out)
        .env("FAKE_LOG", &log)
        .process_group(0)
        .spawn()
        .unwrap();
    // Wait until some runs are complete and others are mid-way, then kill everything.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = log_counts(&log)
            .keys()
            .filter(|l| l.starts_with("complete"))
            .count();
        if done >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "the runner made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The child leads its own process group (pid = pgid > 1): kill the runner and its runs.
    let pgid = i32::try_from(child.id()).unwrap();
    assert!(pgid > 1);
    // SAFETY: plain syscall on a process group this test created.
    assert_eq!(unsafe { libc::kill(-pgid, libc::SIGKILL) }, 0);
    let _ = child.wait();
    let before = log_counts(&log);
    let completed_before: Vec<String> = before
        .keys()
        .filter_map(|l| l.strip_prefix("complete ").map(str::to_string))
        .collect();
    let all_started = before.keys().filter(|l| l.starts_with("start")).count();
    let units = experiment("0..4", "\"darts\", \"gdas\"")
        .units(&out)
        .unwrap();
    assert!(
        completed_before.len() < 20 && all_started >= 1,
        "the kill came too late to test anything: {before:?}"
    );

    // Restart with the same experiment: it must finish everything, relaunching only the rest.
    let launcher = launcher(tmp.path(), &log, "0.01");
    let report =
        runner::run_experiment(&units, &out, &launcher, &options(3, &[]), &|_| {}).unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.completed.len() + report.skipped.len(), units.len());
    let after = log_counts(&log);
    for unit in &units {
        assert_eq!(
            runner::unit_state(unit).unwrap(),
            nb1s1_bench::runs::RunState::Complete,
            "{}",
            unit.id
        );
        for folder in unit.run_folders() {
            let f = folder.to_string_lossy().into_owned();
            if unit.kind == nb1s1_bench::runs::RunKind::OneShot {
                assert_eq!(
                    after.get(&format!("complete {f}")),
                    Some(&1),
                    "{f} completed once"
                );
                let epochs: Vec<nb1s1_bench::runs::EpochRecord> =
                    nb1s1_bench::runs::read_jsonl(&folder.join("epochs.jsonl")).unwrap();
                let ids: Vec<usize> = epochs.iter().map(|e| e.epoch).collect();
                assert_eq!(ids, vec![0, 1, 2, 3], "{f}: every epoch exactly once");
                if completed_before.contains(&f) {
                    assert_eq!(
                        after.get(&format!("start {f}")),
                        Some(&1),
                        "{f} was not relaunched"
                    );
                }
            }
        }
    }
    // A third invocation has nothing left to do.
    let again = runner::run_experiment(&units, &out, &launcher, &options(2, &[]), &|_| {}).unwrap();
    assert_eq!(again.skipped.len(), units.len());
    assert_eq!(log_counts(&log), after);
}

#[test]
fn failed_runs_are_retried_up_to_the_limit_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let log = tmp.path().join("fake.log");
    let launcher = launcher(tmp.path(), &log, "0.01");
    let units: Vec<_> = experiment("0..1", "\"flaky\", \"broken\"")
        .units(&out)
        .unwrap()
        .into_iter()
        .filter(|u| u.study == "wd")
        .collect();
    let events = std::sync::Mutex::new(Vec::new());
    let report = runner::run_experiment(&units, &out, &launcher, &options(2, &["0", "1"]), &|e| {
        events.lock().unwrap().push(e.clone())
    })
    .unwrap();
    assert_eq!(
        report.completed.len(),
        2,
        "flaky runs succeed on the second attempt"
    );
    assert_eq!(report.failed.len(), 2);
    for (id, message) in &report.failed {
        assert!(id.contains("broken"), "{id}");
        assert!(
            message.contains("exit status 3") && message.contains("boom"),
            "{message}"
        );
        assert_eq!(runner::read_unit_state(&out, id).attempts, 3);
    }
    let events = events.into_inner().unwrap();
    let gpu_starts = events
        .iter()
        .filter(|e| matches!(e, Event::Started { device, .. } if device.starts_with("cuda:")))
        .count();
    assert_eq!(
        gpu_starts,
        2 * 2 + 2 * 3,
        "every one-shot attempt took a GPU"
    );
    // The grid point reached the search config passed with --config.
    let done = units.iter().find(|u| u.optimizer == "flaky").unwrap();
    let status = std::fs::read_to_string(done.out.join("status.json")).unwrap();
    assert!(status.contains("wd=1"), "{status}");
    let tag = std::fs::read_to_string(done.out.join("experiment.json")).unwrap();
    assert!(tag.contains("weights.weight_decay="), "{tag}");
}
