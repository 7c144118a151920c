//! Aggregation of the store into the paper's curves (spec §4.2, §4.3, §6):
//! regret per epoch (mean ± standard error over seeds, runs truncated to the shortest),
//! black-box incumbent regret over simulated time, and rank correlation per one-shot epoch.

use crate::error::Result;
use crate::stats::{mean_se, MeanSe};
use crate::store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Which "best in space" the regret is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reference {
    /// The regret the run recorded: the minima computed exactly from the NB-101 table in use.
    #[default]
    Exact,
    /// The original code's hard-coded minima (spec §1.1), from an incomplete enumeration.
    Paper,
}

impl std::str::FromStr for Reference {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "exact" => Ok(Reference::Exact),
            "paper" => Ok(Reference::Paper),
            other => Err(format!("unknown reference `{other}` (exact, paper)")),
        }
    }
}

/// `(valid_min_error, test_min_error)` of `nasbench_analysis/search_spaces/search_space_{1,2,3}.py`.
pub fn paper_min_errors(space: u8) -> Option<(f64, f64)> {
    match space {
        1 => Some((0.049278855323791504, 0.05448716878890991)),
        2 => Some((0.051582515239715576, 0.057592153549194336)),
        3 => Some((0.04847759008407593, 0.05338543653488159)),
        _ => None,
    }
}

/// The identity of a line in a plot: one optimizer (with its grid point) in one space.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct SeriesKey {
    pub study: String,
    pub optimizer: String,
    pub variant: String,
    pub space: u8,
}

impl SeriesKey {
    /// Legend label: the optimizer, plus the grid point when there is one.
    pub fn label(&self) -> String {
        if self.variant == "default" {
            self.optimizer.clone()
        } else {
            format!("{} ({})", self.optimizer, self.variant)
        }
    }
}

/// One epoch of an aggregated regret curve.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EpochPoint {
    pub epoch: usize,
    pub test_regret: MeanSe,
    pub valid_regret: MeanSe,
    pub one_shot_valid_error: Option<MeanSe>,
    /// Mean cumulative search seconds at the end of this epoch.
    pub seconds: Option<MeanSe>,
    /// The same plus the NB-101 training seconds of this epoch's result: the simulated time
    /// to have the result trained, as the black-box optimizers' time axis counts it.
    pub seconds_with_nb101: Option<MeanSe>,
}

/// A regret-vs-epoch curve over the seeds of one series.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RegretCurve {
    pub key: SeriesKey,
    pub seeds: usize,
    /// Devices the runs reported (for the time axis caption).
    pub devices: Vec<String>,
    pub points: Vec<EpochPoint>,
}

/// Mean ± standard error per epoch of one named optimizer metric (`epoch_metrics`) over the
/// complete runs of one series.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MetricCurve {
    pub metric: String,
    pub key: SeriesKey,
    pub seeds: usize,
    /// (epoch, mean, standard error) where at least one run has the value.
    pub points: Vec<(usize, MeanSe)>,
}

/// Every optimizer metric of complete one-shot runs as curves, whatever its name: a new metric
/// needs no code here.
pub fn metric_curves(store: &Store) -> Result<Vec<MetricCurve>> {
    let sql = store.sql_err();
    let mut stmt = store
        .conn()
        .prepare(
            "SELECT m.name, COALESCE(r.study, 'runs'), r.optimizer, r.variant, r.space, r.id,
                    m.epoch, m.value
             FROM runs r JOIN epoch_metrics m ON m.run_id = r.id
             WHERE r.kind = 'oneshot' AND r.status = 'complete'
             ORDER BY m.name, r.id, m.epoch",
        )
        .map_err(&sql)?;
    type Values = BTreeMap<usize, Vec<f64>>;
    let mut groups: BTreeMap<(String, SeriesKey), (std::collections::BTreeSet<i64>, Values)> =
        BTreeMap::new();
    let mut rows = stmt.query([]).map_err(&sql)?;
    while let Some(r) = rows.next().map_err(&sql)? {
        let key = SeriesKey {
            study: r.get(1).map_err(&sql)?,
            optimizer: r.get(2).map_err(&sql)?,
            variant: r.get(3).map_err(&sql)?,
            space: r.get(4).map_err(&sql)?,
        };
        let (run, epoch, value): (i64, i64, f64) = (
            r.get(5).map_err(&sql)?,
            r.get(6).map_err(&sql)?,
            r.get(7).map_err(&sql)?,
        );
        let g = groups.entry((r.get(0).map_err(&sql)?, key)).or_default();
        g.0.insert(run);
        g.1.entry(epoch as usize).or_default().push(value);
    }
    Ok(groups
        .into_iter()
        .map(|((metric, key), (runs, values))| MetricCurve {
            metric,
            key,
            seeds: runs.len(),
            points: values
                .into_iter()
                .filter_map(|(e, v)| Some((e, mean_se(&v)?)))
                .collect(),
        })
        .collect())
}

