//! TensorBoard scalar event files from finished runs (`nb1s1 results tensorboard`). The event
//! encoding and writer live in the small `tfevents` crate (re-exported here), which the search
//! loop also uses to write its event files live.
//!
//! A run that already has live event files (written by `nb1s1 search`) is not exported again:
//! TensorBoard would show every scalar twice. Exported files end in `.export`, so a later export
//! replaces only its own earlier file.

use crate::error::{io_err, BenchError, Result};
use crate::runs::{self, EpochRecord};
use std::path::{Path, PathBuf};

pub use tfevents::{encode_event, event_file_name, EventWriter};

/// The suffix of files written by [`write_run_events`].
pub const EXPORT_SUFFIX: &str = ".export";

/// Event files in `<run>/tensorboard/` that the search wrote live (not exports).
pub fn live_event_files(run_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(run_dir.join("tensorboard"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            tfevents::is_event_file_name(&name) && !name.ends_with(EXPORT_SUFFIX)
        })
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

/// The scalars of one epoch record, with their TensorBoard tags; each optimizer metric
/// `name` under `metrics/<name>`.
pub fn epoch_scalars(e: &EpochRecord) -> Vec<(String, f64)> {
    let mut s = Vec::new();
    let mut push = |tag: &str, v: Option<f64>| {
        if let Some(v) = v {
            s.push((tag.to_string(), v));
        }
    };
    push("regret/test", e.test_regret);
    push("regret/valid", e.valid_regret);
    push("one_shot/valid_error", Some(e.one_shot_valid_error));
    push("train/loss", Some(e.train_loss));
    push("time/epoch_seconds", Some(e.seconds));
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    push("nb101/test_error", mean(&e.test_errors));
    push("nb101/valid_error", mean(&e.valid_errors));
    for (name, v) in &e.metrics {
        push(&format!("metrics/{name}"), Some(*v));
    }
    s
}

/// Writes `<run>/tensorboard/events.out.tfevents.*.export` from the run's `epochs.jsonl`
/// (replacing an earlier export atomically); the wall time of each event is the start time plus
/// the cumulative epoch seconds. Returns the file written. A run with live event files (see
/// [`live_event_files`]) is an error that names them.
pub fn write_run_events(run_dir: &Path, start_wall_time: f64) -> Result<PathBuf> {
    if let Some(live) = live_event_files(run_dir).first() {
        return Err(BenchError::Field {
            path: run_dir.to_path_buf(),
            field: "tensorboard".into(),
            message: format!(
                "the search already wrote live event files ({}); exporting again would show every scalar twice",
                live.display()
            ),
        });
    }
    let epochs: Vec<EpochRecord> = runs::read_jsonl(&run_dir.join("epochs.jsonl"))?;
    let mut w = EventWriter::new(Vec::new(), start_wall_time).map_err(io_err(run_dir))?;
    let mut t = start_wall_time;
    for e in &epochs {
        t += e.seconds;
        for (tag, v) in epoch_scalars(e) {
            w.scalar(&tag, e.epoch as i64, v, t)
                .map_err(io_err(run_dir))?;
        }
    }
    let dir = run_dir.join("tensorboard");
    // A `tensorboard` that is a link out of the run folder is refused, never written into.
    nb1s1_fsio::ensure_dir_in(run_dir, &dir)?;
    // One file per run: earlier exports are replaced rather than accumulated.
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if tfevents::is_event_file_name(&name) && name.ends_with(EXPORT_SUFFIX) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    let path = dir.join(format!(
        "{}{EXPORT_SUFFIX}",
        event_file_name(start_wall_time)
    ));
    runfmt::write_atomic(&path, &w.into_inner())?;
    Ok(path)
}
