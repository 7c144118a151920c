//! The static HTML report, the paper's figures from the results store: one page per study
//! (regret and one-shot error against epochs, regularization sweeps), correlation (Spearman
//! and Kendall against epochs, one-shot against NB-101 error scatter plots), regret against
//! wall-clock time for one-shot and black-box optimizers, and the distribution of NB-101 error
//! over each space. SVG plots are inline (no network needed); a chart without data is named in
//! words instead of drawn as an empty frame.

use crate::analysis::{
    self, CorrelationSeries, EpochPoint, ErrorDistribution, Reference, RegretCurve, Scatter, Sweep,
    TimeCurve,
};
use crate::atomic::write_atomic;
use crate::cell::cell_svg;
use crate::error::{BenchError, Result};
pub(crate) use crate::html::escape;
use crate::plots::{self, Chart, Series};
use crate::query::{self, Filter};
use crate::store::Store;
use crate::table::{format_float, Table};
use crate::tune;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

mod transfer;
mod zerocost;

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
        if !chart.has_data() {
            self.body.push_str(&format!(
                "<p class=\"nodata\">{}: no data to plot. {}</p>\n",
                escape(&chart.title),
                escape(caption)
            ));
            return Ok(());
        }
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
<script>{script}</script></body></html>\n",
            title = escape(&self.title),
            plots = self.plots,
            nav = links.join(" · "),
            body = self.body,
            script = script(),
        )
    }
}

const CSS: &str = "body{font-family:sans-serif;margin:0;color:#222}nav{background:#f3f3f3;\
padding:8px 16px;border-bottom:1px solid #ddd}main{padding:8px 16px}figure.plot{display:inline-block;\
margin:8px;vertical-align:top}figcaption{font-size:12px;color:#555;max-width:560px}table{border-collapse:\
collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}\
th{background:#f7f7f7}svg.cell{display:block}.legend{font-size:12px;max-width:560px}\
.swatch{display:inline-block;width:22px;margin:0 4px 3px 10px;vertical-align:middle}\
.dot{display:inline-block;width:7px;height:7px;border-radius:4px;margin:0 4px 1px 10px}\
.nodata{color:#888}.synthetic{background:#fff3cd;border:1px solid #e0c060;padding:6px 10px}";

/// Once the page is parsed, counts the plots and, per plot, its visible data marks: SVG
/// elements drawn in a palette colour (only data is) with a non-empty box inside the frame.
/// A headless browser reads `data-plots`, `data-plots-with-marks` and each `data-marks`.
fn script() -> String {
    let palette: Vec<String> = plots::palette_hex()
        .into_iter()
        .map(|c| format!("'{c}'"))
        .collect();
    format!(
        "document.addEventListener('DOMContentLoaded',function(){{\
var pal=[{}];var figs=document.querySelectorAll('figure.plot');var full=0;\
figs.forEach(function(f){{var svg=f.querySelector('svg');var n=0;if(svg){{\
var frame=svg.getBoundingClientRect();\
svg.querySelectorAll('*').forEach(function(e){{\
var s=(e.getAttribute('stroke')||'').toUpperCase(),c=(e.getAttribute('fill')||'').toUpperCase();\
if(pal.indexOf(s)<0&&pal.indexOf(c)<0)return;var b=e.getBoundingClientRect();\
if((b.width>0||b.height>0)&&b.right>=frame.left&&b.left<=frame.right&&b.bottom>=frame.top\
&&b.top<=frame.bottom)n++;}});}}\
f.setAttribute('data-marks',String(n));if(n>0)full++;}});\
document.body.setAttribute('data-plots',String(figs.length));\
document.body.setAttribute('data-plots-with-marks',String(full));}});",
        palette.join(",")
    )
}

const EPOCH_AXIS: &str = "search epoch";
const REGRET_AXIS: &str = "test regret (error − best in space)";
const ONE_SHOT_AXIS: &str = "one-shot validation error";
const TIME_AXIS: &str = "wall-clock time (s)";

fn base_chart(title: String, x_label: &str, y_label: &str, opts: &ReportOptions) -> Chart {
    Chart {
        title,
        x_label: x_label.into(),
        y_label: y_label.into(),
        width: opts.plot_width,
        height: opts.plot_height,
        ..Default::default()
    }
}

