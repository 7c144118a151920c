//! The usual questions asked of the results store, answered as tables: final regret per
//! optimizer and space (mean ± standard error over seeds, a bootstrap interval, a rank test
//! against the best of the space with Holm's correction, per study a Friedman test and a
//! critical-difference ranking across spaces), the best architecture each optimizer found,
//! and the list of runs with their status.

use crate::analysis::{paper_min_errors, Reference, SeriesKey};
use crate::error::Result;
use crate::runs;
use crate::runs::Architecture;
use crate::significance::{self, bootstrap_ci95, holm, mann_whitney_p, CdRanking, SpaceResult};
use crate::stats::{mean_se, MeanSe};
use crate::store::Store;
use crate::table::Table;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Restricts a query to some optimizers or spaces (`None` = all).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub optimizer: Option<String>,
    pub space: Option<u8>,
}

impl Filter {
    fn keeps(&self, optimizer: &str, space: u8) -> bool {
        self.optimizer.as_deref().is_none_or(|o| o == optimizer)
            && self.space.is_none_or(|s| s == space)
    }
}

/// Final regret of one series over its complete runs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FinalRegret {
    pub kind: String,
    pub key: SeriesKey,
    pub test_regret: MeanSe,
    pub valid_regret: Option<MeanSe>,
    /// The final test regret of each seed, in the order the store returned them.
    pub test_values: Vec<f64>,
    /// 95 % percentile bootstrap interval of the mean test regret (two seeds or more).
    pub test_ci95: Option<(f64, f64)>,
    /// Two-sided Mann–Whitney p-value of this series' test regrets against those of the
    /// series with the lowest mean in its space (`None` for that series itself).
    pub p_vs_best: Option<f64>,
    /// `p_vs_best` after Holm's correction over every test of its space.
    pub p_vs_best_holm: Option<f64>,
    /// The series with the lowest mean in its space (`study: label`) and the seeds its final
    /// regrets come from: the other sample `p_vs_best` rests on.
    pub best_in_space: Option<String>,
    pub best_seeds: Option<usize>,
    /// Runs recorded outside nb1s1 (`recorded` or `imported`), empty for nb1s1's own.
    pub external: String,
}

