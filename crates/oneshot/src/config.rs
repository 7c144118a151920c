//! The run configuration: every hyperparameter of a search in one TOML file. A file only needs
//! the keys it changes; the rest come from the optimizer's defaults (spec §3), so the effective
//! configuration written into the run folder is always complete.

use std::path::Path;

use serde::{Deserialize, Serialize};

use searchspace::SpaceId;
use supernet::SupernetConfig;

use crate::error::OneShotError;

pub use crate::method::{Composition, OptimizerKind};

/// DARTS' architecture gradient: first order, or the finite-difference second order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchOrder {
    First,
    Second,
}

/// Data: which images train the weights and which drive the architecture updates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Images used from the weight-training part (0 = all of it).
    pub train_images: usize,
    /// Images used from the architecture ("valid") part (0 = all of it).
    pub valid_images: usize,
    pub batch_size: usize,
    /// Batch size of the one-shot evaluation passes.
    pub eval_batch_size: usize,
    pub cutout: bool,
    pub cutout_length: usize,
    pub cutout_prob: f64,
}

/// The weight optimizer: SGD with momentum and a cosine schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightConfig {
    pub lr: f64,
    pub lr_min: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub grad_clip: f64,
}

/// The architecture optimizer of the gradient-based methods (Adam on α, β, γ).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub weight_decay: f64,
    pub order: ArchOrder,
    /// Epochs of weight training before the first architecture step.
    pub warm_start_epochs: usize,
    /// Norm clip of the architecture gradient (GDAS: 5); none for DARTS.
    pub grad_clip: Option<f64>,
    /// GDAS temperature, linear from `tau_max` toward `tau_min`.
    pub tau_max: f64,
    pub tau_min: f64,
}

/// The ENAS controller and its REINFORCE update (spec §3.5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerConfig {
    pub hidden: i64,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub entropy_weight: f64,
    pub baseline_decay: f64,
    pub steps_per_epoch: usize,
    pub temperature: f64,
    pub tanh_constant: f64,
    pub op_tanh_reduce: f64,
}

/// How the epoch's architecture is chosen by the sampling methods (Random-WS, ENAS).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectionConfig {
    pub samples: usize,
    pub rank_batches: usize,
    pub top_k: usize,
}

/// Switches that reproduce the original code's defects (spec §9) instead of the intent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaithfulConfig {
    /// `train_search.py` steps the cosine schedule before each epoch (one epoch ahead).
    pub scheduler_shift: bool,
    /// The cutout ramp never happened: the probability stays constant.
    pub cutout_constant: bool,
    /// ENAS steps its cosine schedule every minibatch with period `epochs`.
    pub enas_per_batch_lr: bool,
    /// GDAS' unrolled step drops the momentum term (the `musl_` typo).
    pub gdas_unrolled_no_momentum: bool,
    /// The original `train_search.py`'s epoch indexing: the record of epoch e holds the
    /// architecture at the *start* of epoch e (epoch 0 = the initialization; the last epoch's
    /// weights are never evaluated), and the epochs named by `keep_checkpoints` and
    /// `correlation.epochs` count the epochs trained before the state, kept as
    /// `checkpoints/one_shot_model_<e>/` (the original's `one_shot_model_e`). Default: the
    /// record of epoch E is taken after training epoch E.
    #[serde(default)]
    pub record_at_epoch_start: bool,
    /// PyTorch 1.x's zeroed gradients: a weight that got a gradient before but none in this step
    /// (GDAS with `run_all_ops = false`: an op not drawn) still gets its weight-decay and
    /// momentum step. Default: it is not stepped (PyTorch's `set_to_none`).
    #[serde(default)]
    pub step_zero_grads: bool,
    /// The one-shot validation error (and every other use of the validation batches: the
    /// sampling methods' ranking) on images under the training transform of the epoch (crop,
    /// flip, Cutout), as the original's valid queue. No effect for ENAS, whose original valid
    /// queue is the un-augmented test set. Default: un-augmented images.
    #[serde(default)]
    pub augment_valid: bool,
    /// Random-WS and ENAS rank each candidate on the next `selection.rank_batches` batches of
    /// a cycling iterator (reshuffled per pass for Random-WS, in order for ENAS' test set), as
    /// the original's `next(valid_iter)`. Default: every candidate on the same first batches.
    #[serde(default)]
    pub rank_next_batches: bool,
    /// The original pipelines' normalization statistics: ENAS' (std 0.2023, 0.1994, 0.2010)
    /// for ENAS, the DARTS pipeline's unrounded ones (0.49139968 ... / 0.24703233 ...) for the
    /// others. Default: the rounded DARTS statistics (0.4914 ... / 0.2470 ...) for every optimizer.
    #[serde(default)]
    pub original_normalization: bool,
    /// Top-k parents chosen as the original's `np.argpartition` on float32 softmax values
    /// (numpy's introselect: ties mostly go to higher indices). Default: ties go to the lower
    /// index.
    #[serde(default)]
    pub argpartition_ties: bool,
}

