//! BOHB over one-shot hyperparameters (`nb1s1 tune`; paper §6, the original's
//! `optimizers/bohb_one_shot/`): HyperBand's brackets over search-epoch budgets
//! ([`blackbox::hyperband::bracket`]) with configurations from BOHB's kernel density model
//! ([`blackbox::kde`], the same code as the black-box BOHB), each evaluation an ordinary
//! `nb1s1 search` run launched by the experiment runner. The objective is the NAS-Bench-101
//! validation error of one repeat of the search's final architecture.
//!
//! Resumable by replay: the tuner is a deterministic function of its settings and of the
//! evaluations' results. Each evaluation's run folder is named by (iteration, bracket, config
//! index, budget); a rerun proposes the same configurations, reads finished runs back instead
//! of launching them, resumes interrupted ones from their checkpoints and checks every
//! configuration against the persisted state (`tune.json`), so no evaluation is lost or
//! repeated.

use crate::atomic::write_atomic;
use crate::base_config;
use crate::error::{io_err, BenchError, Result};
use crate::runs::{self, RunKind, RunState};
use crate::unit::RunUnit;
use blackbox::hyperband;
use blackbox::kde::{self, BohbSettings, Dim, Observation};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use runfmt::EpochRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The experiment name of every tuning evaluation in the results store.
pub const EXPERIMENT: &str = "bohb-tune";

/// The original's three configuration spaces (`worker.get_config_space`), or none of them
/// (only a method's own options, [`TunedOption`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigSpaceId {
    Cs1,
    Cs2,
    Cs3,
    None,
}

impl std::str::FromStr for ConfigSpaceId {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "cs1" | "1" => Ok(ConfigSpaceId::Cs1),
            "cs2" | "2" => Ok(ConfigSpaceId::Cs2),
            "cs3" | "3" => Ok(ConfigSpaceId::Cs3),
            "none" => Ok(ConfigSpaceId::None),
            other => Err(format!(
                "configuration space `{}`: expected cs1, cs2, cs3 or none",
                runfmt::name::echo(other)
            )),
        }
    }
}

impl ConfigSpaceId {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigSpaceId::Cs1 => "cs1",
            ConfigSpaceId::Cs2 => "cs2",
            ConfigSpaceId::Cs3 => "cs3",
            ConfigSpaceId::None => "none",
        }
    }
}

/// One numeric hyperparameter as ConfigSpace defines it, and the search-config key it sets.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Hyperparameter {
    /// The original's name (`weight_decay`, `cutout_prob`, ...), or a method option's
    /// `part.key`.
    pub name: String,
    /// The dotted key of the search config it sets.
    pub key: String,
    pub lower: f64,
    pub upper: f64,
    pub log: bool,
    /// A `UniformIntegerHyperparameter`.
    pub integer: bool,
    pub default: f64,
}

impl Hyperparameter {
    /// ConfigSpace's bounds of the vector form: integers widen by 0.49999 on each side, so
    /// rounding gives every integer an equal share.
    fn bounds(&self) -> (f64, f64) {
        let (l, u) = if self.integer {
            (self.lower - 0.49999, self.upper + 0.49999)
        } else {
            (self.lower, self.upper)
        };
        if self.log {
            (l.ln(), u.ln())
        } else {
            (l, u)
        }
    }

    /// The value's vector form in [0, 1] (log-scaled where `log`).
    pub fn to_vector(&self, value: f64) -> f64 {
        let (l, u) = self.bounds();
        let v = if self.log { value.ln() } else { value };
        ((v - l) / (u - l)).clamp(0.0, 1.0)
    }

    /// The value of a vector coordinate, rounded for integers and kept inside the range.
    pub fn from_vector(&self, x: f64) -> f64 {
        let (l, u) = self.bounds();
        let v = l + x.clamp(0.0, 1.0) * (u - l);
        let v = if self.log { v.exp() } else { v };
        let v = if self.integer { v.round() } else { v };
        v.clamp(self.lower, self.upper)
    }
}

/// ConfigSpace's default where the original gives none: the (log-)midpoint, rounded for
/// integers.
fn midpoint(lower: f64, upper: f64, log: bool, integer: bool) -> f64 {
    let m = if log {
        ((lower.ln() + upper.ln()) / 2.0).exp()
    } else {
        (lower + upper) / 2.0
    };
    if integer {
        m.round()
    } else {
        m
    }
}

fn hp(
    name: &'static str,
    key: &'static str,
    (lower, upper): (f64, f64),
    log: bool,
    integer: bool,
    default: Option<f64>,
) -> Hyperparameter {
    Hyperparameter {
        name: name.to_string(),
        key: key.to_string(),
        lower,
        upper,
        log,
        integer,
        default: default.unwrap_or_else(|| midpoint(lower, upper, log, integer)),
    }
}