fn regret_chart(title: &str, curves: &[(&RegretCurve, usize)], opts: &ReportOptions) -> Chart {
    let mut series = Vec::new();
    for (c, colour) in curves {
        series.push(Series {
            label: format!("{}: test regret", c.key.label()),
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
                ..Default::default()
            });
        }
    }
    Chart {
        y2_label: ONE_SHOT_AXIS.into(),
        log_y: true,
        integer_x: true,
        series,
        ..base_chart(title.to_string(), EPOCH_AXIS, REGRET_AXIS, opts)
    }
}

fn reference_note(reference: Reference) -> &'static str {
    match reference {
        Reference::Exact => "Regret against the best-in-space errors computed exactly from the NB-101 table the runs used.",
        Reference::Paper => "Regret against the original code's hard-coded best-in-space constants (spec §1.1; from an incomplete enumeration).",
    }
}

fn seeds_caption(cs: &[&RegretCurve]) -> String {
    cs.iter()
        .map(|c| format!("{}: {} seeds", c.key.label(), c.seeds))
        .collect::<Vec<_>>()
        .join("; ")
}

fn sweep_chart(sweep: &Sweep, opts: &ReportOptions) -> Chart {
    let series: Vec<Series> = sweep
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| Series {
            label: l.label.clone(),
            points: l.points.iter().map(|(x, m)| (*x, m.mean, m.se)).collect(),
            color: i,
            ..Default::default()
        })
        .collect();
    let xs = || {
        sweep
            .lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.0))
    };
    let (lo, hi) = xs().fold((f64::INFINITY, 0.0f64), |(a, b), x| (a.min(x), b.max(x)));
    Chart {
        x_categories: sweep.categories.clone(),
        log_x: sweep.categories.is_empty() && lo > 0.0 && hi / lo >= 10.0,
        log_y: true,
        series,
        ..base_chart(
            format!("{}, space {}", sweep.key, sweep.space),
            &sweep.key,
            "final test regret",
            opts,
        )
    }
}

/// What a study page puts beside the study's own runs: the black-box baselines and the runs
/// recorded outside nb1s1 (of any study) in the same spaces.
struct Beside<'a> {
    blackbox: &'a [TimeCurve],
    external: Vec<&'a RegretCurve>,
}

fn study_page(
    study: &str,
    curves: &[&RegretCurve],
    sweeps: &[&Sweep],
    finals: &[query::FinalRegret],
    beside: &Beside<'_>,
    opts: &ReportOptions,
) -> Result<Page> {
    // The study comes from a database another program may have written: the page's file name
    // goes through the one name check.
    let file = runfmt::SafeName::new("study", &format!("study-{study}.html")).map_err(|e| {
        BenchError::Name {
            context: "results database".into(),
            source: e,
        }
    })?;
    let mut page = Page::new(file.as_str(), &format!("Study: {study}"));
    page.paragraph(&format!(
        "Mean test regret over seeds (solid, shaded ± one standard error; a single epoch is a \
marker with its error bar) and mean one-shot validation error (dashed, right axis) per search \
epoch; the regret axis is logarithmic when the values span a decade. Runs recorded outside \
nb1s1 (variant external-recorded or external-imported) in the study's spaces are drawn beside \
the study's own. Where black-box baselines ran in a space, a second plot puts the study's runs \
beside them against wall-clock time, as on the one-shot vs black-box page. {}",
        reference_note(opts.reference)
    ));
    let spaces: BTreeSet<u8> = curves.iter().map(|c| c.key.space).collect();
    for &space in &spaces {
        let own: Vec<&RegretCurve> = curves
            .iter()
            .copied()
            .filter(|c| c.key.space == space)
            .collect();
        let mut here = own.clone();
        here.extend(
            beside
                .external
                .iter()
                .copied()
                .filter(|c| c.key.space == space && c.key.study != study),
        );
        page.heading(&format!("Search space {space}"));
        epoch_plots(&mut page, space, &here, opts)?;
        let baselines: Vec<&TimeCurve> = beside
            .blackbox
            .iter()
            .filter(|c| c.key.space == space)
            .collect();
        if !baselines.is_empty() {
            let (chart, devices) = time_chart(
                format!("space {space}: against time, beside the black-box baselines"),
                &baselines,
                &here[..here.len().min(MAX_LINES)],
                opts,
            );
            page.plot(
                &chart,
                &format!("Space {space}; {}", devices_caption(devices)),
            )?;
        }
    }
    if !sweeps.is_empty() {
        page.heading("Final regret against the swept hyperparameters");
        page.paragraph(
            "Final test regret (mean ± standard error over seeds) of the complete runs, grouped \
by the value of each configuration key that differs between runs of one optimizer (as read \
from the runs' config.toml); one line per optimizer and value of the other swept keys.",
        );
        for sw in sweeps {
            page.plot(
                &sweep_chart(sw, opts),
                &format!("{} in study {}, space {}", sw.key, sw.study, sw.space),
            )?;
        }
    }
    page.heading("Final regret");
    page.paragraph(
        "The study's complete runs, and beside them the black-box baselines and the runs \
recorded outside nb1s1 in the same spaces (kind, study and recorded_outside_nb1s1 tell them \
apart). The tests against the best of each space are those of the index page.",
    );
    let rows: Vec<query::FinalRegret> = finals
        .iter()
        .filter(|f| {
            let own = f.kind == "oneshot" && f.key.study == study;
            let baseline = f.kind == "blackbox" || !f.external.is_empty();
            own || (baseline && spaces.contains(&f.key.space))
        })
        .cloned()
        .collect();
    page.table(&query::final_regret_table(&rows));
    Ok(page)
}

