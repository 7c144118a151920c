//! The Slurm backend of the experiment runner: the pending units of an experiment become the
//! elements of one array job, each element runs one unit through `nb1s1 experiment task`.
//!
//! The guarantees are the local runner's: run folders stay the truth, and a unit runs at most
//! once at a time, because every element goes through [`crate::runner`] with the unit's lock
//! file. What the backend adds lives in `<out>/.experiment/slurm/`:
//!
//! * `jobs.json` — every submission (job name, array job id, the units and their array indices),
//!   written before `sbatch` (job id still empty) and again after it, so a submitter killed in
//!   between finds its job by name and a second `run` adopts what is pending or running instead
//!   of submitting it again;
//! * `job-<n>.sh` — the batch script of submission `n`, `#SBATCH` lines and all;
//! * `logs/<job>_<index>.out` — the element's own stdout/stderr (the unit's log stays in
//!   `.experiment/logs/`).
//!
//! The array index of an element is the unit's index in the expanded experiment, so a
//! resubmission of unit 7 is element 7 of a new job. Tasks ask for `--signal=B:USR1@<lead>`: on
//! it (or on SIGTERM) the task stops its run, whose last epoch checkpoint is complete (checkpoints
//! are swapped in atomically), and exits with [`EXIT_INTERRUPTED`]. Stopped by USR1 (the time
//! limit coming), it requeues its own element ([`requeue_self`], up to the retry limit), so the
//! run continues with no submitter alive; otherwise (scancel, preemption) the submitter
//! resubmits it. Either way `nb1s1 search --resume` continues from that checkpoint. Tasks never touch the results
//! store: the submitter ingests the run folders when the grid is done.

use crate::atomic::write_atomic;
use crate::error::{io_err, BenchError, Result};
use crate::runner::{self, Event, Launcher, RunnerOptions};
use crate::runs::{self, RunState};
use crate::unit::RunUnit;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Exit status of a task stopped by a signal after its last checkpoint (EX_TEMPFAIL).
pub const EXIT_INTERRUPTED: i32 = 75;

/// `[slurm]` of an experiment file; command-line flags override field by field.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmSettings {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// Time limit per element, in any `--time` format (`4:00:00`, `2-00:00:00`, minutes).
    pub time: Option<String>,
    pub cpus_per_task: Option<u32>,
    /// Memory per element (`--mem`, e.g. `16G`).
    pub mem: Option<String>,
    /// `--gpus-per-task` (e.g. `1` or `a100:1`).
    pub gpus_per_task: Option<String>,
    /// `--gres` (e.g. `gpu:1`), for clusters that schedule GPUs as generic resources.
    pub gres: Option<String>,
    /// At most this many elements at once (the `%K` of `--array`).
    pub parallel: Option<usize>,
    /// Seconds before the time limit at which Slurm sends USR1 (default 300).
    pub signal_seconds: Option<u32>,
    /// Further `sbatch` arguments, one per item (`--constraint=a100`).
    #[serde(default)]
    pub sbatch_args: Vec<String>,
    /// A shell line run before the task (`module load cuda/12.4; source ~/venv/bin/activate`).
    pub setup: Option<String>,
}

impl SlurmSettings {
    /// `self` with every field `other` sets replaced (flags over the file).
    pub fn overridden_by(&self, other: &SlurmSettings) -> SlurmSettings {
        let pick = |a: &Option<String>, b: &Option<String>| b.clone().or_else(|| a.clone());
        let mut sbatch_args = self.sbatch_args.clone();
        sbatch_args.extend(other.sbatch_args.iter().cloned());
        SlurmSettings {
            partition: pick(&self.partition, &other.partition),
            account: pick(&self.account, &other.account),
            qos: pick(&self.qos, &other.qos),
            time: pick(&self.time, &other.time),
            cpus_per_task: other.cpus_per_task.or(self.cpus_per_task),
            mem: pick(&self.mem, &other.mem),
            gpus_per_task: pick(&self.gpus_per_task, &other.gpus_per_task),
            gres: pick(&self.gres, &other.gres),
            parallel: other.parallel.or(self.parallel),
            signal_seconds: other.signal_seconds.or(self.signal_seconds),
            sbatch_args,
            setup: pick(&self.setup, &other.setup),
        }
    }