/// A method's own option searched besides (or instead of) cs1-cs3: `[options.<part>] key`
/// named `part.key`, with the range its settings declare (the one-shot crate's
/// `settings::tuning_range`, resolved by `nb1s1 tune --option`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TunedOption {
    /// `part.key`, e.g. `beta_decay.lambda_max`.
    pub name: String,
    pub lower: f64,
    pub upper: f64,
    pub log: bool,
    pub integer: bool,
    /// The method's default, the first configuration's value under `start_from_default`.
    pub default: f64,
}

impl TunedOption {
    fn check(&self) -> std::result::Result<(), String> {
        let n = &self.name;
        let parts: Vec<&str> = n.split('.').collect();
        let word = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        if parts.len() != 2 || !parts.iter().all(|p| word(p)) {
            return Err(format!(
                "option `{}` is not `part.key`",
                runfmt::name::echo(n)
            ));
        }
        let ok = self.lower.is_finite()
            && self.upper.is_finite()
            && self.lower < self.upper
            && (!self.log || self.lower > 0.0)
            && (self.lower..=self.upper).contains(&self.default);
        match ok {
            true => Ok(()),
            false => Err(format!(
                "option `{n}`: range [{}, {}] (log {}) with default {} is not a range",
                self.lower, self.upper, self.log, self.default
            )),
        }
    }

    /// As a hyperparameter setting `[options.<part>] key`.
    pub fn hyperparameter(&self) -> Hyperparameter {
        Hyperparameter {
            name: self.name.clone(),
            key: format!("options.{}", self.name),
            lower: self.lower,
            upper: self.upper,
            log: self.log,
            integer: self.integer,
            default: self.default,
        }
    }
}

/// The hyperparameters of a configuration space and then `options`, in that order.
pub fn tuning_space(cs: ConfigSpaceId, options: &[TunedOption]) -> Vec<Hyperparameter> {
    let mut v = config_space(cs);
    v.extend(options.iter().map(TunedOption::hyperparameter));
    v
}

/// The hyperparameters of a configuration space, in the original's order.
pub fn config_space(cs: ConfigSpaceId) -> Vec<Hyperparameter> {
    if cs == ConfigSpaceId::None {
        return Vec::new();
    }
    let mut v = vec![
        hp(
            "weight_decay",
            "weights.weight_decay",
            (1e-5, 1e-3),
            true,
            false,
            Some(3e-4),
        ),
        hp(
            "cutout_prob",
            "data.cutout_prob",
            (0.0, 1.0),
            false,
            false,
            Some(0.0),
        ),
    ];
    if cs != ConfigSpaceId::Cs1 {
        v.push(hp(
            "learning_rate",
            "weights.lr",
            (1e-3, 1.0),
            true,
            false,
            Some(0.025),
        ));
    }
    if cs == ConfigSpaceId::Cs3 {
        v.extend([
            hp(
                "arch_learning_rate",
                "arch.lr",
                (1e-5, 1e-2),
                true,
                false,
                None,
            ),
            hp(
                "arch_weight_decay",
                "arch.weight_decay",
                (1e-4, 1e-1),
                true,
                false,
                None,
            ),
            hp(
                "momentum",
                "weights.momentum",
                (0.0, 0.99),
                false,
                false,
                None,
            ),
            hp(
                "cutout_length",
                "data.cutout_length",
                (2.0, 32.0),
                true,
                true,
                None,
            ),
            hp(
                "batch_size",
                "data.batch_size",
                (16.0, 128.0),
                false,
                true,
                None,
            ),
            hp(
                "grad_clip",
                "weights.grad_clip",
                (1.0, 9.0),
                false,
                true,
                None,
            ),
        ]);
    }
    v
}

/// The hyperparameters the original's worker never passed on to the search script: its
/// `_run_configuration` takes `cs` with a default of 1 that `compute` never overrides, so the
/// cs3-only flags were dropped.
const NEVER_FORWARDED: &[&str] = &[
    "grad_clip",
    "cutout_length",
    "arch_learning_rate",
    "arch_weight_decay",
];

