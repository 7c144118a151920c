//! Experiment files: optimizers × spaces × seeds × a hyperparameter grid, for one-shot and
//! black-box optimizers alike, expanded into run units the runner launches.
//!
//! ```toml
//! name = "regularization"
//! max_retries = 2
//! extra_args = ["--nb101", "data/nb101.store"]   # appended to every launch
//!
//! [config]                          # one-shot settings for every study (optional)
//! faithful = { scheduler_shift = true }
//!
//! [[study]]
//! name = "weight-decay"
//! kind = "oneshot"                  # or "blackbox"
//! optimizers = ["darts", "gdas"]
//! spaces = [1, 2, 3]
//! seeds = "1..4"                    # or a list [1, 2, 3]
//! base = "darts"                    # optional: shipped config, `x.toml`, or `none`
//! [study.config]                    # search config shared by every run of the study
//! epochs = 50
//! [study.grid]                      # dotted config keys → values; the cartesian product
//! "weights.weight_decay" = [1e-4, 3e-4, 9e-4, 27e-4, 81e-4]
//! ```
//!
//! A one-shot run's config is resolved in layers, each over the one before: the study's `base`
//! (default: the optimizer's shipped paper config, `configs/<optimizer>.toml`), the experiment's
//! `[config]`, the study's `config`, the grid point, then the unit's optimizer, space and seed.
//! Keys left unset take the optimizer's code defaults when `nb1s1 search` reads the file;
//! `nb1s1 experiment plan` prints the result fully resolved.
//!
//! A `kind = "standalone"` study trains architectures from scratch (`nb1s1 train`): the first
//! `architectures` of the seeded sample `nb1s1 correlation --sample <architectures> --seed
//! <sample_seed>` evaluates, in each space, for each training seed; its `config` and `grid`
//! are `nb1s1 train` options (`epochs`, `channels`, `cells`, `train_images`, …), so a grid over
//! `channels` × `cells` is the inductive-bias study. A one-shot study with `correlation = {
//! sample = <architectures>, seed = <sample_seed> }` evaluates the same cells on its supernet.
//!
//! ```toml
//! [[study]]
//! name = "transfer"
//! kind = "standalone"
//! spaces = [1, 2, 3]
//! seeds = [0]
//! architectures = 10
//! config = { epochs = 12, train_images = 10000 }
//! grid = { channels = [8, 16], cells = [1, 2] }
//! ```
//!
//! Several `[[study]]` blocks may share a name: they form one study (one report page), e.g. the
//! six one-shot optimizers are five optimizers plus DARTS with `"arch.order" = ["second"]`.

use crate::base_config;
use crate::error::{io_err, BenchError, Result};
use crate::runs::RunKind;
use runfmt::SafeName;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A parsed experiment file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Extra attempts after a failure, per run and per invocation.
    #[serde(default = "default_retries")]
    pub max_retries: usize,
    /// Parallel workers when the command line does not say.
    #[serde(default)]
    pub workers: Option<usize>,
    #[serde(default)]
    pub extra_args: Vec<String>,
    /// One-shot settings merged into every study's config (over its base, under its own).
    #[serde(default)]
    pub config: toml::Table,
    #[serde(rename = "study")]
    pub studies: Vec<Study>,
    /// The experiment file's folder: relative `base` paths start here.
    #[serde(skip)]
    pub dir: PathBuf,
    /// `[slurm]`: job settings for `--backend slurm` (see `crate::slurm`).
    #[serde(default)]
    pub slurm: crate::slurm::SlurmSettings,
}

fn default_retries() -> usize {
    2
}

/// Seeds as a list or a half-open range string `"a..b"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Seeds {
    List(Vec<u64>),
    Range(String),
}

/// Most seeds one study (or one `nb1s1 blackbox --seeds`) may name: the paper runs 500.
pub const MAX_SEEDS: u64 = 100_000;

/// Most run units one experiment may expand into (checked before any is built).
pub const MAX_UNITS: u64 = 100_000;