struct EpochRow {
    test_regret: Option<f64>,
    valid_regret: Option<f64>,
    one_shot: Option<f64>,
    seconds: Option<f64>,
    nb101_seconds: Option<f64>,
}

/// Regret curves of complete one-shot runs, one per series; each series is truncated to its
/// shortest run (as the original analysis stacks runs) and epochs without an NB-101 result
/// (an invalid cell) are skipped.
pub fn regret_curves(store: &Store, reference: Reference) -> Result<Vec<RegretCurve>> {
    let sql = store.sql_err();
    let mut stmt = store
        .conn()
        .prepare(
            "SELECT r.id, COALESCE(r.study, 'runs'), r.optimizer, r.variant, r.space, r.device,
                    e.epoch, e.valid_error, e.test_error, e.valid_regret, e.test_regret,
                    e.one_shot_valid_error, e.seconds, e.nb101_seconds
             FROM runs r JOIN epochs e ON e.run_id = r.id
             WHERE r.kind = 'oneshot' AND r.status = 'complete'
             ORDER BY r.id, e.epoch",
        )
        .map_err(&sql)?;
    type Runs = BTreeMap<i64, (Option<String>, Vec<EpochRow>)>;
    let mut groups: BTreeMap<SeriesKey, Runs> = BTreeMap::new();
    let mut rows = stmt.query([]).map_err(&sql)?;
    while let Some(r) = rows.next().map_err(&sql)? {
        let key = SeriesKey {
            study: r.get(1).map_err(&sql)?,
            optimizer: r.get(2).map_err(&sql)?,
            variant: r.get(3).map_err(&sql)?,
            space: r.get(4).map_err(&sql)?,
        };
        let (valid_error, test_error): (Option<f64>, Option<f64>) =
            (r.get(7).map_err(&sql)?, r.get(8).map_err(&sql)?);
        let (valid_regret, test_regret) = match reference {
            Reference::Exact => (r.get(9).map_err(&sql)?, r.get(10).map_err(&sql)?),
            Reference::Paper => match paper_min_errors(key.space) {
                Some((v, t)) => (valid_error.map(|e| e - v), test_error.map(|e| e - t)),
                None => (None, None),
            },
        };
        let run_id: i64 = r.get(0).map_err(&sql)?;
        let device: Option<String> = r.get(5).map_err(&sql)?;
        let entry = groups
            .entry(key)
            .or_default()
            .entry(run_id)
            .or_insert_with(|| (device, Vec::new()));
        entry.1.push(EpochRow {
            test_regret,
            valid_regret,
            one_shot: r.get(11).map_err(&sql)?,
            seconds: r.get(12).map_err(&sql)?,
            nb101_seconds: r.get(13).map_err(&sql)?,
        });
    }
    let mut curves = Vec::new();
    for (key, runs) in groups {
        let shortest = runs.values().map(|(_, e)| e.len()).min().unwrap_or(0);
        let mut devices: Vec<String> = runs.values().filter_map(|(d, _)| d.clone()).collect();
        devices.sort();
        devices.dedup();
        let mut cumulative: Vec<f64> = vec![0.0; runs.len()];
        let mut points = Vec::new();
        for epoch in 0..shortest {
            let rows: Vec<&EpochRow> = runs.values().map(|(_, e)| &e[epoch]).collect();
            for (c, row) in cumulative.iter_mut().zip(&rows) {
                *c += row.seconds.unwrap_or(0.0);
            }
            let collect = |f: &dyn Fn(&EpochRow) -> Option<f64>| -> Vec<f64> {
                rows.iter().filter_map(|r| f(r)).collect()
            };
            let test = collect(&|r| r.test_regret);
            let valid = collect(&|r| r.valid_regret);
            let (Some(test_regret), Some(valid_regret)) = (mean_se(&test), mean_se(&valid)) else {
                continue;
            };
            let has_seconds = rows.iter().all(|r| r.seconds.is_some());
            let with_nb101: Option<Vec<f64>> = cumulative
                .iter()
                .zip(&rows)
                .map(|(c, r)| Some(c + r.nb101_seconds?))
                .collect();
            points.push(EpochPoint {
                epoch,
                test_regret,
                valid_regret,
                one_shot_valid_error: mean_se(&collect(&|r| r.one_shot)),
                seconds: if has_seconds {
                    mean_se(&cumulative)
                } else {
                    None
                },
                seconds_with_nb101: with_nb101.filter(|_| has_seconds).and_then(|v| mean_se(&v)),
            });
        }
        curves.push(RegretCurve {
            key,
            seeds: runs.len(),
            devices,
            points,
        });
    }
    Ok(curves)
}