/// Everything that decides a tuning: persisted in `tune.json` and checked on resume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TuneSettings {
    pub optimizer: String,
    pub space: u8,
    pub cs: ConfigSpaceId,
    /// The seed of every search run and of the tuner's own draws.
    pub seed: u64,
    /// Search epochs per rung, smallest first.
    pub budgets: Vec<u32>,
    pub eta: usize,
    /// HyperBand iterations (brackets).
    pub iterations: usize,
    /// The first configuration is the space's default (the original's `start_from_default`).
    pub start_from_default: bool,
    /// Replicate the original worker: cutout never switched on (its `--cutout` flag was
    /// never passed, so `cutout_prob` had no effect) and the cs3-only settings never
    /// forwarded. Default: both do what the configuration space says.
    pub faithful_worker: bool,
    /// The config the runs start from (a shipped name or a path; default: the optimizer's).
    pub base: Option<String>,
    /// The method's own options searched besides the configuration space.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<TunedOption>,
    /// BOHB's model: hpbandster's values with the original's `min_bandwidth` 1e-3.
    pub top_n_percent: usize,
    pub num_samples: usize,
    pub random_fraction: f64,
    pub bandwidth_factor: f64,
    pub min_bandwidth: f64,
}

impl TuneSettings {
    /// The original's protocol for one optimizer, space and configuration space.
    pub fn original(optimizer: &str, space: u8, cs: ConfigSpaceId) -> TuneSettings {
        TuneSettings {
            optimizer: optimizer.to_string(),
            space,
            cs,
            seed: 1,
            budgets: vec![25, 50, 100],
            eta: 2,
            iterations: 64,
            start_from_default: true,
            faithful_worker: false,
            base: None,
            options: Vec::new(),
            top_n_percent: 15,
            num_samples: 64,
            random_fraction: 1.0 / 3.0,
            bandwidth_factor: 3.0,
            min_bandwidth: 1e-3,
        }
    }

    fn bohb(&self) -> BohbSettings {
        BohbSettings {
            top_n_percent: self.top_n_percent,
            num_samples: self.num_samples,
            random_fraction: self.random_fraction,
            bandwidth_factor: self.bandwidth_factor,
            min_bandwidth: self.min_bandwidth,
            levels_from_data: false,
        }
    }

    /// The study name of the evaluations in the results store.
    pub fn study(&self) -> String {
        let mut s = format!(
            "{}-space{}-{}",
            self.optimizer,
            self.space,
            self.cs.as_str()
        );
        for o in &self.options {
            s.push('+');
            s.push_str(&o.name);
        }
        s
    }

    fn check(&self) -> std::result::Result<(), String> {
        if !(1..=3).contains(&self.space) {
            return Err(format!("space {} is not 1, 2 or 3", self.space));
        }
        if self.budgets.is_empty() || self.budgets.contains(&0) {
            return Err("budgets must be one or more positive epoch counts".into());
        }
        if self.budgets.windows(2).any(|w| w[1] <= w[0]) {
            return Err(format!(
                "budgets {:?} must increase (smallest first)",
                self.budgets
            ));
        }
        if self.eta < 2 {
            return Err(format!("eta {} must be at least 2", self.eta));
        }
        if self.iterations == 0 {
            return Err("iterations must be at least 1".into());
        }
        if self.top_n_percent == 0 || self.top_n_percent >= 100 {
            return Err(format!(
                "top_n_percent {} is not in 1..99",
                self.top_n_percent
            ));
        }
        runfmt::SafeName::new("optimizer", &self.optimizer).map_err(|e| e.to_string())?;
        for (i, o) in self.options.iter().enumerate() {
            o.check()?;
            if self.options[..i].iter().any(|p| p.name == o.name) {
                return Err(format!("option `{}` is named twice", o.name));
            }
        }
        if self.cs == ConfigSpaceId::None && self.options.is_empty() {
            return Err("configuration space `none` and no option: nothing to tune".into());
        }
        Ok(())
    }
}

/// One evaluation: a configuration at a budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The run folder's name: `it<iteration>-br<bracket>-cfg<config>-e<budget>`.
    pub name: String,
    pub iteration: usize,
    /// HyperBand's s: the bracket's number of halvings.
    pub bracket: usize,
    /// The configuration's index within its bracket.
    pub config: usize,
    pub budget: u32,
    /// Hyperparameter values by the original's names.
    pub values: BTreeMap<String, f64>,
    /// Whether BOHB's model proposed it (else the default or a uniform draw).
    pub model_based: bool,
    /// NB-101 validation error of repeat `repeat` of the final architecture; `None` for a
    /// diverged run (counted as +∞, as hpbandster counts a failed job).
    pub loss: Option<f64>,
    pub repeat: usize,
    /// The search's own time (the sum of its epochs' seconds).
    pub seconds: f64,
    pub state: String,
}

/// `tune.json`: the settings and every finished evaluation, in the tuner's order.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TuneState {
    pub settings: Option<TuneSettings>,
    pub evaluations: Vec<Evaluation>,
    /// The best evaluation at the largest budget (hpbandster's incumbent).
    pub incumbent: Option<String>,
}