/// Regret against search epochs in one space: one plot, or one per optimizer when a sweep
/// has more lines than a plot can show.
fn epoch_plots(
    page: &mut Page,
    space: u8,
    here: &[&RegretCurve],
    opts: &ReportOptions,
) -> Result<()> {
    if here.len() <= MAX_LINES {
        let coloured: Vec<(&RegretCurve, usize)> =
            here.iter().enumerate().map(|(i, c)| (*c, i)).collect();
        let chart = regret_chart(&format!("space {space}"), &coloured, opts);
        return page.plot(&chart, &seeds_caption(here));
    }
    // A sweep with many grid points: one plot per optimizer keeps the lines readable.
    let mut by_opt: BTreeMap<&str, Vec<&RegretCurve>> = BTreeMap::new();
    for c in here {
        by_opt.entry(c.key.optimizer.as_str()).or_default().push(c);
    }
    for (opt, cs) in by_opt {
        let coloured: Vec<(&RegretCurve, usize)> =
            cs.iter().enumerate().map(|(i, c)| (*c, i)).collect();
        let chart = regret_chart(&format!("{opt}, space {space}"), &coloured, opts);
        page.plot(&chart, &seeds_caption(&cs))?;
    }
    Ok(())
}

fn rank_chart(
    name: &str,
    which: (usize, usize),
    title: String,
    list: &[&CorrelationSeries],
    opts: &ReportOptions,
) -> Chart {
    let mut series = Vec::new();
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
        series.push(Series {
            label: format!("NB-101 {} epochs, all", s.budget),
            points: pick(which.0),
            color: i,
            ..Default::default()
        });
        series.push(Series {
            label: format!("NB-101 {} epochs, top 1000", s.budget),
            points: pick(which.1),
            color: i,
            dashed: true,
            ..Default::default()
        });
    }
    Chart {
        integer_x: true,
        series,
        ..base_chart(title, EPOCH_AXIS, name, opts)
    }
}

fn scatter_chart(s: &Scatter, opts: &ReportOptions) -> Chart {
    Chart {
        series: vec![Series {
            label: format!("architectures ({} of {})", s.points.len(), s.n),
            points: s.points.iter().map(|(x, y)| (*x, *y, 0.0)).collect(),
            scatter: true,
            ..Default::default()
        }],
        ..base_chart(
            format!("{}, space {}, epoch {}", s.optimizer, s.space, s.epoch),
            "one-shot error",
            &format!("NB-101 test error ({} epochs)", s.budget),
            opts,
        )
    }
}