/// How the correlation evaluation turns a discrete cell into the supernet's mixing weights
/// (spec §4.3 step 3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalMixing {
    /// One-hot ops, 0/1 edges and output (the discrete cell; the original's `discrete=True`,
    /// used there for Random-WS).
    #[default]
    OneHot,
    /// The original's DARTS-family evaluation (`discrete=False, normalize=True`): the one-hot
    /// op rows go through a softmax (0.576 / 0.212 / 0.212) and the edge and output vectors are
    /// divided by their sums. Only to replicate the paper's plots.
    DartsSoftmax,
}

impl EvalMixing {
    pub fn name(self) -> &'static str {
        match self {
            Self::OneHot => "one_hot",
            Self::DartsSoftmax => "darts_softmax",
        }
    }
}

/// Which architectures the correlation evaluation covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationSet {
    /// Every unique NB-101 model of the space (2,685 / 7,773 / 55,854), one point each with
    /// the mean over NB-101's repeats.
    #[default]
    Unique,
    /// The original enumerator's configurations (2,487 / 3,609 / 24,066; it misses part of each
    /// space, spec §1.5), one point per NB-101 repeat with that repeat's errors, as
    /// `evaluate_one_shot_models.py` (each one-shot error repeated for the 3 repeats).
    Original,
}

impl CorrelationSet {
    pub fn name(self) -> &'static str {
        match self {
            Self::Unique => "unique",
            Self::Original => "original",
        }
    }
}

/// The correlation evaluation (spec §4.3 A): every unique architecture of the space (or a
/// seeded sample) evaluated with the supernet's weights on CIFAR-10 test images, next to its
/// NAS-Bench-101 errors. `nb1s1 correlation` takes the same settings as flags.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorrelationConfig {
    /// Epochs (0-based, as in `epochs.jsonl`) after which the search evaluates inline and
    /// writes `correlation/epoch<E>.jsonl`. Needs a NAS-Bench-101 table.
    pub epochs: Vec<usize>,
    /// Evaluate a seeded sample of this many unique architectures (0 = all of them).
    pub sample: usize,
    /// Seed of the sample.
    pub seed: u64,
    /// Evaluate on this many test images, spread evenly over the split (0 = the whole test
    /// split, as the paper).
    pub images: usize,
    /// Images per forward pass and architecture (the original: 128).
    pub batch_size: usize,
    /// Architectures per forward pass (0 = automatic: 1 on CPU, where the single-op fast path
    /// needs fewer operations, 16 on CUDA).
    pub batch_archs: usize,
    /// How a cell becomes mixing weights.
    pub mixing: EvalMixing,
    /// Replicate the original's row-deletion bug of spaces 1 and 2: node 4's output weight γ[4]
    /// is always 0 (spec §4.3 step 2). No effect in space 3.
    pub gamma4_bug: bool,
    /// Every unique model, or the original enumerator's set with per-repeat errors.
    pub set: CorrelationSet,
    /// BN recalibration (`crate::evaluation`): re-estimate the BatchNorm statistics of each
    /// architecture on this many batches of the run's weight-training images (of the run's
    /// `data.batch_size`) before its error; 0 = off (the original's running statistics). Its
    /// files are `correlation/epoch<E>-bn<N>.jsonl`, a series of their own.
    #[serde(skip_serializing_if = "is_zero")]
    pub bn_recalibration_batches: usize,
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

impl Default for CorrelationConfig {
    fn default() -> Self {
        CorrelationConfig {
            epochs: Vec::new(),
            sample: 0,
            seed: 0,
            images: 0,
            batch_size: 128,
            batch_archs: 0,
            mixing: EvalMixing::OneHot,
            gamma4_bug: false,
            set: CorrelationSet::Unique,
            bn_recalibration_batches: 0,
        }
    }
}

/// Live TensorBoard scalars of the search (`<run>/tensorboard/`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TensorboardConfig {
    /// Write an event file, appended and flushed every epoch.
    pub enabled: bool,
    /// Also write the training loss every this many weight steps (`train/step_loss`, step =
    /// weight step); 0 = per epoch only.
    pub step_interval: u64,
}

impl Default for TensorboardConfig {
    fn default() -> Self {
        TensorboardConfig {
            enabled: true,
            step_interval: 0,
        }
    }
}

