//! The experiment runner: N worker threads launch the run units as subprocesses of the `nb1s1`
//! binary (the launcher, so tests can substitute a fake), one GPU run at a time per GPU.
//!
//! Run folders are the truth: a unit whose folders say complete (or diverged) is skipped, any
//! other is launched again, and `nb1s1 search` / `nb1s1 blackbox` resume from what they left.
//! A per-run lock file is handed to the child as its stdin, so the lock lives exactly as long as
//! the child, even when the runner itself is killed: a second runner never launches a run twice.
//! A runner that finds a unit running elsewhere waits for that process to end, then looks at
//! the run folder again (skips it when finished, launches it when the other process left it
//! unfinished), so it never exits 0 while one of its units is still running.
//! Killing the runner at any moment loses no finished result, since each run writes its own
//! folder atomically and the runner keeps nothing else that matters.

use crate::atomic::write_atomic;
use crate::error::{io_err, BenchError, Result};
use crate::runs::{self, ExperimentTag, RunKind, RunState};
use crate::unit::RunUnit;
use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex};

/// The program that runs units: `nb1s1` itself in the CLI, a fake in tests.
#[derive(Debug, Clone)]
pub struct Launcher {
    pub program: PathBuf,
    /// Arguments placed before the unit's own (e.g. a script interpreter's flags).
    pub prefix_args: Vec<String>,
}

/// Most parallel workers (`--workers`, `workers = N`): each is a thread with a child process.
pub const MAX_WORKERS: usize = 1024;

/// How many workers, which GPUs and how many retries.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    pub workers: usize,
    /// GPU ids; each one-shot run takes one exclusively (`CUDA_VISIBLE_DEVICES`). Empty: CPU.
    pub gpus: Vec<String>,
    /// Extra attempts after a failure.
    pub max_retries: usize,
    pub experiment: String,
}

/// Something that happened to a unit, for progress display.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Skipped {
        id: String,
        state: RunState,
    },
    /// Another process holds the unit's lock: it is running elsewhere. The local runner waits
    /// for it to end; a Slurm task reports it ([`BusyPolicy`]).
    Busy {
        id: String,
    },
    Started {
        id: String,
        attempt: usize,
        device: String,
    },
    Finished {
        id: String,
        state: RunState,
    },
    Failed {
        id: String,
        attempt: usize,
        message: String,
        will_retry: bool,
    },
}

/// The outcome of one `run_experiment` call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunReport {
    pub completed: Vec<String>,
    pub skipped: Vec<String>,
    pub diverged: Vec<String>,
    /// Units running elsewhere, left to that process ([`BusyPolicy::Report`] only).
    pub busy: Vec<String>,
    /// Units that failed every attempt, with the last message.
    pub failed: Vec<(String, String)>,
}

/// Persistent per-unit bookkeeping (attempts, last error), beside the run folders.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UnitState {
    pub attempts: usize,
    pub last_error: Option<String>,
}

/// The bookkeeping folder of an experiment output root.
pub fn state_dir(out: &Path) -> PathBuf {
    out.join(".experiment")
}

fn flat(id: &str) -> String {
    id.replace('/', "__")
}

fn state_path(out: &Path, id: &str) -> PathBuf {
    state_dir(out)
        .join("state")
        .join(format!("{}.json", flat(id)))
}

fn lock_path(out: &Path, id: &str) -> PathBuf {
    state_dir(out)
        .join("locks")
        .join(format!("{}.lock", flat(id)))
}

/// The unit's log file (stdout and stderr of every attempt, appended).
pub fn log_path(out: &Path, id: &str) -> PathBuf {
    state_dir(out)
        .join("logs")
        .join(format!("{}.log", flat(id)))
}

fn inputs_path(out: &Path, id: &str) -> PathBuf {
    state_dir(out)
        .join("inputs")
        .join(format!("{}.json", flat(id)))
}

/// What defines a unit's results: kind, optimizer, space, seeds, arguments (but `--out`, the
/// folder itself, which may move) and the resolved config.
pub fn unit_inputs(unit: &RunUnit) -> serde_json::Value {
    let mut args = crate::fingerprint::args_map(&unit.args);
    args.remove("--out");
    serde_json::json!({
        "kind": unit.kind.as_str(),
        "optimizer": unit.optimizer,
        "space": unit.space,
        "seeds": unit.seeds,
        "args": args,
        "config": serde_json::to_value(&unit.config).unwrap_or(serde_json::Value::Null),
    })
}

