//! The static HTML report: one page per study with SVG plots inline (no network needed), the
//! final-regret and best-architecture tables, correlation vs epoch per NB-101 budget, and
//! one-shot against black-box optimizers on one time axis.

use crate::analysis::{self, CorrelationSeries, Reference, RegretCurve, TimeCurve};
use crate::atomic::write_atomic;
use crate::cell::cell_svg;
use crate::error::Result;
use crate::plots::{self, Chart, Series};
use crate::query::{self, Filter};
use crate::store::Store;
use crate::table::{format_float, Table};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Most lines in one regret plot; a study with more series in a space gets a plot per optimizer.
const MAX_LINES: usize = 8;

/// Report settings.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub reference: Reference,
    pub plot_width: u32,
    pub plot_height: u32,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            reference: Reference::Exact,
            plot_width: 560,
            plot_height: 360,
        }
    }
}

/// A written page and the number of plots on it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PageSummary {
    pub file: String,
    pub title: String,
    pub plots: usize,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A page being assembled.
struct Page {
    file: String,
    title: String,
    body: String,
    plots: usize,
}

impl Page {
    fn new(file: &str, title: &str) -> Page {
        Page {
            file: file.to_string(),
            title: title.to_string(),
            body: String::new(),
            plots: 0,
        }
    }

    fn heading(&mut self, text: &str) {
        self.body.push_str(&format!("<h2>{}</h2>\n", escape(text)));
    }

    fn paragraph(&mut self, text: &str) {
        self.body.push_str(&format!("<p>{}</p>\n", escape(text)));
    }

    fn plot(&mut self, chart: &Chart, caption: &str) -> Result<()> {
        let svg = plots::render(chart)?;
        self.body.push_str(&format!(
            "<figure class=\"plot\">{svg}{}<figcaption>{}</figcaption></figure>\n",
            plots::legend(chart),
            escape(caption)
        ));
        self.plots += 1;
        Ok(())
    }

    fn table(&mut self, t: &Table) {
        let mut s = String::from("<table><thead><tr>");
        for h in &t.headers {
            s.push_str(&format!("<th>{}</th>", escape(h)));
        }
        s.push_str("</tr></thead><tbody>\n");
        for row in &t.rows {
            s.push_str("<tr>");
            for v in row {
                let text = match v {
                    serde_json::Value::Null => "–".to_string(),
                    serde_json::Value::String(x) => x.clone(),
                    serde_json::Value::Number(n) => match n.as_i64() {
                        Some(i) => i.to_string(),
                        None => n.as_f64().map(format_float).unwrap_or_default(),
                    },
                    other => other.to_string(),
                };
                s.push_str(&format!("<td>{}</td>", escape(&text)));
            }
            s.push_str("</tr>\n");
        }
        s.push_str("</tbody></table>\n");
        self.body.push_str(&s);
    }

    fn html(&self, nav: &[(String, String)]) -> String {
        let links: Vec<String> = nav
            .iter()
            .map(|(file, title)| format!("<a href=\"{}\">{}</a>", escape(file), escape(title)))
            .collect();
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title} – nb1s1 report</title><style>{CSS}</style></head>\n\
<body data-expected-plots=\"{plots}\"><nav>{nav}</nav><main><h1>{title}</h1>\n{body}</main>\
<script>{SCRIPT}</script></body></html>\n",
            title = escape(&self.title),
            plots = self.plots,
            nav = links.join(" · "),
            body = self.body,
        )
    }
}

const CSS: &str = "body{font-family:sans-serif;margin:0;color:#222}nav{background:#f3f3f3;\
padding:8px 16px;border-bottom:1px solid #ddd}main{padding:8px 16px}figure.plot{display:inline-block;\
margin:8px;vertical-align:top}figcaption{font-size:12px;color:#555;max-width:560px}table{border-collapse:\
collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}\
th{background:#f7f7f7}svg.cell{display:block}.legend{font-size:12px;max-width:560px}\
.swatch{display:inline-block;width:22px;margin:0 4px 3px 10px;vertical-align:middle}";

/// Counts the plots once the page is parsed, so a headless browser can check the page.
const SCRIPT: &str = "document.addEventListener('DOMContentLoaded',function(){\
var n=document.querySelectorAll('figure.plot svg').length;\
document.body.setAttribute('data-plots',String(n));});";