/// Everything a search run needs besides data paths and device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchConfig {
    /// A registered optimizer's name (`crate::registry`).
    pub optimizer: String,
    pub space: u8,
    pub seed: u64,
    pub epochs: usize,
    /// Stop with status `diverged` when the training loss exceeds this (or is not finite).
    pub divergence_loss: f64,
    /// Epochs (0-based) whose checkpoint is kept in `checkpoints/epoch<E>/` besides the rolling
    /// `checkpoint/`, for the correlation evaluation (the paper: 5, 15, 25, 35, 45).
    #[serde(default)]
    pub keep_checkpoints: Vec<usize>,
    pub data: DataConfig,
    /// The supernet (spec §2), as `supernet::SupernetConfig`; `model.space` follows `space`.
    pub model: SupernetConfig,
    pub weights: WeightConfig,
    pub arch: ArchConfig,
    pub controller: ControllerConfig,
    pub selection: SelectionConfig,
    pub faithful: FaithfulConfig,
    #[serde(default)]
    pub correlation: CorrelationConfig,
    #[serde(default)]
    pub tensorboard: TensorboardConfig,
    /// The method's parts (`crate::method`): the registered composition of `optimizer` (or of
    /// `[method] base` for a composition of one's own), with the parts the file overrides.
    pub method: Composition,
    /// The settings of the parts that take any, `[options.<part>]` (`crate::settings`),
    /// complete: every part's defaults under what the file sets.
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub options: toml::Table,
}

/// The one-shot epochs whose checkpoints the paper's correlation study evaluates (spec §4.3).
pub const PAPER_CHECKPOINTS: [usize; 5] = [5, 15, 25, 35, 45];

impl SearchConfig {
    /// The defaults of spec §3 for one optimizer on one space: the paper's setup wherever the
    /// paper or the original code fixes a value (supernet quirks included, see
    /// `supernet::SupernetConfig`), so a run without a config file is the paper's.
    pub fn defaults(optimizer: OptimizerKind, space: u8) -> Self {
        use OptimizerKind::*;
        let sampling = matches!(optimizer, Enas | RandomWs);
        let method = crate::registry::lookup(optimizer.name())
            .map(|r| r.default_composition())
            .unwrap_or_else(|_| Composition::darts(optimizer.name()));
        let options = part_defaults(&method);
        SearchConfig {
            optimizer: optimizer.name().to_string(),
            space,
            seed: 2,
            epochs: match optimizer {
                Darts => 50,
                _ => 100,
            },
            divergence_loss: 1e4,
            keep_checkpoints: PAPER_CHECKPOINTS.to_vec(),
            data: DataConfig {
                train_images: 0,
                valid_images: 0,
                batch_size: if sampling { 64 } else { 96 },
                eval_batch_size: if sampling { 64 } else { 96 },
                cutout: false,
                cutout_length: 16,
                // The original's argparse default: with `cutout = true` every image is cut.
                cutout_prob: 1.0,
            },
            model: SupernetConfig {
                space: SpaceId::try_from(space).unwrap_or(SpaceId::Three),
                partial_channels: if optimizer == PcDarts { Some(4) } else { None },
                // GDAS' MixedOp runs only the drawn op; every other original runs all of them.
                run_all_ops: optimizer != Gdas,
                ..SupernetConfig::default()
            },
            weights: WeightConfig {
                lr: 0.025,
                lr_min: 0.001,
                momentum: 0.9,
                weight_decay: if optimizer == Enas { 1e-4 } else { 3e-4 },
                grad_clip: if sampling { 0.25 } else { 5.0 },
            },
            arch: ArchConfig {
                lr: 3e-4,
                beta1: 0.5,
                beta2: 0.999,
                weight_decay: 1e-3,
                order: ArchOrder::First,
                warm_start_epochs: 0,
                grad_clip: if optimizer == Gdas { Some(5.0) } else { None },
                tau_max: 10.0,
                tau_min: 1.0,
            },
            controller: ControllerConfig {
                hidden: 64,
                lr: 3.5e-4,
                beta1: 0.1,
                beta2: 0.999,
                eps: 1e-3,
                entropy_weight: 1e-4,
                baseline_decay: 0.99,
                steps_per_epoch: 300,
                temperature: 5.0,
                tanh_constant: 2.5,
                op_tanh_reduce: 5.0,
            },
            selection: SelectionConfig {
                samples: 1000,
                rank_batches: if optimizer == Enas { 1 } else { 10 },
                top_k: 5,
            },
            faithful: FaithfulConfig::default(),
            correlation: CorrelationConfig::default(),
            tensorboard: TensorboardConfig::default(),
            method,
            options,
        }
    }