/// A black-box optimizer's incumbent test regret over simulated NB-101 seconds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TimeCurve {
    pub key: SeriesKey,
    pub seeds: usize,
    /// `(seconds, mean ± se of the incumbent test regret)` on a log-spaced time grid.
    pub points: Vec<(f64, MeanSe)>,
}

/// Points of the log-spaced time grid.
const TIME_GRID: usize = 60;

/// Black-box incumbent curves on a shared log-spaced time grid; at each time every seed
/// contributes the incumbent of its last query finished by then, and a time is only plotted
/// once every seed has finished a query.
pub fn blackbox_curves(store: &Store, reference: Reference) -> Result<Vec<TimeCurve>> {
    let sql = store.sql_err();
    let mut stmt = store
        .conn()
        .prepare(
            "SELECT r.id, r.optimizer, r.variant, r.space, q.simulated_seconds,
                    q.incumbent_test_regret, q.incumbent_test_error
             FROM runs r JOIN queries q ON q.run_id = r.id
             WHERE r.kind = 'blackbox' AND r.status = 'complete'
             ORDER BY r.id, q.query",
        )
        .map_err(&sql)?;
    type Trajectories = BTreeMap<i64, Vec<(f64, f64)>>;
    let mut groups: BTreeMap<SeriesKey, Trajectories> = BTreeMap::new();
    let mut rows = stmt.query([]).map_err(&sql)?;
    while let Some(r) = rows.next().map_err(&sql)? {
        let key = SeriesKey {
            study: "blackbox".into(),
            optimizer: r.get(1).map_err(&sql)?,
            variant: r.get(2).map_err(&sql)?,
            space: r.get(3).map_err(&sql)?,
        };
        let t: f64 = r.get(4).map_err(&sql)?;
        let regret: Option<f64> = match reference {
            Reference::Exact => r.get(5).map_err(&sql)?,
            Reference::Paper => {
                let e: Option<f64> = r.get(6).map_err(&sql)?;
                e.zip(paper_min_errors(key.space)).map(|(e, (_, m))| e - m)
            }
        };
        if let Some(regret) = regret {
            let id: i64 = r.get(0).map_err(&sql)?;
            groups
                .entry(key)
                .or_default()
                .entry(id)
                .or_default()
                .push((t, regret));
        }
    }
    let mut curves = Vec::new();
    for (key, runs) in groups {
        let start = runs
            .values()
            .filter_map(|q| q.first().map(|p| p.0))
            .fold(0.0f64, f64::max)
            .max(1e-9);
        let end = runs
            .values()
            .filter_map(|q| q.last().map(|p| p.0))
            .fold(start, f64::max);
        let mut points = Vec::new();
        for i in 0..TIME_GRID {
            let frac = i as f64 / (TIME_GRID - 1) as f64;
            let t = start * (end / start).powf(frac);
            let values: Vec<f64> = runs
                .values()
                .filter_map(|q| q.iter().take_while(|p| p.0 <= t * (1.0 + 1e-12)).last())
                .map(|p| p.1)
                .collect();
            if values.len() == runs.len() {
                if let Some(m) = mean_se(&values) {
                    points.push((t, m));
                }
            }
        }
        curves.push(TimeCurve {
            key,
            seeds: runs.len(),
            points,
        });
    }
    Ok(curves)
}