/// Refuses a unit whose inputs differ from those recorded when its run was first launched (an
/// edited experiment file: another learning rate, channels, epochs, budget), naming what
/// changed; records them when none are recorded yet.
pub fn check_inputs(unit: &RunUnit, out: &Path) -> Result<()> {
    let path = inputs_path(out, &unit.id);
    let now = unit_inputs(unit);
    let folders: Vec<String> = unit
        .run_folders()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let fresh = format!(
        "To run it with the new inputs, remove {} and {}; to keep both, run the experiment into \
         another output folder (--out).",
        folders.join(", "),
        path.display()
    );
    crate::fingerprint::check(&path, &format!("run `{}`", unit.id), &now, &fresh)?;
    if !path.exists() {
        crate::fingerprint::record(&path, &now)?;
    }
    Ok(())
}

/// Reads a unit's bookkeeping (default when absent or unreadable: it is advisory only).
pub fn read_unit_state(out: &Path, id: &str) -> UnitState {
    runs::read_json_opt(&state_path(out, id))
        .ok()
        .flatten()
        .unwrap_or_default()
}

fn write_unit_state(out: &Path, id: &str, s: &UnitState) -> Result<()> {
    let text = serde_json::to_string_pretty(s).unwrap_or_default();
    write_atomic(&state_path(out, id), text.as_bytes())
}