/// The number of evaluations of a whole tuning.
pub fn total_evaluations(s: &TuneSettings) -> usize {
    (0..s.iterations)
        .map(|i| {
            hyperband::bracket(i, s.budgets.len(), s.eta)
                .configs
                .iter()
                .sum::<usize>()
        })
        .sum()
}

/// An evaluation's run folder name.
pub fn evaluation_name(iteration: usize, bracket: usize, config: usize, budget: u32) -> String {
    format!("it{iteration:03}-br{bracket}-cfg{config:02}-e{budget}")
}

/// Parses [`evaluation_name`]: (iteration, bracket, config, budget).
pub fn parse_evaluation_name(name: &str) -> Option<(usize, usize, usize, u32)> {
    let mut parts = name.split('-');
    let it = parts.next()?.strip_prefix("it")?.parse().ok()?;
    let br = parts.next()?.strip_prefix("br")?.parse().ok()?;
    let cfg = parts.next()?.strip_prefix("cfg")?.parse().ok()?;
    let e = parts.next()?.strip_prefix('e')?.parse().ok()?;
    parts.next().is_none().then_some((it, br, cfg, e))
}

/// Which of the NB-101 repeats an evaluation reads (the original drew one at random): a
/// hash of the seed and the evaluation's name, so a resumed tuning and the report read the
/// same one.
pub fn repeat_index(seed: u64, name: &str, repeats: usize) -> usize {
    // FNV-1a over the seed and the name.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.to_le_bytes().iter().chain(name.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % repeats.max(1) as u64) as usize
}

/// The loss the tuner reads from a finished run folder: (loss, seconds). `None` when the run
/// diverged or its final epoch has no NB-101 errors.
pub fn read_loss(dir: &Path, seed: u64, name: &str) -> Result<(Option<f64>, f64)> {
    let records: Vec<EpochRecord> = runs::read_jsonl(&dir.join("epochs.jsonl"))?;
    let seconds = records.iter().map(|r| r.seconds).sum();
    let loss = records.last().and_then(|r| {
        let n = r.valid_errors.len();
        (n > 0).then(|| r.valid_errors[repeat_index(seed, name, n)])
    });
    Ok((loss.filter(|l| l.is_finite()), seconds))
}

/// Where the evaluations run: the local runner or Slurm. `run` launches every unit not yet
/// finished and returns when each is final; a unit that failed every attempt is an error.
pub trait Backend {
    fn run(&self, units: &[RunUnit]) -> Result<()>;
}

/// A tuning in progress.
pub struct Tuner {
    pub settings: TuneSettings,
    pub out: PathBuf,
    /// Arguments appended to every search launch (`--nb101`, `--data`, `--device`, ...).
    pub extra_args: Vec<String>,
    space: Vec<Hyperparameter>,
    base: toml::Table,
    state: TuneState,
}

/// A proposal in a bracket: its index, values, vector and whether the model made it.
struct Candidate {
    config: usize,
    values: Vec<f64>,
    vector: Vec<f64>,
    model_based: bool,
}

