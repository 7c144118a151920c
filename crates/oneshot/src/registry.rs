//! The optimizer registry: name → one-line description, the built-in whose spec §3 defaults a
//! configuration starts from, the optimizer's own `[options]` section (a typed struct with its
//! defaults) and the builder. `nb1s1 search --list`, the CLI's help, configuration loading and
//! `run.json` all read this table, so a new variant is one file plus one line here.

use serde::{de::DeserializeOwned, Serialize};

use crate::config::{OptimizerKind, SearchConfig};
use crate::error::OneShotError;
use crate::model::OneShotModel;
use crate::optimizer::SearchOptimizer;

/// Builds an optimizer from the run's configuration and model.
pub type Builder =
    fn(&SearchConfig, &OneShotModel) -> Result<Box<dyn SearchOptimizer>, OneShotError>;

/// One registered optimizer.
pub struct Registered {
    /// The name in configs, on the command line, in `run.json` and in the results store.
    pub name: &'static str,
    /// One line for `nb1s1 search --list`.
    pub description: &'static str,
    /// The built-in whose defaults (spec §3) the configuration starts from.
    pub defaults_of: OptimizerKind,
    /// The `[options]` section: its defaults as TOML and a check that it parses into the
    /// optimizer's typed settings (unknown keys named). See [`options_section`].
    pub options: Option<fn() -> OptionsSection>,
    pub build: Builder,
}

/// The typed `[options]` section of a registered optimizer.
#[derive(Clone, Copy)]
pub struct OptionsSection {
    pub defaults: fn() -> toml::Table,
    pub check: fn(&toml::Table) -> Result<(), String>,
}

/// The [`OptionsSection`] of a settings struct `T` (serde, `Default` = the original's values;
/// give it `#[serde(default, deny_unknown_fields)]` so unknown keys are errors).
pub fn options_section<T: Default + Serialize + DeserializeOwned>() -> OptionsSection {
    OptionsSection {
        defaults: || toml::Table::try_from(T::default()).unwrap_or_default(),
        check: |t| parse_options::<T>(t).map(|_| ()),
    }
}

/// The `[options]` table as the optimizer's settings `T`.
pub fn parse_options<T: DeserializeOwned>(t: &toml::Table) -> Result<T, String> {
    toml::Value::Table(t.clone())
        .try_into()
        .map_err(|e: toml::de::Error| format!("[options]: {}", e.message()))
}

fn boxed<O: SearchOptimizer + 'static>(o: O) -> Result<Box<dyn SearchOptimizer>, OneShotError> {
    Ok(Box::new(o))
}

/// Every optimizer `nb1s1 search` knows, in `--list` order.
pub static REGISTRY: &[Registered] = &[
    Registered {
        name: "darts",
        description: "DARTS (Liu et al. 2019): softmax mixing, Adam on the architecture weights (first or second order), argmax",
        defaults_of: OptimizerKind::Darts,
        options: None,
        build: |c, m| boxed(crate::builtin::darts(c, m)),
    },
    Registered {
        name: "gdas",
        description: "GDAS (Dong & Yang 2019): hard Gumbel operations and soft Gumbel edges per cell, τ annealed",
        defaults_of: OptimizerKind::Gdas,
        options: None,
        build: |c, m| boxed(crate::builtin::gdas(c, m)),
    },
    Registered {
        name: "pc_darts",
        description: "PC-DARTS (Xu et al. 2020): DARTS on a partial-channel supernet",
        defaults_of: OptimizerKind::PcDarts,
        options: None,
        build: |c, m| boxed(crate::builtin::darts(c, m)),
    },
    Registered {
        name: "enas",
        description: "ENAS (Pham et al. 2018): an LSTM controller samples one-hot cells, trained by REINFORCE",
        defaults_of: OptimizerKind::Enas,
        options: None,
        build: |c, m| boxed(crate::builtin::Enas::new(c, m)),
    },
    Registered {
        name: "random_ws",
        description: "Random search with weight sharing (Li & Talwalkar 2019): uniform one-hot cells, sample and rank",
        defaults_of: OptimizerKind::RandomWs,
        options: None,
        build: |c, _| boxed(crate::builtin::random_ws(c)),
    },
    Registered {
        name: "darts_hessian",
        description: "DARTS with Hessian tracking: the dominant eigenvalue of the validation loss' Hessian w.r.t. the architecture weights, logged per epoch",
        defaults_of: OptimizerKind::Darts,
        options: Some(options_section::<crate::hessian::HessianConfig>),
        build: |c, m| {
            let s = c.options_as()?;
            boxed(crate::hessian::HessianTracking::new(crate::builtin::darts(c, m), s))
        },
    },
    Registered {
        name: "darts_es",
        description: "DARTS-ES (Zela et al. 2020): DARTS stopped early when the Hessian's dominant eigenvalue grows too fast",
        defaults_of: OptimizerKind::Darts,
        options: Some(options_section::<crate::darts_es::DartsEsConfig>),
        build: |c, m| boxed(crate::darts_es::DartsEs::new(c, m)?),
    },
    Registered {
        name: "sdarts_rs",
        description: "SDARTS-RS (Chen & Hsieh 2020): DARTS whose weight steps see softmax(α) + U(−ε, ε), ε ramped 0.03 → 0.3",
        defaults_of: OptimizerKind::Darts,
        options: Some(options_section::<crate::sdarts::SdartsConfig>),
        build: |c, m| boxed(crate::sdarts::sdarts_rs(c, m)?),
    },
    Registered {
        name: "sdarts_adv",
        description: "SDARTS-ADV (Chen & Hsieh 2020): DARTS whose weight steps see softmax(α) perturbed by 7 steps of L∞ PGD, ε ramped 0.03 → 0.3",
        defaults_of: OptimizerKind::Darts,
        options: Some(options_section::<crate::sdarts::SdartsConfig>),
        build: |c, m| boxed(crate::sdarts::SdartsAdv::new(c, m)?),
    },
    Registered {
        name: "drnas",
        description: "DrNAS (Chen et al. 2021): Dirichlet mixing weights with pathwise gradients and a KL regularizer",
        defaults_of: OptimizerKind::Darts,
        options: Some(options_section::<crate::drnas::DrnasConfig>),
        build: |c, m| boxed(crate::drnas::drnas(c, m)?),
    },
];

/// The registered optimizer called `name` (case and `-`/`_` ignored, the built-ins' aliases
/// accepted); an unknown name is an error that lists the known ones.
pub fn lookup(name: &str) -> Result<&'static Registered, String> {
    let norm = name.to_ascii_lowercase().replace('-', "_");
    let alias = OptimizerKind::parse(&norm).map(OptimizerKind::name);
    REGISTRY
        .iter()
        .find(|r| r.name == norm || Some(r.name) == alias)
        .ok_or_else(|| format!("unknown optimizer `{name}` (known: {})", names().join(", ")))
}

/// The registered names, in order.
pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|r| r.name).collect()
}

/// `name  description` lines for `nb1s1 search --list`.
pub fn list() -> String {
    let w = REGISTRY.iter().map(|r| r.name.len()).max().unwrap_or(0);
    REGISTRY
        .iter()
        .map(|r| format!("{:w$}  {}\n", r.name, r.description))
        .collect()
}