    /// The defaults of the registered optimizer `name` on `space`: its built-in's spec §3
    /// values, its own name, its `[options]` defaults.
    pub fn defaults_for(name: &str, space: u8) -> Result<Self, String> {
        let r = crate::registry::lookup(name)?;
        let mut c = Self::defaults(r.defaults_of, space);
        c.optimizer = r.name.to_string();
        c.method = r.default_composition();
        c.options = part_defaults(&c.method);
        // DARTS-PT's run: DARTS' epochs, then its projection phase (crate::projection).
        if c.method.selection == crate::method::SelectionKind::Projection {
            let space = searchspace::SearchSpace::new(c.model.space);
            c.epochs += crate::settings::ProjectionConfig::default().phase_epochs(&space);
        }
        Ok(c)
    }

    /// The per-channel normalization of every image the run sees (`faithful.original_normalization`).
    pub fn normalization(&self) -> nb1s1_data::Normalize {
        use nb1s1_data::Normalize;
        if !self.faithful.original_normalization {
            return Normalize::CIFAR10;
        }
        match self.method.data_split {
            crate::method::DataSplit::Enas => Normalize::CIFAR10_ENAS,
            crate::method::DataSplit::Halves => Normalize::CIFAR10_DARTS,
        }
    }

    /// `[options.<part>]` as the part's typed settings (its defaults when absent).
    pub fn part_options<T: serde::de::DeserializeOwned>(
        &self,
        part: &str,
    ) -> Result<T, OneShotError> {
        let table = match self.options.get(part) {
            Some(toml::Value::Table(t)) => t.clone(),
            Some(_) => return Err(self.part_error(part, "must be a table".into())),
            None => toml::Table::new(),
        };
        crate::settings::parse(&table).map_err(|msg| self.part_error(part, msg))
    }

    fn part_error(&self, part: &str, msg: String) -> OneShotError {
        OneShotError::Config {
            file: format!("method `{}`", self.optimizer),
            msg: format!("[options.{part}]: {msg}"),
        }
    }

    /// The tuning range of this method's option `part.key` (`nb1s1 tune --option`) and its
    /// value here (the default a tuning starts from, kept inside the range). A name that is
    /// not `part.key`, a part the method does not have, an unknown key or an option without a
    /// declared range is an error that names it.
    pub fn tunable_option(&self, name: &str) -> Result<(crate::settings::TuneRange, f64), String> {
        let (part, key) = name.split_once('.').ok_or_else(|| {
            format!("option `{name}`: expected `part.key`, e.g. `beta_decay.lambda_max`")
        })?;
        let parts = self.method.option_parts();
        if !parts.contains(&part) {
            return Err(format!(
                "option `{name}`: method `{}` has no part `{part}` with settings (its parts with settings: {})",
                self.optimizer,
                if parts.is_empty() { "none".to_string() } else { parts.join(", ") }
            ));
        }
        let range = crate::settings::tuning_range(part, key)
            .map_err(|e| format!("option `{name}`: {e}"))?;
        let value = match self.options.get(part).and_then(|t| t.get(key)) {
            Some(toml::Value::Float(v)) => *v,
            Some(toml::Value::Integer(v)) => *v as f64,
            _ => {
                return Err(format!(
                    "option `{name}`: no numeric value in [options.{part}]"
                ))
            }
        };
        Ok((range, value.clamp(range.lower, range.upper)))
    }

    /// Reads a TOML file over the defaults of its optimizer; `optimizer` and `space` given on
    /// the command line win over the file's.
    pub fn load(
        path: Option<&Path>,
        optimizer: Option<&str>,
        space: Option<u8>,
    ) -> Result<Self, OneShotError> {
        let text = match path {
            Some(p) if p.is_dir() => {
                return Err(OneShotError::Config {
                    file: p.display().to_string(),
                    msg: "is a folder, not a TOML config file".into(),
                })
            }
            Some(p) => std::fs::read_to_string(p).map_err(|e| OneShotError::io(p, e))?,
            None => String::new(),
        };
        let origin = path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<defaults>".into());
        Self::from_toml(&text, &origin, optimizer, space)
    }

