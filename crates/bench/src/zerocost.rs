//! Zero-cost proxies against NAS-Bench-101: reads the `scores.jsonl` of `nb1s1 zerocost`, and
//! per proxy and budget gives Spearman's ρ and Kendall's τ-b of the proxy with the cells' mean
//! validation and test accuracy, each with a percentile bootstrap interval (cells resampled
//! with replacement, seeded), and the report page with one scatter plot per proxy.

use std::collections::BTreeMap;
use std::path::Path;

use nasbench101::{ModelHash, Nb101};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{BenchError, Result};
use crate::html::escape;
use crate::plots::{self, Chart, Series};
use crate::stats::{kendall_tau_b, spearman};

/// Keys of a scores line that are not proxies.
const NOT_PROXIES: [&str; 4] = ["hash", "matrix", "ops", "seconds"];

/// One cell's line of `scores.jsonl`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRow {
    pub hash: String,
    /// Seconds the cell's proxies took.
    pub seconds: f64,
    /// Proxy name -> value (`None`: not finite).
    pub scores: BTreeMap<String, Option<f64>>,
}

fn field_err(path: &Path, line: usize, field: &str, message: &str) -> BenchError {
    BenchError::Field {
        path: path.to_path_buf(),
        field: format!("line {line}: {field}"),
        message: message.to_string(),
    }
}

/// Reads `scores.jsonl`; a line without a hash or with a non-numeric proxy is an error naming
/// the line and the field.
pub fn read_scores(path: &Path) -> Result<Vec<ScoreRow>> {
    let lines: Vec<serde_json::Value> = runfmt::read_jsonl(path).map_err(BenchError::RunFormat)?;
    lines
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let obj = v
                .as_object()
                .ok_or_else(|| field_err(path, i + 1, "line", "not a JSON object"))?;
            let hash = obj
                .get("hash")
                .and_then(|h| h.as_str())
                .ok_or_else(|| field_err(path, i + 1, "hash", "missing or not a string"))?;
            let mut scores = BTreeMap::new();
            for (k, v) in obj
                .iter()
                .filter(|(k, _)| !NOT_PROXIES.contains(&k.as_str()))
            {
                let value = match v {
                    serde_json::Value::Null => None,
                    v => Some(
                        v.as_f64()
                            .ok_or_else(|| field_err(path, i + 1, k, "not a number"))?,
                    ),
                };
                scores.insert(k.clone(), value);
            }
            Ok(ScoreRow {
                hash: hash.to_string(),
                seconds: obj.get("seconds").and_then(|s| s.as_f64()).unwrap_or(0.0),
                scores,
            })
        })
        .collect()
}

/// A statistic with its bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    pub value: f64,
    /// 2.5 and 97.5 percentiles over the resamples (`None` with no defined resample).
    pub low: Option<f64>,
    pub high: Option<f64>,
}

/// One proxy against one NB-101 metric at one budget.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProxyCorrelation {
    pub proxy: String,
    pub epochs: u32,
    /// `validation` or `test` (mean accuracy over the repeats).
    pub metric: &'static str,
    /// Cells with a finite proxy value and an NB-101 record.
    pub n: usize,
    pub spearman: Option<Estimate>,
    pub kendall: Option<Estimate>,
}

type Statistic = fn(&[f64], &[f64]) -> Result<Option<f64>>;

/// The statistic and its percentile bootstrap interval over `resamples` resamples.
pub fn bootstrap(
    x: &[f64],
    y: &[f64],
    stat: Statistic,
    resamples: usize,
    seed: u64,
) -> Result<Option<Estimate>> {
    let Some(value) = stat(x, y)? else {
        return Ok(None);
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = x.len();
    let (mut xs, mut ys) = (vec![0.0; n], vec![0.0; n]);
    let mut values = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for k in 0..n {
            let i = rng.gen_range(0..n);
            xs[k] = x[i];
            ys[k] = y[i];
        }
        if let Some(v) = stat(&xs, &ys)? {
            values.push(v);
        }
    }
    values.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        (!values.is_empty()).then(|| values[((values.len() - 1) as f64 * q).round() as usize])
    };
    Ok(Some(Estimate {
        value,
        low: pick(0.025),
        high: pick(0.975),
    }))
}

/// Mean validation and test accuracy of a cell at `epochs` (over the repeats).
pub fn accuracies(nb: &Nb101, hash: &str, epochs: u32) -> Option<(f64, f64)> {
    let model = nb.model(&hash.parse::<ModelHash>().ok()?)?;
    let repeats = model.repeats(epochs).ok()?;
    if repeats.is_empty() {
        return None;
    }
    let n = repeats.len() as f64;
    let v = repeats
        .iter()
        .map(|p| p.final_validation_accuracy)
        .sum::<f64>()
        / n;
    let t = repeats.iter().map(|p| p.final_test_accuracy).sum::<f64>() / n;
    Some((v, t))
}

