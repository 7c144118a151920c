//! A one-shot method as data: which part fills each seam of the default optimizer. Configs hold
//! it as `[method]`, the registry maps every name to one, `run.json` records it resolved, and
//! [`crate::compose`] builds the optimizer from it. Pure data: no torch, no configuration types.

use serde::{Deserialize, Serialize};

/// The one-shot optimizers of spec §3, whose defaults every registered method starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    Darts,
    Gdas,
    PcDarts,
    Enas,
    RandomWs,
}

impl OptimizerKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "darts" => Some(Self::Darts),
            "gdas" => Some(Self::Gdas),
            "pc_darts" | "pcdarts" => Some(Self::PcDarts),
            "enas" => Some(Self::Enas),
            "random_ws" | "randomws" | "random_search_ws" => Some(Self::RandomWs),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Darts => "darts",
            Self::Gdas => "gdas",
            Self::PcDarts => "pc_darts",
            Self::Enas => "enas",
            Self::RandomWs => "random_ws",
        }
    }
}

/// Which images train the weights and which drive the architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataSplit {
    /// DARTS: the CIFAR-10 training set in two halves (weights / architecture); the
    /// architecture half is also the validation set of the epoch's evaluation.
    Halves,
    /// ENAS: [0, 45000) trains the weights, [45000, N) rewards the controller, the test set is
    /// the validation set.
    Enas,
}

/// How the architecture state becomes mixing weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelaxationKind {
    /// DARTS: softmax over every architecture tensor.
    Softmax,
    /// GDAS: hard Gumbel operations, soft Gumbel edges, τ from `[arch] tau_max` to `tau_min`.
    Gumbel,
    /// Random-WS: uniform one-hot cells.
    UniformOneHot,
    /// ENAS: one-hot cells drawn by the LSTM controller (`[controller]`).
    ControllerOneHot,
    /// DrNAS: Dirichlet samples, Dir(elu(α) + 1).
    Dirichlet,
    /// Fair-DARTS: an independent sigmoid per operation, edge and output weight.
    Sigmoid,
}

/// How the architecture state learns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateKind {
    /// Adam on the architecture weights (`[arch]`: first or second order by `order`).
    Gradient,
    /// REINFORCE on the ENAS controller after each epoch (needs `controller_one_hot`).
    Reinforce,
    /// The architecture never changes (Random-WS).
    None,
}

/// A term added to the architecture loss, with its own schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegularizerKind {
    /// DrNAS: KL(Dir(β) ‖ Dir(prior)).
    DrnasKl,
    /// β-DARTS: λ · mean over choice blocks of logsumexp(α), λ ramped.
    BetaDecay,
    /// Fair-DARTS: −w · mean (σ(α) − ½)².
    ZeroOne,
}

/// How the mixing weights seen by the weight step are perturbed (SDARTS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PerturbationKind {
    None,
    /// SDARTS-RS: softmax(α) + U(−ε, ε).
    RandomSmoothing,
    /// SDARTS-ADV: softmax(α) perturbed by L∞ PGD.
    Adversarial,
}

/// Something that runs after each epoch's training: observes, reports, may stop the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookKind {
    /// The dominant Hessian eigenvalue of the validation loss w.r.t. the architecture weights.
    Hessian,
    /// DARTS-ES: stop when the tracked eigenvalue grows too fast (put it after `hessian`).
    EarlyStop,
}

/// Which architecture an epoch reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectionKind {
    /// Argmax operation, top-k parents of the architecture weights.
    Argmax,
    /// Draw candidates (from the controller if there is one, else uniform), rank on a few
    /// batches, rescore the best (`[selection]`).
    SampleAndRank,
    /// DARTS-PT: per choice block the operation, per node the parents, whose removal hurts the
    /// supernet's validation accuracy most, fixed one at a time with fine-tuning in between
    /// (`[options.projection]`, [`crate::projection`]).
    Projection,
}

/// How the one-shot error of a discrete architecture is measured in the supernet
/// (`crate::evaluation`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvaluationKind {
    /// Eval-mode BatchNorm with the running statistics training left (the original's).
    #[default]
    RunningStatistics,
    /// BN recalibration (Pourchot et al. 2020): the statistics re-estimated on
    /// `[options.bn_recalibration] batches` training batches per architecture first.
    BnRecalibration,
}

impl EvaluationKind {
    /// The `[options]` name, none for the running statistics.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Self::RunningStatistics => None,
            Self::BnRecalibration => Some("bn_recalibration"),
        }
    }

    fn is_default(&self) -> bool {
        *self == Self::RunningStatistics
    }
}