    /// Checks every value against the characters its `sbatch` option can hold, so nothing
    /// from an experiment file or a flag can end a `#SBATCH` line or reach the batch shell.
    /// `setup` is a shell line by design; it may not hold a line break or a control character.
    /// The error names the field (`[slurm] partition`, `sbatch_args[1]`).
    pub fn validate(&self) -> std::result::Result<(), (String, String)> {
        let fields = [
            ("partition", &self.partition, NAME_CHARS),
            ("account", &self.account, NAME_CHARS),
            ("qos", &self.qos, NAME_CHARS),
            ("time", &self.time, "0123456789:-"),
            ("mem", &self.mem, ALNUM),
            ("gpus_per_task", &self.gpus_per_task, RESOURCE_CHARS),
            ("gres", &self.gres, RESOURCE_CHARS),
        ];
        for (field, value, extra) in fields {
            if let Some(v) = value {
                check_chars(v, extra).map_err(|m| (field.to_string(), m))?;
            }
        }
        for (i, arg) in self.sbatch_args.iter().enumerate() {
            check_sbatch_arg(arg).map_err(|m| (format!("sbatch_args[{i}]"), m))?;
        }
        if let Some(setup) = &self.setup {
            if let Some(c) = setup.chars().find(|c| c.is_control()) {
                let m = format!("a shell line may not hold the control character {c:?}");
                return Err(("setup".to_string(), m));
            }
        }
        Ok(())
    }

    /// The `sbatch` options these settings ask for (without `--array`).
    pub fn sbatch_options(&self) -> Vec<String> {
        let mut o = Vec::new();
        let mut push = |flag: &str, v: &Option<String>| {
            if let Some(v) = v {
                o.push(format!("--{flag}={v}"));
            }
        };
        push("partition", &self.partition);
        push("account", &self.account);
        push("qos", &self.qos);
        push("time", &self.time);
        push("cpus-per-task", &self.cpus_per_task.map(|c| c.to_string()));
        push("mem", &self.mem);
        push("gpus-per-task", &self.gpus_per_task);
        push("gres", &self.gres);
        o.push(format!(
            "--signal=B:USR1@{}",
            self.signal_seconds.unwrap_or(300)
        ));
        o.extend(self.sbatch_args.iter().cloned());
        o
    }
}

/// Characters besides ASCII letters and digits that partition, account and QoS names may hold
/// (a partition may be a comma-separated list).
const NAME_CHARS: &str = "_.,-";
const ALNUM: &str = "";
/// `--gres`/`--gpus-per-task` values: `gpu:a100:1`, `gpu:1,tmpfs:10G`.
const RESOURCE_CHARS: &str = "_.,:-";
/// Values of further `sbatch` arguments: Slurm's own syntax (`--constraint=(a100|h100)&ib`,
/// `--mail-user=a@b.org`, `--exclude=n[01-04]`), never a blank, quote, `$`, backquote,
/// backslash, `#`, `;` or control character.
const ARG_VALUE_CHARS: &str = "_.,:=@%+/&|!*[]()-";
/// `sbatch` options the backend sets itself; another value would break adoption or logs.
const RESERVED_ARGS: &[&str] = &[
    "array",
    "job-name",
    "output",
    "error",
    "open-mode",
    "wrap",
    "parsable",
];

/// `value` is non-empty, at most 256 characters, of ASCII letters, digits and `extra`.
fn check_chars(value: &str, extra: &str) -> std::result::Result<(), String> {
    if value.is_empty() || value.len() > 256 {
        return Err("must hold 1 to 256 characters".into());
    }
    match value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || extra.contains(*c)))
    {
        Some(c) => Err(format!(
            "`{}` holds {c:?}; allowed are ASCII letters, digits and `{extra}`",
            value.escape_debug()
        )),
        None => Ok(()),
    }
}

/// A further `sbatch` argument: `--name` or `--name=value`, the name lower-case letters, digits
/// and `-`, neither one the backend sets itself nor an abbreviation of one.
fn check_sbatch_arg(arg: &str) -> std::result::Result<(), String> {
    let Some(body) = arg.strip_prefix("--") else {
        return Err(format!(
            "`{}` must have the form --name=value (long options only)",
            arg.escape_debug()
        ));
    };
    let (name, value) = body.split_once('=').unwrap_or((body, ""));
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !name_ok {
        return Err(format!("`{}`: not an option name", arg.escape_debug()));
    }
    // sbatch takes any unambiguous abbreviation of a long option (`--arr` is `--array`).
    if let Some(full) = RESERVED_ARGS.iter().find(|r| r.starts_with(name)) {
        return Err(format!(
            "`--{name}` is (or abbreviates) `--{full}`, which the Slurm backend sets itself"
        ));
    }
    if body.contains('=') {
        check_chars(value, ARG_VALUE_CHARS)?;
    }
    Ok(())
}

/// One unit of a submission: its index in the experiment (= the array index) and its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmittedUnit {
    pub index: usize,
    pub id: String,
}