fn correlation_page(
    series: &[CorrelationSeries],
    scatters: &[Scatter],
    problems: &[String],
    opts: &ReportOptions,
) -> Result<Page> {
    let mut page = Page::new("correlation.html", "Correlation: one-shot vs stand-alone");
    page.paragraph(
        "Rank correlation between the one-shot error of every evaluated architecture and its NB-101 \
test error, against the search epoch of the evaluated one-shot model, one colour per NB-101 \
training budget. Solid: all architectures; dashed: the 1,000 with the lowest one-shot error. \
Averaged over runs. Below: one-shot against NB-101 error, per evaluated epoch.",
    );
    let mut groups: BTreeMap<(String, u8), Vec<&CorrelationSeries>> = BTreeMap::new();
    for s in series.iter().filter(|s| s.metric == "test") {
        groups
            .entry((s.optimizer.clone(), s.space))
            .or_default()
            .push(s);
    }
    for ((optimizer, space), list) in groups {
        page.heading(&format!("{optimizer}, space {space}"));
        for (name, which) in [("Spearman", (0, 2)), ("Kendall tau-b", (1, 3))] {
            let title = format!("{name}: {optimizer}, space {space}");
            let chart = rank_chart(name, which, title, &list, opts);
            page.plot(&chart, &format!("{name} per NB-101 budget"))?;
        }
        for s in scatters
            .iter()
            .filter(|s| s.optimizer == optimizer && s.space == space)
        {
            let caption = format!(
                "{} architectures of {} at search epoch {}{}",
                s.n,
                s.file,
                s.epoch,
                if s.points.len() < s.n {
                    "; drawn: the best quarter by one-shot error and an even sample of the rest"
                } else {
                    ""
                }
            );
            page.plot(&scatter_chart(s, opts), &caption)?;
        }
    }
    for p in problems {
        page.paragraph(&format!("Not plotted: {p}"));
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
        "Test regret of the incumbent against wall-clock time (both axes logarithmic). \
Black-box optimizers (solid): simulated time, the NB-101 training seconds of the architectures \
they queried, mean ± standard error over seeds. One-shot optimizers (dashed; every study, \
default hyperparameters, and the runs recorded outside nb1s1): measured search seconds, cumulative over epochs, on the device named in the caption, plus the \
NB-101 training seconds of the architecture the run returned at that epoch (what training it costs), as the black-box \
time counts each query. Runs recorded before that time was kept show search seconds alone, marked \"search time only\".",
    );
    let spaces: BTreeSet<u8> = blackbox
        .iter()
        .map(|c| c.key.space)
        .chain(oneshot.iter().map(|c| c.key.space))
        .collect();
    for space in spaces {
        let bb: Vec<&TimeCurve> = blackbox.iter().filter(|c| c.key.space == space).collect();
        // Every study's default settings, and the runs recorded outside nb1s1.
        let os: Vec<&RegretCurve> = oneshot
            .iter()
            .filter(|c| {
                c.key.space == space
                    && (c.key.variant == "default" || c.key.variant.starts_with("external-"))
            })
            .collect();
        let (chart, devices) = time_chart(format!("space {space}"), &bb, &os, opts);
        page.plot(
            &chart,
            &format!("Space {space}; {}", devices_caption(devices)),
        )?;
    }
    Ok(page)
}

/// Test regret against wall-clock time (both axes logarithmic): black-box incumbents (solid)
/// and one-shot runs (dashed, search plus NB-101 seconds where every run kept them); returns
/// the chart and the one-shot runs' devices.
fn time_chart(
    title: String,
    blackbox: &[&TimeCurve],
    oneshot: &[&RegretCurve],
    opts: &ReportOptions,
) -> (Chart, BTreeSet<String>) {
    let mut series = Vec::new();
    for (i, c) in blackbox.iter().enumerate() {
        series.push(Series {
            label: format!("{} (black-box)", c.key.optimizer),
            points: c.points.iter().map(|(t, m)| (*t, m.mean, m.se)).collect(),
            color: i,
            ..Default::default()
        });
    }
    let offset = series.len();
    let mut devices = BTreeSet::new();
    for (i, c) in oneshot.iter().enumerate() {
        // Search plus NB-101 time where every run recorded it, else search time alone.
        let with_nb101 = c.points.iter().all(|p| p.seconds_with_nb101.is_some());
        let time = |p: &EpochPoint| {
            if with_nb101 {
                p.seconds_with_nb101
            } else {
                p.seconds
            }
        };
        let points: Vec<(f64, f64, f64)> = c
            .points
            .iter()
            .filter_map(|p| Some((time(p)?.mean, p.test_regret.mean, p.test_regret.se)))
            .filter(|p| p.0 > 0.0)
            .collect();
        if points.is_empty() {
            continue;
        }
        devices.extend(c.devices.iter().cloned());
        let only = if with_nb101 { "" } else { ", search time only" };
        series.push(Series {
            label: format!("{} ({}{only})", c.key.label(), c.key.study),
            points,
            color: offset + i,
            dashed: true,
            ..Default::default()
        });
    }
    let chart = Chart {
        log_x: true,
        log_y: true,
        series,
        ..base_chart(title, TIME_AXIS, REGRET_AXIS, opts)
    };
    (chart, devices)
}