impl Tuner {
    /// Opens (or starts) the tuning in `out`; a persisted state must have the same settings.
    pub fn open(settings: TuneSettings, out: &Path, extra_args: Vec<String>) -> Result<Tuner> {
        let path = state_path(out);
        settings.check().map_err(|message| BenchError::Experiment {
            path: path.clone(),
            message,
        })?;
        let state: TuneState = runs::read_json_opt(&path)?.unwrap_or_default();
        if let Some(old) = &state.settings {
            if let Some(field) = differing_field(old, &settings) {
                return Err(BenchError::Field {
                    path,
                    field,
                    message: "differs from this tuning's setting; resume with the same \
                              settings or use another --out"
                        .into(),
                });
            }
        }
        let (_, base) =
            base_config::load(settings.base.as_deref(), &settings.optimizer, Path::new(""))
                .map_err(|e| BenchError::Experiment {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
        Ok(Tuner {
            space: tuning_space(settings.cs, &settings.options),
            settings,
            out: out.to_path_buf(),
            extra_args,
            base,
            state,
        })
    }

    /// The evaluations finished so far, in the tuner's order.
    pub fn evaluations(&self) -> &[Evaluation] {
        &self.state.evaluations
    }

    pub fn space(&self) -> &[Hyperparameter] {
        &self.space
    }

    fn dims(&self) -> Vec<Dim> {
        vec![Dim::Continuous; self.space.len()]
    }

    /// The default configuration's values.
    pub fn default_values(&self) -> Vec<f64> {
        self.space.iter().map(|h| h.default).collect()
    }

    /// Values of a vector (rounded for integers, kept in range).
    fn values_of(&self, vector: &[f64]) -> Vec<f64> {
        self.space
            .iter()
            .zip(vector)
            .map(|(h, &x)| h.from_vector(x))
            .collect()
    }

    /// The vector of values (ConfigSpace's `get_array` of the configuration).
    fn vector_of(&self, values: &[f64]) -> Vec<f64> {
        self.space
            .iter()
            .zip(values)
            .map(|(h, &v)| h.to_vector(v))
            .collect()
    }

    /// Values by the original's names.
    fn named(&self, values: &[f64]) -> BTreeMap<String, f64> {
        self.space
            .iter()
            .zip(values)
            .map(|(h, &v)| (h.name.clone(), v))
            .collect()
    }

    /// The search config of one evaluation: the base, the configuration and the budget. What
    /// the original's worker fixed (`complete_config`: 16 channels, 9 cells, and outside cs3
    /// batch size 96, momentum 0.9, for cs1 learning rate 0.025) are the shipped base
    /// configs' values, so they come from the base (a tiny base keeps the tests fast).
    pub fn search_config(&self, values: &BTreeMap<String, f64>, budget: u32) -> toml::Table {
        let mut config = self.base.clone();
        if !self.settings.faithful_worker {
            set_dotted(&mut config, "data.cutout", toml::Value::Boolean(true));
        }
        for h in &self.space {
            if self.settings.faithful_worker && NEVER_FORWARDED.contains(&h.name.as_str()) {
                continue;
            }
            let Some(&v) = values.get(&h.name) else {
                continue;
            };
            // grad_clip is an integer hyperparameter but a float setting.
            let value = if h.integer && h.key != "weights.grad_clip" {
                toml::Value::Integer(v as i64)
            } else {
                toml::Value::Float(v)
            };
            set_dotted(&mut config, &h.key, value);
        }
        config.insert("optimizer".into(), self.settings.optimizer.clone().into());
        config.insert("space".into(), i64::from(self.settings.space).into());
        config.insert("seed".into(), (self.settings.seed as i64).into());
        config.insert("epochs".into(), i64::from(budget).into());
        config
    }

    /// The run unit of one evaluation.
    fn unit(&self, name: &str, values: &BTreeMap<String, f64>, budget: u32) -> RunUnit {
        let s = &self.settings;
        let folder = self.out.join("runs").join(name);
        let mut args = vec![
            "search".to_string(),
            "--optimizer".into(),
            s.optimizer.clone(),
            "--space".into(),
            s.space.to_string(),
            "--seed".into(),
            s.seed.to_string(),
            "--out".into(),
            folder.to_string_lossy().into_owned(),
            "--resume".into(),
        ];
        args.extend(self.extra_args.iter().cloned());
        RunUnit {
            id: format!("{}/{name}", s.study()),
            kind: RunKind::OneShot,
            study: s.study(),
            optimizer: s.optimizer.clone(),
            space: s.space,
            variant: name.to_string(),
            seeds: vec![s.seed],
            out: folder,
            config: Some(self.search_config(values, budget)),
            base: Some(s.base.clone().unwrap_or_else(|| s.optimizer.clone())),
            args,
        }
    }

    /// Runs (or resumes) the whole tuning; `progress` sees each evaluation as it is read.
    pub fn run(&mut self, backend: &dyn Backend, progress: &dyn Fn(&Evaluation)) -> Result<()> {
        let s = self.settings.clone();
        let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
        let mut history: Vec<Vec<Observation>> = vec![Vec::new(); s.budgets.len()];
        let mut samples = 0usize;
        let mut done = 0usize;
        let dims = self.dims();
        for iteration in 0..s.iterations {
            let plan = hyperband::bracket(iteration, s.budgets.len(), s.eta);
            let bracket = s.budgets.len() - 1 - plan.first_budget;
            let mut rung: Vec<Candidate> = (0..plan.configs[0])
                .map(|config| {
                    let first = samples == 0 && s.start_from_default;
                    samples += 1;
                    let (values, model_based) = if first {
                        (self.default_values(), false)
                    } else {
                        match kde::propose(&history, &dims, &s.bohb(), &mut rng) {
                            Some(v) => (self.values_of(&v), true),
                            None => {
                                let v: Vec<f64> = (0..dims.len()).map(|_| rng.gen()).collect();
                                (self.values_of(&v), false)
                            }
                        }
                    };
                    Candidate {
                        config,
                        vector: self.vector_of(&values),
                        values,
                        model_based,
                    }
                })
                .collect();
            for (r, b) in (plan.first_budget..s.budgets.len()).enumerate() {
                let budget = s.budgets[b];
                let evals = self.run_rung(backend, iteration, bracket, budget, &rung, &mut done)?;
                let mut scored: Vec<(f64, Candidate)> = Vec::new();
                for (e, c) in evals.iter().zip(rung) {
                    progress(e);
                    let loss = e.loss.unwrap_or(f64::INFINITY);
                    history[b].push((c.vector.clone(), loss));
                    scored.push((loss, c));
                }
                let keep = plan.configs.get(r + 1).copied().unwrap_or(0);
                scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.config.cmp(&b.1.config)));
                rung = scored.into_iter().take(keep).map(|(_, c)| c).collect();
            }
        }
        self.write_incumbent()
    }

