//! An experiment expanded into run units: per study, optimizer and space, the grid points ×
//! seeds of a one-shot study, the seed chunks of a black-box study, or the architectures ×
//! seeds of a stand-alone study. Every value is checked on the way.

use super::grid::{folder_name, grid_points, set_dotted, GridPoint};
use super::{Experiment, ExperimentError, Study, StudyKind, MAX_SEEDS, MAX_UNITS};
use crate::base_config;
use crate::runs::RunKind;
use crate::unit::RunUnit;
use runfmt::SafeName;
use std::path::Path;

type Result<T> = std::result::Result<T, ExperimentError>;

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

impl Experiment {
    /// Expands the studies into run units below `out`, checking every value on the way.
    pub fn units(&self, out: &Path) -> Result<Vec<RunUnit>> {
        SafeName::new("experiment `name`", &self.name)?;
        self.check_size()?;
        let mut units = Vec::new();
        for study in &self.studies {
            let expanded = match study.kind {
                StudyKind::Standalone => self.standalone_units(study, out),
                StudyKind::Oneshot | StudyKind::Blackbox => self.search_units(study, out),
            };
            units.extend(expanded.map_err(|e| e.in_study(&study.name))?);
        }
        let mut ids: Vec<&str> = units.iter().map(|u| u.id.as_str()).collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(ExperimentError::DuplicateRun(w[0].to_string()));
        }
        Ok(units)
    }

    /// The units of a one-shot or black-box study: optimizer × space × (grid point × seed, or
    /// seed chunk).
    fn search_units(&self, study: &Study, out: &Path) -> Result<Vec<RunUnit>> {
        if study.optimizers.is_empty() || study.spaces.is_empty() {
            return Err(ExperimentError::NothingToRun);
        }
        check_spaces(&study.spaces)?;
        SafeName::new("study `name`", &study.name)?;
        if study.queries == Some(0) {
            return Err(ExperimentError::NoQueries);
        }
        let seeds = study.seeds.expand()?;
        let points = grid_points(&study.grid)?;
        let mut units = Vec::new();
        for optimizer in &study.optimizers {
            SafeName::new("optimizer", optimizer)?;
            for &space in &study.spaces {
                let target = Target {
                    study,
                    optimizer,
                    space,
                };
                units.extend(match study.kind {
                    StudyKind::Oneshot => self.oneshot_units(target, &points, &seeds, out)?,
                    _ => self.blackbox_units(target, &seeds, out)?,
                });
            }
        }
        Ok(units)
    }

    /// One one-shot search per grid point and seed; the config resolved in layers (see the
    /// module doc of `experiment`).
    fn oneshot_units(
        &self,
        t: Target<'_>,
        points: &[GridPoint],
        seeds: &[u64],
        out: &Path,
    ) -> Result<Vec<RunUnit>> {
        let (study, optimizer, space) = (t.study, t.optimizer, t.space);
        let (base, mut start) = base_config::load(study.base.as_deref(), optimizer, &self.dir)?;
        base_config::merge(&mut start, &self.config);
        base_config::merge(&mut start, &study.config);
        let mut units = Vec::new();
        for (variant, overrides) in points {
            let mut config = start.clone();
            for (key, value) in overrides {
                set_dotted(&mut config, key, value.clone())?;
            }
            config.insert("optimizer".into(), optimizer.to_string().into());
            config.insert("space".into(), i64::from(space).into());
            let folder_variant = SafeName::new("grid point folder", &folder_name(variant))?;
            for &seed in seeds {
                let mut config = config.clone();
                // Seeds were checked against MAX_SEED (= i64::MAX) by `expand`.
                let seed_value =
                    i64::try_from(seed).map_err(|_| ExperimentError::SeedTooLarge(seed))?;
                config.insert("seed".into(), seed_value.into());
                let id = format!(
                    "{}/{optimizer}/space{space}/{folder_variant}/seed{seed}",
                    study.name,
                );
                let folder = out.join(&id);
                let own = [
                    "search",
                    "--optimizer",
                    optimizer,
                    "--space",
                    &space.to_string(),
                    "--seed",
                    &seed.to_string(),
                    "--out",
                    &folder.to_string_lossy(),
                    // Continues an interrupted run from its checkpoint; a fresh folder starts
                    // from scratch.
                    "--resume",
                ];
                let args = self.launch(study, &own, &[]);
                units.push(RunUnit {
                    id,
                    kind: RunKind::OneShot,
                    study: study.name.clone(),
                    optimizer: optimizer.to_string(),
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
        Ok(units)
    }

    /// One `nb1s1 blackbox` launch per chunk of `seeds_per_run` consecutive seeds.
    fn blackbox_units(&self, t: Target<'_>, seeds: &[u64], out: &Path) -> Result<Vec<RunUnit>> {
        let (study, optimizer, space) = (t.study, t.optimizer, t.space);
        if !study.grid.is_empty() || study.base.is_some() {
            return Err(ExperimentError::BlackboxGridOrBase);
        }
        let chunk = study.seeds_per_run.unwrap_or(seeds.len()).max(1);
        let root = out.join(&study.name);
        let mut options = Vec::new();
        if let Some(q) = study.queries {
            options.extend(["--queries".to_string(), q.to_string()]);
        }
        if let Some(u) = &study.budget_unit {
            options.extend(["--budget-unit".to_string(), u.clone()]);
        }
        if let Some(n) = &study.nb101 {
            options.extend(["--nb101".to_string(), n.clone()]);
        }
        let mut units = Vec::new();
        for part in seeds.chunks(chunk) {
            let (Some(&first), Some(&last)) = (part.first(), part.last()) else {
                continue;
            };
            if part.windows(2).any(|w| w[1] != w[0] + 1) {
                return Err(ExperimentError::SeedsNotConsecutive);
            }
            let args = [
                "blackbox",
                "--optimizer",
                optimizer,
                "--space",
                &space.to_string(),
                "--seeds",
                &format!("{first}..{}", last + 1),
                "--out",
                &root.to_string_lossy(),
            ];
            units.push(RunUnit {
                id: format!(
                    "{}/{optimizer}/space{space}/seeds{first}-{last}",
                    study.name
                ),
                kind: RunKind::BlackBox,
                study: study.name.clone(),
                optimizer: optimizer.to_string(),
                space,
                variant: "default".into(),
                seeds: part.to_vec(),
                out: root.clone(),
                config: None,
                base: None,
                args: self.launch(study, &args, &options),
            });
        }
        Ok(units)
    }

    /// The units of a stand-alone study: space × grid point × architecture × seed.
    fn standalone_units(&self, study: &Study, out: &Path) -> Result<Vec<RunUnit>> {
        if !study.optimizers.is_empty() || study.base.is_some() || study.queries.is_some() {
            return Err(ExperimentError::StandaloneOptions);
        }
        if study.spaces.is_empty() {
            return Err(ExperimentError::NoSpaces);
        }
        check_spaces(&study.spaces)?;
        let n = study
            .architectures
            .filter(|n| *n > 0)
            .ok_or(ExperimentError::NoArchitectures)?;
        let seeds = study.seeds.expand()?;
        let mut units = Vec::new();
        for &space in &study.spaces {
            for (variant, overrides) in grid_points(&study.grid)? {
                let folder_variant = SafeName::new("grid point folder", &folder_name(&variant))?;
                let settings = train_settings(&study.config, &overrides)?;
                for index in 0..n {
                    for &seed in &seeds {
                        let id = format!(
                            "{}/standalone/space{space}/{folder_variant}/arch{index}/seed{seed}",
                            study.name
                        );
                        let folder = out.join(&id);
                        let own = [
                            "train",
                            "--space",
                            &space.to_string(),
                            "--sample",
                            &n.to_string(),
                            "--sample-seed",
                            &study.sample_seed.to_string(),
                            "--index",
                            &index.to_string(),
                            "--seed",
                            &seed.to_string(),
                            "--out",
                            &folder.to_string_lossy(),
                        ];
                        let args = self.launch(study, &own, &settings);
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

    /// A launch's arguments: the unit's own, its study's options, then the experiment's and
    /// the study's `extra_args`.
    fn launch(&self, study: &Study, own: &[&str], options: &[String]) -> Vec<String> {
        let own = own.iter().map(|a| a.to_string());
        own.chain(options.iter().cloned())
            .chain(self.extra_args.iter().cloned())
            .chain(study.extra_args.iter().cloned())
            .collect()
    }

    /// How many units the experiment expands into, counted without building any: refused
    /// above [`MAX_UNITS`] (a grid or seed range typo would otherwise exhaust memory).
    fn check_size(&self) -> Result<()> {
        let mut total: u64 = 0;
        for study in &self.studies {
            let in_study = |e: ExperimentError| e.in_study(&study.name);
            let mut n = study.seeds.count().map_err(in_study)?;
            if n > MAX_SEEDS {
                return Err(in_study(ExperimentError::TooManySeeds(n)));
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
                return Err(in_study(ExperimentError::TooManyUnits));
            }
        }
        Ok(())
    }
}

/// A study's optimizer in one space.
#[derive(Clone, Copy)]
struct Target<'a> {
    study: &'a Study,
    optimizer: &'a str,
    space: u8,
}

fn check_spaces(spaces: &[u8]) -> Result<()> {
    match spaces.iter().find(|s| !(1..=3).contains(*s)) {
        Some(s) => Err(ExperimentError::Space(*s)),
        None => Ok(()),
    }
}

/// A grid point over the study's config as `nb1s1 train` flags, one per option.
fn train_settings(
    config: &toml::Table,
    overrides: &[(String, toml::Value)],
) -> Result<Vec<String>> {
    let mut merged = config.clone();
    for (key, value) in overrides {
        merged.insert(key.clone(), value.clone());
    }
    let mut settings = Vec::new();
    for (key, value) in &merged {
        settings.extend(train_flag(key, value)?);
    }
    Ok(settings)
}

/// A stand-alone setting as `nb1s1 train` arguments (`true` a bare flag, `false` nothing).
fn train_flag(key: &str, value: &toml::Value) -> Result<Vec<String>> {
    if !TRAIN_OPTIONS.contains(&key) {
        return Err(ExperimentError::TrainOption {
            key: runfmt::name::shorten(key),
            allowed: TRAIN_OPTIONS.join(", "),
        });
    }
    let flag = format!("--{}", key.replace('_', "-"));
    Ok(match value {
        toml::Value::Boolean(true) => vec![flag],
        toml::Value::Boolean(false) => vec![],
        toml::Value::String(s) => vec![flag, s.clone()],
        toml::Value::Integer(_) | toml::Value::Float(_) => vec![flag, value.to_string()],
        other => {
            return Err(ExperimentError::TrainValue {
                key: key.to_string(),
                value: other.to_string(),
            })
        }
    })
}