/// One `sbatch` of an array job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// The job name, unique per experiment folder (`nb1s1-<experiment>-<digest of the folder>-<n>`;
    /// folders submitted before the digest was added hold `nb1s1-<experiment>-<n>`).
    pub name: String,
    /// The array job id; `None` while `sbatch` has not answered (or never did).
    pub job_id: Option<String>,
    /// Unix seconds at submission.
    pub submitted_at: f64,
    pub units: Vec<SubmittedUnit>,
}

/// `jobs.json`: every submission of an experiment folder, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Submissions {
    pub jobs: Vec<Submission>,
}

/// The Slurm folder of an experiment output root.
pub fn slurm_dir(out: &Path) -> PathBuf {
    runner::state_dir(out).join("slurm")
}

fn jobs_path(out: &Path) -> PathBuf {
    slurm_dir(out).join("jobs.json")
}

impl Submissions {
    /// Reads `jobs.json` (empty when absent).
    pub fn load(out: &Path) -> Result<Submissions> {
        Ok(runs::read_json_opt(&jobs_path(out))?.unwrap_or_default())
    }

    fn save(&self, out: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        write_atomic(&jobs_path(out), text.as_bytes())
    }

    /// The latest submission of unit `id` and its array index.
    pub fn latest(&self, id: &str) -> Option<(&Submission, usize)> {
        self.jobs
            .iter()
            .rev()
            .find_map(|s| s.units.iter().find(|u| u.id == id).map(|u| (s, u.index)))
    }
}

/// Where an array element stands, as Slurm says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElementState {
    /// In the queue: pending, running, completing, requeued, suspended; Slurm's state and reason.
    Live { state: String, reason: String },
    /// Finished: COMPLETED, FAILED, TIMEOUT, CANCELLED, NODE_FAIL, PREEMPTED, OUT_OF_MEMORY, ...
    Ended { state: String, exit: String },
    /// Not known to Slurm any more (aged out, and no accounting) or never submitted.
    Unknown,
}

impl ElementState {
    pub fn is_live(&self) -> bool {
        matches!(self, ElementState::Live { .. })
    }

    /// For tables: `PENDING (Resources)`, `RUNNING`, `TIMEOUT (exit 0:15)`, `gone`.
    pub fn label(&self) -> String {
        match self {
            ElementState::Live { state, reason } if reason.is_empty() || reason == "None" => {
                state.clone()
            }
            ElementState::Live { state, reason } => format!("{state} ({reason})"),
            ElementState::Ended { state, exit } if exit.is_empty() || exit == "0:0" => {
                state.clone()
            }
            ElementState::Ended { state, exit } => format!("{state} (exit {exit})"),
            ElementState::Unknown => "gone".to_string(),
        }
    }
}

/// The Slurm commands, from `PATH` or from `bin_dir`.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    pub bin_dir: Option<PathBuf>,
}

/// (array job id, array index) → state.
pub type ElementStates = BTreeMap<(String, usize), ElementState>;

impl Cluster {
    fn command(&self, name: &str) -> Command {
        match &self.bin_dir {
            Some(d) => Command::new(d.join(name)),
            None => Command::new(name),
        }
    }

