//! SVG charts (plotters): mean curves with a shaded ± standard-error band, scatter plots,
//! optional log axes, an optional secondary y axis (the one-shot validation error of Fig. 2),
//! integer epoch axes and categorical x axes (a sweep over `first`/`second`).
//!
//! Every data mark is drawn in a palette colour and nothing else is, so a browser test can tell
//! a plot with data from an empty frame ([`PALETTE_HEX`]).

use crate::error::{BenchError, Result};
use crate::html::escape;
use plotters::prelude::*;

/// One line (or cloud of points) of a chart.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub label: String,
    /// `(x, mean, standard error)`; the band is drawn where the error is positive.
    pub points: Vec<(f64, f64, f64)>,
    pub dashed: bool,
    /// Drawn against the secondary (right) axis.
    pub secondary: bool,
    /// Markers only, no line (a scatter plot). A series of a single point is always a marker.
    pub scatter: bool,
    /// Index into the palette, so one optimizer keeps its colour across series.
    pub color: usize,
}

impl Series {
    fn drawable(&self) -> impl Iterator<Item = &(f64, f64, f64)> {
        self.points
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
    }

    /// Whether the series has a point that can be drawn.
    pub fn has_data(&self) -> bool {
        self.drawable().next().is_some()
    }
}

/// A chart to render.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    pub title: String,
    /// Axis descriptions, with units (e.g. "search epoch", "wall-clock time (s)").
    pub x_label: String,
    pub y_label: String,
    /// Label of the secondary axis; the axis exists when some series is secondary.
    pub y2_label: String,
    pub log_x: bool,
    /// Log y when every value is positive (the paper plots regret on a log axis).
    pub log_y: bool,
    /// The x values are whole numbers (epochs): ticks only at integers.
    pub integer_x: bool,
    /// Categorical x axis: x = i is labelled `x_categories[i]`.
    pub x_categories: Vec<String>,
    pub series: Vec<Series>,
    pub width: u32,
    pub height: u32,
}

impl Chart {
    /// Whether any series has a point to draw (a chart without one is reported, not drawn).
    pub fn has_data(&self) -> bool {
        self.series.iter().any(Series::has_data)
    }
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

/// The palette as the SVG colours plotters writes (`#RRGGBB`); only data marks use them.
pub fn palette_hex() -> Vec<String> {
    PALETTE
        .iter()
        .map(|RGBColor(r, g, b)| format!("#{r:02X}{g:02X}{b:02X}"))
        .collect()
}

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

/// The smallest and largest finite value (positive only, on a log axis).
fn extent(values: impl Iterator<Item = f64>, log: bool) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    (lo <= hi).then_some((lo, hi))
}

fn range(values: impl Iterator<Item = f64>, log: bool) -> Option<(f64, f64)> {
    let (lo, hi) = extent(values, log)?;
    if log {
        // Whole decades: plotters labels a log axis at powers of ten (and, within a decade or
        // two, at their multiples), so a range inside one decade would show one label or none.
        let down = 10f64.powf((lo / 1.3).log10().floor());
        let up = 10f64.powf((hi * 1.3).log10().ceil());
        // Nudged outwards so rounding never drops the end decades' labels.
        Some((down * (1.0 - 1e-9), up * (1.0 + 1e-9)))
    } else {
        // A single value still gets a visible range around it.
        let pad = ((hi - lo) * 0.05)
            .max(hi.abs().max(lo.abs()) * 0.05)
            .max(1e-3);
        Some((lo - pad, hi + pad))
    }
}

/// The x range of an integer axis: at least half a step either side, so a single epoch sits in
/// the middle, and the tick count that makes plotters pick whole-number steps.
fn integer_range(lo: f64, hi: f64) -> ((f64, f64), usize) {
    let pad = ((hi - lo) * 0.03).max(0.5);
    let (a, b) = (lo - pad, hi + pad);
    let integers = (b.floor() - a.ceil()) as usize + 1;
    ((a, b), integers.clamp(1, 10))
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

/// How the x axis is labelled.
fn x_formatter(chart: &Chart) -> impl Fn(&f64) -> String + '_ {
    move |v: &f64| {
        if !chart.x_categories.is_empty() {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 {
                return chart
                    .x_categories
                    .get(i as usize)
                    .cloned()
                    .unwrap_or_default();
            }
            return String::new();
        }
        if chart.integer_x {
            return if v.fract().abs() < 1e-9 {
                format!("{v:.0}")
            } else {
                String::new()
            };
        }
        let a = v.abs();
        if a != 0.0 && !(1e-2..1e5).contains(&a) {
            format!("{v:.0e}")
        } else if a >= 100.0 {
            format!("{v:.0}")
        } else {
            format!("{v}")
                .chars()
                .take(if *v < 0.0 { 6 } else { 5 })
                .collect()
        }
    }
}