    /// As [`SearchConfig::load`], from TOML text; `origin` names it in errors.
    pub fn from_toml(
        text: &str,
        origin: &str,
        optimizer: Option<&str>,
        space: Option<u8>,
    ) -> Result<Self, OneShotError> {
        let bad = |msg: String| OneShotError::Config {
            file: origin.to_string(),
            msg,
        };
        let mut user: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| bad(e.to_string()))?;
        if let Some(o) = optimizer {
            user.insert("optimizer".into(), toml::Value::String(o.into()));
        }
        if let Some(s) = space {
            user.insert("space".into(), toml::Value::Integer(s as i64));
        }
        let name = match user.get("optimizer") {
            Some(toml::Value::String(s)) => s.clone(),
            Some(_) => return Err(bad("field `optimizer` must be a string".into())),
            None => {
                return Err(bad(
                    "field `optimizer` is missing (set it or pass --optimizer)".into(),
                ))
            }
        };
        let own_method = match user.remove("method") {
            Some(toml::Value::Table(t)) => t,
            Some(_) => return Err(bad("`method` must be a table ([method])".into())),
            None => toml::Table::new(),
        };
        let (name, base) = resolve_name(&name, &own_method).map_err(bad)?;
        migrate_flat_options(&name, &mut user).map_err(|e| e.in_file(origin))?;
        user.insert("optimizer".into(), toml::Value::String(name.clone()));
        let space_id = match user.get("space") {
            Some(toml::Value::Integer(s)) if (1..=3).contains(s) => *s as u8,
            Some(v) => return Err(bad(format!("field `space` must be 1, 2 or 3, got {v}"))),
            None => {
                return Err(bad(
                    "field `space` is missing (set it or pass --space)".into()
                ))
            }
        };
        let mut start = Self::defaults_for(base.name, space_id).map_err(bad)?;
        start.optimizer = name;
        let method = toml::Table::try_from(&start.method).map_err(|e| bad(e.to_string()))?;
        let method = merge(method, own_method);
        start.method = toml::Value::Table(method)
            .try_into()
            .map_err(|e: toml::de::Error| bad(format!("[method]: {}", e.message())))?;
        start.method.validate().map_err(bad)?;
        start.options = part_defaults(&start.method);
        let defaults = toml::Table::try_from(&start).map_err(|e| bad(e.to_string()))?;
        let merged = merge(defaults, user);
        let cfg: SearchConfig = toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| bad(e.to_string()))?;
        cfg.validate().map_err(bad)?;
        Ok(cfg)
    }

    /// `[options]` against the composition: a table per part that takes settings, each parsed
    /// and range-checked; any other key is an error that names it.
    fn check_options(&self) -> Result<(), String> {
        self.method.validate()?;
        let parts = self.method.option_parts();
        for (k, v) in &self.options {
            if !parts.contains(&k.as_str()) {
                return Err(format!(
                    "[options]: `{k}` is not a part of method `{}` that takes settings (its parts with settings: {}); settings go under [options.<part>]",
                    self.optimizer,
                    if parts.is_empty() { "none".to_string() } else { parts.join(", ") }
                ));
            }
            let t = v
                .as_table()
                .ok_or_else(|| format!("[options]: `{k}` must be a table ([options.{k}])"))?;
            let section = crate::settings::section(k)
                .ok_or_else(|| format!("[options]: part `{k}` takes no settings"))?;
            (section.check)(t).map_err(|e| format!("[options.{k}]: {e}"))?;
        }
        Ok(())
    }

    /// Rejects values that would make the run meaningless before any training starts.
    pub fn validate(&self) -> Result<(), String> {
        let (w, a, c) = (&self.weights, &self.arch, &self.controller);
        // Every number is checked here, named by its key: a typo must not become a run that
        // "diverged".
        positive("weights.lr", w.lr)?;
        in_range("weights.lr_min", w.lr_min, 0.0, w.lr, "0 and weights.lr")?;
        below_one("weights.momentum", w.momentum)?;
        non_negative("weights.weight_decay", w.weight_decay)?;
        positive("weights.grad_clip", w.grad_clip)?;
        positive("arch.lr", a.lr)?;
        below_one("arch.beta1", a.beta1)?;
        below_one("arch.beta2", a.beta2)?;
        non_negative("arch.weight_decay", a.weight_decay)?;
        if let Some(g) = a.grad_clip {
            positive("arch.grad_clip", g)?;
        }
        positive("arch.tau_min", a.tau_min)?;
        in_range(
            "arch.tau_max",
            a.tau_max,
            a.tau_min,
            f64::MAX,
            "arch.tau_min and any finite value",
        )?;
        if !(1..=4096).contains(&c.hidden) {
            return Err(format!(
                "field `controller.hidden` must lie in 1..=4096, got {}",
                c.hidden
            ));
        }
        positive("controller.lr", c.lr)?;
        below_one("controller.beta1", c.beta1)?;
        below_one("controller.beta2", c.beta2)?;
        positive("controller.eps", c.eps)?;
        non_negative("controller.entropy_weight", c.entropy_weight)?;
        in_range(
            "controller.baseline_decay",
            c.baseline_decay,
            0.0,
            1.0,
            "0 and 1",
        )?;
        positive("controller.temperature", c.temperature)?;
        non_negative("controller.tanh_constant", c.tanh_constant)?;
        positive("controller.op_tanh_reduce", c.op_tanh_reduce)?;
        if self.divergence_loss.is_nan() || self.divergence_loss <= 0.0 {
            return Err(format!(
                "field `divergence_loss` must be positive (inf: never), got {}",
                self.divergence_loss
            ));
        }
        if !(1..=MAX_EPOCHS).contains(&self.epochs) {
            return Err(format!(
                "field `epochs` must lie in 1..={MAX_EPOCHS}, got {}",
                self.epochs
            ));
        }
        let d = &self.data;
        if d.batch_size == 0 || d.eval_batch_size == 0 {
            return Err("batch sizes must be at least 1".into());
        }
        if d.batch_size > MAX_BATCH || d.eval_batch_size > MAX_BATCH {
            return Err(format!("batch sizes must be at most {MAX_BATCH}"));
        }
        in_range("data.cutout_prob", d.cutout_prob, 0.0, 1.0, "0 and 1")?;
        if d.cutout_length > 32 {
            return Err(format!(
                "field `data.cutout_length` must be at most 32 (the image side), got {}",
                d.cutout_length
            ));
        }
        if self.model.space.number() != self.space {
            return Err(format!(
                "`model.space` = {} differs from `space` = {}",
                self.model.space, self.space
            ));
        }
        self.model.validate().map_err(|e| format!("[model]: {e}"))?;
        if self.selection.samples == 0
            || self.selection.top_k == 0
            || self.selection.rank_batches == 0
        {
            return Err("`selection` counts must be at least 1".into());
        }
        if self.correlation.bn_recalibration_batches > 0 {
            crate::settings::bn_batches(
                "correlation.bn_recalibration_batches",
                self.correlation.bn_recalibration_batches,
            )?;
        }
        if self.correlation.batch_size == 0 || self.correlation.batch_size > MAX_BATCH {
            return Err(format!(
                "`correlation.batch_size` must lie in 1..={MAX_BATCH}"
            ));
        }
        self.check_options()?;
        if self.method.selection == crate::method::SelectionKind::Projection {
            let p: crate::settings::ProjectionConfig =
                self.part_options("projection").map_err(|e| e.to_string())?;
            let space = searchspace::SearchSpace::new(self.model.space);
            p.phase_start(&space, self.epochs)?;
        }
        Ok(())
    }

    /// The configuration as TOML text (the run folder's `config.toml`).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

