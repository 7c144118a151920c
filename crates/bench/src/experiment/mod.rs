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

mod error;
mod grid;
mod seeds;
mod units;

pub use crate::unit::RunUnit;
pub use error::ExperimentError;
pub use grid::{grid_points, GridPoint};
pub use seeds::{Seeds, MAX_SEED, MAX_SEEDS};
pub use units::TRAIN_OPTIONS;

use crate::error::{io_err, BenchError, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Most run units one experiment may expand into (checked before any is built).
pub const MAX_UNITS: u64 = 100_000;

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
            .map_err(|source| BenchError::Plan {
                path: path.to_path_buf(),
                source: Box::new(source),
            })?;
        Ok(exp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::RunKind;

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
        let e = exp.units(Path::new("o")).unwrap_err().to_string();
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
            let e = exp.units(Path::new("o")).unwrap_err().to_string();
            assert!(e.contains("study `transfer`") && e.contains(needle), "{e}");
        }
    }

    #[test]
    fn rejects_bad_values_with_the_study_name() {
        let bad = EXP.replace("spaces = [1, 3]", "spaces = [4]");
        let exp: Experiment = toml::from_str(&bad).unwrap();
        let e = exp.units(Path::new("o")).unwrap_err().to_string();
        assert!(e.contains("study `wd`") && e.contains("space 4"), "{e}");
        assert!(Seeds::Range("5..2".into()).expand().is_err());
    }
}