    /// Launches one rung's evaluations (those not yet finished) and reads their results,
    /// checking each against the persisted state.
    fn run_rung(
        &mut self,
        backend: &dyn Backend,
        iteration: usize,
        bracket: usize,
        budget: u32,
        rung: &[Candidate],
        done: &mut usize,
    ) -> Result<Vec<Evaluation>> {
        let proposed: Vec<(String, BTreeMap<String, f64>, bool)> = rung
            .iter()
            .map(|c| {
                let name = evaluation_name(iteration, bracket, c.config, budget);
                (name, self.named(&c.values), c.model_based)
            })
            .collect();
        for (k, (name, values, _)) in proposed.iter().enumerate() {
            if let Some(old) = self.state.evaluations.get(*done + k) {
                if old.name != *name || !same_values(&old.values, values) {
                    return Err(BenchError::Run {
                        path: state_path(&self.out),
                        message: format!(
                            "evaluation {} of the replay is {name} {values:?}, the saved \
                             state has {} {:?}: the tuner's inputs changed; use another --out",
                            *done + k,
                            old.name,
                            old.values
                        ),
                    });
                }
            }
        }
        let units: Vec<RunUnit> = proposed
            .iter()
            .map(|(name, values, _)| self.unit(name, values, budget))
            .collect();
        backend.run(&units)?;
        let mut evals = Vec::with_capacity(units.len());
        for (unit, (name, values, model_based)) in units.iter().zip(proposed) {
            let state = crate::runner::unit_state(unit)?;
            if !state.is_final() {
                return Err(BenchError::Run {
                    path: unit.out.clone(),
                    message: format!(
                        "evaluation {name} ended {} (log: {}); fix the cause and run the \
                         same command again to resume",
                        state.as_str(),
                        crate::runner::log_path(&self.out, &unit.id).display()
                    ),
                });
            }
            let (loss, seconds) = if state == RunState::Complete {
                read_loss(&unit.out, self.settings.seed, &name)?
            } else {
                (None, 0.0)
            };
            evals.push(Evaluation {
                repeat: repeat_index(self.settings.seed, &name, 3),
                name,
                iteration,
                bracket,
                config: rung[evals.len()].config,
                budget,
                values,
                model_based,
                loss,
                seconds,
                state: state.as_str().to_string(),
            });
        }
        // Persist: the evaluations before this rung, then this rung's.
        self.state.evaluations.truncate(*done);
        self.state.evaluations.extend(evals.iter().cloned());
        *done += evals.len();
        self.state.settings = Some(self.settings.clone());
        self.save()?;
        Ok(evals)
    }

    /// The best evaluation at the largest budget, and its search config as `incumbent.toml`.
    fn write_incumbent(&mut self) -> Result<()> {
        let max = self.settings.budgets.last().copied().unwrap_or(0);
        let best = self
            .state
            .evaluations
            .iter()
            .filter(|e| e.budget == max && e.loss.is_some())
            .min_by(|a, b| {
                a.loss
                    .unwrap_or(f64::INFINITY)
                    .total_cmp(&b.loss.unwrap_or(f64::INFINITY))
            })
            .cloned();
        self.state.incumbent = best.as_ref().map(|e| e.name.clone());
        self.save()?;
        if let Some(e) = best {
            let config = self.search_config(&e.values, max);
            let text = format!(
                "# The incumbent of `nb1s1 tune` ({}, {}): evaluation {}, NB-101 validation \
                 error {:.5} (repeat {}).\n{}",
                self.settings.study(),
                if self.settings.faithful_worker {
                    "faithful worker"
                } else {
                    "intended worker"
                },
                e.name,
                e.loss.unwrap_or(f64::NAN),
                e.repeat,
                toml::to_string_pretty(&config).unwrap_or_default()
            );
            write_atomic(&self.out.join("incumbent.toml"), text.as_bytes())?;
        }
        Ok(())
    }