/// Upper bounds that keep a typo from allocating the machine away.
const MAX_EPOCHS: usize = 100_000;
const MAX_BATCH: usize = 65_536;

fn positive(key: &str, v: f64) -> Result<(), String> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(format!(
            "field `{key}` must be positive and finite, got {v}"
        ))
    }
}

fn non_negative(key: &str, v: f64) -> Result<(), String> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(format!(
            "field `{key}` must be finite and at least 0, got {v}"
        ))
    }
}

/// A coefficient of a running average (momentum, Adam's betas): in [0, 1).
fn below_one(key: &str, v: f64) -> Result<(), String> {
    if (0.0..1.0).contains(&v) {
        Ok(())
    } else {
        Err(format!("field `{key}` must lie in [0, 1), got {v}"))
    }
}

fn in_range(key: &str, v: f64, lo: f64, hi: f64, what: &str) -> Result<(), String> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(format!("field `{key}` must lie between {what}, got {v}"))
    }
}

/// The default settings of every part of `method` that takes some, as `[options]`.
pub fn part_defaults(method: &Composition) -> toml::Table {
    method
        .option_parts()
        .into_iter()
        .filter_map(|p| crate::settings::section(p).map(|s| (p.to_string(), (s.defaults)())))
        .map(|(p, t)| (p, toml::Value::Table(t)))
        .collect()
}

/// The name a run is recorded under and the registered method its composition starts from:
/// a registered name (aliases resolved) is its own base; a name of one's own needs a
/// registered `[method] base` and must be a plain identifier (it names store rows and folders).
fn resolve_name(
    name: &str,
    own_method: &toml::Table,
) -> Result<(String, &'static crate::registry::Registered), String> {
    let registered = crate::registry::lookup(name);
    let base = match own_method.get("base") {
        None => None,
        Some(toml::Value::String(b)) => {
            Some(crate::registry::lookup(b).map_err(|e| format!("field `method.base`: {e}"))?)
        }
        Some(_) => return Err("field `method.base` must be a string".into()),
    };
    match (registered, base) {
        (Ok(r), None) => Ok((r.name.to_string(), r)),
        (Ok(r), Some(b)) if b.name == r.name => Ok((r.name.to_string(), r)),
        (Ok(r), Some(b)) => Err(format!(
            "`optimizer` = `{}` is a registered method; a composition based on `{}` needs a name of its own",
            r.name, b.name
        )),
        (Err(e), None) => Err(format!(
            "field `optimizer`: {e}; a composition of one's own names a registered `base` under [method]"
        )),
        (Err(_), Some(b)) => {
            let ok = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            match ok {
                true => Ok((name.to_string(), b)),
                false => Err(format!(
                    "field `optimizer`: `{name}` must be 1 to 64 of a-z, 0-9 and _"
                )),
            }
        }
    }
}