/// Where a cell's mean (validation, test) accuracy at a budget comes from: an open table, or
/// the accuracies a scoring folder (or the results store) recorded.
pub type Accuracy<'a> = &'a dyn Fn(&str, u32) -> Option<(f64, f64)>;

/// Proxy values and NB-101 accuracies of the cells that have both, per proxy.
pub fn pairs(rows: &[ScoreRow], nb: &Nb101, epochs: u32) -> BTreeMap<String, Vec<(f64, f64, f64)>> {
    pairs_with(rows, &|h: &str, e: u32| accuracies(nb, h, e), epochs)
}

/// [`pairs`] with the accuracies from `acc`.
pub fn pairs_with(
    rows: &[ScoreRow],
    acc: Accuracy<'_>,
    epochs: u32,
) -> BTreeMap<String, Vec<(f64, f64, f64)>> {
    let mut out: BTreeMap<String, Vec<(f64, f64, f64)>> = BTreeMap::new();
    for r in rows {
        let Some((v, t)) = acc(&r.hash, epochs) else {
            continue;
        };
        for (p, s) in &r.scores {
            if let Some(s) = s {
                out.entry(p.clone()).or_default().push((*s, v, t));
            }
        }
    }
    out
}

/// Every proxy against validation and test accuracy at every budget of `nb`.
pub fn correlate(
    rows: &[ScoreRow],
    nb: &Nb101,
    resamples: usize,
    seed: u64,
) -> Result<Vec<ProxyCorrelation>> {
    correlate_with(
        rows,
        &|h: &str, e: u32| accuracies(nb, h, e),
        nb.epochs(),
        resamples,
        seed,
    )
}

/// [`correlate`] with the accuracies from `acc` at the budgets `budgets`.
pub fn correlate_with(
    rows: &[ScoreRow],
    acc: Accuracy<'_>,
    budgets: &[u32],
    resamples: usize,
    seed: u64,
) -> Result<Vec<ProxyCorrelation>> {
    let mut out = Vec::new();
    for &epochs in budgets {
        for (proxy, pts) in pairs_with(rows, acc, epochs) {
            let x: Vec<f64> = pts.iter().map(|p| p.0).collect();
            for (metric, y) in [
                ("validation", pts.iter().map(|p| p.1).collect::<Vec<_>>()),
                ("test", pts.iter().map(|p| p.2).collect()),
            ] {
                out.push(ProxyCorrelation {
                    proxy: proxy.clone(),
                    epochs,
                    metric,
                    n: x.len(),
                    spearman: bootstrap(&x, &y, spearman, resamples, seed)?,
                    kendall: bootstrap(&x, &y, kendall_tau_b, resamples, seed)?,
                });
            }
        }
    }
    Ok(out)
}

/// The file of a scoring folder naming the NB-101 table its accuracies came from.
pub const NB101_META_FILE: &str = "nb101.json";
/// The file of a scoring folder holding its cells' NB-101 accuracies.
pub const NB101_ACCURACY_FILE: &str = "nb101.jsonl";

/// What `nb101.json` holds: the table the accuracies in `nb101.jsonl` came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nb101Meta {
    pub file: String,
    /// The table's content fingerprint (`Nb101::fingerprint`).
    pub fingerprint: String,
    pub synthetic: bool,
    pub budgets: Vec<u32>,
}

/// One line of `nb101.jsonl`: a cell's mean accuracies over the repeats at one budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellAccuracy {
    pub hash: String,
    pub epochs: u32,
    pub valid: f64,
    pub test: f64,
}

/// Writes `nb101.jsonl` (then `nb101.json`), atomically: the accuracies of the scored cells at
/// every budget of `nb`, so that the results store holds them without the table.
pub fn write_accuracies(dir: &Path, rows: &[ScoreRow], nb: &Nb101) -> Result<()> {
    let mut text = String::new();
    for r in rows {
        for &epochs in nb.epochs() {
            if let Some((valid, test)) = accuracies(nb, &r.hash, epochs) {
                let line = CellAccuracy {
                    hash: r.hash.clone(),
                    epochs,
                    valid,
                    test,
                };
                text.push_str(&serde_json::to_string(&line).unwrap_or_default());
                text.push('\n');
            }
        }
    }
    crate::atomic::write_atomic(&dir.join(NB101_ACCURACY_FILE), text.as_bytes())?;
    let meta = Nb101Meta {
        file: nb.path().display().to_string(),
        fingerprint: nb.fingerprint(),
        synthetic: nb.is_synthetic(),
        budgets: nb.epochs().to_vec(),
    };
    let json = serde_json::to_vec_pretty(&meta).unwrap_or_default();
    crate::atomic::write_atomic(&dir.join(NB101_META_FILE), &json)
}

