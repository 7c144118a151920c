//! Correlation between one-shot and stand-alone performance (spec §4.3): reads the correlation
//! files written by the supernet evaluation and reduces them to Spearman / Kendall tau-b over
//! all architectures and over the best `TOP_K` by one-shot error, per NB-101 budget.
//!
//! File contract: `<run>/correlation/epoch<E>.jsonl`, one line per evaluated architecture:
//! `{"hash": "…", "one_shot_error": 0.41, "nb101_test_error": {"4": …, "108": …},
//!   "nb101_valid_error": {…}}` (errors are means over NB-101's repeats; `epoch` optional).

use crate::error::{io_err, BenchError, Result};
use crate::stats::{self, RankCorrelation};
use std::path::{Path, PathBuf};

/// The paper's top-k: the 1,000 architectures with the lowest one-shot error.
pub const TOP_K: usize = 1000;

/// One evaluated architecture (the run format's correlation point).
pub use runfmt::CorrelationPoint as Point;

/// A parsed correlation file.
#[derive(Debug, Clone)]
pub struct CorrelationFile {
    pub path: PathBuf,
    /// The run folder the checkpoint came from (the parent of `correlation/`), if it is one.
    pub run_dir: Option<PathBuf>,
    /// The one-shot epoch of the evaluated checkpoint.
    pub epoch: usize,
    pub points: Vec<Point>,
}

/// Correlations for one metric (`test` / `valid`) at one NB-101 budget.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BudgetCorrelation {
    pub metric: &'static str,
    pub budget: u32,
    pub stats: RankCorrelation,
}

/// The `.jsonl` files of a `correlation/` folder, sorted.
pub fn find_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let p = entry.map_err(io_err(dir))?.path();
        if p.extension().is_some_and(|e| e == "jsonl") {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

fn epoch_from_name(path: &Path) -> Option<usize> {
    let stem = path.file_stem()?.to_string_lossy().into_owned();
    let digits: String = stem
        .strip_prefix("epoch")?
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// The BN recalibration batches of a file named `epoch<E>-bn<N>.jsonl` (`nb1s1 correlation
/// --bn-recalibrate N`); `None` for the running statistics' `epoch<E>.jsonl`.
pub fn bn_recalibration_from_name(path: &Path) -> Option<usize> {
    let stem = path.file_stem()?.to_string_lossy().into_owned();
    let rest = stem
        .strip_prefix("epoch")?
        .trim_start_matches(|c: char| c.is_ascii_digit());
    rest.strip_prefix("-bn")?.parse().ok()
}

/// The series a correlation file belongs to: its run's optimizer, `+bn<N>` for a
/// BN-recalibrated evaluation, so the two are never averaged together.
pub fn series_name(optimizer: &str, path: &Path) -> String {
    match bn_recalibration_from_name(path) {
        Some(n) => format!("{optimizer}+bn{n}"),
        None => optimizer.to_string(),
    }
}

impl CorrelationFile {
    /// Reads and validates a correlation file.
    pub fn read(path: &Path) -> Result<CorrelationFile> {
        let points: Vec<Point> = crate::runs::read_jsonl(path)?;
        let bad = |line: usize, message: String| BenchError::Json {
            path: path.to_path_buf(),
            line,
            message,
        };
        let mut epoch = epoch_from_name(path);
        for (i, p) in points.iter().enumerate() {
            if !p.one_shot_error.is_finite() {
                return Err(bad(i + 1, "`one_shot_error` is not finite".into()));
            }
            if let Some(k) = p
                .nb101_test_error
                .keys()
                .chain(p.nb101_valid_error.keys())
                .find(|k| k.parse::<u32>().is_err())
            {
                return Err(bad(
                    i + 1,
                    format!("budget key `{k}` is not an epoch count"),
                ));
            }
            match (epoch, p.epoch) {
                (None, Some(e)) => epoch = Some(e),
                (Some(a), Some(b)) if a != b => {
                    return Err(bad(i + 1, format!("`epoch` {b} differs from {a}")))
                }
                _ => {}
            }
        }
        let epoch = epoch.ok_or_else(|| BenchError::Field {
            path: path.to_path_buf(),
            field: "epoch".into(),
            message: "name the file epoch<E>.jsonl or give `epoch` on each line".into(),
        })?;
        let run_dir = path
            .parent()
            .filter(|d| d.file_name().is_some_and(|n| n == "correlation"))
            .and_then(Path::parent)
            .filter(|d| matches!(crate::runs::run_kind(d), Ok(Some(_))))
            .map(Path::to_path_buf);
        Ok(CorrelationFile {
            path: path.to_path_buf(),
            run_dir,
            epoch,
            points,
        })
    }

    /// Rank correlations per metric and budget; an architecture without a value at some budget
    /// is left out of that budget only.
    pub fn statistics(&self, top_k: usize) -> Result<Vec<BudgetCorrelation>> {
        let mut out = Vec::new();
        for metric in ["test", "valid"] {
            let mut budgets: Vec<u32> = self
                .points
                .iter()
                .flat_map(|p| match metric {
                    "test" => p.nb101_test_error.keys(),
                    _ => p.nb101_valid_error.keys(),
                })
                .filter_map(|k| k.parse().ok())
                .collect();
            budgets.sort_unstable();
            budgets.dedup();
            for budget in budgets {
                let key = budget.to_string();
                let (xs, ys): (Vec<f64>, Vec<f64>) = self
                    .points
                    .iter()
                    .filter_map(|p| {
                        let map = if metric == "test" {
                            &p.nb101_test_error
                        } else {
                            &p.nb101_valid_error
                        };
                        map.get(&key).map(|y| (p.one_shot_error, *y))
                    })
                    .unzip();
                let stats =
                    stats::rank_correlation(&xs, &ys, top_k).map_err(|e| BenchError::Field {
                        path: self.path.clone(),
                        field: format!("nb101_{metric}_error.{budget}"),
                        message: e.to_string(),
                    })?;
                out.push(BudgetCorrelation {
                    metric,
                    budget,
                    stats,
                });
            }
        }
        Ok(out)
    }
}