/// Renders the chart to an SVG string; a chart without data gets a "no data" placeholder
/// (callers report such a chart in words instead, see [`Chart::has_data`]).
pub fn render(chart: &Chart) -> Result<String> {
    let err = plot_err(&chart.title);
    let (w, h) = (chart.width.max(200), chart.height.max(150));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let primary: Vec<&Series> = chart.series.iter().filter(|s| !s.secondary).collect();
        let secondary: Vec<&Series> = chart.series.iter().filter(|s| s.secondary).collect();
        let categorical = !chart.x_categories.is_empty();
        let log_x = chart.log_x && !categorical;
        let all_x = chart
            .series
            .iter()
            .flat_map(|s| s.drawable().map(|p| p.0))
            .filter(|x| !log_x || *x > 0.0);
        let lows_and_highs = || {
            primary
                .iter()
                .flat_map(|s| s.drawable().flat_map(|p| [p.1 - p.2, p.1 + p.2]))
        };
        // Log y only where it helps: positive values spanning at least a decade (the
        // log axis of plotters labels decades, so a narrower range would show no ticks).
        let log_y = chart.log_y
            && lows_and_highs().all(|v| v > 0.0)
            && range(lows_and_highs(), true).is_some_and(|(lo, hi)| hi / lo >= 10.0);
        let mut x_ticks = 8;
        let x = if categorical {
            x_ticks = chart.x_categories.len().max(1);
            Some((-0.5, chart.x_categories.len() as f64 - 0.5))
        } else if chart.integer_x && !log_x {
            extent(all_x, false).map(|(lo, hi)| {
                let (r, ticks) = integer_range(lo, hi);
                x_ticks = ticks;
                r
            })
        } else {
            range(all_x, log_x)
        };
        let y = range(lows_and_highs(), log_y);
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
            secondary.iter().flat_map(|s| s.drawable().map(|p| p.1)),
            false,
        )
        .unwrap_or((0.0, 1.0));
        let fmt = x_formatter(chart);
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(&chart.title, ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .right_y_label_area_size(if secondary.is_empty() { 0 } else { 52 });
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
                    .x_labels(x_ticks)
                    .x_label_formatter(&fmt)
                    .light_line_style(WHITE)
                    .label_style(("sans-serif", 11))
                    .axis_desc_style(("sans-serif", 12))
                    .draw()
                    .map_err(|e| err(e.to_string()))?;
                if !secondary.is_empty() {
                    ctx.configure_secondary_axes()
                        .y_desc(chart.y2_label.as_str())
                        .label_style(("sans-serif", 11))
                        .axis_desc_style(("sans-serif", 12))
                        .draw()
                        .map_err(|e| err(e.to_string()))?;
                }
                for s in &primary {
                    let c = color(s.color);
                    let pts: Vec<(f64, f64, f64)> = s.drawable().copied().collect();
                    if s.scatter || pts.len() == 1 {
                        let (size, alpha): (u32, f64) =
                            if s.scatter { (2, 0.55) } else { (4, 1.0) };
                        ctx.draw_series(
                            pts.iter()
                                .map(|p| Circle::new((p.0, p.1), size, c.mix(alpha).filled())),
                        )
                        .map_err(|e| err(e.to_string()))?;
                        // The error bar of a lone point stands in for the band.
                        ctx.draw_series(pts.iter().filter(|p| p.2 > 0.0).map(|p| {
                            PathElement::new(
                                vec![(p.0, p.1 - p.2), (p.0, p.1 + p.2)],
                                c.stroke_width(1),
                            )
                        }))
                        .map_err(|e| err(e.to_string()))?;
                        continue;
                    }
                    if pts.iter().any(|p| p.2 > 0.0) {
                        let band: Vec<(f64, f64)> = pts
                            .iter()
                            .map(|p| (p.0, p.1 + p.2))
                            .chain(pts.iter().rev().map(|p| (p.0, p.1 - p.2)))
                            .collect();
                        ctx.draw_series(std::iter::once(Polygon::new(band, c.mix(0.18).filled())))
                            .map_err(|e| err(e.to_string()))?;
                    }
                    let line: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.1)).collect();
                    let style = c.stroke_width(2);
                    if s.dashed {
                        ctx.draw_series(
                            dashes(&line, 4)
                                .into_iter()
                                .map(|d| PathElement::new(d, style)),
                        )
                    } else {
                        ctx.draw_series(LineSeries::new(line, style))
                    }
                    .map_err(|e| err(e.to_string()))?;
                }
                for s in &secondary {
                    let c = color(s.color);
                    let line: Vec<(f64, f64)> = s.drawable().map(|p| (p.0, p.1)).collect();
                    if line.len() == 1 {
                        ctx.draw_secondary_series(
                            line.iter()
                                .map(|p| Circle::new(*p, 4u32, c.stroke_width(2))),
                        )
                        .map_err(|e| err(e.to_string()))?;
                        continue;
                    }
                    ctx.draw_secondary_series(
                        dashes(&line, 4)
                            .into_iter()
                            .map(|d| PathElement::new(d, c.stroke_width(1))),
                    )
                    .map_err(|e| err(e.to_string()))?;
                }
            }};
        }
        match (log_x, log_y) {
            (false, false) => draw!(x0..x1, y0..y1),
            (true, false) => draw!((x0..x1).log_scale(), y0..y1),
            (false, true) => draw!(x0..x1, (y0..y1).log_scale()),
            (true, true) => draw!((x0..x1).log_scale(), (y0..y1).log_scale()),
        }
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