/// Largest seed value: seeds are written to TOML configs, whose integers are `i64`.
pub const MAX_SEED: u64 = i64::MAX as u64;

impl Seeds {
    /// How many seeds, without expanding a range.
    pub fn count(&self) -> std::result::Result<u64, String> {
        match self {
            Seeds::List(v) => Ok(v.len() as u64),
            Seeds::Range(s) => parse_range(s).map(|(a, b)| b - a),
        }
    }

    /// Every seed, checked against [`MAX_SEEDS`] and [`MAX_SEED`] before anything is allocated.
    pub fn expand(&self) -> std::result::Result<Vec<u64>, String> {
        let n = self.count()?;
        if n > MAX_SEEDS {
            return Err(format!(
                "`seeds` names {n} seeds, more than the limit of {MAX_SEEDS}"
            ));
        }
        match self {
            Seeds::List(v) => {
                if let Some(s) = v.iter().find(|s| **s > MAX_SEED) {
                    return Err(format!("`seeds`: seed {s} is larger than {MAX_SEED}"));
                }
                Ok(v.clone())
            }
            Seeds::Range(s) => {
                let (a, b) = parse_range(s)?;
                Ok((a..b).collect())
            }
        }
    }
}

/// `"a..b"` as `(a, b)` with `a < b <= MAX_SEED + 1`.
fn parse_range(s: &str) -> std::result::Result<(u64, u64), String> {
    let shown = runfmt::name::echo(s);
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("`seeds` range {shown} is not `a..b`"))?;
    let num = |t: &str| {
        t.trim()
            .parse::<u64>()
            .ok()
            .filter(|v| *v <= MAX_SEED + 1)
            .ok_or_else(|| {
                format!(
                    "`seeds` range {shown}: {} is not a seed (0..={MAX_SEED})",
                    runfmt::name::echo(t)
                )
            })
    };
    let (a, b) = (num(a)?, num(b)?);
    if b <= a {
        return Err(format!("`seeds` range {shown} is empty"));
    }
    Ok((a, b))
}

/// One block of runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Study {
    pub name: String,
    pub kind: StudyKind,
    /// One-shot and black-box optimizers (stand-alone studies take none).
    #[serde(default)]
    pub optimizers: Vec<String>,
    pub spaces: Vec<u8>,
    pub seeds: Seeds,
    /// One-shot: the config the runs start from: a shipped config's name (`darts`,
    /// `darts_second_order`, `gdas`, ...), a `.toml` path relative to the experiment file, or
    /// `none` (code defaults only). Default: the optimizer's shipped config.
    #[serde(default)]
    pub base: Option<String>,
    #[serde(default)]
    pub config: toml::Table,
    /// Dotted config key → values; every combination is run.
    #[serde(default)]
    pub grid: toml::Table,
    #[serde(default)]
    pub extra_args: Vec<String>,
    /// Black-box: queries per run.
    #[serde(default)]
    pub queries: Option<usize>,
    /// Black-box: what `queries` counts (`queries` or `iterations`; default: as the original
    /// counted for that optimizer, iterations for HyperBand and BOHB).
    #[serde(default)]
    pub budget_unit: Option<String>,
    /// Black-box: the NB-101 store passed as `--nb101`.
    #[serde(default)]
    pub nb101: Option<String>,
    /// Black-box: seeds per launched process (default: all of them at once).
    #[serde(default)]
    pub seeds_per_run: Option<usize>,
    /// Stand-alone: architectures per space, the seeded sample of the correlation evaluation.
    #[serde(default)]
    pub architectures: Option<usize>,
    /// Stand-alone: the seed of that sample.
    #[serde(default)]
    pub sample_seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StudyKind {
    Oneshot,
    Blackbox,
    Standalone,
}

