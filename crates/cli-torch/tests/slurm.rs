//! `nb1s1 experiment run --backend slurm` against a real single-node Slurm that the tests start
//! themselves (`scripts/slurm-local.sh start`): tiny real searches (a 48-image CIFAR-10 and a
//! synthetic NAS-Bench-101 table of space 1) run as array elements. If the cluster cannot start,
//! every test fails with the reason; none is skipped.
//!
//! The tests share the one node (two CPUs), so they take turns (a global lock).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use nb1s1_bench::slurm::{slurm_dir, Submissions};
use nb1s1_data::Cifar10;
use nb1s1_synthetic::{generate_from_specs, FULL_BUDGETS};
use searchspace::{SearchSpace, SpaceId};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `SLURM_CONF` of the test cluster, started once per test binary.
fn slurm_conf() -> &'static str {
    static CONF: OnceLock<Result<String, String>> = OnceLock::new();
    let conf = CONF.get_or_init(|| {
        let o = Command::new(repo().join("scripts/slurm-local.sh"))
            .arg("start")
            .output()
            .map_err(|e| format!("cannot run scripts/slurm-local.sh: {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "scripts/slurm-local.sh start failed:\n{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        let dir = std::env::var("NB1S1_SLURM_DIR").unwrap_or_else(|_| "/tmp/nb1s1-slurm".into());
        Ok(format!("{dir}/slurm.conf"))
    });
    match conf {
        Ok(c) => c,
        Err(e) => panic!("the local Slurm cluster did not start (tests need it): {e}"),
    }
}

/// One test at a time on the shared node.
fn take_turn() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

fn command(program: &str) -> Command {
    let mut c = Command::new(program);
    c.env("SLURM_CONF", slurm_conf())
        .env_remove("NB1S1_NB101")
        .env_remove("NB1S1_CIFAR10")
        .env_remove("NB1S1_RESULTS");
    c
}

fn nb1s1(args: &[&str]) -> Output {
    command(env!("CARGO_BIN_EXE_nb1s1-torch"))
        .args(args)
        .output()
        .expect("run nb1s1")
}

fn slurm(program: &str, args: &[&str]) -> String {
    let o = command(program)
        .args(args)
        .output()
        .expect("run a Slurm command");
    assert!(
        o.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(o: &Output, what: &str) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        o.status.success(),
        "{what} failed: {}\n{err}",
        String::from_utf8_lossy(&o.stdout)
    );
    err
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A test's folder: CIFAR-10 subset, synthetic NB-101 of space 1, experiment files.
struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    cifar: PathBuf,
    nb: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let cifar = dir.join("cifar");
    std::fs::create_dir_all(&cifar).unwrap();
    Cifar10 {
        train: nb1s1_data::bench::synthetic_split(48, 1),
        test: nb1s1_data::bench::synthetic_split(24, 2),
    }
    .save(&cifar)
    .unwrap();
    let specs: Vec<_> = SearchSpace::new(SpaceId::One)
        .unique_models()
        .iter()
        .map(|(_, a)| a.to_spec().unwrap())
        .collect();
    let nb = dir.join("nb.tfrecord");
    generate_from_specs(
        std::io::BufWriter::new(std::fs::File::create(&nb).unwrap()),
        &specs,
        &FULL_BUDGETS,
        3,
        &mut |_| {},
    )
    .unwrap();
    Fixture {
        _tmp: tmp,
        dir,
        cifar,
        nb,
    }
}

impl Fixture {
    /// An experiment of `optimizers` × `seeds` tiny DARTS-style runs of `epochs` epochs.
    fn experiment(
        &self,
        name: &str,
        optimizers: &str,
        seeds: &str,
        epochs: usize,
        slurm: &str,
    ) -> PathBuf {
        let text = format!(
            r#"name = "{name}"
max_retries = 2
extra_args = ["--data", "{cifar}", "--nb101", "{nb}", "--device", "cpu"]

[slurm]
cpus_per_task = 1
{slurm}

[[study]]
name = "tiny"
kind = "oneshot"
optimizers = [{optimizers}]
spaces = [1]
seeds = "{seeds}"
config = {{ epochs = {epochs}, data = {{ train_images = 24, valid_images = 24, batch_size = 8, eval_batch_size = 16 }}, model = {{ init_channels = 4, layers = 3 }}, selection = {{ samples = 4, rank_batches = 1, top_k = 2 }} }}
"#,
            cifar = self.cifar.display(),
            nb = self.nb.display(),
        );
        let path = self.dir.join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn run_slurm(exp: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "experiment",
        "run",
        p(exp),
        "--out",
        p(out),
        "--backend",
        "slurm",
        "--poll",
        "0.5",
    ];
    args.extend_from_slice(extra);
    nb1s1(&args)
}

fn status(exp: &Path, out: &Path) -> Vec<Value> {
    let o = nb1s1(&[
        "experiment",
        "status",
        p(exp),
        "--out",
        p(out),
        "--format",
        "json",
    ]);
    ok(&o, "experiment status");
    serde_json::from_slice(&o.stdout).unwrap()
}

fn field<'a>(row: &'a Value, key: &str) -> &'a str {
    row[key].as_str().unwrap_or("")
}

fn wait_until(what: &str, seconds: u64, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn epochs_done(run: &Path) -> usize {
    std::fs::read_to_string(run.join("epochs.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// epochs.jsonl without the wall-clock field, for comparing runs.
fn records(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("epochs.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("seconds");
            v
        })
        .collect()
}

fn submissions(out: &Path) -> Submissions {
    Submissions::load(out).unwrap()
}

fn run_folders(out: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![out.to_path_buf()];
    while let Some(d) = stack.pop() {
        if d.join("status.json").is_file() {
            found.push(d);
            continue;
        }
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() && !e.file_name().to_string_lossy().starts_with('.') {
                stack.push(e.path());
            }
        }
    }
    found.sort();
    found
}

fn event_files(run: &Path) -> usize {
    std::fs::read_dir(run.join("tensorboard"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn grid_of_six_runs_completes_as_one_array_job_and_the_store_holds_each_once() {
    let _turn = take_turn();
    let fx = fixture();
    let exp = fx.experiment("grid", "\"darts\", \"random_ws\"", "0..3", 1, "");
    let out = fx.dir.join("out");
    let db = fx.dir.join("results.sqlite");
    let err = ok(
        &run_slurm(&exp, &out, &["--results", p(&db)]),
        "experiment run",
    );
    assert!(err.contains("6 completed now"), "{err}");
    let subs = submissions(&out);
    assert_eq!(subs.jobs.len(), 1, "one array job: {subs:?}");
    assert_eq!(subs.jobs[0].units.len(), 6);
    let job = subs.jobs[0].job_id.clone().expect("job id recorded");
    let folders = run_folders(&out);
    assert_eq!(folders.len(), 6, "{folders:?}");
    for f in &folders {
        assert_eq!(records(f).len(), 1, "{}", f.display());
        assert_eq!(event_files(f), 1, "{} launched once", f.display());
    }
    for row in status(&exp, &out) {
        assert_eq!(field(&row, "state"), "complete", "{row}");
        assert!(
            field(&row, "slurm_job").starts_with(&format!("{job}_")),
            "{row}"
        );
        let s = field(&row, "slurm_state");
        assert!(s == "COMPLETED" || s == "gone", "{row}");
    }
    let store = nb1s1_bench::store::Store::open(&db).unwrap();
    let (rows, paths): (i64, i64) = store
        .conn()
        .query_row("SELECT COUNT(*), COUNT(DISTINCT path) FROM runs", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((rows, paths), (6, 6));
    // Nothing left: a second run submits nothing, a second ingest adds nothing.
    let err = ok(&run_slurm(&exp, &out, &["--results", p(&db)]), "second run");
    assert!(
        err.contains("6 already done") && err.contains("jobs submitted: none"),
        "{err}"
    );
    assert!(err.contains("0 added, 0 updated, 6 unchanged"), "{err}");
    assert_eq!(submissions(&out).jobs.len(), 1);
}

#[test]
fn scancel_of_a_running_element_is_resubmitted_and_resumes_bit_identically() {
    let _turn = take_turn();
    let fx = fixture();
    let epochs = 5;
    // The uninterrupted reference, on the local backend.
    let exp_ref = fx.experiment("reference", "\"darts\"", "0..1", epochs, "");
    let out_ref = fx.dir.join("ref");
    let o = nb1s1(&[
        "experiment",
        "run",
        p(&exp_ref),
        "--out",
        p(&out_ref),
        "--gpus",
        "none",
    ]);
    ok(&o, "reference run");
    let reference = records(&run_folders(&out_ref)[0]);
    assert_eq!(reference.len(), epochs);

    let exp = fx.experiment("cancel", "\"darts\"", "0..1", epochs, "");
    let out = fx.dir.join("out");
    ok(&run_slurm(&exp, &out, &["--no-wait"]), "submit");
    let run = out.join("tiny/darts/space1/default/seed0");
    wait_until("two epochs", 120, || epochs_done(&run) >= 2);
    let job = submissions(&out).jobs[0].job_id.clone().unwrap();
    slurm("scancel", &[&format!("{job}_0")]);
    wait_until("the element to end", 60, || {
        field(&status(&exp, &out)[0], "slurm_state").starts_with("CANCELLED")
    });
    let before = std::fs::read_to_string(run.join("epochs.jsonl")).unwrap();
    let done_before = before.lines().count();
    assert!(
        (2..epochs).contains(&done_before),
        "cancelled mid-run: {done_before} of {epochs} epochs"
    );
    let row = &status(&exp, &out)[0];
    assert_ne!(field(row, "state"), "complete", "{row}");
    assert!(field(row, "slurm_state").starts_with("CANCELLED"), "{row}");

    let err = ok(&run_slurm(&exp, &out, &[]), "rerun");
    assert!(err.contains("ended early, submitting it again"), "{err}");
    assert_eq!(submissions(&out).jobs.len(), 2);
    let after = std::fs::read_to_string(run.join("epochs.jsonl")).unwrap();
    // Resumed, not restarted: the epochs before the cancel are the same lines, wall clock and all.
    let kept: Vec<&str> = before.lines().take(done_before - 1).collect();
    let now: Vec<&str> = after.lines().take(done_before - 1).collect();
    assert_eq!(kept, now);
    assert_eq!(event_files(&run), 2, "two processes wrote the run");
    assert_eq!(
        records(&run),
        reference,
        "bit-identical to the uninterrupted run"
    );
}

fn spawn_submitter(exp: &Path, out: &Path) -> Child {
    command(env!("CARGO_BIN_EXE_nb1s1-torch"))
        .args([
            "experiment",
            "run",
            p(exp),
            "--out",
            p(out),
            "--backend",
            "slurm",
            "--poll",
            "0.5",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn killed_submitter_is_adopted_by_a_second_run_that_submits_nothing_twice() {
    let _turn = take_turn();
    let fx = fixture();
    let exp = fx.experiment("adopt", "\"darts\"", "0..3", 2, "");
    let out = fx.dir.join("out");
    let mut submitter = spawn_submitter(&exp, &out);
    wait_until("a running element", 120, || {
        status_rows_with(&exp, &out, "running") >= 1
    });
    submitter.kill().unwrap();
    submitter.wait().unwrap();
    let subs = submissions(&out);
    assert_eq!(subs.jobs.len(), 1);
    let err = ok(&run_slurm(&exp, &out, &[]), "second run");
    assert!(err.contains("jobs submitted: none"), "{err}");
    assert!(!err.contains("0 adopted"), "{err}");
    assert_eq!(submissions(&out), subs, "nothing submitted twice");
    let folders = run_folders(&out);
    assert_eq!(folders.len(), 3);
    for f in &folders {
        assert_eq!(records(f).len(), 2, "{}", f.display());
        assert_eq!(event_files(f), 1, "{} ran once", f.display());
    }
}

fn status_rows_with(exp: &Path, out: &Path, state: &str) -> usize {
    if !out.join(".experiment/slurm/jobs.json").is_file() {
        return 0;
    }
    status(exp, out)
        .iter()
        .filter(|r| field(r, "state") == state)
        .count()
}

#[test]
fn a_run_past_its_time_limit_checkpoints_on_the_signal_and_requeues_itself() {
    let _turn = take_turn();
    let fx = fixture();
    // Far longer than the two-minute limit; USR1 60 s before the end. The submitter returns
    // right after `sbatch`: the element must come back by itself, from its checkpoint.
    let exp = fx.experiment(
        "limit",
        "\"darts\"",
        "0..1",
        1000,
        "time = \"2\"\nsignal_seconds = 60",
    );
    let out = fx.dir.join("out");
    ok(
        &run_slurm(&exp, &out, &["--no-wait", "--max-retries", "3"]),
        "submit",
    );
    let job = submissions(&out).jobs[0].job_id.clone().unwrap();
    let element = format!("{job}_0");
    let restarts = || {
        let info = slurm("scontrol", &["-o", "show", "job", &element]);
        info.split_whitespace()
            .find_map(|w| w.strip_prefix("Restarts="))
            .and_then(|r| r.parse::<usize>().ok())
            .unwrap_or(0)
    };
    let run = out.join("tiny/darts/space1/default/seed0");
    let checks = std::panic::catch_unwind(|| {
        wait_until("a first checkpoint", 240, || epochs_done(&run) >= 1);
        wait_until("the element to requeue itself", 240, || restarts() >= 1);
        let done_at_signal = epochs_done(&run);
        wait_until("the requeued run to train on", 300, || {
            epochs_done(&run) > done_at_signal
        });
    });
    let info = slurm("scontrol", &["-o", "show", "job", &element]);
    let _ = command("scancel").arg(&job).status();
    wait_until("the cancelled element to leave", 60, || {
        unit_elements_live(&exp, &out) == 0
    });
    assert!(
        checks.is_ok(),
        "the run was not requeued and resumed: {info}"
    );
    assert_eq!(submissions(&out).jobs.len(), 1, "nothing was resubmitted");
    assert!(!info.contains("TIMEOUT"), "{info}");
    // The log of both attempts (appended): the first stopped cleanly on the signal.
    let log = std::fs::read_to_string(out.join(format!(".experiment/slurm/logs/{element}.out")))
        .unwrap_or_default();
    assert!(
        log.contains("stopped by a signal; resumes from its last checkpoint"),
        "{log}"
    );
    assert_eq!(event_files(&run), 2, "two processes wrote the run");
}

fn unit_elements_live(exp: &Path, out: &Path) -> usize {
    status(exp, out)
        .iter()
        .filter(|r| {
            let s = field(r, "slurm_state");
            ["PENDING", "RUNNING", "COMPLETING", "CONFIGURING"]
                .iter()
                .any(|l| s.starts_with(l))
        })
        .count()
}

struct Drained(String);

impl Drop for Drained {
    fn drop(&mut self) {
        let _ = command("scontrol")
            .args(["update", &format!("nodename={}", self.0), "state=resume"])
            .status();
    }
}

#[test]
fn drained_node_keeps_runs_pending_and_the_grid_completes_when_it_returns() {
    let _turn = take_turn();
    let fx = fixture();
    let exp = fx.experiment("drain", "\"darts\"", "0..3", 1, "parallel = 1");
    let out = fx.dir.join("out");
    ok(&run_slurm(&exp, &out, &["--no-wait"]), "submit");
    wait_until("the first element to run", 120, || {
        status_rows_with(&exp, &out, "running") == 1
    });
    let node = slurm("sinfo", &["-h", "-N", "-o", "%N"]).trim().to_string();
    slurm(
        "scontrol",
        &[
            "update",
            &format!("nodename={node}"),
            "state=drain",
            "reason=nb1s1-test",
        ],
    );
    let _guard = Drained(node.clone());
    // The running element finishes on the draining node; the others wait.
    wait_until("the running element to finish", 120, || {
        status_rows_with(&exp, &out, "complete") == 1
    });
    std::thread::sleep(Duration::from_secs(3));
    let rows = status(&exp, &out);
    let pending: Vec<&Value> = rows
        .iter()
        .filter(|r| field(r, "state") == "pending")
        .collect();
    assert_eq!(pending.len(), 2, "{rows:?}");
    for r in &pending {
        assert!(field(r, "slurm_state").starts_with("PENDING"), "{r}");
    }
    drop(_guard);
    let err = ok(&run_slurm(&exp, &out, &[]), "run after resume");
    assert!(err.contains("jobs submitted: none"), "{err}");
    assert_eq!(submissions(&out).jobs.len(), 1);
    assert!(status(&exp, &out)
        .iter()
        .all(|r| field(r, "state") == "complete"));
}

/// `nb1s1 tune --backend slurm`: each rung of the tuning is one array job, the evaluations are
/// ordinary search runs, and a rerun submits nothing.
#[test]
fn a_tuning_submits_each_rung_as_an_array_job() {
    let _turn = take_turn();
    let fx = fixture();
    let base = fx.dir.join("tiny.toml");
    std::fs::write(
        &base,
        "optimizer = \"darts\"\n[data]\ntrain_images = 24\nvalid_images = 24\nbatch_size = 8\n\
         eval_batch_size = 16\n[model]\ninit_channels = 4\nlayers = 3\n",
    )
    .unwrap();
    let out = fx.dir.join("tune");
    let args = [
        "tune",
        "--space",
        "1",
        "--cs",
        "cs1",
        "--out",
        p(&out),
        "--iterations",
        "1",
        "--budgets",
        "1,2",
        "--base",
        p(&base),
        "--nb101",
        p(&fx.nb),
        "--data",
        p(&fx.cifar),
        "--device",
        "cpu",
        "--threads",
        "1",
        "--backend",
        "slurm",
        "--poll",
        "0.5",
        "--cpus-per-task",
        "1",
    ];
    let err = ok(&nb1s1(&args), "tune on slurm");
    assert!(err.contains("submitted array job"), "{err}");
    let subs = submissions(&out);
    let sizes: Vec<usize> = subs.jobs.iter().map(|j| j.units.len()).collect();
    assert_eq!(sizes, vec![2, 1], "a job per rung: {subs:?}");
    // Each rung's elements run `tune-task` and requeue themselves before a time limit, up to
    // the tuner's retry limit, as search elements do.
    let dir = slurm_dir(&out);
    let mut scripts = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sh") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.contains(" tune-task --units "), "{text}");
            assert!(text.contains(" --requeue-limit 2 --index "), "{text}");
            assert!(text.contains("#SBATCH --requeue"), "{text}");
            scripts += 1;
        }
    }
    assert_eq!(scripts, 2, "one job script per rung in {}", dir.display());
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("tune.json")).unwrap()).unwrap();
    let evals = state["evaluations"].as_array().unwrap();
    assert_eq!(evals.len(), 3);
    for e in evals {
        assert!(e["loss"].as_f64().is_some(), "{e}");
        let run = out.join("runs").join(e["name"].as_str().unwrap());
        assert_eq!(records(&run).len() as u64, e["budget"].as_u64().unwrap());
    }
    let err = ok(&nb1s1(&args), "second tune");
    assert!(!err.contains("submitted array job"), "{err}");
    assert_eq!(submissions(&out).jobs.len(), 2);
}

/// A folder name a shell would act on if it reached one unquoted: blanks, both quotes, a
/// command substitution, backquotes, a `;` and a comment sign. Each injected command would
/// create a `pwned*` file in the job's working folder (the test's folder).
const HOSTILE: &str = "out dir 'sq' \"dq\" $(touch pwned1) `touch pwned2`; touch pwned3 #c";

/// Every `pwned*` file below `dir`.
fn injected(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = e.path();
            if e.file_name().to_string_lossy().starts_with("pwned") {
                found.push(path.clone());
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            }
        }
    }
    found
}

/// Values that reach the job script through the real backend (`--out`, the experiment file's
/// folder, a `setup` line holding `$(...)` as quoted data, an `sbatch` argument of Slurm's own
/// syntax) arrive literally, the job really runs, and nothing injected runs.
#[test]
fn hostile_but_accepted_values_reach_a_real_job_literally_and_run_nothing() {
    let _turn = take_turn();
    let fx = fixture();
    let folder = fx.dir.join(HOSTILE);
    std::fs::create_dir_all(&folder).unwrap();
    let setup = r#"setup = '''echo '$(touch pwned4) `touch pwned5` "dq"' > setup-out.txt'''
sbatch_args = ["--comment=(a|b)&c!*[x]"]"#;
    let made = fx.experiment("hostile", "\"darts\"", "0..1", 1, setup);
    let exp = folder.join("hostile.toml");
    std::fs::rename(&made, &exp).unwrap();
    let out = folder.join("out");
    let o = command(env!("CARGO_BIN_EXE_nb1s1-torch"))
        .current_dir(&fx.dir)
        .args([
            "experiment",
            "run",
            p(&exp),
            "--out",
            p(&out),
            "--backend",
            "slurm",
            "--poll",
            "0.5",
        ])
        .output()
        .unwrap();
    let err = ok(&o, "experiment run into a hostile folder");
    assert!(err.contains("1 completed now"), "{err}");
    // The job ran: the run folder under the literal path holds its epoch, and Slurm wrote the
    // element's log under it too.
    let run = out.join("tiny/darts/space1/default/seed0");
    assert_eq!(records(&run).len(), 1, "{}", run.display());
    let job = submissions(&out).jobs[0].job_id.clone().unwrap();
    let log = out.join(format!(".experiment/slurm/logs/{job}_0.out"));
    assert!(log.is_file(), "no element log at {}", log.display());
    // The setup line ran, and its quoted `$(...)` and backquotes were data.
    let said = std::fs::read_to_string(fx.dir.join("setup-out.txt")).unwrap();
    assert_eq!(said, "$(touch pwned4) `touch pwned5` \"dq\"\n");
    // The job script quotes the paths; the sbatch argument reached Slurm as written.
    let script = std::fs::read_to_string(slurm_dir(&out).join("job-0.sh")).unwrap();
    let quoted = format!("'{}'", out.display()).replace("'sq'", r"'\''sq'\''");
    assert!(script.contains(&quoted), "{quoted} not in\n{script}");
    let info = slurm("scontrol", &["-o", "show", "job", &job]);
    assert!(info.contains("Comment=(a|b)&c!*[x]"), "{info}");
    assert_eq!(
        injected(&fx.dir),
        Vec::<PathBuf>::new(),
        "an injected command ran"
    );
}

/// Values the validator refuses never reach `sbatch`: a fake `sbatch` first on `PATH` would
/// leave a mark if it were called.
#[test]
fn values_the_validator_refuses_are_refused_before_sbatch() {
    use std::os::unix::fs::PermissionsExt;
    let fx = fixture();
    let bin = fx.dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let mark = fx.dir.join("sbatch-was-called");
    let fake = bin.join("sbatch");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\ntouch '{}'\nexit 1\n", mark.display()),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let cases = [
        ("partition", "partition = \"debug\\ntouch pwned1\""),
        ("account", "account = \"a b\""),
        ("qos", "qos = \"$(touch pwned2)\""),
        ("mem", "mem = \"4G;touch pwned3\""),
        ("time", "time = \"1`touch pwned4`\""),
        ("gres", "gres = \"gpu:1\\n#SBATCH --wrap=x\""),
        ("sbatch_args[0]", "sbatch_args = [\"--comment=a b\"]"),
        ("sbatch_args[0]", "sbatch_args = [\"--out=elsewhere\"]"),
        ("sbatch_args[0]", "sbatch_args = [\"--comment='x'\"]"),
        ("setup", "setup = \"module load x\\ntouch pwned5\""),
    ];
    for (i, (field, line)) in cases.iter().enumerate() {
        let exp = fx.experiment(&format!("refused{i}"), "\"darts\"", "0..1", 1, line);
        let out = fx.dir.join(format!("out{i}"));
        // No cluster is needed to refuse: `SLURM_CONF` is not set up for this test.
        let o = Command::new(env!("CARGO_BIN_EXE_nb1s1-torch"))
            .current_dir(&fx.dir)
            .env("PATH", &path)
            .args(["experiment", "run", p(&exp), "--out", p(&out)])
            .args(["--backend", "slurm", "--poll", "0.5"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{line}: accepted\n{err}");
        assert!(
            err.contains(&format!("[slurm] {field}")),
            "{line}: the error does not name `[slurm] {field}`:\n{err}"
        );
        assert!(!mark.exists(), "{line}: sbatch was called");
        assert!(
            !slurm_dir(&out).join("jobs.json").exists(),
            "{line}: a submission was recorded"
        );
    }
    // A flag is checked as the file is.
    let exp = fx.experiment("flag", "\"darts\"", "0..1", 1, "");
    let o = Command::new(env!("CARGO_BIN_EXE_nb1s1-torch"))
        .current_dir(&fx.dir)
        .env("PATH", &path)
        .args([
            "experiment",
            "run",
            p(&exp),
            "--out",
            p(&fx.dir.join("outf")),
        ])
        .args(["--backend", "slurm", "--partition", "x\ntouch pwned6"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("[slurm] partition"),
        "{err}"
    );
    assert!(!mark.exists(), "sbatch was called for a flag");
    assert_eq!(injected(&fx.dir), Vec::<PathBuf>::new());
}