    /// Runs a Slurm command and returns its stdout, or an error with its stderr.
    fn output(&self, name: &str, args: &[&str]) -> Result<String> {
        let shown = format!("{name} {}", args.join(" "));
        let o = self
            .command(name)
            .args(args)
            .output()
            .map_err(|e| BenchError::Slurm {
                command: shown.clone(),
                message: format!("cannot run it ({e}); is Slurm installed and on PATH?"),
            })?;
        if !o.status.success() {
            return Err(BenchError::Slurm {
                command: shown,
                message: String::from_utf8_lossy(&o.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// Submits a batch script with further options (passed as arguments, no shell); returns
    /// the job id.
    pub fn sbatch(&self, script: &Path, options: &[&str]) -> Result<String> {
        let path = utf8_path(script, "the batch script")?;
        let mut args = vec!["--parsable"];
        args.extend_from_slice(options);
        args.push(path);
        let text = self.output("sbatch", &args)?;
        // `--parsable` prints `id` or `id;cluster`.
        let id = text.trim().split(';').next().unwrap_or("").to_string();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
            return Err(BenchError::Slurm {
                command: format!("sbatch {path}"),
                message: format!("unexpected answer `{}`", text.trim()),
            });
        }
        Ok(id)
    }

    /// The array job id of a job named `name`, if it is still in the queue.
    pub fn find_by_name(&self, name: &str) -> Result<Option<String>> {
        let text = self.output("squeue", &["--me", "-h", "-r", "-n", name, "-o", "%F"])?;
        Ok(text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_string))
    }

    /// States of the elements of `jobs`: the queue first (`squeue`), then what `scontrol`
    /// still remembers of finished elements, then accounting (`sacct`) where it is enabled.
    pub fn states(&self, jobs: &BTreeSet<String>) -> Result<ElementStates> {
        let mut states = ElementStates::new();
        if jobs.is_empty() {
            return Ok(states);
        }
        let text = self.output("squeue", &["--me", "-h", "-r", "-o", "%F|%K|%T|%r"])?;
        for line in text.lines() {
            let f: Vec<&str> = line.trim().split('|').collect();
            if let [job, index, state, reason] = f[..] {
                if let (true, Ok(i)) = (jobs.contains(job), index.parse::<usize>()) {
                    let (state, reason) = (state.to_string(), reason.to_string());
                    states.insert((job.to_string(), i), ElementState::Live { state, reason });
                }
            }
        }
        for job in jobs {
            for (i, state, exit) in self.ended(job) {
                states
                    .entry((job.clone(), i))
                    .or_insert(ElementState::Ended { state, exit });
            }
        }
        Ok(states)
    }

    /// Finished elements of one array job: `(index, state, exit code)`.
    fn ended(&self, job: &str) -> Vec<(usize, String, String)> {
        let terminal = |s: &str| !LIVE_STATES.contains(&s);
        let mut found = Vec::new();
        if let Ok(text) = self.output("scontrol", &["-o", "show", "job", job]) {
            for line in text.lines() {
                let field = |k: &str| {
                    line.split_whitespace()
                        .find_map(|w| w.strip_prefix(k))
                        .unwrap_or("")
                        .to_string()
                };
                let (state, exit) = (field("JobState="), field("ExitCode="));
                if let Ok(i) = field("ArrayTaskId=").parse::<usize>() {
                    if terminal(&state) {
                        found.push((i, state, exit));
                    }
                }
            }
        }
        if found.is_empty() {
            let args = ["-n", "-P", "-X", "-j", job, "-o", "JobID,State,ExitCode"];
            if let Ok(text) = self.output("sacct", &args) {
                for line in text.lines() {
                    let f: Vec<&str> = line.split('|').collect();
                    if let [id, state, exit] = f[..] {
                        let state = state.split_whitespace().next().unwrap_or("").to_string();
                        let index = id.split_once('_').and_then(|(_, i)| i.parse().ok());
                        if let (Some(i), true) = (index, terminal(&state)) {
                            found.push((i, state, exit.to_string()));
                        }
                    }
                }
            }
        }
        found
    }
}

/// Slurm job states in which an element may still run (or run again, for a requeue).
const LIVE_STATES: &[&str] = &[
    "PENDING",
    "CONFIGURING",
    "RUNNING",
    "COMPLETING",
    "REQUEUED",
    "REQUEUE_FED",
    "REQUEUE_HOLD",
    "RESIZING",
    "SIGNALING",
    "STAGE_OUT",
    "SUSPENDED",
    "STOPPED",
];

/// The state of the latest element of every unit (`None`: never submitted from this folder).
pub fn unit_elements(
    units: &[RunUnit],
    out: &Path,
    cluster: &Cluster,
) -> Result<Vec<Option<(String, usize, ElementState)>>> {
    let subs = resolve_names(out, cluster)?;
    let jobs: BTreeSet<String> = subs.jobs.iter().filter_map(|s| s.job_id.clone()).collect();
    let states = cluster.states(&jobs)?;
    Ok(units
        .iter()
        .map(|u| {
            let (s, index) = subs.latest(&u.id)?;
            let job = s.job_id.clone().unwrap_or_else(|| s.name.clone());
            let state = states
                .get(&(job.clone(), index))
                .cloned()
                .unwrap_or(ElementState::Unknown);
            Some((job, index, state))
        })
        .collect())
}

/// Loads `jobs.json` and fills in job ids a killed submitter did not record, from the queue.
fn resolve_names(out: &Path, cluster: &Cluster) -> Result<Submissions> {
    let mut subs = Submissions::load(out)?;
    let mut changed = false;
    for s in subs.jobs.iter_mut().filter(|s| s.job_id.is_none()) {
        if let Some(id) = cluster.find_by_name(&s.name)? {
            s.job_id = Some(id);
            changed = true;
        }
    }
    if changed {
        subs.save(out)?;
    }
    Ok(subs)
}

/// Everything a submitter needs besides the units.
#[derive(Debug, Clone)]
pub struct SlurmOptions {
    pub settings: SlurmSettings,
    pub experiment: String,
    /// The experiment file and output root as the tasks will see them (absolute paths).
    pub file: PathBuf,
    pub out: PathBuf,
    /// The `nb1s1` binary the elements run (on the shared file system).
    pub program: PathBuf,
    /// Extra submissions after a failure, per unit and per invocation.
    pub max_retries: usize,
    /// Wait until every unit is done (resubmitting failures), or return after submitting.
    pub wait: bool,
    pub poll: Duration,
    /// What an element runs after the program, before `--index`: `None` for
    /// `experiment task <file> --out <out>`; the tuner's rungs use `tune-task --units <file>`.
    pub task: Option<Vec<String>>,
}

/// Something that happened, for progress display.
#[derive(Debug, Clone, PartialEq)]
pub enum SlurmEvent {
    /// A unit was final before anything was submitted.
    Skipped {
        id: String,
    },
    /// A unit already in the queue from an earlier `run`.
    Adopted {
        id: String,
        job: String,
    },
    Submitted {
        job: String,
        ids: Vec<String>,
    },
    /// An element ended without finishing its run; it is submitted again.
    Resubmit {
        id: String,
        element: String,
    },
    Finished {
        id: String,
        state: RunState,
    },
    GaveUp {
        id: String,
        message: String,
    },
}

/// The outcome of one [`run_slurm`] call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlurmReport {
    pub completed: Vec<String>,
    pub skipped: Vec<String>,
    pub diverged: Vec<String>,
    pub adopted: Vec<String>,
    /// Array job ids submitted by this call.
    pub jobs: Vec<String>,
    /// Units that ended without finishing after every allowed submission.
    pub failed: Vec<(String, String)>,
    /// Units still in the queue when the call returned (without `wait`).
    pub queued: Vec<String>,
}

/// Submits every unit not finished and not queued, adopts queued ones and, with `wait`,
/// polls until all are final, resubmitting elements that ended early.
pub fn run_slurm(
    units: &[RunUnit],
    cluster: &Cluster,
    opts: &SlurmOptions,
    observer: &dyn Fn(&SlurmEvent),
) -> Result<SlurmReport> {
    check_settings(opts)?;
    output_pattern(&opts.out)?;
    let out = opts.out.as_path();
    let mut report = SlurmReport::default();
    let mut submitted: BTreeMap<String, usize> = BTreeMap::new();
    let mut settled: BTreeSet<String> = BTreeSet::new();
    let mut first = true;
    loop {
        let elements = unit_elements(units, out, cluster)?;
        let mut to_submit = Vec::new();
        let mut live = 0;
        for (index, unit) in units.iter().enumerate() {
            if settled.contains(&unit.id) {
                continue;
            }
            if first {
                runner::check_inputs(unit, out)?;
            }
            let state = runner::unit_state(unit)?;
            let element = &elements[index];
            if state.is_final() {
                settled.insert(unit.id.clone());
                let id = unit.id.clone();
                if first {
                    observer(&SlurmEvent::Skipped { id: id.clone() });
                    report.skipped.push(id);
                } else {
                    observer(&SlurmEvent::Finished {
                        id: id.clone(),
                        state,
                    });
                    match state {
                        RunState::Complete => report.completed.push(id),
                        _ => report.diverged.push(id),
                    }
                }
                continue;
            }
            match element {
                Some((job, _, e)) if e.is_live() => {
                    live += 1;
                    if first {
                        report.adopted.push(unit.id.clone());
                        let (id, job) = (unit.id.clone(), job.clone());
                        observer(&SlurmEvent::Adopted { id, job });
                    }
                    continue;
                }
                // Held by a process outside Slurm (a local runner): wait for it.
                _ if runner::is_live(out, &unit.id) => {
                    live += 1;
                    continue;
                }
                _ => {}
            }
            let count = submitted.get(&unit.id).copied().unwrap_or(0);
            let last = element
                .as_ref()
                .map(|(job, i, e)| format!("{job}_{i} {}", e.label()));
            if count > opts.max_retries {
                let book = runner::read_unit_state(out, &unit.id);
                let message = format!(
                    "{} after {count} submissions: {}",
                    last.unwrap_or_default(),
                    book.last_error
                        .unwrap_or_else(|| "no error recorded".into())
                );
                observer(&SlurmEvent::GaveUp {
                    id: unit.id.clone(),
                    message: message.clone(),
                });
                report.failed.push((unit.id.clone(), message));
                settled.insert(unit.id.clone());
                continue;
            }
            if let Some(element) = last {
                observer(&SlurmEvent::Resubmit {
                    id: unit.id.clone(),
                    element,
                });
            }
            *submitted.entry(unit.id.clone()).or_default() += 1;
            to_submit.push(index);
        }
        first = false;
        if !to_submit.is_empty() {
            let job = submit(units, &to_submit, cluster, opts)?;
            let ids = to_submit.iter().map(|&i| units[i].id.clone()).collect();
            observer(&SlurmEvent::Submitted {
                job: job.clone(),
                ids,
            });
            report.jobs.push(job);
            live += to_submit.len();
        }
        if live == 0 {
            return Ok(report);
        }
        if !opts.wait {
            report.queued = units
                .iter()
                .filter(|u| !settled.contains(&u.id))
                .map(|u| u.id.clone())
                .collect();
            return Ok(report);
        }
        std::thread::sleep(opts.poll);
    }
}

/// `--array` of the given indices: `1,4,7` (ranges merged: `0-5,9`), with `%K`.
pub fn array_spec(indices: &[usize], parallel: Option<usize>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let start = indices[i];
        while i + 1 < indices.len() && indices[i + 1] == indices[i] + 1 {
            i += 1;
        }
        parts.push(if indices[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", indices[i])
        });
        i += 1;
    }
    let mut spec = parts.join(",");
    if let Some(k) = parallel.filter(|k| *k > 0) {
        spec.push_str(&format!("%{k}"));
    }
    spec
}

/// Quotes a word for a POSIX shell.
fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A path as the batch script and `sbatch` will see it: UTF-8 (a lossy conversion would name
/// another file), error naming `what` otherwise.
fn utf8_path<'a>(path: &'a Path, what: &str) -> Result<&'a str> {
    path.to_str().ok_or_else(|| BenchError::Slurm {
        command: "sbatch".into(),
        message: format!("{what} `{}` is not valid UTF-8", path.display()),
    })
}