/// Final regret of complete runs: the last epoch of a one-shot run, the last incumbent of a
/// black-box run; grouped by kind, study, optimizer, grid point and space.
pub fn final_regrets(
    store: &Store,
    filter: &Filter,
    reference: Reference,
) -> Result<Vec<FinalRegret>> {
    let sql = store.sql_err();
    let mut stmt = store
        .conn()
        .prepare(
            "SELECT r.kind, COALESCE(r.study, 'runs'), r.optimizer, r.variant, r.space,
                    e.valid_error, e.test_error, e.valid_regret, e.test_regret, r.device
             FROM runs r JOIN epochs e ON e.run_id = r.id
             WHERE r.status = 'complete' AND r.kind = 'oneshot'
               AND e.epoch = (SELECT MAX(epoch) FROM epochs WHERE run_id = r.id)
             UNION ALL
             SELECT r.kind, COALESCE(r.study, 'blackbox'), r.optimizer, r.variant, r.space,
                    q.incumbent_valid_error, q.incumbent_test_error,
                    q.incumbent_valid_regret, q.incumbent_test_regret, r.device
             FROM runs r JOIN queries q ON q.run_id = r.id
             WHERE r.status = 'complete' AND r.kind = 'blackbox'
               AND q.query = (SELECT MAX(query) FROM queries WHERE run_id = r.id)",
        )
        .map_err(&sql)?;
    let mut groups: BTreeMap<(String, SeriesKey), (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    let mut external: BTreeMap<(String, SeriesKey), BTreeSet<String>> = BTreeMap::new();
    let mut rows = stmt.query([]).map_err(&sql)?;
    while let Some(r) = rows.next().map_err(&sql)? {
        let key = SeriesKey {
            study: r.get(1).map_err(&sql)?,
            optimizer: r.get(2).map_err(&sql)?,
            variant: r.get(3).map_err(&sql)?,
            space: r.get(4).map_err(&sql)?,
        };
        if !filter.keeps(&key.optimizer, key.space) {
            continue;
        }
        let errors: (Option<f64>, Option<f64>) = (r.get(5).map_err(&sql)?, r.get(6).map_err(&sql)?);
        let regrets: (Option<f64>, Option<f64>) = match reference {
            Reference::Exact => (r.get(7).map_err(&sql)?, r.get(8).map_err(&sql)?),
            Reference::Paper => match paper_min_errors(key.space) {
                Some((v, t)) => (errors.0.map(|e| e - v), errors.1.map(|e| e - t)),
                None => (None, None),
            },
        };
        let kind: String = r.get(0).map_err(&sql)?;
        let device: Option<String> = r.get(9).map_err(&sql)?;
        if let Some(how) = device.as_deref().and_then(runs::external_kind) {
            let set = external.entry((kind.clone(), key.clone())).or_default();
            set.insert(how.to_string());
        }
        let slot = groups.entry((kind, key)).or_default();
        if let Some(t) = regrets.1 {
            slot.0.push(t);
        }
        if let Some(v) = regrets.0 {
            slot.1.push(v);
        }
    }
    let mut finals: Vec<FinalRegret> = groups
        .into_iter()
        .filter_map(|((kind, key), (test, valid))| {
            let ext = external.get(&(kind.clone(), key.clone()));
            Some(FinalRegret {
                external: ext
                    .map(|s| s.iter().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default(),
                kind,
                key,
                test_regret: mean_se(&test)?,
                valid_regret: mean_se(&valid),
                test_ci95: bootstrap_ci95(&test),
                p_vs_best: None,
                p_vs_best_holm: None,
                best_in_space: None,
                best_seeds: None,
                test_values: test,
            })
        })
        .collect();
    compare_with_best(&mut finals);
    Ok(finals)
}

/// Per space, the rank test of every series against the one with the lowest mean, and Holm's
/// correction over the space's tests (one family per space).
fn compare_with_best(finals: &mut [FinalRegret]) {
    let spaces: BTreeSet<u8> = finals.iter().map(|f| f.key.space).collect();
    for space in spaces {
        let best = finals
            .iter()
            .enumerate()
            .filter(|(_, f)| f.key.space == space)
            .min_by(|a, b| a.1.test_regret.mean.total_cmp(&b.1.test_regret.mean))
            .map(|(i, f)| (i, f.test_values.clone(), series_name(f)));
        let Some((best_i, best_values, best_name)) = best else {
            continue;
        };
        let mut family = Vec::new();
        for (i, f) in finals.iter_mut().enumerate() {
            if f.key.space != space {
                continue;
            }
            f.best_in_space = Some(best_name.clone());
            f.best_seeds = Some(best_values.len());
            if i != best_i {
                f.p_vs_best = mann_whitney_p(&f.test_values, &best_values);
                if let Some(p) = f.p_vs_best {
                    family.push((i, p));
                }
            }
        }
        let adjusted = holm(&family.iter().map(|x| x.1).collect::<Vec<_>>());
        for ((i, _), q) in family.into_iter().zip(adjusted) {
            finals[i].p_vs_best_holm = Some(q);
        }
    }
}

/// How a series is named where studies meet: `study: label`.
fn series_name(f: &FinalRegret) -> String {
    format!("{}: {}", f.key.study, f.key.label())
}

/// A critical-difference ranking of the methods of one study.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StudyRanking {
    pub kind: String,
    pub study: String,
    pub ranking: CdRanking,
}

/// Per study (the runs of one comparison: an experiment's study, or the untagged one-shot
/// `runs` and black-box `blackbox`), the Friedman test and critical-difference ranking of its
/// series (by label) over the spaces they share. Series of different studies are never ranked
/// together: the same method name in two studies is two settings.
pub fn cd_rankings(finals: &[FinalRegret]) -> Vec<StudyRanking> {
    let mut studies: BTreeMap<(&str, &str), Vec<SpaceResult>> = BTreeMap::new();
    for f in finals {
        studies
            .entry((f.kind.as_str(), f.key.study.as_str()))
            .or_default()
            .push(SpaceResult {
                method: f.key.label(),
                space: f.key.space,
                mean: f.test_regret.mean,
                seeds: f.test_regret.n,
            });
    }
    studies
        .into_iter()
        .filter_map(|((kind, study), results)| {
            Some(StudyRanking {
                kind: kind.to_string(),
                study: study.to_string(),
                ranking: significance::cd_ranking(&results)?,
            })
        })
        .collect()
}

/// The critical-difference ranking as a table: average rank, whether the best is within the
/// critical difference, and the seeds behind each mean.
pub fn cd_table(cd: &CdRanking) -> Table {
    let mut t = Table::new(&[
        "method",
        "average_rank",
        "within_cd_of_best",
        "seeds_per_space",
    ]);
    let best = cd.ranks.first().map(|r| r.average_rank).unwrap_or(0.0);
    for r in &cd.ranks {
        t.rows.push(vec![
            json!(r.method),
            json!(r.average_rank),
            cd.critical_difference.map_or(Value::Null, |c| {
                json!(if r.average_rank - best < c {
                    "yes"
                } else {
                    "no"
                })
            }),
            json!(cd
                .spaces
                .iter()
                .zip(&r.seeds)
                .map(|(s, n)| format!("space {s}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")),
        ]);
    }
    t
}

/// The final-regret table.
pub fn final_regret_table(rows: &[FinalRegret]) -> Table {
    let mut t = Table::new(&[
        "kind",
        "study",
        "optimizer",
        "variant",
        "space",
        "seeds",
        "test_regret_mean",
        "test_regret_se",
        "valid_regret_mean",
        "valid_regret_se",
        "test_regret_ci95_low",
        "test_regret_ci95_high",
        "p_vs_best_in_space",
        "p_vs_best_holm",
        "best_in_space",
        "seeds_of_best",
        "recorded_outside_nb1s1",
    ]);
    for r in rows {
        t.rows.push(vec![
            json!(r.kind),
            json!(r.key.study),
            json!(r.key.optimizer),
            json!(r.key.variant),
            json!(r.key.space),
            json!(r.test_regret.n),
            json!(r.test_regret.mean),
            json!(r.test_regret.se),
            r.valid_regret.map_or(Value::Null, |m| json!(m.mean)),
            r.valid_regret.map_or(Value::Null, |m| json!(m.se)),
            r.test_ci95.map_or(Value::Null, |c| json!(c.0)),
            r.test_ci95.map_or(Value::Null, |c| json!(c.1)),
            r.p_vs_best.map_or(Value::Null, |p| json!(p)),
            r.p_vs_best_holm.map_or(Value::Null, |p| json!(p)),
            r.best_in_space.as_ref().map_or(Value::Null, |b| json!(b)),
            r.best_seeds.map_or(Value::Null, |n| json!(n)),
            json!(r.external),
        ]);
    }
    t
}

/// The best final architecture of one optimizer in one space (lowest mean NB-101 validation
/// error: the test error is reported, never used to choose).
#[derive(Debug, Clone, serde::Serialize)]
pub struct BestArchitecture {
    pub optimizer: String,
    pub space: u8,
    pub hash: String,
    pub architecture: Option<Architecture>,
    pub valid_error: f64,
    pub test_error: Option<f64>,
    pub test_regret: Option<f64>,
    /// How many of the complete runs ended on this architecture, and how many there were.
    pub found_by: usize,
    pub runs: usize,
}

/// Best final architecture per optimizer and space over complete one-shot runs.
pub fn best_architectures(store: &Store, filter: &Filter) -> Result<Vec<BestArchitecture>> {
    let sql = store.sql_err();
    let mut stmt = store
        .conn()
        .prepare(
            "SELECT r.optimizer, r.space, e.hash, e.architecture, e.valid_error, e.test_error,
                    e.test_regret
             FROM runs r JOIN epochs e ON e.run_id = r.id
             WHERE r.status = 'complete' AND r.kind = 'oneshot'
               AND e.epoch = (SELECT MAX(epoch) FROM epochs WHERE run_id = r.id)
             ORDER BY r.optimizer, r.space, r.path",
        )
        .map_err(&sql)?;
    let mut best: BTreeMap<(String, u8), (BestArchitecture, BTreeMap<String, usize>)> =
        BTreeMap::new();
    let mut rows = stmt.query([]).map_err(&sql)?;
    while let Some(r) = rows.next().map_err(&sql)? {
        let optimizer: String = r.get(0).map_err(&sql)?;
        let space: u8 = r.get(1).map_err(&sql)?;
        if !filter.keeps(&optimizer, space) {
            continue;
        }
        let hash: Option<String> = r.get(2).map_err(&sql)?;
        let valid: Option<f64> = r.get(4).map_err(&sql)?;
        let (Some(hash), Some(valid_error)) = (hash, valid) else {
            continue;
        };
        let arch_json: Option<String> = r.get(3).map_err(&sql)?;
        let candidate = BestArchitecture {
            optimizer: optimizer.clone(),
            space,
            hash: hash.clone(),
            architecture: arch_json.and_then(|a| serde_json::from_str(&a).ok()),
            valid_error,
            test_error: r.get(5).map_err(&sql)?,
            test_regret: r.get(6).map_err(&sql)?,
            found_by: 0,
            runs: 0,
        };
        let slot = best
            .entry((optimizer, space))
            .or_insert_with(|| (candidate.clone(), BTreeMap::new()));
        *slot.1.entry(hash).or_default() += 1;
        if candidate.valid_error < slot.0.valid_error {
            slot.0 = candidate;
        }
    }
    Ok(best
        .into_values()
        .map(|(mut b, counts)| {
            b.found_by = counts.get(&b.hash).copied().unwrap_or(0);
            b.runs = counts.values().sum();
            b
        })
        .collect())
}

/// The best-architecture table.
pub fn best_table(rows: &[BestArchitecture]) -> Table {
    let mut t = Table::new(&[
        "optimizer",
        "space",
        "hash",
        "ops",
        "valid_error",
        "test_error",
        "test_regret",
        "found_by",
        "runs",
    ]);
    for b in rows {
        t.rows.push(vec![
            json!(b.optimizer),
            json!(b.space),
            json!(b.hash),
            b.architecture
                .as_ref()
                .map_or(Value::Null, |a| json!(a.ops.join(" "))),
            json!(b.valid_error),
            json!(b.test_error),
            json!(b.test_regret),
            json!(b.found_by),
            json!(b.runs),
        ]);
    }
    t
}

/// Every run in the store with its status and progress.
pub fn runs_table(store: &Store, filter: &Filter) -> Result<Table> {
    let sql = store.sql_err();
    let mut stmt = store
        .conn()
        .prepare(
            "SELECT r.kind, COALESCE(r.study, ''), r.optimizer, r.variant, r.space, r.seed,
                    r.status, (SELECT COUNT(*) FROM epochs WHERE run_id = r.id)
                      + (SELECT COUNT(*) FROM queries WHERE run_id = r.id),
                    r.device, r.path
             FROM runs r ORDER BY r.kind, r.study, r.optimizer, r.space, r.variant, r.seed",
        )
        .map_err(&sql)?;
    let mut t = Table::new(&[
        "kind",
        "study",
        "optimizer",
        "variant",
        "space",
        "seed",
        "status",
        "records",
        "device",
        "path",
    ]);
    let mut rows = stmt.query([]).map_err(&sql)?;
    while let Some(r) = rows.next().map_err(&sql)? {
        let optimizer: String = r.get(2).map_err(&sql)?;
        let space: u8 = r.get(4).map_err(&sql)?;
        if !filter.keeps(&optimizer, space) {
            continue;
        }
        let mut row = Vec::with_capacity(10);
        for i in 0..10 {
            let v: rusqlite::types::Value = r.get(i).map_err(&sql)?;
            row.push(match v {
                rusqlite::types::Value::Integer(i) => json!(i),
                rusqlite::types::Value::Real(f) => json!(f),
                rusqlite::types::Value::Text(s) => json!(s),
                _ => Value::Null,
            });
        }
        t.rows.push(row);
    }
    Ok(t)
}
