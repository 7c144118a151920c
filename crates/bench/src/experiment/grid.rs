//! A study's grid: dotted config keys to lists of values, expanded into every combination
//! (grid points), each with a label and a folder name.

use super::ExperimentError;

/// A grid point's folder name: the label with characters unsafe in paths replaced.
pub(crate) fn folder_name(variant: &str) -> String {
    variant
        .chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() || matches!(c, '.' | '=' | '-' | '_') => c,
            ',' => '+',
            _ => '_',
        })
        .collect()
}

fn value_label(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One grid point: its label and the `(dotted key, value)` settings.
pub type GridPoint = (String, Vec<(String, toml::Value)>);

/// Every combination of the grid, with its label (`key=value,key=value`; `default` if empty).
pub fn grid_points(grid: &toml::Table) -> Result<Vec<GridPoint>, ExperimentError> {
    let mut points: Vec<Vec<(String, toml::Value)>> = vec![Vec::new()];
    for (key, values) in grid {
        let values = values
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| ExperimentError::GridNotList(key.clone()))?;
        points = points
            .into_iter()
            .flat_map(|p| {
                values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push((key.clone(), v.clone()));
                    q
                })
            })
            .collect();
    }
    Ok(points
        .into_iter()
        .map(|p| {
            let label = if p.is_empty() {
                "default".to_string()
            } else {
                p.iter()
                    .map(|(k, v)| format!("{k}={}", value_label(v)))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            (label, p)
        })
        .collect())
}

/// Sets `a.b.c = value` in a TOML table, creating intermediate tables.
pub(crate) fn set_dotted(
    table: &mut toml::Table,
    key: &str,
    value: toml::Value,
) -> Result<(), ExperimentError> {
    let mut parts = key.split('.').peekable();
    let mut current = table;
    while let Some(part) = parts.next() {
        if part.is_empty() {
            return Err(ExperimentError::GridEmptyPart(key.to_string()));
        }
        if parts.peek().is_none() {
            current.insert(part.to_string(), value);
            return Ok(());
        }
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| ExperimentError::GridNotTable {
                key: key.to_string(),
                part: part.to_string(),
            })?;
    }
    Ok(())
}