/// The `--output` pattern of the element logs: the logs folder with Slurm's `%` escaped, so
/// only `%A_%a` is replaced. A backslash would switch Slurm's replacement off, so it is refused.
pub fn output_pattern(out: &Path) -> Result<String> {
    let logs = slurm_dir(out).join("logs");
    let text = utf8_path(&logs, "the output folder")?;
    if text.contains('\\') {
        return Err(BenchError::Slurm {
            command: "sbatch".into(),
            message: format!(
                "the output folder `{}` holds a backslash, which Slurm's --output cannot carry",
                text.escape_debug()
            ),
        });
    }
    Ok(format!("{}/%A_%a.out", text.replace('%', "%%")))
}

/// The job name of submission `n`: the experiment name and a digest of the output folder, so
/// two folders of one experiment never adopt each other's jobs.
pub fn job_name(experiment: &str, out: &Path, n: usize) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(out.as_os_str().as_encoded_bytes());
    let tag: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("nb1s1-{experiment}-{tag}-{n}")
}

/// The batch script of one submission. Every setting is checked ([`SlurmSettings::validate`]),
/// every path is shell-quoted; the log path goes on `sbatch`'s command line (see [`submit`]),
/// never into a `#SBATCH` line, whose quoting rules are Slurm's own.
pub fn job_script(name: &str, indices: &[usize], opts: &SlurmOptions) -> Result<String> {
    check_settings(opts)?;
    let mut s = String::from("#!/bin/bash\n# Written by `nb1s1 experiment run --backend slurm`.\n");
    s.push_str("# --output (the element logs in .experiment/slurm/logs/) is passed to sbatch.\n");
    let mut lines = vec![
        format!("--job-name={name}"),
        format!("--array={}", array_spec(indices, opts.settings.parallel)),
        // A self-requeued element (see `requeue_self`) appends to its log instead of wiping it.
        "--open-mode=append".to_string(),
        "--requeue".to_string(),
    ];
    lines.extend(opts.settings.sbatch_options());
    for l in lines {
        s.push_str(&format!("#SBATCH {l}\n"));
    }
    s.push_str("set -e\n");
    if let Some(setup) = &opts.settings.setup {
        s.push_str(setup);
        s.push('\n');
    }
    let task = match &opts.task {
        Some(args) => args
            .iter()
            .map(|a| sh_quote(a))
            .collect::<Vec<_>>()
            .join(" "),
        None => format!(
            "experiment task {} --out {} --requeue-limit {}",
            sh_quote(utf8_path(&opts.file, "the experiment file")?),
            sh_quote(utf8_path(&opts.out, "the output folder")?),
            opts.max_retries
        ),
    };
    // `exec`: the task is the batch shell, so `--signal=B:` reaches it.
    s.push_str(&format!(
        "exec {} {task} --index \"$SLURM_ARRAY_TASK_ID\"\n",
        sh_quote(utf8_path(&opts.program, "the nb1s1 binary")?),
    ));
    Ok(s)
}

