//! The transfer studies from the store (the original's `single_architecture_training/` and
//! `architecture_inductive_bias/`): architectures of a space trained stand-alone with proxy
//! settings (`nb1s1 train`, kind `standalone`), their final test accuracy against the cell's
//! NB-101 test accuracy (108 epochs) and against the one-shot model's accuracy on the same cell
//! (the correlation files of the experiment's searches, matched by hash), and per network size
//! (stem channels x cells per stack) the rank correlation with NB-101: the inductive-bias heatmap.

use crate::error::Result;
use crate::stats;
use crate::store::Store;
use std::collections::BTreeMap;
use std::path::Path;

/// One trained architecture: its last epoch's accuracies next to NB-101's and the one-shot
/// model's.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TransferPoint {
    pub hash: String,
    pub seed: u64,
    pub test_accuracy: f64,
    pub valid_accuracy: f64,
    /// 1 − NB-101's mean test error at 108 epochs; `None` when the run had no table.
    pub nb101_test_accuracy: Option<f64>,
    /// 1 − the one-shot error of the cell (mean over the matching correlation files).
    pub one_shot_accuracy: Option<f64>,
}

/// The runs of one study, space and network size (a grid point).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TransferGroup {
    pub study: String,
    pub experiment: Option<String>,
    pub space: u8,
    pub variant: String,
    pub channels: u64,
    pub cells: u64,
    pub epochs: u64,
    pub points: Vec<TransferPoint>,
    /// Spearman and Kendall tau-b of stand-alone against NB-101 test accuracy.
    pub spearman_nb101: Option<f64>,
    pub kendall_nb101: Option<f64>,
    /// Spearman of stand-alone against one-shot accuracy, over the cells that have both.
    pub spearman_one_shot: Option<f64>,
    pub n_one_shot: usize,
}

type RunRow = (
    String,
    Option<String>,
    u8,
    String,
    u64,
    u64,
    u64,
    String,
    u64,
    Option<f64>,
);

/// Complete stand-alone runs with their last epoch's accuracies.
fn runs(store: &Store) -> Result<Vec<(RunRow, f64, f64)>> {
    let sql = store.sql_err();
    let mut stmt = store
        .conn()
        .prepare(
            "SELECT COALESCE(r.study, 'standalone'), r.experiment, r.space, r.variant,
                    COALESCE(s.stem_channels, 0), COALESCE(s.cells_per_stack, 0),
                    COALESCE(s.epochs, 0), s.hash, r.seed, s.nb101_test_error,
                    e.valid_accuracy, e.test_accuracy
             FROM runs r JOIN standalone_runs s ON s.run_id = r.id
             JOIN standalone_epochs e ON e.run_id = r.id
             WHERE r.kind = 'standalone' AND r.status = 'complete'
               AND e.epoch = (SELECT MAX(epoch) FROM standalone_epochs WHERE run_id = r.id)
             ORDER BY 1, 3, 5, 6, 8, 9",
        )
        .map_err(&sql)?;
    let rows = stmt
        .query_map([], |r| {
            let u = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
            Ok((
                (
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    u(4)?,
                    u(5)?,
                    u(6)?,
                    r.get(7)?,
                    u(8)?,
                    r.get(9)?,
                ),
                r.get(10)?,
                r.get(11)?,
            ))
        })
        .map_err(&sql)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&sql)
}

/// Hash → mean one-shot error of the cells of one (experiment, space).
type OneShotErrors = BTreeMap<(Option<String>, u8), BTreeMap<String, f64>>;