/// Rank correlation of one optimizer in one space at one NB-101 budget, per one-shot epoch.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CorrelationSeries {
    pub optimizer: String,
    pub space: u8,
    pub metric: String,
    pub budget: u32,
    pub points: Vec<CorrelationPoint>,
}

/// Rank correlations at one one-shot epoch, averaged over runs (`None` where undefined).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CorrelationPoint {
    pub epoch: usize,
    pub spearman: Option<f64>,
    pub kendall: Option<f64>,
    pub spearman_top: Option<f64>,
    pub kendall_top: Option<f64>,
}

fn mean_opt(v: &[Option<f64>]) -> Option<f64> {
    let xs: Vec<f64> = v.iter().flatten().copied().collect();
    mean_se(&xs).map(|m| m.mean)
}

/// Correlation per epoch and budget, averaged over the runs of each optimizer and space.
pub fn correlation_series(store: &Store) -> Result<Vec<CorrelationSeries>> {
    let sql = store.sql_err();
    let mut stmt = store
        .conn()
        .prepare(
            "SELECT COALESCE(f.optimizer, 'unknown'), COALESCE(f.space, 0), c.metric, c.budget,
                    f.epoch, c.spearman, c.kendall, c.spearman_top, c.kendall_top
             FROM correlation_files f JOIN correlations c ON c.file_id = f.id
             ORDER BY 1, 2, 3, 4, 5",
        )
        .map_err(&sql)?;
    type Values = [Vec<Option<f64>>; 4];
    let mut groups: BTreeMap<(String, u8, String, u32), BTreeMap<usize, Values>> = BTreeMap::new();
    let mut rows = stmt.query([]).map_err(&sql)?;
    while let Some(r) = rows.next().map_err(&sql)? {
        let key = (
            r.get(0).map_err(&sql)?,
            r.get(1).map_err(&sql)?,
            r.get(2).map_err(&sql)?,
            r.get(3).map_err(&sql)?,
        );
        let epoch: i64 = r.get(4).map_err(&sql)?;
        let slot = groups
            .entry(key)
            .or_default()
            .entry(epoch.max(0) as usize)
            .or_default();
        for (i, values) in slot.iter_mut().enumerate() {
            values.push(r.get(5 + i).map_err(&sql)?);
        }
    }
    Ok(groups
        .into_iter()
        .map(
            |((optimizer, space, metric, budget), epochs)| CorrelationSeries {
                optimizer,
                space,
                metric,
                budget,
                points: epochs
                    .into_iter()
                    .map(|(epoch, v)| CorrelationPoint {
                        epoch,
                        spearman: mean_opt(&v[0]),
                        kendall: mean_opt(&v[1]),
                        spearman_top: mean_opt(&v[2]),
                        kendall_top: mean_opt(&v[3]),
                    })
                    .collect(),
            },
        )
        .collect())
}

/// The final test regret of one complete one-shot run, with the configuration it ran.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunFinal {
    pub study: String,
    pub optimizer: String,
    pub space: u8,
    pub config: serde_json::Value,
    pub test_regret: f64,
}