fn regret_chart(title: &str, curves: &[(&RegretCurve, usize)], opts: &ReportOptions) -> Chart {
    let mut series = Vec::new();
    for (c, colour) in curves {
        series.push(Series {
            label: c.key.label(),
            points: c
                .points
                .iter()
                .map(|p| (p.epoch as f64, p.test_regret.mean, p.test_regret.se))
                .collect(),
            color: *colour,
            ..Default::default()
        });
        let one_shot: Vec<(f64, f64, f64)> = c
            .points
            .iter()
            .filter_map(|p| Some((p.epoch as f64, p.one_shot_valid_error?.mean, 0.0)))
            .collect();
        if !one_shot.is_empty() {
            series.push(Series {
                label: format!("{} one-shot", c.key.label()),
                points: one_shot,
                secondary: true,
                dashed: true,
                color: *colour,
            });
        }
    }
    Chart {
        title: title.to_string(),
        x_label: "epoch".into(),
        y_label: "test regret".into(),
        y2_label: "one-shot validation error".into(),
        log_y: true,
        series,
        width: opts.plot_width,
        height: opts.plot_height,
        ..Default::default()
    }
}

fn reference_note(reference: Reference) -> &'static str {
    match reference {
        Reference::Exact => "Regret against the best-in-space errors computed exactly from the NB-101 table the runs used.",
        Reference::Paper => "Regret against the original code's hard-coded best-in-space constants (spec §1.1; from an incomplete enumeration).",
    }
}

fn study_page(
    study: &str,
    curves: &[&RegretCurve],
    finals: &[query::FinalRegret],
    opts: &ReportOptions,
) -> Result<Page> {
    let mut page = Page::new(&format!("study-{study}.html"), &format!("Study: {study}"));
    page.paragraph(&format!(
        "Mean test regret over seeds (solid, shaded ± one standard error) and mean one-shot \
validation error (dashed, right axis) per search epoch; the regret axis is logarithmic when the values span a decade. {}",
        reference_note(opts.reference)
    ));
    let spaces: BTreeSet<u8> = curves.iter().map(|c| c.key.space).collect();
    for space in spaces {
        let here: Vec<&RegretCurve> = curves
            .iter()
            .copied()
            .filter(|c| c.key.space == space)
            .collect();
        page.heading(&format!("Search space {space}"));
        let seeds = |cs: &[&RegretCurve]| {
            cs.iter()
                .map(|c| format!("{}: {} seeds", c.key.label(), c.seeds))
                .collect::<Vec<_>>()
                .join("; ")
        };
        if here.len() <= MAX_LINES {
            let coloured: Vec<(&RegretCurve, usize)> =
                here.iter().enumerate().map(|(i, c)| (*c, i)).collect();
            let chart = regret_chart(&format!("space {space}"), &coloured, opts);
            page.plot(&chart, &seeds(&here))?;
        } else {
            // A sweep with many grid points: one plot per optimizer keeps the lines readable.
            let mut by_opt: BTreeMap<&str, Vec<&RegretCurve>> = BTreeMap::new();
            for c in &here {
                by_opt.entry(c.key.optimizer.as_str()).or_default().push(c);
            }
            for (opt, cs) in by_opt {
                let coloured: Vec<(&RegretCurve, usize)> =
                    cs.iter().enumerate().map(|(i, c)| (*c, i)).collect();
                let chart = regret_chart(&format!("{opt}, space {space}"), &coloured, opts);
                page.plot(&chart, &seeds(&cs))?;
            }
        }
    }
    page.heading("Final regret");
    let rows: Vec<query::FinalRegret> = finals
        .iter()
        .filter(|f| f.kind == "oneshot" && f.key.study == study)
        .cloned()
        .collect();
    page.table(&query::final_regret_table(&rows));
    Ok(page)
}