/// `nb1s1 train` options a stand-alone study may set in `config` or `grid` (underscores for
/// the hyphens); the cell, seed and folder come from the unit.
pub const TRAIN_OPTIONS: &[&str] = &[
    "epochs",
    "batch_size",
    "eval_batch_size",
    "channels",
    "cells",
    "stacks",
    "train_images",
    "valid_images",
    "test_images",
    "lr",
    "bn_momentum",
    "no_augment",
    "threads",
    "device",
];

/// A stand-alone setting as `nb1s1 train` arguments (`true` a bare flag, `false` nothing).
fn train_flag(key: &str, value: &toml::Value) -> std::result::Result<Vec<String>, String> {
    if !TRAIN_OPTIONS.contains(&key) {
        return Err(format!(
            "`{}` is not an `nb1s1 train` option of a stand-alone study (one of {})",
            runfmt::name::shorten(key),
            TRAIN_OPTIONS.join(", ")
        ));
    }
    let flag = format!("--{}", key.replace('_', "-"));
    Ok(match value {
        toml::Value::Boolean(true) => vec![flag],
        toml::Value::Boolean(false) => vec![],
        toml::Value::String(s) => vec![flag, s.clone()],
        toml::Value::Integer(_) | toml::Value::Float(_) => vec![flag, value.to_string()],
        other => {
            return Err(format!(
                "`{key}` = {other}: expected a number, string or boolean"
            ))
        }
    })
}

/// One launch of the `nb1s1` binary (serialized for the tuner's Slurm tasks).
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
pub struct RunUnit {
    /// Unique within the experiment, also its folder below the output root (one-shot).
    pub id: String,
    pub kind: RunKind,
    pub study: String,
    pub optimizer: String,
    pub space: u8,
    /// Grid point label (`default` without a grid).
    pub variant: String,
    pub seeds: Vec<u64>,
    /// One-shot: the run folder. Black-box: the `--out` root, seeds land in
    /// `<out>/<optimizer>/space<N>/seed<S>`.
    pub out: PathBuf,
    /// One-shot: the search configuration written to `run.toml` (base and overrides merged).
    pub config: Option<toml::Table>,
    /// One-shot: where the config started (`configs/darts.toml`, a path, or `none`).
    pub base: Option<String>,
    /// Arguments after the program (subcommand first).
    pub args: Vec<String>,
}

impl RunUnit {
    /// Whether the run trains a network (and so takes a GPU when there are any).
    pub fn needs_gpu(&self) -> bool {
        matches!(self.kind, RunKind::OneShot | RunKind::Standalone)
    }

    /// Where the config started, for display (`-` for black-box runs).
    pub fn base_label(&self) -> &str {
        self.base.as_deref().unwrap_or("-")
    }

    /// The folders whose status decides whether the unit is done.
    pub fn run_folders(&self) -> Vec<PathBuf> {
        match self.kind {
            RunKind::OneShot | RunKind::Standalone => vec![self.out.clone()],
            RunKind::BlackBox => self
                .seeds
                .iter()
                .map(|s| {
                    self.out
                        .join(&self.optimizer)
                        .join(format!("space{}", self.space))
                        .join(format!("seed{s}"))
                })
                .collect(),
        }
    }
}