fn devices_caption(devices: BTreeSet<String>) -> String {
    if devices.is_empty() {
        "one-shot device not recorded".to_string()
    } else {
        format!(
            "one-shot runs on: {}",
            devices.into_iter().collect::<Vec<_>>().join(", ")
        )
    }
}

fn distribution_page(
    dists: &[ErrorDistribution],
    best: &[query::BestArchitecture],
    problems: &[String],
    opts: &ReportOptions,
) -> Result<Page> {
    let mut page = Page::new("distribution.html", "NB-101 error over each space");
    page.paragraph(
        "Empirical distribution (ECDF) of the NB-101 test error over the architectures of each \
space, from the largest correlation file of that space (all of the space when it came from \
`nb1s1 correlation`; otherwise a sample, named in the caption). The best architecture is the \
vertical line; the final architecture each optimizer found best is a marker.",
    );
    for d in dists {
        let mut series = vec![
            Series {
                label: format!("{} architectures", d.n),
                points: d.ecdf.iter().map(|(e, f)| (*e, *f, 0.0)).collect(),
                ..Default::default()
            },
            Series {
                label: format!("best architecture: {:.4}", d.best),
                points: vec![(d.best, 0.0, 0.0), (d.best, 1.0, 0.0)],
                color: 3,
                dashed: true,
                ..Default::default()
            },
        ];
        for (i, b) in best.iter().filter(|b| b.space == d.space).enumerate() {
            let Some(err) = b.test_error else { continue };
            let below = d.ecdf.iter().rev().find(|(e, _)| *e <= err);
            series.push(Series {
                label: format!("{} found {:.4}", b.optimizer, err),
                points: vec![(err, below.map_or(0.0, |p| p.1), 0.0)],
                color: 4 + i,
                ..Default::default()
            });
        }
        let chart = Chart {
            series,
            ..base_chart(
                format!("space {}", d.space),
                &format!("NB-101 test error ({} epochs)", d.budget),
                "fraction of architectures",
                opts,
            )
        };
        page.plot(
            &chart,
            &format!(
                "Space {}: {} architectures from {}; median {:.4}, best {:.4}",
                d.space, d.n, d.file, d.median, d.best
            ),
        )?;
    }
    for p in problems {
        page.paragraph(&format!("Not plotted: {p}"));
    }
    Ok(page)
}