/// The part that a flat `[options]` key of the layout before `[options.<part>]` belongs to
/// (run folders of darts_hessian, darts_es, sdarts_rs/adv and drnas written before methods
/// were compositions); the key keeps its name there. DARTS-ES' `[options.hessian]` table was
/// already where it is now.
fn old_option_home(method: &str, key: &str) -> Option<&'static str> {
    Some(match (method, key) {
        ("darts_hessian", "every" | "batches" | "iterations" | "tolerance") => "hessian",
        ("darts_es", "window" | "lag" | "threshold" | "backtrack") => "early_stop",
        ("sdarts_rs", "epsilon_min" | "epsilon_max" | "steps") => "random_smoothing",
        ("sdarts_adv", "epsilon_min" | "epsilon_max" | "steps") => "adversarial",
        ("drnas", "reg_scale" | "prior") => "drnas_kl",
        _ => return None,
    })
}

/// Moves the flat keys of an old `[options]` table (values that are not tables) under
/// `[options.<part>]` of `method`'s parts, so old run folders still load, resume and correlate
/// with the same settings. A flat key without a new home is an error naming it.
fn migrate_flat_options(method: &str, user: &mut toml::Table) -> Result<(), OneShotError> {
    let Some(toml::Value::Table(options)) = user.get_mut("options") else {
        return Ok(());
    };
    let flat: Vec<String> = options
        .iter()
        .filter(|(_, v)| !v.is_table())
        .map(|(k, _)| k.clone())
        .collect();
    for key in flat {
        let part = old_option_home(method, &key).ok_or_else(|| OneShotError::OldOption {
            file: String::new(),
            method: method.to_string(),
            key: key.clone(),
        })?;
        let value = options.remove(&key).unwrap_or(toml::Value::Boolean(false));
        let table = options
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match table.as_table_mut() {
            Some(t) if !t.contains_key(&key) => {
                t.insert(key, value);
            }
            _ => {
                return Err(OneShotError::Config {
                    file: String::new(),
                    msg: format!(
                    "[options]: flat key `{key}` (the old layout) and [options.{part}] both set it"
                ),
                })
            }
        }
    }
    Ok(())
}