/// A method: one part per seam. `base` is the registered method whose spec §3 defaults the
/// configuration starts from (itself for a registered method).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Composition {
    pub base: String,
    pub data_split: DataSplit,
    pub relaxation: RelaxationKind,
    pub update: UpdateKind,
    #[serde(default)]
    pub regularizers: Vec<RegularizerKind>,
    pub perturbation: PerturbationKind,
    #[serde(default)]
    pub hooks: Vec<HookKind>,
    pub selection: SelectionKind,
    /// The one-shot evaluation of discrete architectures (absent: the running statistics).
    #[serde(default, skip_serializing_if = "EvaluationKind::is_default")]
    pub evaluation: EvaluationKind,
}

impl Composition {
    /// The plain DARTS composition (`base` named), the start of most methods.
    pub fn darts(base: &str) -> Self {
        Composition {
            base: base.to_string(),
            data_split: DataSplit::Halves,
            relaxation: RelaxationKind::Softmax,
            update: UpdateKind::Gradient,
            regularizers: Vec::new(),
            perturbation: PerturbationKind::None,
            hooks: Vec::new(),
            selection: SelectionKind::Argmax,
            evaluation: EvaluationKind::RunningStatistics,
        }
    }

    /// The names of the parts that take `[options.<name>]`, in composition order.
    pub fn option_parts(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = self.regularizers.iter().map(|r| r.name()).collect();
        v.extend(self.perturbation.name());
        v.extend(self.hooks.iter().map(|h| h.name()));
        v.extend(self.selection.name());
        v.extend(self.evaluation.name());
        v
    }

    /// Parts that cannot work together, named.
    pub fn validate(&self) -> Result<(), String> {
        let controller = self.relaxation == RelaxationKind::ControllerOneHot;
        if (self.update == UpdateKind::Reinforce) != controller {
            return Err(
                "[method]: `update = \"reinforce\"` and `relaxation = \"controller_one_hot\"` go together (the update trains the controller the relaxation samples from)"
                    .into(),
            );
        }
        let sampled = matches!(
            self.relaxation,
            RelaxationKind::UniformOneHot | RelaxationKind::ControllerOneHot
        );
        let learns = self.update == UpdateKind::Gradient;
        if sampled && (learns || !self.regularizers.is_empty()) {
            return Err(format!(
                "[method]: relaxation `{}` has no architecture weights for `update = \"gradient\"` or regularizers",
                serde_name(&self.relaxation)
            ));
        }
        if self.perturbation != PerturbationKind::None && self.relaxation != RelaxationKind::Softmax
        {
            return Err(
                "[method]: a perturbation perturbs softmax(α): it needs `relaxation = \"softmax\"`"
                    .into(),
            );
        }
        if !self.regularizers.is_empty() && !learns {
            return Err("[method]: regularizers need `update = \"gradient\"`".into());
        }
        let early = self.hooks.iter().position(|h| *h == HookKind::EarlyStop);
        let hessian = self.hooks.iter().position(|h| *h == HookKind::Hessian);
        if let Some(e) = early {
            if hessian.is_none_or(|h| h > e) {
                return Err("[method]: hook `early_stop` reads the eigenvalue of a `hessian` hook listed before it".into());
            }
        }
        if self.selection == SelectionKind::Argmax && sampled {
            return Err("[method]: `selection = \"argmax\"` needs learned architecture weights; sampling methods use `sample_and_rank`".into());
        }
        if self.selection == SelectionKind::Projection
            && (self.relaxation != RelaxationKind::Softmax
                || self.perturbation != PerturbationKind::None)
        {
            return Err("[method]: `selection = \"projection\"` projects softmax(α): it needs `relaxation = \"softmax\"` and no perturbation".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in self.option_parts() {
            if !seen.insert(p) {
                return Err(format!("[method]: part `{p}` is listed twice"));
            }
        }
        Ok(())
    }
}

/// The snake_case name serde gives a unit variant.
fn serde_name<T: Serialize>(v: &T) -> String {
    toml::Value::try_from(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl RegularizerKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::DrnasKl => "drnas_kl",
            Self::BetaDecay => "beta_decay",
            Self::ZeroOne => "zero_one",
        }
    }
}

impl PerturbationKind {
    /// The `[options]` name, none for no perturbation.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::RandomSmoothing => Some("random_smoothing"),
            Self::Adversarial => Some("adversarial"),
        }
    }
}

impl SelectionKind {
    /// The `[options]` name, none for a selection without settings.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Self::Argmax | Self::SampleAndRank => None,
            Self::Projection => Some("projection"),
        }
    }
}

impl HookKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Hessian => "hessian",
            Self::EarlyStop => "early_stop",
        }
    }
}
