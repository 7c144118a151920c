//! A heatmap as SVG (plotters): a value per (row, column) category pair, e.g. the rank
//! correlation per cells x channels of the inductive-bias study. Cells are filled in a palette
//! colour (blue for positive, red for negative values) whose opacity grows with |value|, so,
//! as in [`crate::plots`], every data mark carries a palette colour and nothing else does; the
//! value is written in each cell.

use crate::error::{BenchError, Result};
use crate::plots::color;
use plotters::prelude::*;

/// A heatmap to render; `values[row][column]`, `None` where there is no value.
#[derive(Debug, Clone, Default)]
pub struct Heatmap {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub columns: Vec<String>,
    pub rows: Vec<String>,
    pub values: Vec<Vec<Option<f64>>>,
    pub width: u32,
    pub height: u32,
}

impl Heatmap {
    /// Whether any cell has a finite value.
    pub fn has_data(&self) -> bool {
        self.values
            .iter()
            .flatten()
            .flatten()
            .any(|v| v.is_finite())
    }
}

/// The category of a tick at `v` (ticks sit at whole numbers, the cells' centres).
fn category(names: &[String], v: f64) -> String {
    let i = v.round();
    if (v - i).abs() > 1e-6 || i < 0.0 {
        return String::new();
    }
    names.get(i as usize).cloned().unwrap_or_default()
}

/// Renders the heatmap; values are expected in [-1, 1] (clamped for the colour only).
pub fn render(h: &Heatmap) -> Result<String> {
    let err = |e: String| BenchError::Plot {
        what: h.title.clone(),
        message: e,
    };
    let (w, ht) = (h.width.max(200), h.height.max(150));
    let (nx, ny) = (h.columns.len().max(1), h.rows.len().max(1));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, ht)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut ctx = ChartBuilder::on(&root)
            .caption(&h.title, ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5..nx as f64 - 0.5, -0.5..ny as f64 - 0.5)
            .map_err(|e| err(e.to_string()))?;
        let fx = |v: &f64| category(&h.columns, *v);
        let fy = |v: &f64| category(&h.rows, *v);
        ctx.configure_mesh()
            .disable_mesh()
            .x_desc(h.x_label.as_str())
            .y_desc(h.y_label.as_str())
            .x_labels(nx)
            .y_labels(ny)
            .x_label_formatter(&fx)
            .y_label_formatter(&fy)
            .label_style(("sans-serif", 11))
            .axis_desc_style(("sans-serif", 12))
            .draw()
            .map_err(|e| err(e.to_string()))?;
        let mut cells = Vec::new();
        let mut labels = Vec::new();
        for (r, row) in h.values.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                let Some(v) = v.filter(|v| v.is_finite()) else {
                    continue;
                };
                let (x, y) = (c as f64, r as f64);
                let hue = if v >= 0.0 { color(0) } else { color(3) };
                let style = hue.mix(0.15 + 0.85 * v.abs().min(1.0)).filled();
                cells.push(Rectangle::new(
                    [(x - 0.48, y - 0.48), (x + 0.48, y + 0.48)],
                    style,
                ));
                labels.push(Text::new(
                    format!("{v:.2}"),
                    (x - 0.12, y + 0.05),
                    ("sans-serif", 12).into_font().color(&BLACK),
                ));
            }
        }
        ctx.draw_series(cells).map_err(|e| err(e.to_string()))?;
        ctx.draw_series(labels).map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_drawn_in_palette_colours_with_their_values() {
        let h = Heatmap {
            title: "t".into(),
            columns: vec!["8".into(), "16".into()],
            rows: vec!["1".into(), "2".into()],
            values: vec![vec![Some(0.5), None], vec![Some(-0.25), Some(1.0)]],
            width: 300,
            height: 200,
            ..Default::default()
        };
        assert!(h.has_data());
        let svg = render(&h).unwrap();
        let blue = &crate::plots::palette_hex()[0];
        let red = &crate::plots::palette_hex()[3];
        assert_eq!(svg.matches(&format!("fill=\"{blue}\"")).count(), 2, "{svg}");
        assert_eq!(svg.matches(&format!("fill=\"{red}\"")).count(), 1);
        assert!(svg.contains("-0.25") && svg.contains("1.00") && !svg.contains("nan"));
        assert!(!Heatmap::default().has_data());
    }
}
