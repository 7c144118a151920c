//! The typed settings of every part that takes `[options.<part>]`, with the paper's defaults
//! and the ranges checked when a configuration loads; [`section`] maps a part's name to them.
//! Pure data (no torch), so configuration loading needs nothing else of the crate.

use searchspace::SearchSpace;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// Settings checked beyond their types: each number against its range, named by its key.
pub trait Validate {
    fn validate(&self) -> Result<(), String>;
}

/// The range `nb1s1 tune --option part.key` searches a numeric option over (ConfigSpace's
/// uniform float or integer hyperparameter, log-scaled where `log`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TuneRange {
    pub lower: f64,
    pub upper: f64,
    pub log: bool,
    pub integer: bool,
}

const fn float(lower: f64, upper: f64, log: bool) -> TuneRange {
    TuneRange {
        lower,
        upper,
        log,
        integer: false,
    }
}

const fn int(lower: f64, upper: f64, log: bool) -> TuneRange {
    TuneRange {
        lower,
        upper,
        log,
        integer: true,
    }
}

/// The options of a settings struct that may be tuned, each with its range (declared beside
/// the struct; an option not listed is not tunable).
pub trait Tunable {
    const TUNING: &'static [(&'static str, TuneRange)] = &[];
}

/// DrNAS' regularizer (the original's values).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DrnasKlConfig {
    /// Weight of KL(Dir(β) ‖ Dir(prior)) in the architecture loss.
    pub reg_scale: f64,
    /// The prior's concentration (the same for every entry).
    pub prior: f64,
}

impl Default for DrnasKlConfig {
    fn default() -> Self {
        DrnasKlConfig {
            reg_scale: 1e-3,
            prior: 1.0,
        }
    }
}

impl Tunable for DrnasKlConfig {
    const TUNING: &'static [(&'static str, TuneRange)] = &[
        ("reg_scale", float(1e-5, 1e-1, true)),
        ("prior", float(0.1, 10.0, true)),
    ];
}

impl Validate for DrnasKlConfig {
    fn validate(&self) -> Result<(), String> {
        non_negative("reg_scale", self.reg_scale)?;
        positive("prior", self.prior)
    }
}

/// β-DARTS' β-decay regularizer: λ_e = `lambda_min` + (`lambda_max` − `lambda_min`) · e / E in
/// epoch e of E, the authors' linear ramp (their code: `50 * epoch / 100` over 100 epochs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BetaDecayConfig {
    /// λ in the first epoch.
    pub lambda_min: f64,
    /// The value λ ramps toward (reached after the last epoch, as in the authors' code).
    pub lambda_max: f64,
}

impl Default for BetaDecayConfig {
    fn default() -> Self {
        BetaDecayConfig {
            lambda_min: 0.0,
            lambda_max: 50.0,
        }
    }
}

impl BetaDecayConfig {
    /// λ of `epoch` (0-based) of `epochs`.
    pub fn lambda(&self, epoch: usize, epochs: usize) -> f64 {
        let t = epoch as f64 / epochs.max(1) as f64;
        self.lambda_min + (self.lambda_max - self.lambda_min) * t
    }
}

impl Tunable for BetaDecayConfig {
    const TUNING: &'static [(&'static str, TuneRange)] = &[
        ("lambda_min", float(0.0, 1.0, false)),
        ("lambda_max", float(1e-2, 100.0, true)),
    ];
}

impl Validate for BetaDecayConfig {
    fn validate(&self) -> Result<(), String> {
        non_negative("lambda_min", self.lambda_min)?;
        non_negative("lambda_max", self.lambda_max)
    }
}

/// Fair-DARTS' zero-one loss weight (the paper's w₀₁ = 10).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZeroOneConfig {
    pub weight: f64,
}

impl Default for ZeroOneConfig {
    fn default() -> Self {
        ZeroOneConfig { weight: 10.0 }
    }
}

impl Tunable for ZeroOneConfig {
    const TUNING: &'static [(&'static str, TuneRange)] = &[("weight", float(0.1, 100.0, true))];
}

impl Validate for ZeroOneConfig {
    fn validate(&self) -> Result<(), String> {
        non_negative("weight", self.weight)
    }
}