impl Experiment {
    /// Reads and validates an experiment file.
    pub fn load(path: &Path) -> Result<Experiment> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        let mut exp: Experiment = toml::from_str(&text).map_err(|e| BenchError::Toml {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        exp.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        exp.units(Path::new("runs"))
            .map_err(|e| BenchError::Experiment {
                path: path.to_path_buf(),
                message: e,
            })?;
        Ok(exp)
    }

    /// Expands the studies into run units below `out`, checking every value on the way.
    pub fn units(&self, out: &Path) -> std::result::Result<Vec<RunUnit>, String> {
        SafeName::new("experiment `name`", &self.name).map_err(|e| e.to_string())?;
        self.check_size()?;
        let mut units = Vec::new();
        for study in &self.studies {
            let where_ = format!("study `{}`", runfmt::name::shorten(&study.name));
            if study.kind == StudyKind::Standalone {
                units.extend(self.standalone_units(study, out)?);
                continue;
            }
            if study.optimizers.is_empty() || study.spaces.is_empty() {
                return Err(format!(
                    "{where_}: `optimizers` and `spaces` must not be empty"
                ));
            }
            if let Some(s) = study.spaces.iter().find(|s| !(1..=3).contains(*s)) {
                return Err(format!("{where_}: space {s} is not 1, 2 or 3"));
            }
            SafeName::new("study `name`", &study.name).map_err(|e| e.to_string())?;
            if study.queries == Some(0) {
                return Err(format!("{where_}: `queries` must be at least 1"));
            }
            let seeds = study.seeds.expand().map_err(|e| format!("{where_}: {e}"))?;
            let points = grid_points(&study.grid).map_err(|e| format!("{where_}: {e}"))?;
            for optimizer in &study.optimizers {
                SafeName::new(format!("{where_}: optimizer"), optimizer)
                    .map_err(|e| e.to_string())?;
                for &space in &study.spaces {
                    match study.kind {
                        StudyKind::Oneshot => {
                            let (base, mut start) =
                                base_config::load(study.base.as_deref(), optimizer, &self.dir)
                                    .map_err(|e| format!("{where_}: {e}"))?;
                            base_config::merge(&mut start, &self.config);
                            base_config::merge(&mut start, &study.config);
                            for (variant, overrides) in &points {
                                let mut config = start.clone();
                                for (key, value) in overrides {
                                    set_dotted(&mut config, key, value.clone())
                                        .map_err(|e| format!("{where_}: {e}"))?;
                                }
                                config.insert("optimizer".into(), optimizer.clone().into());
                                config.insert("space".into(), i64::from(space).into());
                                let folder_variant = SafeName::new(
                                    format!("{where_}: grid point folder"),
                                    &folder_name(variant),
                                )
                                .map_err(|e| e.to_string())?;
                                for &seed in &seeds {
                                    let mut config = config.clone();
                                    let seed_value = i64::try_from(seed).map_err(|_| {
                                        format!("{where_}: seed {seed} is too large")
                                    })?;
                                    config.insert("seed".into(), seed_value.into());
                                    let id = format!(
                                        "{}/{optimizer}/space{space}/{folder_variant}/seed{seed}",
                                        study.name,
                                    );
                                    let folder = out.join(&id);
                                    let mut args = vec![
                                        "search".to_string(),
                                        "--optimizer".into(),
                                        optimizer.clone(),
                                        "--space".into(),
                                        space.to_string(),
                                        "--seed".into(),
                                        seed.to_string(),
                                        "--out".into(),
                                        folder.to_string_lossy().into_owned(),
                                        // Continues an interrupted run from its checkpoint;
                                        // a fresh folder starts from scratch.
                                        "--resume".into(),
                                    ];
                                    args.extend(self.extra_args.iter().cloned());
                                    args.extend(study.extra_args.iter().cloned());
                                    units.push(RunUnit {
                                        id,
                                        kind: RunKind::OneShot,
                                        study: study.name.clone(),
                                        optimizer: optimizer.clone(),
                                        space,
                                        variant: variant.clone(),
                                        seeds: vec![seed],
                                        out: folder,
                                        config: Some(config),
                                        base: Some(base.clone()),
                                        args,
                                    });
                                }
                            }
                        }
                        StudyKind::Blackbox => {
                            if !study.grid.is_empty() || study.base.is_some() {
                                return Err(format!(
                                    "{where_}: black-box studies take no grid and no base"
                                ));
                            }
                            let chunk = study.seeds_per_run.unwrap_or(seeds.len()).max(1);
                            let root = out.join(&study.name);
                            for part in seeds.chunks(chunk) {
                                let (first, last) = match (part.first(), part.last()) {
                                    (Some(a), Some(b)) => (*a, *b),
                                    _ => continue,
                                };
                                if part.windows(2).any(|w| w[1] != w[0] + 1) {
                                    return Err(format!(
                                        "{where_}: black-box seeds must be consecutive"
                                    ));
                                }
                                let mut args = vec![
                                    "blackbox".to_string(),
                                    "--optimizer".into(),
                                    optimizer.clone(),
                                    "--space".into(),
                                    space.to_string(),
                                    "--seeds".into(),
                                    format!("{first}..{}", last + 1),
                                    "--out".into(),
                                    root.to_string_lossy().into_owned(),
                                ];
                                if let Some(q) = study.queries {
                                    args.extend(["--queries".to_string(), q.to_string()]);
                                }
                                if let Some(u) = &study.budget_unit {
                                    args.extend(["--budget-unit".to_string(), u.clone()]);
                                }
                                if let Some(n) = &study.nb101 {
                                    args.extend(["--nb101".to_string(), n.clone()]);
                                }
                                args.extend(self.extra_args.iter().cloned());
                                args.extend(study.extra_args.iter().cloned());
                                units.push(RunUnit {
                                    id: format!(
                                        "{}/{optimizer}/space{space}/seeds{first}-{last}",
                                        study.name
                                    ),
                                    kind: RunKind::BlackBox,
                                    study: study.name.clone(),
                                    optimizer: optimizer.clone(),
                                    space,
                                    variant: "default".into(),
                                    seeds: part.to_vec(),
                                    out: root.clone(),
                                    config: None,
                                    base: None,
                                    args,
                                });
                            }
                        }
                        // Expanded by `standalone_units` above.
                        StudyKind::Standalone => {}
                    }
                }
            }
        }
        let mut ids: Vec<&str> = units.iter().map(|u| u.id.as_str()).collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!(
                "run `{}` appears twice (repeated study block?)",
                w[0]
            ));
        }
        Ok(units)
    }
}

