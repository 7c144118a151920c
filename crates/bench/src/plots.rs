//! SVG line charts (plotters): mean curves with a shaded ± standard-error band, optional log
//! axes and an optional secondary y axis (the one-shot validation error of Fig. 2).

use crate::error::{BenchError, Result};
use plotters::prelude::*;

/// One line of a chart.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub label: String,
    /// `(x, mean, standard error)`; the band is drawn where the error is positive.
    pub points: Vec<(f64, f64, f64)>,
    pub dashed: bool,
    /// Drawn against the secondary (right) axis.
    pub secondary: bool,
    /// Index into the palette, so one optimizer keeps its colour across series.
    pub color: usize,
}

/// A chart to render.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Label of the secondary axis; the axis exists when some series is secondary.
    pub y2_label: String,
    pub log_x: bool,
    /// Log y when every value is positive (the paper plots regret on a log axis).
    pub log_y: bool,
    pub series: Vec<Series>,
    pub width: u32,
    pub height: u32,
}

const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The palette colour `i` (cycling).
pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn plot_err(what: &str) -> impl Fn(String) -> BenchError + '_ {
    move |message| BenchError::Plot {
        what: what.to_string(),
        message,
    }
}

fn range(values: impl Iterator<Item = f64>, log: bool) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return None;
    }
    if log {
        Some((lo / 1.3, hi * 1.3))
    } else {
        let pad = ((hi - lo) * 0.05).max(hi.abs() * 0.05).max(1e-9);
        Some((lo - pad, hi + pad))
    }
}

/// Dash pattern: every other short segment of a polyline.
fn dashes(points: &[(f64, f64)], segments: usize) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        for k in (0..segments).step_by(2) {
            let t0 = k as f64 / segments as f64;
            let t1 = (k + 1) as f64 / segments as f64;
            let lerp = |t: f64| (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
            out.push(vec![lerp(t0), lerp(t1)]);
        }
    }
    out
}