fn correlation_page(series: &[CorrelationSeries], opts: &ReportOptions) -> Result<Page> {
    let mut page = Page::new("correlation.html", "Correlation: one-shot vs stand-alone");
    page.paragraph(
        "Rank correlation between the one-shot error of every evaluated architecture and its NB-101 \
error, per one-shot epoch, one line per NB-101 training budget. Solid: all architectures; dashed: \
the 1,000 with the lowest one-shot error. Averaged over runs.",
    );
    let mut groups: BTreeMap<(String, u8, String), Vec<&CorrelationSeries>> = BTreeMap::new();
    for s in series {
        groups
            .entry((s.optimizer.clone(), s.space, s.metric.clone()))
            .or_default()
            .push(s);
    }
    for ((optimizer, space, metric), list) in groups {
        page.heading(&format!(
            "{optimizer}, space {space}, NB-101 {metric} error"
        ));
        for (name, all, top) in [("Spearman", 0usize, 2usize), ("Kendall tau-b", 1, 3)] {
            let mut chart_series = Vec::new();
            for (i, s) in list.iter().enumerate() {
                let pick = |k: usize| -> Vec<(f64, f64, f64)> {
                    s.points
                        .iter()
                        .filter_map(|p| {
                            let v = [p.spearman, p.kendall, p.spearman_top, p.kendall_top][k]?;
                            Some((p.epoch as f64, v, 0.0))
                        })
                        .collect()
                };
                chart_series.push(Series {
                    label: format!("{} epochs", s.budget),
                    points: pick(all),
                    color: i,
                    ..Default::default()
                });
                chart_series.push(Series {
                    label: format!("{} epochs, top 1000", s.budget),
                    points: pick(top),
                    color: i,
                    dashed: true,
                    ..Default::default()
                });
            }
            let chart = Chart {
                title: format!("{name}: {optimizer}, space {space}"),
                x_label: "one-shot epoch".into(),
                y_label: name.into(),
                series: chart_series,
                width: opts.plot_width,
                height: opts.plot_height,
                ..Default::default()
            };
            page.plot(&chart, &format!("{name} per NB-101 budget"))?;
        }
    }
    Ok(page)
}

fn versus_page(
    blackbox: &[TimeCurve],
    oneshot: &[RegretCurve],
    opts: &ReportOptions,
) -> Result<Page> {
    let mut page = Page::new(
        "oneshot-vs-blackbox.html",
        "One-shot vs black-box optimizers",
    );
    page.paragraph(
        "Test regret of the incumbent over time. Black-box optimizers: simulated NB-101 training \
seconds of the architectures they queried (mean ± standard error over seeds). One-shot optimizers \
(default hyperparameters): measured search seconds, cumulative over epochs, on the device named \
in the caption.",
    );
    let spaces: BTreeSet<u8> = blackbox.iter().map(|c| c.key.space).collect();
    for space in spaces {
        let mut series = Vec::new();
        for (i, c) in blackbox.iter().filter(|c| c.key.space == space).enumerate() {
            series.push(Series {
                label: c.key.optimizer.clone(),
                points: c.points.iter().map(|(t, m)| (*t, m.mean, m.se)).collect(),
                color: i,
                ..Default::default()
            });
        }
        let offset = series.len();
        let mut devices = BTreeSet::new();
        for (i, c) in oneshot
            .iter()
            .filter(|c| c.key.space == space && c.key.variant == "default")
            .enumerate()
        {
            let points: Vec<(f64, f64, f64)> = c
                .points
                .iter()
                .filter_map(|p| Some((p.seconds?.mean, p.test_regret.mean, p.test_regret.se)))
                .filter(|p| p.0 > 0.0)
                .collect();
            if points.is_empty() {
                continue;
            }
            devices.extend(c.devices.iter().cloned());
            series.push(Series {
                label: format!("{} ({})", c.key.optimizer, c.key.study),
                points,
                color: offset + i,
                dashed: true,
                ..Default::default()
            });
        }
        let chart = Chart {
            title: format!("space {space}"),
            x_label: "seconds".into(),
            y_label: "test regret".into(),
            log_x: true,
            log_y: true,
            series,
            width: opts.plot_width,
            height: opts.plot_height,
            ..Default::default()
        };
        let device = if devices.is_empty() {
            "one-shot device not recorded".to_string()
        } else {
            format!(
                "one-shot runs on: {}",
                devices.into_iter().collect::<Vec<_>>().join(", ")
            )
        };
        page.plot(&chart, &format!("Space {space}; {device}"))?;
    }
    Ok(page)
}