/// The BOHB tuning trajectories: per tuning, the incumbent's NB-101 validation error at each
/// budget against tuning time (the summed search seconds of the evaluations so far).
fn tuning_page(
    lines: &[tune::Trajectory],
    summaries: &[tune::TuningSummary],
    opts: &ReportOptions,
) -> Result<Page> {
    let mut page = Page::new("tuning.html", "BOHB tuning of one-shot hyperparameters");
    page.paragraph(
        "Each `nb1s1 tune` run (docs/tuning.md): the best NB-101 validation error found so far \
at each budget (search epochs), against tuning time: the summed search seconds of the \
evaluations so far, in the tuner's order (one worker's clock). The loss of an evaluation is the \
validation error of one NB-101 repeat of its final architecture, as the tuner read it.",
    );
    for s in summaries {
        page.heading(&format!("Tuning {}", s.study));
        let series = lines
            .iter()
            .filter(|l| l.study == s.study)
            .enumerate()
            .map(|(i, l)| Series {
                label: format!("budget {} epochs: {} evaluations", l.budget, l.evaluations),
                points: l.points.iter().map(|(t, e)| (*t, *e, 0.0)).collect(),
                color: i,
                ..Default::default()
            })
            .collect();
        let chart = Chart {
            series,
            ..base_chart(
                format!("{}: incumbent per budget", s.study),
                "tuning time (summed search seconds)",
                "incumbent NB-101 validation error",
                opts,
            )
        };
        let caption = match &s.incumbent {
            Some((name, loss)) => format!(
                "{} evaluations, {:.0} s of search; incumbent {name}: {loss:.4}",
                s.evaluations, s.seconds
            ),
            None => format!(
                "{} evaluations, {:.0} s of search; none finished at the largest budget yet",
                s.evaluations, s.seconds
            ),
        };
        page.plot(&chart, &caption)?;
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

fn index_page(
    pages: &[Page],
    finals: &[query::FinalRegret],
    best: &[query::BestArchitecture],
    missing: &[String],
    opts: &ReportOptions,
) -> Page {
    let mut index = Page::new("index.html", "NAS-Bench-1Shot1 report");
    index.paragraph(reference_note(opts.reference));
    index.heading("Pages");
    let mut list = String::from("<ul>");
    for p in pages {
        list.push_str(&format!(
            "<li><a href=\"{}\">{}</a> ({} plots)</li>",
            escape(&p.file),
            escape(&p.title),
            p.plots
        ));
    }
    list.push_str("</ul>\n");
    index.body.push_str(&list);
    index.heading("Figures without data");
    let mut list = String::from("<ul class=\"nodata\">");
    for m in missing {
        list.push_str(&format!("<li>{}</li>", escape(m)));
    }
    list.push_str("</ul>\n");
    index.body.push_str(&list);
    index.heading("Final regret (mean ± standard error over seeds, complete runs)");
    index.paragraph(
        "test_regret_ci95: a 95 % percentile bootstrap interval of the mean over seeds (2000 \
resamples; two seeds or more). p_vs_best_in_space: the two-sided Mann–Whitney rank test of the \
row's final test regrets against those of best_in_space, the row with the lowest mean in its \
space (exact for small samples); it rests on the row's seeds and seeds_of_best, and with 3 seeds \
against 3 no p-value can fall below 0.1. p_vs_best_holm: the same after Holm's correction over \
every test of the space; read a difference as significant at level α when it is at most α.",
    );
    index.table(&query::final_regret_table(finals));
    external_note(&mut index, finals);
    for r in query::cd_rankings(finals) {
        ranking_section(&mut index, &r);
    }
    index.heading("Best architecture per optimizer and space (lowest NB-101 validation error)");
    index.table(&query::best_table(best));
    for b in best {
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
    index
}

/// One study's ranking across spaces: Friedman's test first, then the average ranks with
/// Nemenyi's critical difference.
fn ranking_section(page: &mut Page, r: &query::StudyRanking) {
    let cd = &r.ranking;
    page.heading(&format!(
        "Ranking across spaces: study {} ({})",
        r.study, r.kind
    ));
    let spaces = cd
        .spaces
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let friedman = match &cd.friedman {
        Some(f) => format!(
            "Friedman's test over spaces {spaces}: χ² = {} with {} degrees of freedom, p = {}{}",
            format_float(f.statistic),
            f.df,
            format_float(f.p_value),
            if f.p_value < 0.05 {
                "; the methods differ at α = 0.05, and the ranks below say how."
            } else {
                "; no difference at α = 0.05, so the ranks below are not evidence of one."
            }
        ),
        None => "Friedman's test: every space ties all methods, nothing to test.".into(),
    };
    page.paragraph(&format!(
        "{friedman} Average rank of each method of the study by mean final test regret over the \
spaces all of them share (rank 1 is best, ties share ranks; seeds_per_space: the seeds each mean \
rests on). Nemenyi's critical difference at α = 0.05 is {}: methods whose average ranks differ \
by less are not significantly different (Demšar 2006).",
        cd.critical_difference
            .map_or("not tabulated for this many methods".into(), format_float)
    ));
    page.table(&query::cd_table(cd));
}

/// Names the series holding runs recorded outside nb1s1.
fn external_note(page: &mut Page, finals: &[query::FinalRegret]) {
    let ext: Vec<String> = finals
        .iter()
        .filter(|f| !f.external.is_empty())
        .map(|f| {
            format!(
                "{} in space {} ({})",
                f.key.label(),
                f.key.space,
                f.external
            )
        })
        .collect();
    if !ext.is_empty() {
        page.paragraph(&format!(
            "Recorded outside nb1s1 (their architecture weights discretized and looked up by \
nb1s1, their training not run by it): {}.",
            ext.join("; ")
        ));
    }
}

/// Writes the report into `out` (index.html plus one page per figure group) and returns its
/// pages.
pub fn write_report(store: &Store, out: &Path, opts: &ReportOptions) -> Result<Vec<PageSummary>> {
    // Tuning evaluations get their own page, not study pages or sweeps of their own.
    let tunings = tune::studies(store)?;
    let curves: Vec<RegretCurve> = analysis::regret_curves(store, opts.reference)?
        .into_iter()
        .filter(|c| !tunings.contains(&c.key.study))
        .collect();
    let blackbox = analysis::blackbox_curves(store, opts.reference)?;
    let correlations = analysis::correlation_series(store)?;
    let (scatters, scatter_problems) = analysis::scatters(store)?;
    let (dists, dist_problems) = analysis::error_distributions(store)?;
    let sweeps: Vec<Sweep> = analysis::sweeps(&analysis::run_finals(store, opts.reference)?)
        .into_iter()
        .filter(|s| !tunings.contains(&s.study))
        .collect();
    let finals: Vec<query::FinalRegret> =
        query::final_regrets(store, &Filter::default(), opts.reference)?
            .into_iter()
            .filter(|f| !tunings.contains(&f.key.study))
            .collect();
    let best = query::best_architectures(store, &Filter::default())?;

    let mut pages = Vec::new();
    let mut missing = Vec::new();
    let studies: BTreeSet<&str> = curves.iter().map(|c| c.key.study.as_str()).collect();
    let beside = Beside {
        blackbox: &blackbox,
        external: curves
            .iter()
            .filter(|c| c.key.variant.starts_with("external-"))
            .collect(),
    };
    for study in studies {
        let here: Vec<&RegretCurve> = curves.iter().filter(|c| c.key.study == study).collect();
        let sw: Vec<&Sweep> = sweeps.iter().filter(|s| s.study == study).collect();
        pages.push(study_page(study, &here, &sw, &finals, &beside, opts)?);
    }
    if curves.is_empty() {
        missing.push("Regret against search epochs: no complete one-shot runs.".to_string());
    }
    if sweeps.is_empty() {
        missing.push(
            "Regularization sweeps: no configuration key differs between runs of one optimizer."
                .to_string(),
        );
    }
    if correlations.is_empty() {
        missing.push("Correlation and scatter plots: no correlation files.".to_string());
    } else {
        pages.push(correlation_page(
            &correlations,
            &scatters,
            &scatter_problems,
            opts,
        )?);
    }
    if blackbox.is_empty()
        && curves
            .iter()
            .all(|c| c.points.iter().all(|p| p.seconds.is_none()))
    {
        missing.push("Regret against wall-clock time: no timed runs.".to_string());
    } else {
        pages.push(versus_page(&blackbox, &curves, opts)?);
    }
    if dists.is_empty() && dist_problems.is_empty() {
        missing.push(
            "NB-101 error distribution over a space: no correlation files with NB-101 test errors."
                .to_string(),
        );
    } else {
        pages.push(distribution_page(&dists, &best, &dist_problems, opts)?);
    }
    let (tuning_lines, tuning_summaries) = tune::trajectories(store)?;
    if tuning_summaries.is_empty() {
        missing.push(
            "BOHB tuning trajectories (incumbent against tuning time, per budget): no `nb1s1 \
             tune` evaluations in the store."
                .to_string(),
        );
    } else {
        pages.push(tuning_page(&tuning_lines, &tuning_summaries, opts)?);
    }
    let metrics = analysis::metric_curves(store)?;
    if !metrics.iter().any(|c| c.metric.starts_with("hessian")) {
        missing.push(
            "Dominant Hessian eigenvalue against epochs: no run tracked it (`[hessian]` in the \
             search config)."
                .to_string(),
        );
    }
    if !metrics.is_empty() {
        pages.push(metrics_page(&metrics, opts)?);
    }
    let (transfers, transfer_problems) = crate::transfer::transfer_groups(store)?;
    if transfers.is_empty() {
        missing.push("Transfer studies: no complete stand-alone runs (`nb1s1 train`).".into());
    } else {
        pages.push(transfer::transfer_page(
            &transfers,
            &transfer_problems,
            opts,
        )?);
    }
    let zerocost_groups = crate::store::zerocost::groups(store)?;
    if zerocost_groups.is_empty() {
        missing.push("Zero-cost proxies: no `nb1s1 zerocost` folders in the store.".into());
    } else {
        pages.push(zerocost::zerocost_page(&zerocost_groups, opts)?);
    }
    pages.insert(0, index_page(&pages, &finals, &best, &missing, opts));
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
        "synthetic_runs": synthetic,
        "regret_curves": curves,
        "blackbox_curves": blackbox,
        "correlations": correlations,
        "scatters": scatters,
        "sweeps": sweeps,
        "error_distributions": dists,
        "final_regrets": finals,
        "best_architectures": best,
        "tuning_trajectories": tuning_lines,
        "tunings": tuning_summaries,
        "transfer": transfers,
        "zerocost_groups": zerocost_groups,
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
