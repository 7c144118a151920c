//! The zero-cost page (`zerocost.html`): per space and scoring identity (settings, NB-101
//! table), each proxy's Spearman ρ and Kendall τ-b with the cells' mean NB-101 validation and
//! test accuracy at every budget, with 95% bootstrap intervals, and one scatter plot per proxy
//! against validation accuracy at the largest budget. Built from the results store alone.

use super::{base_chart, Page, ReportOptions};
use crate::error::Result;
use crate::plots::{Chart, Series};
use crate::store::zerocost::ZeroCostGroup;
use crate::table::Table;
use crate::zerocost::{correlate_with, pairs_with, Estimate, ProxyCorrelation};

/// Bootstrap resamples of the intervals (seeded: the page is reproducible).
const RESAMPLES: usize = 200;

fn estimate(e: &Option<Estimate>) -> serde_json::Value {
    match e {
        None => serde_json::Value::Null,
        Some(e) => match (e.low, e.high) {
            (Some(l), Some(h)) => format!("{:.3} [{l:.3}, {h:.3}]", e.value).into(),
            _ => format!("{:.3}", e.value).into(),
        },
    }
}

/// A short description of a group's settings from its `zerocost.json`.
fn describe(g: &ZeroCostGroup) -> String {
    let s = &g.settings["settings"];
    let net = &s["network"];
    let space = g
        .space
        .map_or("cells given as specs".to_string(), |s| format!("space {s}"));
    format!(
        "{space}: {} cells; network {} stem channels, {} stacks, {} cells per stack; {} images \
         (data seed {}, init seed {}); settings {}; NB-101 table {}{}",
        g.rows.len(),
        net["stem_channels"],
        net["stacks"],
        net["cells_per_stack"],
        s["batch_size"],
        s["data_seed"],
        s["init_seed"],
        g.settings["fingerprint"].as_str().unwrap_or("?"),
        g.nb101
            .as_deref()
            .unwrap_or("none (scored without --nb101)"),
        if g.synthetic { " (SYNTHETIC)" } else { "" },
    )
}

fn correlation_table(corr: &[ProxyCorrelation]) -> Table {
    let mut t = Table::new(&[
        "proxy",
        "epochs",
        "metric",
        "n",
        "Spearman ρ [95% CI]",
        "Kendall τ-b [95% CI]",
    ]);
    for c in corr {
        t.rows.push(vec![
            c.proxy.clone().into(),
            c.epochs.into(),
            c.metric.into(),
            (c.n as u64).into(),
            estimate(&c.spearman),
            estimate(&c.kendall),
        ]);
    }
    t
}

/// The page; `groups` must not be empty.
pub(super) fn zerocost_page(groups: &[ZeroCostGroup], opts: &ReportOptions) -> Result<Page> {
    let mut page = Page::new("zerocost.html", "Zero-cost proxies against NAS-Bench-101");
    page.paragraph(
        "Scores of untrained networks from one minibatch (nb1s1 zerocost; docs/zerocost.md \
defines each proxy) against the mean NAS-Bench-101 accuracy of the same cells over the repeats. \
Spearman ρ and Kendall τ-b with 95% percentile bootstrap intervals (cells resampled, 200 \
resamples, seed 0). One group per space and scoring identity (settings and NB-101 table); a \
cell scored in several folders of one group counts once.",
    );
    for g in groups {
        let title = g
            .space
            .map_or("Given cells".to_string(), |s| format!("Space {s}"));
        // By characters: the identity is read from the database, which need not be ours.
        let short: String = g.identity.chars().take(12).collect();
        page.heading(&format!("{title} ({short})"));
        page.paragraph(&describe(g));
        if g.budgets.is_empty() {
            page.paragraph(
                "No NB-101 accuracies for these cells: score the folder with --nb101 FILE to \
                 correlate them.",
            );
            continue;
        }
        let acc = |h: &str, e: u32| g.accuracy(h, e);
        let corr = correlate_with(&g.rows, &acc, &g.budgets, RESAMPLES, 0)?;
        page.table(&correlation_table(&corr));
        let Some(&epochs) = g.budgets.last() else {
            continue;
        };
        for (proxy, pts) in pairs_with(&g.rows, &acc, epochs) {
            let chart = Chart {
                series: vec![Series {
                    label: proxy.clone(),
                    points: pts.iter().map(|p| (p.0, p.1, 0.0)).collect(),
                    scatter: true,
                    ..Default::default()
                }],
                ..base_chart(
                    format!("{title}: {proxy} vs validation accuracy ({epochs} epochs)"),
                    &proxy,
                    "NB-101 mean validation accuracy",
                    opts,
                )
            };
            page.plot(&chart, &format!("{} cells", pts.len()))?;
        }
    }
    Ok(page)
}