impl Experiment {
    /// The units of a stand-alone study: space × grid point × architecture × seed.
    fn standalone_units(
        &self,
        study: &Study,
        out: &Path,
    ) -> std::result::Result<Vec<RunUnit>, String> {
        let where_ = format!("study `{}`", runfmt::name::shorten(&study.name));
        if !study.optimizers.is_empty() || study.base.is_some() || study.queries.is_some() {
            return Err(format!(
                "{where_}: a stand-alone study takes no `optimizers`, `base` or `queries`"
            ));
        }
        if study.spaces.is_empty() {
            return Err(format!("{where_}: `spaces` must not be empty"));
        }
        if let Some(s) = study.spaces.iter().find(|s| !(1..=3).contains(*s)) {
            return Err(format!("{where_}: space {s} is not 1, 2 or 3"));
        }
        let n = study
            .architectures
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{where_}: `architectures` (at least 1) is required"))?;
        let seeds = study.seeds.expand().map_err(|e| format!("{where_}: {e}"))?;
        let points = grid_points(&study.grid).map_err(|e| format!("{where_}: {e}"))?;
        let mut units = Vec::new();
        for &space in &study.spaces {
            for (variant, overrides) in &points {
                let folder_variant = SafeName::new(
                    format!("{where_}: grid point folder"),
                    &folder_name(variant),
                )
                .map_err(|e| e.to_string())?;
                // The grid point over the study's config, one flag per option.
                let mut merged = study.config.clone();
                for (key, value) in overrides {
                    merged.insert(key.clone(), value.clone());
                }
                let mut settings = Vec::new();
                for (key, value) in &merged {
                    settings.extend(train_flag(key, value).map_err(|e| format!("{where_}: {e}"))?);
                }
                for index in 0..n {
                    for &seed in &seeds {
                        let id = format!(
                            "{}/standalone/space{space}/{folder_variant}/arch{index}/seed{seed}",
                            study.name
                        );
                        let folder = out.join(&id);
                        let mut args = vec![
                            "train".to_string(),
                            "--space".into(),
                            space.to_string(),
                            "--sample".into(),
                            n.to_string(),
                            "--sample-seed".into(),
                            study.sample_seed.to_string(),
                            "--index".into(),
                            index.to_string(),
                            "--seed".into(),
                            seed.to_string(),
                            "--out".into(),
                            folder.to_string_lossy().into_owned(),
                        ];
                        args.extend(settings.iter().cloned());
                        args.extend(self.extra_args.iter().cloned());
                        args.extend(study.extra_args.iter().cloned());
                        units.push(RunUnit {
                            id,
                            kind: RunKind::Standalone,
                            study: study.name.clone(),
                            optimizer: "standalone".into(),
                            space,
                            variant: variant.clone(),
                            seeds: vec![seed],
                            out: folder,
                            config: None,
                            base: None,
                            args,
                        });
                    }
                }
            }
        }
        Ok(units)
    }