/// [`SlurmSettings::validate`] with an error naming the experiment file and the field.
fn check_settings(opts: &SlurmOptions) -> Result<()> {
    opts.settings
        .validate()
        .map_err(|(field, message)| BenchError::Field {
            path: opts.file.clone(),
            field: format!("[slurm] {field}"),
            message,
        })
}

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Records the submission, writes its script, runs `sbatch`, records the job id.
fn submit(
    units: &[RunUnit],
    indices: &[usize],
    cluster: &Cluster,
    opts: &SlurmOptions,
) -> Result<String> {
    let out = opts.out.as_path();
    let logs = slurm_dir(out).join("logs");
    std::fs::create_dir_all(&logs).map_err(io_err(&logs))?;
    let mut subs = Submissions::load(out)?;
    let n = subs.jobs.len();
    let name = job_name(&opts.experiment, out, n);
    let script = slurm_dir(out).join(format!("job-{n}.sh"));
    write_atomic(&script, job_script(&name, indices, opts)?.as_bytes())?;
    let output = format!("--output={}", output_pattern(out)?);
    subs.jobs.push(Submission {
        name,
        job_id: None,
        submitted_at: now_seconds(),
        units: indices
            .iter()
            .map(|&i| SubmittedUnit {
                index: i,
                id: units[i].id.clone(),
            })
            .collect(),
    });
    // Intent first: a submitter killed after `sbatch` leaves a name the next run can find.
    subs.save(out)?;
    let job = cluster.sbatch(&script, &[output.as_str()])?;
    subs.jobs[n].job_id = Some(job.clone());
    subs.save(out)?;
    Ok(job)
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome {
    /// The unit's run is final (now or before).
    Done(RunState),
    /// Another process holds the unit's lock: it runs elsewhere.
    Busy,
    /// Stopped by a signal after its last checkpoint; resumable. `time_limit`: the signal was
    /// the USR1 asked for before the time limit (not scancel or preemption, which send TERM).
    Interrupted {
        time_limit: bool,
    },
    Failed(String),
}

/// Runs unit `index` of an experiment as one array element: through the local runner (lock,
/// sidecar, log, bookkeeping) with no retries, stopping its run on USR1/TERM.
pub fn run_task(
    units: &[RunUnit],
    index: usize,
    out: &Path,
    launcher: &Launcher,
    options: &RunnerOptions,
) -> Result<TaskOutcome> {
    let unit = units.get(index).ok_or_else(|| BenchError::Slurm {
        command: format!("experiment task --index {index}"),
        message: format!(
            "the experiment has {} units (0..{})",
            units.len(),
            units.len()
        ),
    })?;
    check_submitted_id(out, index, &unit.id)?;
    let signalled = Arc::new(AtomicBool::new(false));
    let warned = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGUSR1, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&signalled)).map_err(io_err("signal"))?;
    }
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, Arc::clone(&warned))
        .map_err(io_err("signal"))?;
    // Lead a process group, so the run (our child) can be stopped with one kill.
    // SAFETY: plain syscalls on this process; failure (already a session leader) is harmless.
    unsafe {
        libc::setpgid(0, 0);
    }
    let finished = AtomicBool::new(false);
    let options = RunnerOptions {
        workers: 1,
        max_retries: 0,
        ..options.clone()
    };
    let report = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !finished.load(Ordering::Relaxed) {
                if signalled.load(Ordering::Relaxed) {
                    // SAFETY: signals our own process group; our handler only sets the flag.
                    unsafe {
                        libc::kill(-libc::getpgrp(), libc::SIGTERM);
                    }
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let r = runner::run_units(
            std::slice::from_ref(unit),
            out,
            launcher,
            &options,
            runner::BusyPolicy::Report,
            &|e| {
                if let Event::Failed { message, .. } = e {
                    eprintln!("{}: {message}", unit.id);
                }
            },
        );
        finished.store(true, Ordering::Relaxed);
        r
    })?;
    let state = runner::unit_state(unit)?;
    Ok(if state.is_final() {
        TaskOutcome::Done(state)
    } else if !report.busy.is_empty() {
        TaskOutcome::Busy
    } else if signalled.load(Ordering::Relaxed) {
        TaskOutcome::Interrupted {
            time_limit: warned.load(Ordering::Relaxed),
        }
    } else {
        let message = report.failed.first().map(|(_, m)| m.clone());
        TaskOutcome::Failed(message.unwrap_or_else(|| format!("run state {}", state.as_str())))
    })
}