/// SDARTS' perturbation size ε, linear from `epsilon_min` to `epsilon_max` (the original's
/// values); `steps` of PGD for the adversarial variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SdartsConfig {
    /// ε in the first epoch.
    pub epsilon_min: f64,
    /// ε in the last epoch.
    pub epsilon_max: f64,
    /// PGD steps of SDARTS-ADV (unused by SDARTS-RS).
    pub steps: usize,
}

impl Default for SdartsConfig {
    fn default() -> Self {
        SdartsConfig {
            epsilon_min: 0.03,
            epsilon_max: 0.3,
            steps: 7,
        }
    }
}

impl SdartsConfig {
    /// ε of `epoch`: linear from `epsilon_min` (first epoch) to `epsilon_max` (last).
    pub fn epsilon(&self, epoch: usize, epochs: usize) -> f64 {
        ramp(self.epsilon_min, self.epsilon_max, epoch, epochs)
    }
}

impl Tunable for SdartsConfig {
    const TUNING: &'static [(&'static str, TuneRange)] = &[
        ("epsilon_min", float(0.0, 0.3, false)),
        ("epsilon_max", float(0.01, 1.0, true)),
        ("steps", int(1.0, 20.0, false)),
    ];
}

impl Validate for SdartsConfig {
    fn validate(&self) -> Result<(), String> {
        in_unit("epsilon_min", self.epsilon_min)?;
        in_unit("epsilon_max", self.epsilon_max)?;
        if !(1..=1000).contains(&self.steps) {
            return Err(format!("`steps` must lie in 1..=1000, got {}", self.steps));
        }
        Ok(())
    }
}

/// Linear from `lo` (first epoch) to `hi` (last epoch), as a weighted mean so the ends are exact.
pub fn ramp(lo: f64, hi: f64, epoch: usize, epochs: usize) -> f64 {
    let t = epoch as f64 / (epochs.max(2) - 1) as f64;
    lo * (1.0 - t) + hi * t
}

/// Hessian tracking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HessianConfig {
    /// Track after every this many epochs (epoch e is tracked when (e + 1) % every == 0).
    pub every: usize,
    /// Validation batches whose mean loss is differentiated (the first ones, fixed order).
    pub batches: usize,
    /// Most power-iteration steps.
    pub iterations: usize,
    /// Stop iterating when the estimate changes by less than this, relative.
    pub tolerance: f64,
}

impl Default for HessianConfig {
    fn default() -> Self {
        HessianConfig {
            every: 1,
            batches: 1,
            iterations: 50,
            tolerance: 1e-4,
        }
    }
}

/// An observer: nothing of it changes the search, so nothing to tune.
impl Tunable for HessianConfig {}

impl Validate for HessianConfig {
    fn validate(&self) -> Result<(), String> {
        at_least_one("every", self.every)?;
        at_least_one("batches", self.batches)?;
        at_least_one("iterations", self.iterations)?;
        non_negative("tolerance", self.tolerance)
    }
}

/// DARTS-ES' stopping rule (the paper's values).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EarlyStopConfig {
    /// Epochs averaged into λ̄.
    pub window: usize,
    /// k: λ̄ now is compared with λ̄ k epochs ago.
    pub lag: usize,
    /// T: stop when λ̄_{i−k} / λ̄_i falls below it.
    pub threshold: f64,
    /// Return the architecture weights of epoch i − k on a stop.
    pub backtrack: bool,
}

impl Default for EarlyStopConfig {
    fn default() -> Self {
        EarlyStopConfig {
            window: 5,
            lag: 5,
            threshold: 0.75,
            backtrack: true,
        }
    }
}

impl Tunable for EarlyStopConfig {
    const TUNING: &'static [(&'static str, TuneRange)] = &[
        ("window", int(1.0, 10.0, false)),
        ("lag", int(1.0, 10.0, false)),
        ("threshold", float(0.5, 1.0, false)),
    ];
}

impl Validate for EarlyStopConfig {
    fn validate(&self) -> Result<(), String> {
        at_least_one("window", self.window)?;
        at_least_one("lag", self.lag)?;
        // Any number (−inf: never stop), but not NaN, which would silently never stop.
        match self.threshold.is_nan() {
            true => Err("`threshold` must be a number, got NaN".into()),
            false => Ok(()),
        }
    }
}

