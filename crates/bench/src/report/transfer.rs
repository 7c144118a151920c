//! The transfer page (`transfer.html`): stand-alone accuracies of architectures trained with
//! proxy settings against NB-101's and the one-shot model's, and the cells x channels heatmap of
//! their rank correlation with NB-101 (the inductive-bias study).

use super::{base_chart, escape, Page, ReportOptions};
use crate::error::Result;
use crate::heatmap::{self, Heatmap};
use crate::plots::{Chart, Series};
use crate::table::Table;
use crate::transfer::TransferGroup;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

fn label(g: &TransferGroup) -> String {
    format!("{} ch, {} cells/stack", g.channels, g.cells)
}

/// Stand-alone test accuracy (x) against `y` of each point, a colour per network size.
fn scatter(
    title: String,
    y_label: &str,
    groups: &[&TransferGroup],
    y: fn(&crate::transfer::TransferPoint) -> Option<f64>,
    opts: &ReportOptions,
) -> Chart {
    let series = groups
        .iter()
        .enumerate()
        .map(|(i, g)| Series {
            label: label(g),
            points: g
                .points
                .iter()
                .filter_map(|p| Some((p.test_accuracy, y(p)?, 0.0)))
                .collect(),
            scatter: true,
            color: i,
            ..Default::default()
        })
        .collect();
    Chart {
        series,
        ..base_chart(title, "stand-alone test accuracy (proxy)", y_label, opts)
    }
}

/// The Spearman correlation with NB-101 per cells (rows) x channels (columns).
fn heat(study: &str, space: u8, groups: &[&TransferGroup], opts: &ReportOptions) -> Heatmap {
    let channels: BTreeSet<u64> = groups.iter().map(|g| g.channels).collect();
    let cells: BTreeSet<u64> = groups.iter().map(|g| g.cells).collect();
    let at: BTreeMap<(u64, u64), Option<f64>> = groups
        .iter()
        .map(|g| ((g.cells, g.channels), g.spearman_nb101))
        .collect();
    Heatmap {
        title: format!("Spearman with NB-101: {study}, space {space}"),
        x_label: "stem channels".into(),
        y_label: "cells per stack".into(),
        columns: channels.iter().map(u64::to_string).collect(),
        rows: cells.iter().map(u64::to_string).collect(),
        values: cells
            .iter()
            .map(|r| {
                channels
                    .iter()
                    .map(|c| at.get(&(*r, *c)).copied().flatten())
                    .collect()
            })
            .collect(),
        width: opts.plot_width,
        height: opts.plot_height,
    }
}

fn heat_figure(page: &mut Page, h: &Heatmap, caption: &str) -> Result<()> {
    if !h.has_data() {
        page.paragraph(&format!(
            "{}: no data to plot (fewer than 3 architectures with an NB-101 record per size). {caption}",
            h.title
        ));
        return Ok(());
    }
    let svg = heatmap::render(h)?;
    page.body.push_str(&format!(
        "<figure class=\"plot\">{svg}<figcaption>{}</figcaption></figure>\n",
        escape(caption)
    ));
    page.plots += 1;
    Ok(())
}

/// The page, per study and space: the heatmap, the NB-101 and one-shot scatters, a table.
pub(super) fn transfer_page(
    groups: &[TransferGroup],
    problems: &[String],
    opts: &ReportOptions,
) -> Result<Page> {
    let mut page = Page::new(
        "transfer.html",
        "Transfer: stand-alone training with proxy settings",
    );
    page.paragraph(
        "Architectures drawn from each space (the seeded sample of the correlation evaluation) \
trained from scratch on the NB-101 network with fewer stem channels and cells per stack \
(`nb1s1 train`), their final test accuracy against the cell's NB-101 test accuracy at 108 epochs \
and against the one-shot model's accuracy on the same cell (the last evaluated epoch of the \
experiment's searches). The heatmap shows, per network size, the Spearman rank correlation of \
the stand-alone accuracies with NB-101's, as the original's inductive-bias study.",
    );
    let mut by_space: BTreeMap<(String, u8), Vec<&TransferGroup>> = BTreeMap::new();
    for g in groups {
        by_space
            .entry((g.study.clone(), g.space))
            .or_default()
            .push(g);
    }
    let mut table = Table::new(&[
        "study",
        "space",
        "channels",
        "cells",
        "epochs",
        "runs",
        "mean test acc",
        "Spearman NB-101",
        "Kendall NB-101",
        "Spearman one-shot",
        "with one-shot",
    ]);
    for ((study, space), list) in &by_space {
        page.heading(&format!("{study}, space {space}"));
        let h = heat(study, *space, list, opts);
        heat_figure(
            &mut page,
            &h,
            "Spearman of stand-alone against NB-101 test accuracy",
        )?;
        let nb = scatter(
            format!("vs NB-101: {study}, space {space}"),
            "NB-101 test accuracy (108 epochs)",
            list,
            |p| p.nb101_test_accuracy,
            opts,
        );
        page.plot(&nb, "one point per trained architecture and seed")?;
        let os = scatter(
            format!("vs one-shot: {study}, space {space}"),
            "one-shot model accuracy",
            list,
            |p| p.one_shot_accuracy,
            opts,
        );
        page.plot(
            &os,
            "cells the experiment's correlation files also evaluated",
        )?;
        for g in list {
            let mean = g.points.iter().map(|p| p.test_accuracy).sum::<f64>()
                / g.points.len().max(1) as f64;
            table.rows.push(vec![
                json!(study),
                json!(space),
                json!(g.channels),
                json!(g.cells),
                json!(g.epochs),
                json!(g.points.len()),
                json!(mean),
                json!(g.spearman_nb101),
                json!(g.kendall_nb101),
                json!(g.spearman_one_shot),
                json!(g.n_one_shot),
            ]);
        }
    }
    page.heading("Per network size");
    page.table(&table);
    for p in problems {
        page.paragraph(&format!("Not plotted: {p}"));
    }
    Ok(page)
}