/// The state of a unit from its run folders: complete when all are, diverged when any
/// diverged and the rest are complete, missing when none started, running otherwise.
pub fn unit_state(unit: &RunUnit) -> Result<RunState> {
    let states = unit
        .run_folders()
        .iter()
        .map(|d| match unit.kind {
            RunKind::OneShot | RunKind::Standalone => runs::oneshot_state(d),
            RunKind::BlackBox => runs::blackbox_state(d),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(if states.iter().all(|s| *s == RunState::Complete) {
        RunState::Complete
    } else if states.iter().all(|s| s.is_final()) {
        RunState::Diverged
    } else if states.iter().all(|s| *s == RunState::Missing) {
        RunState::Missing
    } else if states.contains(&RunState::Failed) {
        RunState::Failed
    } else {
        RunState::Running
    })
}

/// Takes an exclusive `flock` without waiting; `Ok(false)` when another open file holds it.
/// The lock belongs to the open file description, so children that inherit it keep it.
fn try_flock(f: &File) -> std::io::Result<bool> {
    match f.try_lock() {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Whether some live process holds the unit's lock (it is running right now).
pub fn is_live(out: &Path, id: &str) -> bool {
    match nb1s1_fsio::open_regular(&lock_path(out, id), runfmt::jsonl::MAX_JSON_BYTES) {
        // Dropping `f` closes it, which releases the probe's own lock if it got one.
        Ok(f) => matches!(try_flock(&f), Ok(false)),
        Err(_) => false,
    }
}

/// Waits for the unit's lock (held by a run elsewhere) and takes it.
fn wait_lock(out: &Path, id: &str) -> Result<File> {
    let path = lock_path(out, id);
    let f = nb1s1_fsio::open_rw(&path)?;
    loop {
        match f.lock() {
            Ok(()) => return Ok(f),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(&path)(e)),
        }
    }
}

/// Takes the unit's lock, or `None` when another process holds it.
fn take_lock(out: &Path, id: &str) -> Result<Option<File>> {
    let path = lock_path(out, id);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let f = nb1s1_fsio::open_rw(&path)?;
    match try_flock(&f) {
        Ok(true) => Ok(Some(f)),
        Ok(false) => Ok(None),
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// Writes the files a launch needs: the experiment sidecar in each run folder and, for a
/// one-shot run, its `run.toml` (in the bookkeeping folder, passed with `--config`).
fn prepare(unit: &RunUnit, out: &Path, experiment: &str, device: &str) -> Result<Vec<String>> {
    let tag = ExperimentTag {
        experiment: experiment.to_string(),
        study: unit.study.clone(),
        variant: unit.variant.clone(),
        device: Some(device.to_string()),
    };
    let tag_text = serde_json::to_string_pretty(&tag).unwrap_or_default();
    for dir in unit.run_folders() {
        write_atomic(&dir.join("experiment.json"), tag_text.as_bytes())?;
    }
    let mut args = unit.args.clone();
    if let Some(config) = &unit.config {
        let path = state_dir(out)
            .join("configs")
            .join(format!("{}.toml", flat(&unit.id)));
        let text = toml::to_string_pretty(config).map_err(|e| BenchError::Experiment {
            path: path.clone(),
            message: e.to_string(),
        })?;
        write_atomic(&path, text.as_bytes())?;
        args.extend(["--config".to_string(), path.to_string_lossy().into_owned()]);
    }
    Ok(args)
}

/// How much of the end of a log [`log_tail`] reads: a failure's last lines, never the
/// whole log of a long run.
const LOG_TAIL_BYTES: u64 = 64 << 10;

/// Last lines of a log, for the failure message; read in bounded memory, a log that is a link
/// or a special file (a FIFO would block the runner) is not read.
fn log_tail(path: &Path) -> String {
    let bytes = match nb1s1_fsio::read_tail(path, LOG_TAIL_BYTES) {
        Ok(b) => b,
        Err(nb1s1_fsio::FsioError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return String::new()
        }
        Err(e) => return format!("(log not read: {e})"),
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().rev().take(3).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

/// Status message of a failed one-shot run (its `status.json`), if any.
fn status_message(unit: &RunUnit) -> Option<String> {
    if unit.kind != RunKind::OneShot {
        return None;
    }
    runs::read_json_opt::<runs::StatusFile>(&unit.out.join("status.json"))
        .ok()
        .flatten()
        .map(|s| s.message)
        .filter(|m| !m.is_empty())
}

struct GpuPool {
    free: Mutex<Vec<String>>,
    ready: Condvar,
}

impl GpuPool {
    fn take(&self) -> String {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(g) = free.pop() {
                return g;
            }
            free = self.ready.wait(free).unwrap_or_else(|p| p.into_inner());
        }
    }
    fn give(&self, gpu: String) {
        self.free
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(gpu);
        self.ready.notify_one();
    }
}

/// What to do with a unit another process is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusyPolicy {
    /// Wait until that process ends, then skip the unit if it finished or launch it if not.
    Wait,
    /// Leave it to that process and list it in [`RunReport::busy`] (a Slurm task).
    Report,
}

/// Runs every unit not yet finished, `workers` at a time; `observer` sees every event. Units
/// running elsewhere are waited for ([`BusyPolicy::Wait`]).
pub fn run_experiment(
    units: &[RunUnit],
    out: &Path,
    launcher: &Launcher,
    options: &RunnerOptions,
    observer: &(dyn Fn(&Event) + Sync),
) -> Result<RunReport> {
    run_units(units, out, launcher, options, BusyPolicy::Wait, observer)
}

/// [`run_experiment`] with a choice of what to do with units running elsewhere.
pub fn run_units(
    units: &[RunUnit],
    out: &Path,
    launcher: &Launcher,
    options: &RunnerOptions,
    busy: BusyPolicy,
    observer: &(dyn Fn(&Event) + Sync),
) -> Result<RunReport> {
    if options.workers > MAX_WORKERS {
        return Err(BenchError::Experiment {
            path: out.to_path_buf(),
            message: format!(
                "{} workers: more than the limit of {MAX_WORKERS}",
                options.workers
            ),
        });
    }
    std::fs::create_dir_all(state_dir(out)).map_err(io_err(state_dir(out)))?;
    let queue = Mutex::new(units.iter().collect::<VecDeque<_>>());
    let report = Mutex::new(RunReport::default());
    let first_error: Mutex<Option<BenchError>> = Mutex::new(None);
    let gpus = GpuPool {
        free: Mutex::new(options.gpus.iter().rev().cloned().collect()),
        ready: Condvar::new(),
    };
    // No more threads than units: each worker runs one unit at a time.
    let workers = options.workers.clamp(1, units.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let Some(unit) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front() else {
                    break;
                };
                let ctx = Ctx {
                    out,
                    launcher,
                    options,
                    busy,
                    gpus: &gpus,
                    report: &report,
                    observer,
                };
                if let Err(e) = run_unit(unit, &ctx) {
                    first_error
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(e);
                    queue.lock().unwrap_or_else(|p| p.into_inner()).clear();
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(report.into_inner().unwrap_or_else(|p| p.into_inner()))
}

/// What every worker shares.
struct Ctx<'a> {
    out: &'a Path,
    launcher: &'a Launcher,
    options: &'a RunnerOptions,
    busy: BusyPolicy,
    gpus: &'a GpuPool,
    report: &'a Mutex<RunReport>,
    observer: &'a (dyn Fn(&Event) + Sync),
}

fn run_unit(unit: &RunUnit, ctx: &Ctx<'_>) -> Result<()> {
    let Ctx {
        out,
        launcher,
        options,
        gpus,
        report,
        observer,
        ..
    } = *ctx;
    let push =
        |f: &dyn Fn(&mut RunReport)| f(&mut report.lock().unwrap_or_else(|p| p.into_inner()));
    check_inputs(unit, out)?;
    let state = unit_state(unit)?;
    if state.is_final() {
        observer(&Event::Skipped {
            id: unit.id.clone(),
            state,
        });
        push(&|r| r.skipped.push(unit.id.clone()));
        return Ok(());
    }
    let lock = match take_lock(out, &unit.id)? {
        Some(lock) => lock,
        None => {
            observer(&Event::Busy {
                id: unit.id.clone(),
            });
            if ctx.busy == BusyPolicy::Report {
                push(&|r| r.busy.push(unit.id.clone()));
                return Ok(());
            }
            let lock = wait_lock(out, &unit.id)?;
            if unit_state(unit)?.is_final() {
                // Finished by the other process (already counted by the Busy event).
                push(&|r| r.skipped.push(unit.id.clone()));
                return Ok(());
            }
            lock
        }
    };
    let mut bookkeeping = read_unit_state(out, &unit.id);
    let mut last_message = String::new();
    for attempt in 1..=options.max_retries + 1 {
        let gpu = (unit.needs_gpu() && !options.gpus.is_empty()).then(|| gpus.take());
        let device = gpu
            .as_ref()
            .map(|g| format!("cuda:{g}"))
            .unwrap_or_else(|| "cpu".to_string());
        observer(&Event::Started {
            id: unit.id.clone(),
            attempt,
            device: device.clone(),
        });
        let exit = launch(unit, out, launcher, options, gpu.as_deref(), &device, &lock);
        if let Some(g) = gpu {
            gpus.give(g);
        }
        let state = unit_state(unit)?;
        if state.is_final() {
            bookkeeping.last_error = None;
            write_unit_state(out, &unit.id, &bookkeeping)?;
            observer(&Event::Finished {
                id: unit.id.clone(),
                state,
            });
            push(&|r| {
                if state == RunState::Complete {
                    r.completed.push(unit.id.clone())
                } else {
                    r.diverged.push(unit.id.clone())
                }
            });
            return Ok(());
        }
        last_message = match exit {
            Err(e) => e.to_string(),
            Ok(code) => {
                let detail =
                    status_message(unit).unwrap_or_else(|| log_tail(&log_path(out, &unit.id)));
                format!("exit status {code}, run state {}: {detail}", state.as_str())
            }
        };
        bookkeeping.attempts += 1;
        bookkeeping.last_error = Some(last_message.clone());
        write_unit_state(out, &unit.id, &bookkeeping)?;
        let will_retry = attempt <= options.max_retries;
        observer(&Event::Failed {
            id: unit.id.clone(),
            attempt,
            message: last_message.clone(),
            will_retry,
        });
    }
    push(&|r| r.failed.push((unit.id.clone(), last_message.clone())));
    Ok(())
}

/// Spawns one attempt and waits for it; the lock file becomes the child's stdin.
fn launch(
    unit: &RunUnit,
    out: &Path,
    launcher: &Launcher,
    options: &RunnerOptions,
    gpu: Option<&str>,
    device: &str,
    lock: &File,
) -> Result<String> {
    let args = prepare(unit, out, &options.experiment, device)?;
    let log = log_path(out, &unit.id);
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let log_file = nb1s1_fsio::open_append(&log)?;
    let err_file = log_file.try_clone().map_err(io_err(&log))?;
    let stdin = lock.try_clone().map_err(io_err(lock_path(out, &unit.id)))?;
    let mut cmd = Command::new(&launcher.program);
    cmd.args(&launcher.prefix_args)
        .args(&args)
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::from(log_file))
        .stderr(Stdio::from(err_file));
    if let Some(g) = gpu {
        cmd.env("CUDA_VISIBLE_DEVICES", g);
    }
    let status = cmd.status().map_err(io_err(&launcher.program))?;
    Ok(status
        .code()
        .map(|c| c.to_string())
        .unwrap_or_else(|| "killed by a signal".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tail_reads_the_end_of_any_log_and_never_blocks_on_a_fifo() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("unit.log");
        // A huge log (holes), then the failure's lines: only the end is read.
        std::fs::File::create(&log)
            .unwrap()
            .set_len(64 << 20)
            .unwrap();
        nb1s1_fsio::append(&log, b"\nepoch 3\nerror: out of memory\nexit\n").unwrap();
        assert_eq!(log_tail(&log), "epoch 3 | error: out of memory | exit");
        assert_eq!(log_tail(&dir.path().join("absent.log")), "");
        let fifo = dir.path().join("fifo.log");
        let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(log_tail(&fifo)));
        let tail = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("log_tail blocked on a FIFO");
        assert!(tail.contains("FIFO"), "{tail}");
    }
}
