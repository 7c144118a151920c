//! A drawing of a discrete cell as SVG: input, the choice blocks with their operations, and the
//! output in a row, each edge an arc from parent to child. Choice blocks that do not reach the
//! output (loose ends, pruned by NB-101) are drawn greyed out.

use crate::html::escape;
use crate::runs::Architecture;

fn short_op(op: &str) -> &str {
    match op {
        "conv3x3-bn-relu" => "conv3x3",
        "conv1x1-bn-relu" => "conv1x1",
        "maxpool3x3" => "maxpool",
        other => other,
    }
}

/// Nodes (0 = input, 1..=N choice blocks, N+1 = output) from which the output is reachable.
fn reaches_output(arch: &Architecture) -> Vec<bool> {
    let n = arch.parents.len(); // nodes 1..=n, the last one the output
    let mut live = vec![false; n + 1];
    live[n] = true;
    for node in (1..=n).rev() {
        if live[node] {
            for &p in arch.parents.get(node - 1).into_iter().flatten() {
                if p < node {
                    live[p] = true;
                }
            }
        }
    }
    live
}

/// Renders the cell; malformed parent indices are skipped rather than trusted.
pub fn cell_svg(arch: &Architecture) -> String {
    let n = arch.parents.len();
    let live = reaches_output(arch);
    let (gap, box_w, box_h, y) = (92.0, 72.0, 28.0, 0.0);
    let max_span = arch
        .parents
        .iter()
        .enumerate()
        .flat_map(|(i, ps)| ps.iter().map(move |&p| (i + 1).saturating_sub(p)))
        .max()
        .unwrap_or(1) as f64;
    let top = 18.0 + 14.0 * max_span;
    let width = gap * n as f64 + box_w + 16.0;
    let height = top + box_h + 12.0;
    let cx = |i: usize| 8.0 + box_w / 2.0 + gap * i as f64;
    let mut s = format!(
        r#"<svg class="cell" xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" role="img"><title>cell</title>"#
    );
    for (i, parents) in arch.parents.iter().enumerate() {
        let child = i + 1;
        for &p in parents.iter().filter(|&&p| p < child) {
            let (x0, x1) = (cx(p), cx(child));
            let rise = 14.0 * (child - p) as f64;
            let colour = if live[child] && live[p] {
                "#444"
            } else {
                "#bbb"
            };
            s.push_str(&format!(
                r#"<path d="M {x0:.1} {y0:.1} Q {xm:.1} {ym:.1} {x1:.1} {y0:.1}" fill="none" stroke="{colour}" stroke-width="1.5" marker-end="url(#arrow)"/>"#,
                y0 = top + y,
                xm = (x0 + x1) / 2.0,
                ym = top + y - 2.0 * rise,
            ));
        }
    }
    s.push_str(r##"<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="6" markerHeight="6" orient="auto"><path d="M0 0 L8 4 L0 8 z" fill="#444"/></marker></defs>"##);
    for (i, &alive) in live.iter().enumerate() {
        let label = if i == 0 {
            "input".to_string()
        } else if i == n {
            "output".to_string()
        } else {
            short_op(arch.ops.get(i - 1).map(String::as_str).unwrap_or("?")).to_string()
        };
        let (fill, stroke) = if alive {
            ("#eef4fb", "#1f77b4")
        } else {
            ("#f4f4f4", "#bbb")
        };
        s.push_str(&format!(
            r#"<rect x="{x:.1}" y="{top:.1}" width="{box_w}" height="{box_h}" rx="5" fill="{fill}" stroke="{stroke}"/><text x="{tx:.1}" y="{ty:.1}" font-family="sans-serif" font-size="12" text-anchor="middle">{label}</text>"#,
            x = cx(i) - box_w / 2.0,
            tx = cx(i),
            ty = top + box_h / 2.0 + 4.0,
            label = escape(&label),
        ));
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_ends_are_greyed_and_edges_drawn() {
        // Space-3-like: node 2 feeds nobody, so it is a loose end.
        let arch = Architecture {
            ops: [
                "conv3x3-bn-relu",
                "maxpool3x3",
                "conv1x1-bn-relu",
                "conv3x3-bn-relu",
                "maxpool3x3",
            ]
            .map(String::from)
            .to_vec(),
            parents: vec![
                vec![0],
                vec![1],
                vec![1],
                vec![0, 3],
                vec![3, 4],
                vec![1, 5],
            ],
        };
        assert_eq!(
            reaches_output(&arch),
            vec![true, true, false, true, true, true, true]
        );
        let svg = cell_svg(&arch);
        assert_eq!(svg.matches("<path d=\"M ").count(), 9, "nine edges");
        assert_eq!(svg.matches("<rect").count(), 7);
        assert!(svg.contains(">maxpool<") && svg.contains(">output<"));
        assert_eq!(svg.matches("fill=\"#f4f4f4\"").count(), 1, "one loose end");
        // Out-of-range parents are ignored, not trusted.
        let bad = Architecture {
            ops: vec![],
            parents: vec![vec![7]],
        };
        assert!(cell_svg(&bad).contains(">output<"));
    }
}