/// One plot per optimizer metric and space (Hessian eigenvalue, temperature, …), every series
/// that reports it, from `epoch_metrics`: new metrics appear without code here.
fn metrics_page(curves: &[analysis::MetricCurve], opts: &ReportOptions) -> Result<Page> {
    let mut page = Page::new("metrics.html", "Optimizer metrics");
    page.paragraph(
        "Per-epoch metrics the optimizers report (epochs.jsonl `metrics`), mean over seeds \
(shaded ± one standard error), next to the study pages' regret curves.",
    );
    let mut groups: BTreeMap<(&str, u8), Vec<&analysis::MetricCurve>> = BTreeMap::new();
    for c in curves {
        groups
            .entry((c.metric.as_str(), c.key.space))
            .or_default()
            .push(c);
    }
    for ((metric, space), here) in groups {
        page.heading(&format!("{metric}, search space {space}"));
        let series = here
            .iter()
            .take(MAX_LINES)
            .enumerate()
            .map(|(i, c)| Series {
                label: c.key.label(),
                points: c
                    .points
                    .iter()
                    .map(|(e, m)| (*e as f64, m.mean, m.se))
                    .collect(),
                color: i,
                ..Default::default()
            })
            .collect();
        let chart = Chart {
            title: format!("{metric} (space {space})"),
            x_label: "epoch".into(),
            y_label: metric.to_string(),
            series,
            width: opts.plot_width,
            height: opts.plot_height,
            ..Default::default()
        };
        let caption = here
            .iter()
            .map(|c| format!("{}: {} seeds", c.key.label(), c.seeds))
            .collect::<Vec<_>>()
            .join("; ");
        page.plot(&chart, &caption)?;
    }
    Ok(page)
}

/// Writes the report into `out` (index.html plus one page per study) and returns its pages.
pub fn write_report(store: &Store, out: &Path, opts: &ReportOptions) -> Result<Vec<PageSummary>> {
    let curves = analysis::regret_curves(store, opts.reference)?;
    let blackbox = analysis::blackbox_curves(store, opts.reference)?;
    let correlations = analysis::correlation_series(store)?;
    let finals = query::final_regrets(store, &Filter::default(), opts.reference)?;
    let best = query::best_architectures(store, &Filter::default())?;

    let mut pages = Vec::new();
    let studies: BTreeSet<&str> = curves.iter().map(|c| c.key.study.as_str()).collect();
    for study in studies {
        let here: Vec<&RegretCurve> = curves.iter().filter(|c| c.key.study == study).collect();
        pages.push(study_page(study, &here, &finals, opts)?);
    }
    if !correlations.is_empty() {
        pages.push(correlation_page(&correlations, opts)?);
    }
    if !blackbox.is_empty() {
        pages.push(versus_page(&blackbox, &curves, opts)?);
    }
    let metrics = analysis::metric_curves(store)?;
    if !metrics.is_empty() {
        pages.push(metrics_page(&metrics, opts)?);
    }

    let mut index = Page::new("index.html", "NAS-Bench-1Shot1 report");
    index.paragraph(reference_note(opts.reference));
    index.heading("Pages");
    let mut list = String::from("<ul>");
    for p in &pages {
        list.push_str(&format!(
            "<li><a href=\"{}\">{}</a> ({} plots)</li>",
            escape(&p.file),
            escape(&p.title),
            p.plots
        ));
    }
    list.push_str("</ul>\n");
    index.body.push_str(&list);
    index.heading("Final regret (mean ± standard error over seeds, complete runs)");
    index.table(&query::final_regret_table(&finals));
    index.heading("Best architecture per optimizer and space (lowest NB-101 validation error)");
    index.table(&query::best_table(&best));
    for b in &best {
        if let Some(arch) = &b.architecture {
            index.body.push_str(&format!(
                "<h3>{} · space {} · {}</h3>{}\n",
                escape(&b.optimizer),
                b.space,
                escape(&b.hash),
                cell_svg(arch)
            ));
        }
    }
    pages.insert(0, index);
    let synthetic = store.synthetic_runs()?;
    if synthetic > 0 {
        let banner = format!(
            "<p class=\"synthetic\"><strong>SYNTHETIC DATA:</strong> {synthetic} run(s) in this \
             report used a synthetic NAS-Bench-101 table; their NB-101 errors and regrets are not \
             real results.</p>\n"
        );
        for p in &mut pages {
            p.body.insert_str(0, &banner);
        }
    }

    let nav: Vec<(String, String)> = pages
        .iter()
        .map(|p| (p.file.clone(), p.title.clone()))
        .collect();
    for p in &pages {
        write_atomic(&out.join(&p.file), p.html(&nav).as_bytes())?;
    }
    let data = serde_json::json!({
        "reference": format!("{:?}", opts.reference),
        "regret_curves": curves,
        "blackbox_curves": blackbox,
        "correlations": correlations,
        "final_regrets": finals,
        "best_architectures": best,
    });
    write_atomic(
        &out.join("data.json"),
        serde_json::to_string_pretty(&data)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    Ok(pages
        .iter()
        .map(|p| PageSummary {
            file: p.file.clone(),
            title: p.title.clone(),
            plots: p.plots,
        })
        .collect())
}
