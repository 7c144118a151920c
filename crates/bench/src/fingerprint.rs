//! What defines a result, recorded beside it and compared on every later run: a run is never
//! reported "already done" (or resumed) under inputs other than those that made it.
//!
//! The inputs are kept as JSON flattened to dotted keys (`config.optimizer.lr`,
//! `args.--queries`), so a refusal says what changed, key by key.

use crate::error::{BenchError, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Inputs flattened to `key → value` (values as compact JSON).
pub type Flat = BTreeMap<String, String>;

/// Flattens objects to dotted keys; arrays and scalars are leaves.
pub fn flatten(value: &Value) -> Flat {
    fn walk(prefix: &str, v: &Value, out: &mut Flat) {
        match v {
            Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            v => {
                out.insert(prefix.to_string(), v.to_string());
            }
        }
    }
    let mut out = Flat::new();
    walk("", value, &mut out);
    out
}

/// Command-line arguments as a map: `--flag value` pairs, a bare flag maps to `true`, a
/// positional argument to its position.
pub fn args_map(args: &[String]) -> serde_json::Map<String, Value> {
    let mut map = serde_json::Map::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        let next = args.get(i + 1).filter(|n| !n.starts_with("--"));
        match (a.starts_with("--"), next) {
            (true, Some(v)) => {
                map.insert(a.clone(), Value::String(v.clone()));
                i += 2;
                continue;
            }
            (true, None) => {
                map.insert(a.clone(), Value::Bool(true));
            }
            (false, _) => {
                map.insert(format!("#{i}"), Value::String(a.clone()));
            }
        }
        i += 1;
    }
    map
}

/// The differences between two input sets, one line each (`key: old → new`).
pub fn changes(old: &Flat, new: &Flat) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in new {
        match old.get(k) {
            Some(o) if o == v => {}
            Some(o) => out.push(format!("{k}: {} → {}", clip(o), clip(v))),
            None => out.push(format!("{k}: added ({})", clip(v))),
        }
    }
    for (k, o) in old {
        if !new.contains_key(k) {
            out.push(format!("{k}: removed (was {})", clip(o)));
        }
    }
    out
}

/// A value shortened for a message.
fn clip(v: &str) -> String {
    if v.chars().count() > 60 {
        format!("{}…", v.chars().take(57).collect::<String>())
    } else {
        v.to_string()
    }
}

/// The first few changes, joined for an error message.
pub fn describe(changes: &[String]) -> String {
    let mut text = changes
        .iter()
        .take(6)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if changes.len() > 6 {
        text.push_str(&format!("; and {} more", changes.len() - 6));
    }
    text
}

/// Compares the inputs recorded at `path` (absent: nothing recorded yet, `Ok`) with `now`;
/// a difference is [`BenchError::InputsChanged`] for `what`, with `fresh` saying how to start
/// over.
pub fn check(path: &Path, what: &str, now: &Value, fresh: &str) -> Result<()> {
    let Some(stored) = crate::runs::read_json_opt::<Value>(path)? else {
        return Ok(());
    };
    let diff = changes(&flatten(&stored), &flatten(now));
    if diff.is_empty() {
        return Ok(());
    }
    Err(BenchError::InputsChanged {
        what: what.to_string(),
        changes: describe(&diff),
        fresh: fresh.to_string(),
    })
}

/// Records `now` at `path` (atomically).
pub fn record(path: &Path, now: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(now).unwrap_or_default();
    crate::atomic::write_atomic(path, text.as_bytes())
}