    /// How many units the experiment expands into, counted without building any: refused
    /// above [`MAX_UNITS`] (a grid or seed range typo would otherwise exhaust memory).
    fn check_size(&self) -> std::result::Result<(), String> {
        let mut total: u64 = 0;
        for study in &self.studies {
            let where_ = format!("study `{}`", runfmt::name::shorten(&study.name));
            let mut n = study.seeds.count().map_err(|e| format!("{where_}: {e}"))?;
            if n > MAX_SEEDS {
                return Err(format!(
                    "{where_}: `seeds` names {n} seeds, more than the limit of {MAX_SEEDS}"
                ));
            }
            for values in study.grid.values() {
                let k = values.as_array().map_or(1, |a| a.len() as u64);
                n = n.saturating_mul(k);
            }
            let per_space = if study.kind == StudyKind::Standalone {
                study.architectures.unwrap_or(0) as u64
            } else {
                study.optimizers.len() as u64
            };
            n = n
                .saturating_mul(per_space)
                .saturating_mul(study.spaces.len() as u64);
            total = total.saturating_add(n);
            if total > MAX_UNITS {
                return Err(format!(
                    "{where_}: optimizers × spaces × grid points × seeds make more than \
                     {MAX_UNITS} runs; split the experiment"
                ));
            }
        }
        Ok(())
    }
}