    fn save(&self) -> Result<()> {
        let text = serde_json::to_string_pretty(&self.state).unwrap_or_default();
        write_atomic(&state_path(&self.out), text.as_bytes())
    }
}

/// `tune.json` in the tuning folder.
pub fn state_path(out: &Path) -> PathBuf {
    out.join("tune.json")
}

/// Reads a tuning folder's state.
pub fn read_state(out: &Path) -> Result<TuneState> {
    let path = state_path(out);
    runs::read_json_opt(&path)?.ok_or_else(|| BenchError::Io {
        path,
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no tuning state"),
    })
}

fn same_values(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|((ka, va), (kb, vb))| {
            ka == kb && (va - vb).abs() <= 1e-12 * va.abs().max(vb.abs()).max(1e-300)
        })
}

/// The first field of two settings that differs, by name.
fn differing_field(a: &TuneSettings, b: &TuneSettings) -> Option<String> {
    let (ja, jb) = (serde_json::to_value(a).ok()?, serde_json::to_value(b).ok()?);
    let (oa, ob) = (ja.as_object()?, jb.as_object()?);
    oa.iter()
        .find(|(k, v)| ob.get(*k) != Some(*v))
        .map(|(k, _)| format!("settings.{k}"))
}

fn set_dotted(table: &mut toml::Table, key: &str, value: toml::Value) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().unwrap_or(key);
    let mut current = table;
    for part in parts {
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        current = match entry.as_table_mut() {
            Some(t) => t,
            None => return,
        };
    }
    current.insert(last.to_string(), value);
}

/// The local backend: the experiment runner's worker threads on this machine.
pub struct LocalBackend {
    pub out: PathBuf,
    pub launcher: crate::runner::Launcher,
    pub options: crate::runner::RunnerOptions,
    pub observer: Box<dyn Fn(&crate::runner::Event) + Sync>,
}

impl Backend for LocalBackend {
    fn run(&self, units: &[RunUnit]) -> Result<()> {
        let report = crate::runner::run_experiment(
            units,
            &self.out,
            &self.launcher,
            &self.options,
            &*self.observer,
        )?;
        if let Some((id, message)) = report.failed.first() {
            return Err(BenchError::Run {
                path: crate::runner::log_path(&self.out, id),
                message: format!("evaluation {id} failed every attempt: {message}"),
            });
        }
        Ok(())
    }
}

/// Checks an `io` path exists as a folder (used by the CLI for `--out`).
pub fn ensure_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(io_err(path))
}

/// One tuning's incumbent at one budget against tuning time, from the results store.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trajectory {
    pub study: String,
    pub budget: u32,
    /// Evaluations at this budget.
    pub evaluations: usize,
    /// (tuning seconds when the evaluation finished, best loss at this budget so far), one
    /// point per evaluation with a loss.
    pub points: Vec<(f64, f64)>,
}

/// One tuning as the store has it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TuningSummary {
    pub study: String,
    pub evaluations: usize,
    /// Summed search seconds of every evaluation.
    pub seconds: f64,
    /// The best evaluation at the largest budget: (name, loss).
    pub incumbent: Option<(String, f64)>,
}

/// One evaluation row: (study, name, seed, status, final valid errors JSON, seconds).
type EvalRow = (String, String, i64, String, Option<String>, Option<f64>);

/// An evaluation in the tuner's order: ((iteration, budget, config), name, loss, seconds).
type OrderedEval = ((usize, u32, usize), String, Option<f64>, f64);

/// The studies of tuning evaluations (experiment [`EXPERIMENT`]) in the store.
pub fn studies(store: &crate::store::Store) -> Result<std::collections::BTreeSet<String>> {
    let mut st = store
        .conn()
        .prepare("SELECT DISTINCT study FROM runs WHERE experiment = ?1 AND study IS NOT NULL")
        .map_err(store.sql_err())?;
    let rows = st
        .query_map([EXPERIMENT], |r| r.get::<_, String>(0))
        .map_err(store.sql_err())?;
    rows.collect::<std::result::Result<_, _>>()
        .map_err(store.sql_err())
}