/// Final test regret of every complete one-shot run (the last epoch with an NB-101 result).
pub fn run_finals(store: &Store, reference: Reference) -> Result<Vec<RunFinal>> {
    let sql = store.sql_err();
    let mut stmt = store
        .conn()
        .prepare(
            "SELECT COALESCE(r.study, 'runs'), r.optimizer, r.space, r.config, e.test_error,
                    e.test_regret
             FROM runs r JOIN epochs e ON e.run_id = r.id
             WHERE r.kind = 'oneshot' AND r.status = 'complete'
               AND e.epoch = (SELECT MAX(epoch) FROM epochs WHERE run_id = r.id)
             ORDER BY r.path",
        )
        .map_err(&sql)?;
    let mut rows = stmt.query([]).map_err(&sql)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(&sql)? {
        let space: u8 = r.get(2).map_err(&sql)?;
        let test_error: Option<f64> = r.get(4).map_err(&sql)?;
        let regret = match reference {
            Reference::Exact => r.get(5).map_err(&sql)?,
            Reference::Paper => test_error
                .zip(paper_min_errors(space))
                .map(|(e, (_, m))| e - m),
        };
        let Some(test_regret) = regret else { continue };
        let config: String = r.get(3).map_err(&sql)?;
        out.push(RunFinal {
            study: r.get(0).map_err(&sql)?,
            optimizer: r.get(1).map_err(&sql)?,
            space,
            config: serde_json::from_str(&config).unwrap_or(serde_json::Value::Null),
            test_regret,
        });
    }
    Ok(out)
}

/// `config` as dotted key → value text (`weights.weight_decay` → `0.0003`).
fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        serde_json::Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// Keys that tell runs apart without being a hyperparameter.
fn is_identity_key(key: &str, value: &str) -> bool {
    key == "seed" || key.ends_with(".seed") || value.contains('/')
}

/// One line of a sweep: an optimizer (and the values of the study's other swept keys).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SweepLine {
    pub label: String,
    /// `(x, mean ± se of the final test regret over seeds)`; x is the value, or the index
    /// into [`Sweep::categories`].
    pub points: Vec<(f64, MeanSe)>,
}

/// Final regret against one swept configuration key, in one study and space (Figs. 7–9).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sweep {
    pub study: String,
    pub space: u8,
    pub key: String,
    /// Non-numeric values (`first`/`second`, `true`/`false`), in sorted order; empty when
    /// every value is a number.
    pub categories: Vec<String>,
    pub lines: Vec<SweepLine>,
}

/// The regularization sweeps: every configuration key whose value differs between complete
/// runs of one study and space, with the final regret (mean ± se over seeds) per value.
pub fn sweeps(finals: &[RunFinal]) -> Vec<Sweep> {
    type Group<'a> = Vec<(&'a RunFinal, BTreeMap<String, String>)>;
    let mut groups: BTreeMap<(String, u8), Group> = BTreeMap::new();
    for f in finals {
        let mut flat = BTreeMap::new();
        flatten("", &f.config, &mut flat);
        groups
            .entry((f.study.clone(), f.space))
            .or_default()
            .push((f, flat));
    }
    let mut out = Vec::new();
    for ((study, space), runs) in groups {
        let keys: BTreeSet<&str> = runs
            .iter()
            .flat_map(|(_, flat)| flat.iter())
            .filter(|(k, v)| !is_identity_key(k, v) && *k != "optimizer" && *k != "space")
            .map(|(k, _)| k.as_str())
            .collect();
        // Swept: a key whose value differs between runs of one optimizer (absent = default);
        // keys that only tell optimizers apart are not a sweep.
        let swept: Vec<&str> = keys
            .into_iter()
            .filter(|k| {
                let mut seen: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
                for (run, flat) in &runs {
                    seen.entry(run.optimizer.as_str())
                        .or_default()
                        .insert(value_of_key(flat, k));
                }
                seen.values().any(|vs| vs.len() > 1)
            })
            .collect();
        for key in &swept {
            let value_of = |flat: &BTreeMap<String, String>| value_of_key(flat, key);
            let numeric = runs
                .iter()
                .all(|(_, f)| value_of(f) != "true" && value_of(f) != "false")
                && runs.iter().all(|(_, f)| value_of(f).parse::<f64>().is_ok());
            let categories: Vec<String> = if numeric {
                Vec::new()
            } else {
                let set: BTreeSet<String> = runs.iter().map(|(_, f)| value_of(f)).collect();
                set.into_iter().collect()
            };
            let mut lines: BTreeMap<String, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
            for (run, flat) in &runs {
                let others: Vec<String> = swept
                    .iter()
                    .filter(|k| *k != key)
                    .map(|k| format!("{k}={}", value_of_key(flat, k)))
                    .collect();
                let label = if others.is_empty() {
                    run.optimizer.clone()
                } else {
                    format!("{} ({})", run.optimizer, others.join(", "))
                };
                lines
                    .entry(label)
                    .or_default()
                    .entry(value_of(flat))
                    .or_default()
                    .push(run.test_regret);
            }
            let lines = lines
                .into_iter()
                .map(|(label, by_value)| {
                    let mut points: Vec<(f64, MeanSe)> = by_value
                        .iter()
                        .filter_map(|(v, regrets)| {
                            let x = if numeric {
                                v.parse().ok()?
                            } else {
                                categories.iter().position(|c| c == v)? as f64
                            };
                            Some((x, mean_se(regrets)?))
                        })
                        .collect();
                    points.sort_by(|a, b| a.0.total_cmp(&b.0));
                    SweepLine { label, points }
                })
                .collect();
            out.push(Sweep {
                study: study.clone(),
                space,
                key: key.to_string(),
                categories,
                lines,
            });
        }
    }
    out
}