/// Deep merge: `over`'s keys replace `base`'s, tables merge recursively.
fn merge(mut base: toml::Table, over: toml::Table) -> toml::Table {
    for (k, v) in over {
        match (base.remove(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => {
                base.insert(k, toml::Value::Table(merge(b, o)));
            }
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_file_merges_over_optimizer_defaults() {
        let cfg = SearchConfig::from_toml(
            "epochs = 3\n[weights]\nlr = 0.1\n",
            "t",
            Some("gdas"),
            Some(2),
        )
        .unwrap();
        assert_eq!(cfg.epochs, 3);
        assert_eq!(cfg.weights.lr, 0.1);
        assert_eq!(cfg.weights.momentum, 0.9);
        assert_eq!(cfg.arch.grad_clip, Some(5.0));
        let again = SearchConfig::from_toml(&cfg.to_toml(), "t2", None, None).unwrap();
        assert_eq!(again, cfg);
    }

    #[test]
    fn correlation_kept_checkpoints_and_tensorboard_keys_round_trip() {
        let text = "keep_checkpoints = [5, 15]\n[correlation]\nepochs = [5]\nsample = 100\n\
                    mixing = \"darts_softmax\"\n[tensorboard]\nstep_interval = 50\n";
        let cfg = SearchConfig::from_toml(text, "t", Some("darts"), Some(3)).unwrap();
        assert_eq!(cfg.keep_checkpoints, vec![5, 15]);
        assert_eq!(cfg.correlation.epochs, vec![5]);
        assert_eq!(cfg.correlation.sample, 100);
        assert_eq!(cfg.correlation.mixing, EvalMixing::DartsSoftmax);
        assert_eq!(cfg.correlation.batch_size, 128);
        assert!(cfg.tensorboard.enabled);
        assert_eq!(cfg.tensorboard.step_interval, 50);
        let again = SearchConfig::from_toml(&cfg.to_toml(), "t2", None, None).unwrap();
        assert_eq!(again, cfg);
        // A run folder's config.toml from before these keys still loads, with the defaults.
        let old = SearchConfig::from_toml("optimizer = \"darts\"\nspace = 1\n", "old", None, None)
            .unwrap();
        assert_eq!(old.keep_checkpoints, PAPER_CHECKPOINTS);
        assert!(old.correlation.epochs.is_empty());
        let e = SearchConfig::from_toml(
            "[correlation]\nsamples = 3\n",
            "c.toml",
            Some("darts"),
            Some(1),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("samples"), "{e}");
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_field() {
        let e = SearchConfig::from_toml("[weights]\nlrr = 1\n", "run.toml", Some("darts"), Some(1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("run.toml") && e.contains("lrr"), "{e}");
        let e = SearchConfig::from_toml("space = 7\n", "x", Some("darts"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("space"), "{e}");
    }

    #[test]
    fn every_bad_number_is_refused_at_load_naming_its_key() {
        let cases = [
            ("[arch]\nlr = nan\n", "arch.lr"),
            ("[arch]\nlr = -1.0\n", "arch.lr"),
            ("[weights]\nmomentum = inf\n", "weights.momentum"),
            ("[weights]\nweight_decay = nan\n", "weights.weight_decay"),
            ("[arch]\nweight_decay = inf\n", "arch.weight_decay"),
            ("[arch]\nbeta1 = 2.0\n", "arch.beta1"),
            ("[weights]\nlr = 0.01\nlr_min = 0.1\n", "weights.lr_min"),
            ("divergence_loss = nan\n", "divergence_loss"),
            ("[controller]\nhidden = 0\n", "controller.hidden"),
            ("[arch]\ntau_max = 0.01\ntau_min = 0.1\n", "arch.tau_max"),
            ("epochs = 100000000\n", "epochs"),
            ("[data]\nbatch_size = 100000000\n", "batch sizes"),
        ];
        for (text, key) in cases {
            let e = SearchConfig::from_toml(text, "c.toml", Some("darts"), Some(1))
                .expect_err(text)
                .to_string();
            assert!(e.contains("c.toml") && e.contains(key), "{text}: {e}");
        }
        // The shipped defaults of every optimizer pass.
        for r in crate::registry::REGISTRY {
            for space in 1..=3 {
                SearchConfig::from_toml("", "defaults", Some(r.name), Some(space))
                    .unwrap_or_else(|e| panic!("{} space {space}: {e}", r.name));
            }
        }
    }

    #[test]
    fn original_normalization_follows_each_optimizers_pipeline() {
        use nb1s1_data::Normalize;
        let load = |opt: &str, on: bool| {
            let text = format!("[faithful]\noriginal_normalization = {on}\n");
            SearchConfig::from_toml(&text, "n.toml", Some(opt), Some(2))
                .unwrap()
                .normalization()
        };
        assert_eq!(load("enas", false), Normalize::CIFAR10);
        assert_eq!(load("darts", false), Normalize::CIFAR10);
        assert_eq!(load("enas", true), Normalize::CIFAR10_ENAS);
        for opt in ["darts", "gdas", "pc_darts", "random_ws", "drnas"] {
            assert_eq!(load(opt, true), Normalize::CIFAR10_DARTS, "{opt}");
        }
    }

    #[test]
    fn fidelity_options_load_and_bad_values_name_their_key() {
        let text = "[faithful]\nrecord_at_epoch_start = true\nstep_zero_grads = true\n\
                    augment_valid = true\nrank_next_batches = true\n\
                    original_normalization = true\nargpartition_ties = true\n\
                    [correlation]\nset = \"original\"\n";
        let cfg = SearchConfig::from_toml(text, "f.toml", Some("gdas"), Some(3)).unwrap();
        let f = &cfg.faithful;
        assert!(f.record_at_epoch_start && f.step_zero_grads && f.augment_valid);
        assert!(f.rank_next_batches && f.original_normalization && f.argpartition_ties);
        assert_eq!(cfg.correlation.set, CorrelationSet::Original);
        let again = SearchConfig::from_toml(&cfg.to_toml(), "again", None, None).unwrap();
        assert_eq!(again, cfg);
        let defaults = SearchConfig::from_toml("", "d", Some("gdas"), Some(3)).unwrap();
        assert_eq!(defaults.faithful, FaithfulConfig::default());
        assert_eq!(defaults.correlation.set, CorrelationSet::Unique);
        for (bad, key) in [
            ("[correlation]\nset = \"all\"\n", "set"),
            (
                "[faithful]\nrecord_at_epoch_start = 1\n",
                "record_at_epoch_start",
            ),
            ("[faithful]\nargpartition_tie = true\n", "argpartition_tie"),
        ] {
            let e = SearchConfig::from_toml(bad, "b.toml", Some("darts"), Some(1))
                .unwrap_err()
                .to_string();
            assert!(e.contains("b.toml") && e.contains(key), "{bad}: {e}");
        }
    }
}