fn fmt_estimate(e: &Option<Estimate>) -> String {
    match e {
        None => "–".into(),
        Some(e) => match (e.low, e.high) {
            (Some(l), Some(h)) => format!("{:.3} [{l:.3}, {h:.3}]", e.value),
            _ => format!("{:.3}", e.value),
        },
    }
}

/// The report page: the correlation table and, per proxy, a scatter of the proxy against the
/// validation accuracy at the largest budget. Written atomically to `dir/index.html`.
pub fn write_report(
    dir: &Path,
    title: &str,
    rows: &[ScoreRow],
    nb: &Nb101,
    corr: &[ProxyCorrelation],
) -> Result<()> {
    let mut html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head><body>\
         <h1>{t}</h1><p>{} cells. Spearman ρ and Kendall τ-b of each proxy with the mean \
         NAS-Bench-101 accuracy (95% bootstrap intervals).</p><table border=\"1\">\
         <tr><th>proxy</th><th>epochs</th><th>metric</th><th>n</th><th>Spearman</th><th>Kendall</th></tr>",
        rows.len(),
        t = escape(title)
    );
    for c in corr {
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.proxy),
            c.epochs,
            c.metric,
            c.n,
            fmt_estimate(&c.spearman),
            fmt_estimate(&c.kendall)
        ));
    }
    html.push_str("</table>");
    if let Some(&epochs) = nb.epochs().iter().max() {
        for (proxy, pts) in pairs(rows, nb, epochs) {
            let chart = Chart {
                title: format!("{proxy} vs validation accuracy ({epochs} epochs)"),
                x_label: proxy.clone(),
                y_label: "NB-101 validation accuracy".into(),
                series: vec![Series {
                    label: proxy.clone(),
                    points: pts.iter().map(|p| (p.0, p.1, 0.0)).collect(),
                    scatter: true,
                    ..Default::default()
                }],
                width: 480,
                height: 360,
                ..Default::default()
            };
            if chart.has_data() {
                html.push_str(&format!(
                    "<h2>{}</h2>{}",
                    escape(&proxy),
                    plots::render(&chart)?
                ));
            }
        }
    }
    html.push_str("</body></html>\n");
    crate::atomic::write_atomic(&dir.join("index.html"), html.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_lines_parse_and_bad_fields_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("scores.jsonl");
        std::fs::write(
            &p,
            "{\"hash\":\"ab\",\"matrix\":[[0]],\"ops\":[\"input\"],\"seconds\":1.5,\"snip\":2.0,\"nwot\":null}\n",
        )
        .unwrap();
        let rows = read_scores(&p).unwrap();
        assert_eq!(rows[0].hash, "ab");
        assert_eq!(rows[0].seconds, 1.5);
        assert_eq!(rows[0].scores.len(), 2);
        assert_eq!(rows[0].scores["snip"], Some(2.0));
        assert_eq!(rows[0].scores["nwot"], None);
        std::fs::write(&p, "{\"hash\":\"ab\"}\n{\"hash\":\"cd\",\"snip\":\"x\"}\n").unwrap();
        let err = read_scores(&p).unwrap_err().to_string();
        assert!(err.contains("line 2: snip"), "{err}");
        std::fs::write(&p, "{\"snip\":1}\n").unwrap();
        assert!(read_scores(&p).unwrap_err().to_string().contains("hash"));
    }

    #[test]
    fn bootstrap_interval_holds_the_value_and_is_seeded() {
        let x: Vec<f64> = (0..50).map(|i| i as f64).collect();
        let y: Vec<f64> = x.iter().map(|v| v + ((v * 7.0) % 11.0) * 3.0).collect();
        let a = bootstrap(&x, &y, spearman, 200, 1).unwrap().unwrap();
        assert_eq!(a, bootstrap(&x, &y, spearman, 200, 1).unwrap().unwrap());
        let (lo, hi) = (a.low.unwrap(), a.high.unwrap());
        assert!(lo < a.value && a.value < hi && hi <= 1.0, "{a:?}");
        assert_eq!(a.value, spearman(&x, &y).unwrap().unwrap());
        // A perfect ranking: every resample agrees.
        let p = bootstrap(&x, &x, kendall_tau_b, 50, 2).unwrap().unwrap();
        assert_eq!((p.value, p.low, p.high), (1.0, Some(1.0), Some(1.0)));
        let constant = vec![1.0; 50];
        assert!(bootstrap(&x, &constant, spearman, 10, 0).unwrap().is_none());
    }
}