fn value_of_key(flat: &BTreeMap<String, String>, key: &str) -> String {
    flat.get(key).cloned().unwrap_or_else(|| "default".into())
}

/// One-shot against NB-101 error of the architectures evaluated at one epoch of one run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Scatter {
    pub optimizer: String,
    pub space: u8,
    pub epoch: usize,
    /// The NB-101 training budget of the y values (the largest in the file).
    pub budget: u32,
    pub file: String,
    /// Architectures in the file.
    pub n: usize,
    /// `(one-shot error, NB-101 test error)`, thinned to at most [`SCATTER_POINTS`].
    pub points: Vec<(f64, f64)>,
}

/// Most points drawn in one scatter plot (the SVG stays small; the best ones are always kept).
pub const SCATTER_POINTS: usize = 1500;
/// Most epochs shown as scatter plots per optimizer and space (spread over the run).
pub const SCATTER_EPOCHS: usize = 4;

/// The test errors of a correlation file at its largest budget: `(budget, [(one-shot, nb101)])`.
fn test_errors(file: &crate::correlation::CorrelationFile) -> Option<(u32, Vec<(f64, f64)>)> {
    let budget = file
        .points
        .iter()
        .flat_map(|p| p.nb101_test_error.keys())
        .filter_map(|k| k.parse::<u32>().ok())
        .max()?;
    let key = budget.to_string();
    let pairs = file
        .points
        .iter()
        .filter_map(|p| Some((p.one_shot_error, *p.nb101_test_error.get(&key)?)))
        .collect();
    Some((budget, pairs))
}

/// Keeps at most `max` items: the `max / 4` best by `key`, then an even stride over the rest.
fn thin<T: Copy>(items: &mut Vec<T>, max: usize, key: impl Fn(&T) -> f64) {
    if items.len() <= max {
        return;
    }
    items.sort_by(|a, b| key(a).total_cmp(&key(b)));
    let best = max / 4;
    let rest = &items[best..];
    let stride = rest.len() as f64 / (max - best) as f64;
    let picked: Vec<T> = (0..max - best)
        .map(|i| rest[(i as f64 * stride) as usize])
        .collect();
    items.truncate(best);
    items.extend(picked);
}

/// One indexed correlation file: `(optimizer, space, epoch, architectures, path)`.
type FileRow = (String, u8, usize, usize, String);

/// The correlation files in the store, by path.
fn correlation_files(store: &Store) -> Result<Vec<FileRow>> {
    let sql = store.sql_err();
    let mut stmt = store
        .conn()
        .prepare(
            "SELECT COALESCE(optimizer, 'unknown'), COALESCE(space, 0), epoch, n, path
             FROM correlation_files ORDER BY path",
        )
        .map_err(&sql)?;
    let rows = stmt
        .query_map([], |r| {
            let epoch: i64 = r.get(2)?;
            let n: i64 = r.get(3)?;
            Ok((
                r.get(0)?,
                r.get(1)?,
                epoch.max(0) as usize,
                n.max(0) as usize,
                r.get(4)?,
            ))
        })
        .map_err(&sql)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&sql)
}