/// Inside an element stopped before its time limit: puts the element back in the queue itself
/// (`scontrol requeue <job>_<index>`), so it resumes from its checkpoint even when no submitter
/// is watching. At most `limit` times per element (Slurm counts them in `SLURM_RESTART_COUNT`);
/// `None` when not inside an array element or past the limit, and the submitter decides.
pub fn requeue_self(cluster: &Cluster, limit: usize) -> Result<Option<String>> {
    let (Ok(job), Ok(index)) = (
        std::env::var("SLURM_ARRAY_JOB_ID"),
        std::env::var("SLURM_ARRAY_TASK_ID"),
    ) else {
        return Ok(None);
    };
    let restarts: usize = std::env::var("SLURM_RESTART_COUNT")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    if restarts >= limit {
        return Ok(None);
    }
    let element = format!("{job}_{index}");
    cluster.output("scontrol", &["requeue", &element])?;
    Ok(Some(element))
}

/// Inside an element: the unit at `index` must be the one submitted there (an experiment file
/// edited after submission would shift the indices).
fn check_submitted_id(out: &Path, index: usize, id: &str) -> Result<()> {
    let Ok(job) = std::env::var("SLURM_ARRAY_JOB_ID") else {
        return Ok(());
    };
    let subs = Submissions::load(out)?;
    let expected = subs
        .jobs
        .iter()
        .filter(|s| s.job_id.as_deref() == Some(job.as_str()))
        .flat_map(|s| s.units.iter())
        .find(|u| u.index == index);
    match expected {
        Some(u) if u.id != id => Err(BenchError::Slurm {
            command: format!("experiment task --index {index}"),
            message: format!(
                "job {job} was submitted for `{}` but the experiment file now puts `{id}` at \
                 index {index}; was the file edited after submission?",
                u.id
            ),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_spec_merges_ranges_and_adds_the_limit() {
        assert_eq!(array_spec(&[0, 1, 2, 5, 7, 8], Some(3)), "0-2,5,7-8%3");
        assert_eq!(array_spec(&[4], None), "4");
    }

    #[test]
    fn flags_override_the_file_and_the_script_carries_them() {
        let file = SlurmSettings {
            partition: Some("gpu".into()),
            time: Some("4:00:00".into()),
            sbatch_args: vec!["--constraint=a100".into()],
            ..Default::default()
        };
        let flags = SlurmSettings {
            time: Some("30".into()),
            gpus_per_task: Some("1".into()),
            setup: Some("module load cuda".into()),
            ..Default::default()
        };
        let settings = file.overridden_by(&flags);
        let opts = SlurmOptions {
            settings,
            experiment: "e".into(),
            file: "/s/exp's.toml".into(),
            out: "/s/runs/e".into(),
            program: "/s/bin/nb1s1".into(),
            max_retries: 1,
            wait: true,
            poll: Duration::from_secs(1),
            task: None,
        };
        let s = job_script("nb1s1-e-0", &[2, 3], &opts).unwrap();
        for line in [
            "#SBATCH --partition=gpu\n",
            "#SBATCH --time=30\n",
            "#SBATCH --gpus-per-task=1\n",
            "#SBATCH --array=2-3\n",
            "#SBATCH --signal=B:USR1@300\n",
            "#SBATCH --constraint=a100\n",
            "#SBATCH --open-mode=append\n#SBATCH --requeue\n",
            "--requeue-limit 1 --index \"$SLURM_ARRAY_TASK_ID\"\n",
            "module load cuda\nexec /s/bin/nb1s1 experiment task '/s/exp'\\''s.toml' --out",
        ] {
            assert!(s.contains(line), "{line} missing in\n{s}");
        }
        assert!(!s.contains("4:00:00"), "{s}");
        assert!(
            !s.contains("#SBATCH --output"),
            "the log path goes on sbatch's command line: {s}"
        );
        // The tuner's rungs run their own task command.
        let tune = SlurmOptions {
            task: Some(vec![
                "tune-task".into(),
                "--units".into(),
                "/t/r 1.json".into(),
            ]),
            ..opts
        };
        let s = job_script("nb1s1-bohb-tune-0", &[0, 1], &tune).unwrap();
        assert!(
            s.contains("exec /s/bin/nb1s1 tune-task --units '/t/r 1.json' --index \"$SLURM_ARRAY_TASK_ID\""),
            "{s}"
        );
    }

    #[test]
    fn latest_submission_of_a_unit_wins() {
        let sub = |job: &str, idx: usize| Submission {
            name: format!("n{job}"),
            job_id: Some(job.into()),
            submitted_at: 0.0,
            units: vec![SubmittedUnit {
                index: idx,
                id: "a".into(),
            }],
        };
        let subs = Submissions {
            jobs: vec![sub("10", 0), sub("12", 0)],
        };
        let (s, i) = subs.latest("a").unwrap();
        assert_eq!((s.job_id.as_deref(), i), (Some("12"), 0));
        assert!(subs.latest("b").is_none());
    }
}