/// DARTS-PT's projection selection (Wang et al., ICLR 2021; the authors' script values):
/// [`crate::projection`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectionConfig {
    /// Fine-tuning epochs between two projections (the authors' `proj_intv`).
    pub proj_intv: usize,
    /// Validation batches each masked supernet is measured on; 0: all of them (the authors).
    pub batches: usize,
    /// Which choice block or node is projected next: `random` (the authors) or `fixed`.
    pub order: ProjectionOrder,
    /// What the removal of an operation or parent is judged by: `accuracy` (the authors) or
    /// `loss`.
    pub criterion: ProjectionCriterion,
    /// The fine-tuning learning rate as a fraction of `[weights] lr` (the authors: lr / 10).
    pub lr_factor: f64,
    /// Let the masked measurements update BatchNorm's running statistics, as the authors'
    /// train-mode passes did (a side effect; off: they are restored after each projection).
    pub update_bn_stats: bool,
}

/// The order of the projections within operations and within parent sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectionOrder {
    Random,
    Fixed,
}

/// What a projection measures on the masked supernet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectionCriterion {
    /// Keep what lowers the validation accuracy most when removed.
    Accuracy,
    /// Keep what raises the validation loss most when removed.
    Loss,
}

impl Default for ProjectionConfig {
    fn default() -> Self {
        ProjectionConfig {
            proj_intv: 5,
            batches: 0,
            order: ProjectionOrder::Random,
            criterion: ProjectionCriterion::Accuracy,
            lr_factor: 0.1,
            update_bn_stats: false,
        }
    }
}

impl ProjectionConfig {
    /// Projections on `space`: one per choice block's operation, then one per node (the output
    /// included) whose parents are a real choice (fewer required than candidates).
    pub fn projections(space: &SearchSpace) -> usize {
        let n = space.num_choice_blocks();
        n + parent_choices(space).len()
    }

    /// Epochs of the projection phase: `proj_intv` of fine-tuning after each projection but the
    /// last, one after the last (the authors' `proj_intv · (projections − 1) + 1`).
    pub fn phase_epochs(&self, space: &SearchSpace) -> usize {
        self.proj_intv * (Self::projections(space) - 1) + 1
    }

    /// The first epoch of the projection phase of a run of `epochs` (the phase is its last
    /// epochs, after at least one epoch of supernet training); an error names what is needed.
    pub fn phase_start(&self, space: &SearchSpace, epochs: usize) -> Result<usize, String> {
        let phase = self.phase_epochs(space);
        match epochs > phase {
            true => Ok(epochs - phase),
            false => Err(format!(
                "DARTS-PT's projection phase on space {} takes the run's last {phase} epochs ({} projections, `proj_intv` = {}) after at least one epoch of supernet training: `epochs` must be at least {}, got {epochs}",
                space.id().number(),
                Self::projections(space),
                self.proj_intv,
                phase + 1
            )),
        }
    }
}

/// Nodes 1..=N+1 (the output last) whose parents are a real choice.
pub fn parent_choices(space: &SearchSpace) -> Vec<usize> {
    let n = space.num_choice_blocks();
    (1..=n + 1).filter(|&k| space.num_parents(k) < k).collect()
}

impl Tunable for ProjectionConfig {
    const TUNING: &'static [(&'static str, TuneRange)] = &[
        ("proj_intv", int(1.0, 20.0, false)),
        ("lr_factor", float(1e-2, 1.0, true)),
    ];
}

impl Validate for ProjectionConfig {
    fn validate(&self) -> Result<(), String> {
        if !(1..=1000).contains(&self.proj_intv) {
            return Err(format!(
                "`proj_intv` must lie in 1..=1000, got {}",
                self.proj_intv
            ));
        }
        positive("lr_factor", self.lr_factor)?;
        match self.lr_factor <= 10.0 {
            true => Ok(()),
            false => Err(format!(
                "`lr_factor` must be at most 10, got {}",
                self.lr_factor
            )),
        }
    }
}

/// BN recalibration of the one-shot evaluation (`crate::evaluation`): training batches that
/// re-estimate the BatchNorm statistics of each evaluated architecture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BnRecalibrationConfig {
    pub batches: usize,
}

impl Default for BnRecalibrationConfig {
    fn default() -> Self {
        BnRecalibrationConfig { batches: 20 }
    }
}

impl Tunable for BnRecalibrationConfig {
    const TUNING: &'static [(&'static str, TuneRange)] = &[("batches", int(1.0, 100.0, true))];
}