/// A grid point's folder name: the label with characters unsafe in paths replaced.
fn folder_name(variant: &str) -> String {
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
pub fn grid_points(grid: &toml::Table) -> std::result::Result<Vec<GridPoint>, String> {
    let mut points: Vec<Vec<(String, toml::Value)>> = vec![Vec::new()];
    for (key, values) in grid {
        let values = values
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| format!("grid `{key}` must be a non-empty list"))?;
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
fn set_dotted(
    table: &mut toml::Table,
    key: &str,
    value: toml::Value,
) -> std::result::Result<(), String> {
    let mut parts = key.split('.').peekable();
    let mut current = table;
    while let Some(part) = parts.next() {
        if part.is_empty() {
            return Err(format!("grid key `{key}` has an empty part"));
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
            .ok_or_else(|| format!("grid key `{key}`: `{part}` is not a table in `config`"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXP: &str = r#"
        name = "t"
        [[study]]
        name = "wd"
        kind = "oneshot"
        optimizers = ["darts", "gdas"]
        spaces = [1, 3]
        seeds = "0..2"
        config = { epochs = 3, weights = { momentum = 0.9 } }
        grid = { "weights.weight_decay" = [1e-4, 3e-4], "data.cutout" = [true, false] }
        [[study]]
        name = "bb"
        kind = "blackbox"
        optimizers = ["re"]
        spaces = [2]
        seeds = "0..5"
        seeds_per_run = 2
        queries = 10
    "#;

    #[test]
    fn expands_the_cartesian_product() {
        let exp: Experiment = toml::from_str(EXP).unwrap();
        let units = exp.units(Path::new("/o")).unwrap();
        let oneshot: Vec<_> = units
            .iter()
            .filter(|u| u.kind == RunKind::OneShot)
            .collect();
        assert_eq!(oneshot.len(), 2 * 2 * 2 * 2 * 2);
        let u = oneshot
            .iter()
            .find(|u| {
                u.variant == "data.cutout=false,weights.weight_decay=0.0003" && u.seeds == [1]
            })
            .expect("grid point present");
        let cfg = u.config.as_ref().unwrap();
        assert_eq!(cfg["weights"]["weight_decay"].as_float(), Some(3e-4));
        assert_eq!(cfg["weights"]["momentum"].as_float(), Some(0.9));
        assert_eq!(cfg["data"]["cutout"].as_bool(), Some(false));
        assert!(u.args.windows(2).any(|w| w == ["--seed", "1"]));
        let bb: Vec<_> = units
            .iter()
            .filter(|u| u.kind == RunKind::BlackBox)
            .collect();
        assert_eq!(
            bb.iter().map(|u| u.seeds.len()).collect::<Vec<_>>(),
            vec![2, 2, 1]
        );
        assert!(bb[2].args.windows(2).any(|w| w == ["--seeds", "4..5"]));
        assert_eq!(bb[0].run_folders()[1], Path::new("/o/bb/re/space2/seed1"));
    }

    #[test]
    fn a_run_config_is_the_base_then_experiment_study_grid_and_unit() {
        let text = r#"
            name = "layers"
            config = { faithful = { cutout_constant = true }, epochs = 7 }
            [[study]]
            name = "wd"
            kind = "oneshot"
            optimizers = ["gdas"]
            spaces = [2]
            seeds = [4]
            config = { epochs = 9, data = { cutout = true } }
            grid = { "weights.weight_decay" = [1e-4] }
            [[study]]
            name = "plain"
            kind = "oneshot"
            optimizers = ["darts"]
            spaces = [1]
            seeds = [1]
            base = "none"
        "#;
        let exp: Experiment = toml::from_str(text).unwrap();
        let units = exp.units(Path::new("o")).unwrap();
        let cfg = units[0].config.as_ref().unwrap();
        // From configs/gdas.toml, untouched by any layer above it.
        assert_eq!(cfg["arch"]["tau_max"].as_float(), Some(10.0));
        assert_eq!(cfg["model"]["bn_momentum"].as_float(), Some(0.997));
        assert_eq!(cfg["data"]["batch_size"].as_integer(), Some(96));
        // Experiment, then study, then grid, then the unit.
        assert_eq!(cfg["faithful"]["cutout_constant"].as_bool(), Some(true));
        assert_eq!(cfg["faithful"]["scheduler_shift"].as_bool(), Some(false));
        assert_eq!(cfg["epochs"].as_integer(), Some(9));
        assert_eq!(cfg["data"]["cutout"].as_bool(), Some(true));
        assert_eq!(cfg["weights"]["weight_decay"].as_float(), Some(1e-4));
        assert_eq!(cfg["weights"]["lr"].as_float(), Some(0.025));
        assert_eq!(cfg["seed"].as_integer(), Some(4));
        assert_eq!(cfg["space"].as_integer(), Some(2));
        assert_eq!(units[0].base.as_deref(), Some("configs/gdas.toml"));
        // `none`: only the experiment's settings and the unit's identity.
        let plain = units[1].config.as_ref().unwrap();
        assert!(plain.get("model").is_none() && plain.get("arch").is_none());
        assert_eq!(plain["epochs"].as_integer(), Some(7));
        assert_eq!(plain["optimizer"].as_str(), Some("darts"));
        // A base for another optimizer is refused, naming the study.
        let bad = text.replace("base = \"none\"", "base = \"gdas\"");
        let exp: Experiment = toml::from_str(&bad).unwrap();
        let e = exp.units(Path::new("o")).unwrap_err();
        assert!(e.contains("study `plain`") && e.contains("`gdas`"), "{e}");
    }

    #[test]
    fn a_base_path_is_relative_to_the_experiment_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cfg")).unwrap();
        std::fs::write(
            dir.path().join("cfg/mine.toml"),
            "optimizer = \"darts\"\nepochs = 3\n[weights]\nlr = 0.5\n",
        )
        .unwrap();
        let exp_path = dir.path().join("exp.toml");
        std::fs::write(
            &exp_path,
            "name = \"p\"\n[[study]]\nname = \"s\"\nkind = \"oneshot\"\n\
             optimizers = [\"darts\"]\nspaces = [3]\nseeds = [0]\nbase = \"cfg/mine.toml\"\n",
        )
        .unwrap();
        let exp = Experiment::load(&exp_path).unwrap();
        let units = exp.units(Path::new("o")).unwrap();
        let cfg = units[0].config.as_ref().unwrap();
        assert_eq!(cfg["weights"]["lr"].as_float(), Some(0.5));
        assert_eq!(cfg["epochs"].as_integer(), Some(3));
        std::fs::remove_file(dir.path().join("cfg/mine.toml")).unwrap();
        let e = Experiment::load(&exp_path).unwrap_err().to_string();
        assert!(e.contains("mine.toml"), "{e}");
    }

    #[test]
    fn a_standalone_study_trains_the_correlation_sample_per_grid_point() {
        let text = r#"
            name = "t"
            [[study]]
            name = "transfer"
            kind = "standalone"
            spaces = [1, 3]
            seeds = [0, 1]
            architectures = 3
            sample_seed = 7
            config = { epochs = 4, train_images = 1024, channels = 32, no_augment = true }
            grid = { channels = [8, 16], cells = [1] }
        "#;
        let exp: Experiment = toml::from_str(text).unwrap();
        let units = exp.units(Path::new("/o")).unwrap();
        assert_eq!(units.len(), 2 * 2 * 3 * 2);
        assert!(units
            .iter()
            .all(|u| u.kind == RunKind::Standalone && u.needs_gpu()));
        let u = units
            .iter()
            .find(|u| u.id == "transfer/standalone/space3/cells=1+channels=16/arch2/seed1")
            .expect("unit present");
        assert_eq!((u.space, u.variant.as_str()), (3, "cells=1,channels=16"));
        let args = u.args.join(" ");
        assert!(
            args.starts_with("train --space 3 --sample 3 --sample-seed 7 --index 2 --seed 1 --out /o/transfer/standalone/space3/cells=1+channels=16/arch2/seed1"),
            "{args}"
        );
        // The grid point overrides the study's config; one flag each; `true` is a bare flag.
        assert!(
            args.contains("--channels 16") && !args.contains("--channels 32"),
            "{args}"
        );
        assert!(args.contains("--epochs 4") && args.contains("--train-images 1024"));
        assert!(args.contains("--no-augment") && args.contains("--cells 1"));
        assert_eq!(u.run_folders(), vec![u.out.clone()]);

        // An option `nb1s1 train` does not have, optimizers, or no architectures: refused.
        for (from, to, needle) in [
            (
                "epochs = 4",
                "epoch = 4",
                "`epoch` is not an `nb1s1 train` option",
            ),
            (
                "architectures = 3",
                "optimizers = [\"darts\"]",
                "takes no `optimizers`",
            ),
            ("architectures = 3", "", "`architectures`"),
        ] {
            let exp: Experiment = toml::from_str(&text.replace(from, to)).unwrap();
            let e = exp.units(Path::new("o")).unwrap_err();
            assert!(e.contains("study `transfer`") && e.contains(needle), "{e}");
        }
    }

    #[test]
    fn rejects_bad_values_with_the_study_name() {
        let bad = EXP.replace("spaces = [1, 3]", "spaces = [4]");
        let exp: Experiment = toml::from_str(&bad).unwrap();
        let e = exp.units(Path::new("o")).unwrap_err();
        assert!(e.contains("study `wd`") && e.contains("space 4"), "{e}");
        assert!(Seeds::Range("5..2".into()).expand().is_err());
    }
}