/// Scatter plots of one-shot against NB-101 test error, read from the correlation files the
/// store indexes (the files stay the source of truth): per optimizer and space, the first
/// run's files at up to [`SCATTER_EPOCHS`] epochs spread over the run. A file that can no
/// longer be read is listed in the second value with the reason.
pub fn scatters(store: &Store) -> Result<(Vec<Scatter>, Vec<String>)> {
    let mut by_series: BTreeMap<(String, u8), BTreeMap<usize, String>> = BTreeMap::new();
    for (optimizer, space, epoch, _, path) in correlation_files(store)? {
        by_series
            .entry((optimizer, space))
            .or_default()
            .entry(epoch)
            .or_insert(path);
    }
    let (mut out, mut problems) = (Vec::new(), Vec::new());
    for ((optimizer, space), epochs) in by_series {
        let all: Vec<(usize, String)> = epochs.into_iter().collect();
        let k = all.len().min(SCATTER_EPOCHS);
        let picks: BTreeSet<usize> = (0..k)
            .map(|i| {
                if k == 1 {
                    all.len() - 1
                } else {
                    i * (all.len() - 1) / (k - 1)
                }
            })
            .collect();
        for i in picks {
            let (epoch, path) = &all[i];
            let file = match crate::correlation::CorrelationFile::read(Path::new(path)) {
                Ok(f) => f,
                Err(e) => {
                    problems.push(e.to_string());
                    continue;
                }
            };
            let Some((budget, mut points)) = test_errors(&file) else {
                continue;
            };
            let n = points.len();
            thin(&mut points, SCATTER_POINTS, |p| p.0);
            out.push(Scatter {
                optimizer: optimizer.clone(),
                space,
                epoch: *epoch,
                budget,
                file: path.clone(),
                n,
                points,
            });
        }
    }
    Ok((out, problems))
}

/// The distribution of NB-101 test error over the architectures of a space.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ErrorDistribution {
    pub space: u8,
    /// The correlation file with the most architectures of this space.
    pub file: String,
    pub n: usize,
    pub budget: u32,
    /// `(test error, fraction of architectures at or below it)`, at most 400 quantiles.
    pub ecdf: Vec<(f64, f64)>,
    pub best: f64,
    pub median: f64,
}

/// Per space, the ECDF of NB-101 test error over the largest correlation file of that space
/// (all of the space when it came from `nb1s1 correlation`).
pub fn error_distributions(store: &Store) -> Result<(Vec<ErrorDistribution>, Vec<String>)> {
    let mut largest: BTreeMap<u8, (usize, String)> = BTreeMap::new();
    for (_, space, _, n, path) in correlation_files(store)? {
        let slot = largest.entry(space).or_insert((0, String::new()));
        if n > slot.0 {
            *slot = (n, path);
        }
    }
    let (mut out, mut problems) = (Vec::new(), Vec::new());
    for (space, (_, path)) in largest {
        let file = match crate::correlation::CorrelationFile::read(Path::new(&path)) {
            Ok(f) => f,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        let Some((budget, pairs)) = test_errors(&file) else {
            continue;
        };
        let mut errors: Vec<f64> = pairs.into_iter().map(|p| p.1).collect();
        errors.sort_by(f64::total_cmp);
        let n = errors.len();
        if n == 0 {
            continue;
        }
        let steps = n.min(400);
        let ecdf = (0..steps)
            .map(|i| {
                let at = if steps == 1 {
                    0
                } else {
                    i * (n - 1) / (steps - 1)
                };
                (errors[at], (at + 1) as f64 / n as f64)
            })
            .collect();
        out.push(ErrorDistribution {
            space,
            file: path,
            n,
            budget,
            ecdf,
            best: errors[0],
            median: errors[n / 2],
        });
    }
    Ok((out, problems))
}
