//! The config a one-shot study starts from: one of the shipped paper configs (`configs/*.toml`,
//! compiled in so an experiment resolves the same from any folder), a TOML file of one's own, or
//! nothing (the optimizer's code defaults). Study, grid and unit settings are merged on top.

use std::path::Path;

/// The shipped configs by name: the paper's settings of each one-shot optimizer.
pub const SHIPPED: &[(&str, &str)] = &[
    ("darts", include_str!("../../../configs/darts.toml")),
    (
        "darts_second_order",
        include_str!("../../../configs/darts_second_order.toml"),
    ),
    ("gdas", include_str!("../../../configs/gdas.toml")),
    ("pc_darts", include_str!("../../../configs/pc_darts.toml")),
    ("enas", include_str!("../../../configs/enas.toml")),
    ("random_ws", include_str!("../../../configs/random_ws.toml")),
    ("demo", include_str!("../../../configs/demo.toml")),
    // The BOHB incumbents transferred to every space (spec §5), over the code defaults.
    (
        "bohb/darts",
        include_str!("../../../configs/bohb/darts.toml"),
    ),
    ("bohb/gdas", include_str!("../../../configs/bohb/gdas.toml")),
    (
        "bohb/pc_darts",
        include_str!("../../../configs/bohb/pc_darts.toml"),
    ),
];

/// Why a study's `base` config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BaseConfigError {
    #[error("base config {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no shipped config `{name}` (shipped: {shipped}); set `base` to one of them, to a `.toml` path or to `none`")]
    Unknown { name: String, shipped: String },
    #[error("base config {label}: {source}")]
    Parse {
        label: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("base config {label} is for optimizer `{own}`, not `{optimizer}`")]
    OtherOptimizer {
        label: String,
        own: String,
        optimizer: String,
    },
}

/// `base = "none"`: no file, only the optimizer's code defaults.
pub const NONE: &str = "none";

/// The text of a shipped config.
pub fn shipped(name: &str) -> Option<&'static str> {
    SHIPPED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Resolves a study's `base`: a shipped name, `none`, or a path (a name ending in `.toml`,
/// relative to the experiment file's folder `dir`). `None` means the optimizer's own shipped
/// config where there is one, else its registry defaults (the method's paper defaults, as
/// `none`: the one-shot config loader resolves the name, so every registered method and every
/// composition of one's own works without a list here). Returns the table and a label for
/// `experiment plan`.
pub fn load(
    base: Option<&str>,
    optimizer: &str,
    dir: &Path,
) -> Result<(String, toml::Table), BaseConfigError> {
    let name = base.unwrap_or(optimizer);
    if name == NONE || (base.is_none() && shipped(name).is_none()) {
        return Ok((NONE.to_string(), toml::Table::new()));
    }
    let (label, text) = if name.ends_with(".toml") {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).map_err(|source| BaseConfigError::Read {
            path: path.clone(),
            source,
        })?;
        (path.display().to_string(), text)
    } else {
        let text = shipped(name).ok_or_else(|| BaseConfigError::Unknown {
            name: name.to_string(),
            shipped: SHIPPED
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
        })?;
        (format!("configs/{name}.toml"), text.to_string())
    };
    let table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(source) => return Err(BaseConfigError::Parse { label, source }),
    };
    if let Some(own) = table.get("optimizer").and_then(|v| v.as_str()) {
        if own != optimizer {
            return Err(BaseConfigError::OtherOptimizer {
                label,
                own: own.to_string(),
                optimizer: optimizer.to_string(),
            });
        }
    }
    Ok((label, table))
}

/// Deep merge: `over`'s keys replace `base`'s, tables merge recursively.
pub fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_config_parses_and_names_its_optimizer() {
        for (name, text) in SHIPPED {
            let t: toml::Table = text.parse().unwrap_or_else(|e| panic!("{name}: {e}"));
            let opt = t["optimizer"].as_str().unwrap();
            let stem = name.trim_start_matches("bohb/");
            assert!(stem.starts_with(opt) || *name == "demo", "{name}: {opt}");
        }
        let (label, t) = load(None, "gdas", Path::new(".")).unwrap();
        assert_eq!(label, "configs/gdas.toml");
        assert_eq!(t["seed"].as_integer(), Some(13));
        let e = load(Some("darts"), "gdas", Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(e.contains("for optimizer `darts`"), "{e}");
        // A method without a shipped file starts from its registry defaults.
        let (label, t) = load(None, "drnas", Path::new(".")).unwrap();
        assert_eq!((label.as_str(), t.is_empty()), (NONE, true));
        let e = load(Some("sdarts"), "sdarts", Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no shipped config `sdarts`"), "{e}");
        assert!(load(Some("none"), "x", Path::new("."))
            .unwrap()
            .1
            .is_empty());
    }

    #[test]
    fn merge_replaces_leaves_and_keeps_siblings() {
        let mut a: toml::Table = "x = 1\n[w]\nlr = 0.1\nwd = 3\n".parse().unwrap();
        let b: toml::Table = "y = 2\n[w]\nlr = 0.5\n".parse().unwrap();
        merge(&mut a, &b);
        assert_eq!(a["w"]["lr"].as_float(), Some(0.5));
        assert_eq!(a["w"]["wd"].as_integer(), Some(3));
        assert_eq!(a["x"].as_integer(), Some(1));
        assert_eq!(a["y"].as_integer(), Some(2));
    }
}