/// Hash → mean one-shot error, per (experiment, space): the last evaluated epoch of every
/// search run whose correlation files the store indexes. A file that can no longer be read is
/// reported in `problems`.
fn one_shot_errors(store: &Store, problems: &mut Vec<String>) -> Result<OneShotErrors> {
    let sql = store.sql_err();
    let mut stmt = store
        .conn()
        .prepare(
            "SELECT r.experiment, f.space, f.path FROM correlation_files f
             JOIN runs r ON r.path = f.run_path
             WHERE f.epoch = (SELECT MAX(epoch) FROM correlation_files g
                              WHERE g.run_path = f.run_path)
             ORDER BY f.path",
        )
        .map_err(&sql)?;
    let files = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(&sql)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(&sql)?;
    // (sum, count) per hash, averaged below.
    type Sums = BTreeMap<(Option<String>, u8), BTreeMap<String, (f64, usize)>>;
    let mut sums: Sums = BTreeMap::new();
    for (experiment, space, path) in files {
        // BN-recalibrated files are another evaluation of the same weights: not averaged in.
        if crate::correlation::bn_recalibration_from_name(Path::new(&path)).is_some() {
            continue;
        }
        let space = space.and_then(|s| u8::try_from(s).ok()).unwrap_or(0);
        let file = match crate::correlation::CorrelationFile::read(Path::new(&path)) {
            Ok(f) => f,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        let slot = sums.entry((experiment, space)).or_default();
        for p in &file.points {
            let s = slot.entry(p.hash.clone()).or_insert((0.0, 0));
            s.0 += p.one_shot_error;
            s.1 += 1;
        }
    }
    Ok(sums
        .into_iter()
        .map(|(k, m)| {
            (
                k,
                m.into_iter().map(|(h, (s, n))| (h, s / n as f64)).collect(),
            )
        })
        .collect())
}

/// Rank correlations of the finite pairs; `None` below 3 pairs.
fn ranks(pairs: &[(f64, f64)]) -> Result<(Option<f64>, Option<f64>)> {
    if pairs.len() < 3 {
        return Ok((None, None));
    }
    let (x, y): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
    Ok((stats::spearman(&x, &y)?, stats::kendall_tau_b(&x, &y)?))
}

/// Every study, space and network size of complete stand-alone runs, with its correlations;
/// the second value lists what could not be read.
pub fn transfer_groups(store: &Store) -> Result<(Vec<TransferGroup>, Vec<String>)> {
    let mut problems = Vec::new();
    let one_shot = one_shot_errors(store, &mut problems)?;
    let mut groups: BTreeMap<(String, u8, u64, u64, String), TransferGroup> = BTreeMap::new();
    for (
        (study, experiment, space, variant, channels, cells, epochs, hash, seed, nb),
        valid,
        test,
    ) in runs(store)?
    {
        let one = one_shot
            .get(&(experiment.clone(), space))
            .and_then(|m| m.get(&hash))
            .map(|e| 1.0 - e);
        let g = groups
            .entry((study.clone(), space, channels, cells, variant.clone()))
            .or_insert_with(|| TransferGroup {
                study,
                experiment,
                space,
                variant,
                channels,
                cells,
                epochs,
                points: Vec::new(),
                spearman_nb101: None,
                kendall_nb101: None,
                spearman_one_shot: None,
                n_one_shot: 0,
            });
        g.points.push(TransferPoint {
            hash,
            seed,
            test_accuracy: test,
            valid_accuracy: valid,
            nb101_test_accuracy: nb.map(|e| 1.0 - e),
            one_shot_accuracy: one,
        });
    }
    let mut out: Vec<TransferGroup> = groups.into_values().collect();
    for g in &mut out {
        let nb: Vec<(f64, f64)> = g
            .points
            .iter()
            .filter_map(|p| Some((p.test_accuracy, p.nb101_test_accuracy?)))
            .collect();
        (g.spearman_nb101, g.kendall_nb101) = ranks(&nb)?;
        let os: Vec<(f64, f64)> = g
            .points
            .iter()
            .filter_map(|p| Some((p.test_accuracy, p.one_shot_accuracy?)))
            .collect();
        g.n_one_shot = os.len();
        g.spearman_one_shot = ranks(&os)?.0;
    }
    Ok((out, problems))
}