impl Validate for BnRecalibrationConfig {
    fn validate(&self) -> Result<(), String> {
        bn_batches("batches", self.batches)
    }
}

/// Most batches of a BN recalibration (each evaluated architecture runs them all).
pub const MAX_BN_BATCHES: usize = 10_000;

/// A count of BN recalibration batches: 1..=[`MAX_BN_BATCHES`].
pub fn bn_batches(key: &str, v: usize) -> Result<(), String> {
    match (1..=MAX_BN_BATCHES).contains(&v) {
        true => Ok(()),
        false => Err(format!("`{key}` must lie in 1..={MAX_BN_BATCHES}, got {v}")),
    }
}

/// `[options.<part>]` of one part: its defaults as TOML and a check (unknown keys, ranges).
#[derive(Clone, Copy)]
pub struct OptionsSection {
    pub defaults: fn() -> toml::Table,
    pub check: fn(&toml::Table) -> Result<(), String>,
    /// The tunable options and their ranges.
    pub tuning: &'static [(&'static str, TuneRange)],
}

fn section_of<T: Default + Serialize + DeserializeOwned + Validate + Tunable>() -> OptionsSection {
    OptionsSection {
        defaults: || toml::Table::try_from(T::default()).unwrap_or_default(),
        check: |t| parse::<T>(t).and_then(|v| v.validate()),
        tuning: T::TUNING,
    }
}

/// The tuning range of `[options.<part>] key`; an unknown part or key, or an option that
/// declares no range, is an error that names it and lists what can be tuned.
pub fn tuning_range(part: &str, key: &str) -> Result<TuneRange, String> {
    let s = section(part).ok_or_else(|| format!("no part `{part}` takes settings"))?;
    if let Some((_, r)) = s.tuning.iter().find(|(k, _)| *k == key) {
        return Ok(*r);
    }
    let tunable: Vec<&str> = s.tuning.iter().map(|(k, _)| *k).collect();
    let list = match tunable.is_empty() {
        true => "none".to_string(),
        false => tunable.join(", "),
    };
    match (s.defaults)().contains_key(key) {
        true => Err(format!(
            "declares no tuning range (tunable options of `{part}`: {list})"
        )),
        false => Err(format!(
            "part `{part}` has no option `{key}` (tunable options of `{part}`: {list})"
        )),
    }
}

/// A part's table as its typed settings `T` (unknown keys named).
pub fn parse<T: DeserializeOwned>(t: &toml::Table) -> Result<T, String> {
    toml::Value::Table(t.clone())
        .try_into()
        .map_err(|e: toml::de::Error| e.message().to_string())
}

/// The settings section of the part called `name` (as `Composition::option_parts` names them).
pub fn section(name: &str) -> Option<OptionsSection> {
    Some(match name {
        "drnas_kl" => section_of::<DrnasKlConfig>(),
        "beta_decay" => section_of::<BetaDecayConfig>(),
        "zero_one" => section_of::<ZeroOneConfig>(),
        "random_smoothing" | "adversarial" => section_of::<SdartsConfig>(),
        "hessian" => section_of::<HessianConfig>(),
        "early_stop" => section_of::<EarlyStopConfig>(),
        "projection" => section_of::<ProjectionConfig>(),
        "bn_recalibration" => section_of::<BnRecalibrationConfig>(),
        _ => return None,
    })
}

fn positive(key: &str, v: f64) -> Result<(), String> {
    match v.is_finite() && v > 0.0 {
        true => Ok(()),
        false => Err(format!("`{key}` must be positive and finite, got {v}")),
    }
}

fn non_negative(key: &str, v: f64) -> Result<(), String> {
    match v.is_finite() && v >= 0.0 {
        true => Ok(()),
        false => Err(format!("`{key}` must be finite and at least 0, got {v}")),
    }
}

fn in_unit(key: &str, v: f64) -> Result<(), String> {
    match (0.0..=1.0).contains(&v) {
        true => Ok(()),
        false => Err(format!("`{key}` must lie in [0, 1], got {v}")),
    }
}

fn at_least_one(key: &str, v: usize) -> Result<(), String> {
    match v >= 1 {
        true => Ok(()),
        false => Err(format!("`{key}` must be at least 1, got {v}")),
    }
}