/// Every tuning's trajectories per budget, in the tuner's order of evaluations (iteration,
/// then budget, then configuration), each loss read as the tuner reads it.
pub fn trajectories(store: &crate::store::Store) -> Result<(Vec<Trajectory>, Vec<TuningSummary>)> {
    let mut st = store
        .conn()
        .prepare(
            "SELECT r.study, r.variant, r.seed, r.status,
                    (SELECT valid_errors FROM epochs e WHERE e.run_id = r.id
                     ORDER BY epoch DESC LIMIT 1),
                    (SELECT SUM(seconds) FROM epochs e WHERE e.run_id = r.id)
             FROM runs r WHERE r.experiment = ?1 AND r.study IS NOT NULL",
        )
        .map_err(store.sql_err())?;
    let rows: Vec<EvalRow> = st
        .query_map([EXPERIMENT], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .map_err(store.sql_err())?
        .collect::<std::result::Result<_, _>>()
        .map_err(store.sql_err())?;
    let mut by_study: BTreeMap<String, Vec<OrderedEval>> = BTreeMap::new();
    for (study, name, seed, status, errors, seconds) in rows {
        let Some((it, _, cfg, budget)) = parse_evaluation_name(&name) else {
            continue;
        };
        let errors: Vec<f64> = errors
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let loss = (status == "complete" && !errors.is_empty())
            .then(|| errors[repeat_index(seed as u64, &name, errors.len())])
            .filter(|l| l.is_finite());
        by_study.entry(study).or_default().push((
            (it, budget, cfg),
            name,
            loss,
            seconds.unwrap_or(0.0),
        ));
    }
    let mut trajectories = Vec::new();
    let mut summaries = Vec::new();
    for (study, mut evals) in by_study {
        evals.sort_by_key(|e| e.0);
        let budgets: std::collections::BTreeSet<u32> = evals.iter().map(|e| e.0 .1).collect();
        let mut clock = 0.0;
        let mut lines: BTreeMap<u32, Trajectory> = budgets
            .iter()
            .map(|&b| {
                let t = Trajectory {
                    study: study.clone(),
                    budget: b,
                    evaluations: 0,
                    points: Vec::new(),
                };
                (b, t)
            })
            .collect();
        let mut incumbent: Option<(String, f64)> = None;
        let max = budgets.last().copied().unwrap_or(0);
        for ((_, budget, _), name, loss, seconds) in &evals {
            clock += seconds;
            let Some(line) = lines.get_mut(budget) else {
                continue;
            };
            line.evaluations += 1;
            let Some(loss) = *loss else { continue };
            let best = line.points.last().map_or(loss, |p| p.1.min(loss));
            line.points.push((clock, best));
            if *budget == max && incumbent.as_ref().is_none_or(|(_, l)| loss < *l) {
                incumbent = Some((name.clone(), loss));
            }
        }
        summaries.push(TuningSummary {
            study,
            evaluations: evals.len(),
            seconds: clock,
            incumbent,
        });
        trajectories.extend(lines.into_values());
    }
    Ok((trajectories, summaries))
}

/// The Slurm backend: each rung is one array job (crate::slurm), its units written to
/// `.experiment/tune-rungs/<first evaluation>.json` for the elements (`nb1s1 tune-task`).
pub struct SlurmBackend {
    pub options: crate::slurm::SlurmOptions,
    pub cluster: crate::slurm::Cluster,
    pub observer: Box<dyn Fn(&crate::slurm::SlurmEvent)>,
}

/// Where a rung's units are written for its Slurm elements.
pub fn rung_file(out: &Path, units: &[RunUnit]) -> PathBuf {
    let first = units.first().map_or("empty", |u| u.variant.as_str());
    crate::runner::state_dir(out)
        .join("tune-rungs")
        .join(format!("{first}.json"))
}

impl Backend for SlurmBackend {
    fn run(&self, units: &[RunUnit]) -> Result<()> {
        let file = rung_file(&self.options.out, units);
        let text = serde_json::to_string_pretty(units).unwrap_or_default();
        write_atomic(&file, text.as_bytes())?;
        let options = crate::slurm::SlurmOptions {
            task: Some(vec![
                "tune-task".into(),
                "--units".into(),
                file.to_string_lossy().into_owned(),
                "--out".into(),
                self.options.out.to_string_lossy().into_owned(),
                // Elements stopped before their time limit requeue themselves, as a search
                // element does (`experiment task --requeue-limit`).
                "--requeue-limit".into(),
                self.options.max_retries.to_string(),
            ]),
            wait: true,
            ..self.options.clone()
        };
        let report = crate::slurm::run_slurm(units, &self.cluster, &options, &*self.observer)?;
        if let Some((id, message)) = report.failed.first() {
            return Err(BenchError::Run {
                path: crate::runner::log_path(&self.options.out, id),
                message: format!("evaluation {id} failed every submission: {message}"),
            });
        }
        Ok(())
    }
}

/// Reads the units of a rung file (written by [`SlurmBackend`]).
pub fn read_rung_file(file: &Path) -> Result<Vec<RunUnit>> {
    runs::read_json(file)
}