/// The chart's legend as HTML, shown beside the SVG so it never hides a curve. A series with
/// no point to draw says so.
pub fn legend(chart: &Chart) -> String {
    let mut s = String::from("<div class=\"legend\">");
    for series in &chart.series {
        let RGBColor(r, g, b) = color(series.color);
        let swatch = if series.scatter {
            format!("<span class=\"dot\" style=\"background:rgb({r},{g},{b})\"></span>")
        } else {
            let border = if series.dashed { "dashed" } else { "solid" };
            format!(
                "<span class=\"swatch\" style=\"border-top:3px {border} rgb({r},{g},{b})\"></span>"
            )
        };
        let axis = if series.secondary && !chart.y2_label.is_empty() {
            format!(" (right axis: {})", chart.y2_label)
        } else if series.secondary {
            " (right axis)".to_string()
        } else {
            String::new()
        };
        let missing = if series.has_data() {
            ""
        } else {
            " <em class=\"nodata\">(no data)</em>"
        };
        s.push_str(&format!(
            "<span class=\"entry\">{swatch}{}{}{missing}</span> ",
            escape(&series.label),
            escape(&axis),
        ));
    }
    s.push_str("</div>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(series: Vec<Series>) -> Chart {
        Chart {
            title: "space 1".into(),
            x_label: "search epoch".into(),
            y_label: "test regret".into(),
            y2_label: "one-shot valid error".into(),
            log_y: true,
            integer_x: true,
            width: 480,
            height: 320,
            series,
            ..Default::default()
        }
    }

    fn data_marks(svg: &str) -> usize {
        palette_hex()
            .iter()
            .map(|c| svg.matches(&format!("\"{c}\"")).count())
            .sum()
    }

    #[test]
    fn renders_bands_lines_and_secondary_axis() {
        let c = chart(vec![
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
        ]);
        let svg = render(&c).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.contains("<polygon"), "the error band is drawn");
        assert!(svg.contains("test regret") && svg.contains("one-shot valid error"));
        assert!(data_marks(&svg) >= 3);
        assert_eq!(legend(&c).matches("<span class=\"swatch\"").count(), 2);
        assert!(legend(&c).contains("darts one-shot (right axis: one-shot valid error)"));
        let empty = render(&Chart {
            title: "nothing".into(),
            ..Default::default()
        })
        .unwrap();
        assert!(empty.contains("no data"));
        assert_eq!(data_marks(&empty), 0);
    }

    #[test]
    fn a_single_point_is_a_marker_with_its_error_bar() {
        let c = chart(vec![Series {
            label: "gdas".into(),
            points: vec![(5.0, 0.02, 0.005)],
            ..Default::default()
        }]);
        let svg = render(&c).unwrap();
        assert!(svg.contains("<circle"), "a lone point is drawn as a marker");
        assert!(data_marks(&svg) >= 2, "marker and error bar");
        assert!(c.has_data());
    }

    /// The texts of an SVG, trimmed.
    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| Some(t.split('>').nth(1)?.split('<').next()?.trim().to_string()))
            .collect()
    }

    /// The tick labels of an epoch axis are whole numbers, even for a short or one-point run.
    #[test]
    fn epoch_axes_have_integer_ticks() {
        for (xs, want) in [
            (vec![5.0], vec!["5"]),
            (vec![0.0, 1.0, 2.0], vec!["0", "1", "2"]),
            (vec![0.0, 49.0], vec!["0", "20", "40"]),
        ] {
            let c = chart(vec![Series {
                label: "darts".into(),
                points: xs.iter().map(|x| (*x, 0.02 + x / 1000.0, 0.0)).collect(),
                ..Default::default()
            }]);
            let labels = texts(&render(&c).unwrap());
            for w in want {
                assert!(labels.iter().any(|l| l == w), "{xs:?}: {labels:?}");
            }
            // The y labels are below 0.1 here; no label above it may be fractional.
            let fractional: Vec<&String> = labels
                .iter()
                .filter(|l| l.parse::<f64>().is_ok_and(|v| v.fract() != 0.0 && v > 0.1))
                .collect();
            assert!(fractional.is_empty(), "{xs:?}: {fractional:?}");
        }
    }

    /// A log axis over less than a decade still has labelled ticks (whole decades around the
    /// data): the demo's time axis once showed a single label.
    #[test]
    fn log_axes_inside_a_decade_get_several_labels() {
        let c = Chart {
            log_x: true,
            integer_x: false,
            series: vec![Series {
                label: "darts".into(),
                points: vec![(15.0, 0.004, 0.0), (30.0, 0.01, 0.0), (60.0, 0.05, 0.0)],
                ..Default::default()
            }],
            ..chart(vec![])
        };
        let labels = texts(&render(&c).unwrap());
        let numbers: Vec<f64> = labels.iter().filter_map(|l| l.parse().ok()).collect();
        let on_x = numbers.iter().filter(|&&v| v >= 10.0).count();
        let on_y = numbers.iter().filter(|&&v| v < 1.0).count();
        assert!(on_x >= 2 && on_y >= 2, "{labels:?}");
        assert!(
            labels.iter().any(|l| l == "10") && labels.iter().any(|l| l == "100"),
            "{labels:?}"
        );
    }

    #[test]
    fn empty_series_are_named_in_the_legend() {
        let c = chart(vec![
            Series {
                label: "darts".into(),
                points: vec![(0.0, 0.1, 0.0), (1.0, 0.05, 0.0)],
                ..Default::default()
            },
            Series {
                label: "pc-darts".into(),
                points: vec![(0.0, f64::NAN, 0.0)],
                ..Default::default()
            },
        ]);
        assert!(legend(&c).contains("pc-darts <em class=\"nodata\">(no data)</em>"));
        assert!(!legend(&c).contains("</span>darts <em"));
        let none = chart(vec![Series::default()]);
        assert!(!none.has_data());
    }

    #[test]
    fn categorical_axes_and_scatter_points() {
        let c = Chart {
            x_categories: vec!["first".into(), "second".into()],
            series: vec![Series {
                label: "darts".into(),
                points: vec![(0.0, 0.02, 0.001), (1.0, 0.03, 0.002)],
                ..Default::default()
            }],
            ..chart(vec![])
        };
        let svg = render(&c).unwrap();
        let labels = texts(&svg);
        assert!(labels.contains(&"first".to_string()) && labels.contains(&"second".to_string()));
        let s = Chart {
            series: vec![Series {
                label: "archs".into(),
                points: (0..50)
                    .map(|i| (i as f64, (i * 7 % 50) as f64, 0.0))
                    .collect(),
                scatter: true,
                ..Default::default()
            }],
            integer_x: false,
            log_y: false,
            ..chart(vec![])
        };
        assert_eq!(render(&s).unwrap().matches("<circle").count(), 50);
        assert!(legend(&s).contains("class=\"dot\""));
    }
}