/// Renders the chart to an SVG string; an empty chart gets a "no data" placeholder.
pub fn render(chart: &Chart) -> Result<String> {
    let err = plot_err(&chart.title);
    let (w, h) = (chart.width.max(200), chart.height.max(150));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let primary: Vec<&Series> = chart.series.iter().filter(|s| !s.secondary).collect();
        let secondary: Vec<&Series> = chart.series.iter().filter(|s| s.secondary).collect();
        let all_x = chart
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0));
        let lows_and_highs = || {
            primary
                .iter()
                .flat_map(|s| s.points.iter().flat_map(|p| [p.1 - p.2, p.1 + p.2]))
        };
        // Log y only where it helps: positive values spanning at least a decade (the
        // log axis of plotters labels decades, so a narrower range would show no ticks).
        let log_y = chart.log_y
            && lows_and_highs().all(|v| v > 0.0)
            && range(lows_and_highs(), true).is_some_and(|(lo, hi)| hi / lo >= 10.0);
        let x = range(all_x, chart.log_x);
        let y = range(
            primary
                .iter()
                .flat_map(|s| s.points.iter().flat_map(|p| [p.1 - p.2, p.1 + p.2])),
            log_y,
        );
        let (Some((x0, x1)), Some((y0, y1))) = (x, y) else {
            root.draw(&Text::new(
                format!("{}: no data", chart.title),
                (10, (h / 2) as i32),
                ("sans-serif", 16),
            ))
            .map_err(|e| err(e.to_string()))?;
            root.present().map_err(|e| err(e.to_string()))?;
            drop(root);
            return Ok(svg);
        };
        let y2 = range(
            secondary.iter().flat_map(|s| s.points.iter().map(|p| p.1)),
            false,
        )
        .unwrap_or((0.0, 1.0));
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(&chart.title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .right_y_label_area_size(if secondary.is_empty() { 0 } else { 48 });
        // The four axis combinations are distinct types in plotters; a macro keeps one body.
        macro_rules! draw {
            ($xr:expr, $yr:expr) => {{
                let mut ctx = builder
                    .build_cartesian_2d($xr, $yr)
                    .map_err(|e| err(e.to_string()))?
                    .set_secondary_coord(x0..x1, y2.0..y2.1);
                ctx.configure_mesh()
                    .x_desc(chart.x_label.as_str())
                    .y_desc(chart.y_label.as_str())
                    .light_line_style(WHITE)
                    .label_style(("sans-serif", 11))
                    .draw()
                    .map_err(|e| err(e.to_string()))?;
                if !secondary.is_empty() {
                    ctx.configure_secondary_axes()
                        .y_desc(chart.y2_label.as_str())
                        .label_style(("sans-serif", 11))
                        .draw()
                        .map_err(|e| err(e.to_string()))?;
                }
                for s in &primary {
                    let c = color(s.color);
                    let band: Vec<(f64, f64)> = s
                        .points
                        .iter()
                        .map(|p| (p.0, p.1 + p.2))
                        .chain(s.points.iter().rev().map(|p| (p.0, p.1 - p.2)))
                        .collect();
                    if s.points.iter().any(|p| p.2 > 0.0) {
                        ctx.draw_series(std::iter::once(Polygon::new(band, c.mix(0.18).filled())))
                            .map_err(|e| err(e.to_string()))?;
                    }
                    let line: Vec<(f64, f64)> = s.points.iter().map(|p| (p.0, p.1)).collect();
                    let style = c.stroke_width(2);
                    let drawn = if s.dashed {
                        ctx.draw_series(
                            dashes(&line, 4)
                                .into_iter()
                                .map(|d| PathElement::new(d, style)),
                        )
                    } else {
                        ctx.draw_series(LineSeries::new(line, style))
                    }
                    .map_err(|e| err(e.to_string()))?;
                    drawn.label(s.label.as_str()).legend(move |(lx, ly)| {
                        PathElement::new(vec![(lx, ly), (lx + 16, ly)], c.stroke_width(2))
                    });
                }
                for s in &secondary {
                    let c = color(s.color);
                    let line: Vec<(f64, f64)> = s.points.iter().map(|p| (p.0, p.1)).collect();
                    ctx.draw_secondary_series(
                        dashes(&line, 4)
                            .into_iter()
                            .map(|d| PathElement::new(d, c.stroke_width(1))),
                    )
                    .map_err(|e| err(e.to_string()))?;
                }
            }};
        }
        match (chart.log_x, log_y) {
            (false, false) => draw!(x0..x1, y0..y1),
            (true, false) => draw!((x0..x1).log_scale(), y0..y1),
            (false, true) => draw!(x0..x1, (y0..y1).log_scale()),
            (true, true) => draw!((x0..x1).log_scale(), (y0..y1).log_scale()),
        }
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The chart's legend as HTML, shown beside the SVG so it never hides a curve.
pub fn legend(chart: &Chart) -> String {
    let mut s = String::from("<div class=\"legend\">");
    for series in &chart.series {
        let RGBColor(r, g, b) = color(series.color);
        let border = if series.dashed { "dashed" } else { "solid" };
        s.push_str(&format!(
            "<span class=\"swatch\" style=\"border-top:3px {border} rgb({r},{g},{b})\"></span>{}{} ",
            escape(&series.label),
            if series.secondary { " (right axis)" } else { "" }
        ));
    }
    s.push_str("</div>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_bands_lines_and_secondary_axis() {
        let chart = Chart {
            title: "space 1".into(),
            x_label: "epoch".into(),
            y_label: "test regret".into(),
            y2_label: "one-shot valid error".into(),
            log_y: true,
            width: 480,
            height: 320,
            series: vec![
                Series {
                    label: "darts".into(),
                    points: vec![(0.0, 0.03, 0.005), (1.0, 0.02, 0.004), (2.0, 0.01, 0.002)],
                    ..Default::default()
                },
                Series {
                    label: "darts one-shot".into(),
                    points: vec![(0.0, 0.5, 0.0), (1.0, 0.4, 0.0), (2.0, 0.3, 0.0)],
                    secondary: true,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let svg = render(&chart).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.contains("<polygon"), "the error band is drawn");
        assert!(svg.contains("test regret") && svg.contains("one-shot valid error"));
        assert_eq!(legend(&chart).matches("<span class=\"swatch\"").count(), 2);
        assert!(legend(&chart).contains("darts one-shot"));
        let empty = render(&Chart {
            title: "nothing".into(),
            ..Default::default()
        })
        .unwrap();
        assert!(empty.contains("no data"));
    }
}
