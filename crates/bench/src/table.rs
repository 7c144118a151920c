//! Tabular output of queries: aligned text for the terminal, CSV for spreadsheets, JSON for
//! scripts. Cells are JSON values so the JSON form keeps numbers as numbers.

use serde_json::Value;

/// How `nb1s1 results query` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Table,
    Csv,
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            other => Err(format!("unknown format `{other}` (table, csv, json)")),
        }
    }
}

/// A header row and data rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => format_float(f),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// Six significant digits, in scientific notation only for very small or large magnitudes.
pub fn format_float(f: f64) -> String {
    if f == 0.0 || (1e-3..1e6).contains(&f.abs()) {
        let digits = (5 - f.abs().log10().floor().max(-3.0) as i32).clamp(0, 8) as usize;
        format!("{f:.digits$}")
    } else {
        format!("{f:.5e}")
    }
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Renders in the requested format (always ends with a newline).
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Table => self.to_text(),
            Format::Csv => self.to_csv(),
            Format::Json => self.to_json(),
        }
    }

    pub fn to_text(&self) -> String {
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(text).collect())
            .collect();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &cells {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |items: &[String]| {
            let parts: Vec<String> = items
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            parts.join("  ").trim_end().to_string() + "\n"
        };
        let mut out = line(&self.headers);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        out.push_str(&line(&rule));
        for row in &cells {
            out.push_str(&line(row));
        }
        out
    }

    pub fn to_csv(&self) -> String {
        let quote = |s: String| {
            if s.contains([',', '"', '\n']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s
            }
        };
        let mut out = self
            .headers
            .iter()
            .map(|h| quote(h.clone()))
            .collect::<Vec<_>>()
            .join(",");
        out.push('\n');
        for row in &self.rows {
            let cells: Vec<String> = row
                .iter()
                .map(|v| match v {
                    Value::Null => String::new(),
                    Value::Number(n) => n.to_string(),
                    other => quote(text(other)),
                })
                .collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }

    pub fn to_json(&self) -> String {
        let objects: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                Value::Object(
                    self.headers
                        .iter()
                        .cloned()
                        .zip(r.iter().cloned())
                        .collect(),
                )
            })
            .collect();
        serde_json::to_string_pretty(&objects).unwrap_or_else(|_| "[]".into()) + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_three_formats() {
        let mut t = Table::new(&["optimizer", "regret"]);
        t.rows.push(vec![json!("darts, 1st"), json!(0.0123456789)]);
        t.rows.push(vec![json!("gdas"), Value::Null]);
        assert_eq!(
            t.to_csv(),
            "optimizer,regret\n\"darts, 1st\",0.0123456789\ngdas,\n"
        );
        let text = t.to_text();
        assert!(text.contains("darts, 1st  0.0123457"), "{text}");
        assert!(text.lines().nth(3).unwrap().starts_with("gdas"));
        let parsed: Value = serde_json::from_str(&t.to_json()).unwrap();
        assert_eq!(parsed[0]["regret"], json!(0.0123456789));
        assert_eq!(parsed[1]["regret"], Value::Null);
    }
}
