//! The method registry: name → one-line description, the spec §3 built-in whose defaults a
//! configuration starts from, and the method's default composition (its parts; each part's
//! settings default to its paper's values, `crate::settings`). `nb1s1 search --list`, the CLI's
//! help, configuration loading, the benchmark layer and `run.json` all read this table, so a
//! method made of existing parts is one entry here (or only a config file, see
//! docs/new-variant.md). Pure data: it imports no configuration or optimizer code.

use crate::method::{
    Composition, DataSplit, HookKind, OptimizerKind, PerturbationKind, RegularizerKind,
    RelaxationKind, SelectionKind, UpdateKind,
};

/// One registered method.
pub struct Registered {
    /// The name in configs, on the command line, in `run.json` and in the results store.
    pub name: &'static str,
    /// One line for `nb1s1 search --list`.
    pub description: &'static str,
    /// The built-in whose defaults (spec §3) the configuration starts from.
    pub defaults_of: OptimizerKind,
    /// Its parts (`base` is the method's own name).
    pub composition: fn() -> Composition,
}

impl Registered {
    /// The default composition, `base` = this method.
    pub fn default_composition(&self) -> Composition {
        Composition {
            base: self.name.to_string(),
            ..(self.composition)()
        }
    }
}

fn darts() -> Composition {
    Composition::darts("")
}

fn sampling(relaxation: RelaxationKind, update: UpdateKind, split: DataSplit) -> Composition {
    Composition {
        data_split: split,
        relaxation,
        update,
        selection: SelectionKind::SampleAndRank,
        ..darts()
    }
}

/// Every method `nb1s1 search` knows, in `--list` order.
pub static REGISTRY: &[Registered] = &[
    Registered {
        name: "darts",
        description: "DARTS (Liu et al. 2019): softmax mixing, Adam on the architecture weights (first or second order), argmax",
        defaults_of: OptimizerKind::Darts,
        composition: darts,
    },
    Registered {
        name: "gdas",
        description: "GDAS (Dong & Yang 2019): hard Gumbel operations and soft Gumbel edges per cell, τ annealed",
        defaults_of: OptimizerKind::Gdas,
        composition: || Composition {
            relaxation: RelaxationKind::Gumbel,
            ..darts()
        },
    },
    Registered {
        name: "pc_darts",
        description: "PC-DARTS (Xu et al. 2020): DARTS on a partial-channel supernet",
        defaults_of: OptimizerKind::PcDarts,
        composition: darts,
    },
    Registered {
        name: "enas",
        description: "ENAS (Pham et al. 2018): an LSTM controller samples one-hot cells, trained by REINFORCE",
        defaults_of: OptimizerKind::Enas,
        composition: || {
            sampling(
                RelaxationKind::ControllerOneHot,
                UpdateKind::Reinforce,
                DataSplit::Enas,
            )
        },
    },
    Registered {
        name: "random_ws",
        description: "Random search with weight sharing (Li & Talwalkar 2019): uniform one-hot cells, sample and rank",
        defaults_of: OptimizerKind::RandomWs,
        composition: || {
            sampling(
                RelaxationKind::UniformOneHot,
                UpdateKind::None,
                DataSplit::Halves,
            )
        },
    },
    Registered {
        name: "darts_hessian",
        description: "DARTS with Hessian tracking: the dominant eigenvalue of the validation loss' Hessian w.r.t. the architecture weights, logged per epoch",
        defaults_of: OptimizerKind::Darts,
        composition: || Composition {
            hooks: vec![HookKind::Hessian],
            ..darts()
        },
    },
    Registered {
        name: "darts_es",
        description: "DARTS-ES (Zela et al. 2020): DARTS stopped early when the Hessian's dominant eigenvalue grows too fast",
        defaults_of: OptimizerKind::Darts,
        composition: || Composition {
            hooks: vec![HookKind::Hessian, HookKind::EarlyStop],
            ..darts()
        },
    },
    Registered {
        name: "sdarts_rs",
        description: "SDARTS-RS (Chen & Hsieh 2020): DARTS whose weight steps see softmax(α) + U(−ε, ε), ε ramped 0.03 → 0.3",
        defaults_of: OptimizerKind::Darts,
        composition: || Composition {
            perturbation: PerturbationKind::RandomSmoothing,
            ..darts()
        },
    },
    Registered {
        name: "sdarts_adv",
        description: "SDARTS-ADV (Chen & Hsieh 2020): DARTS whose weight steps see softmax(α) perturbed by 7 steps of L∞ PGD, ε ramped 0.03 → 0.3",
        defaults_of: OptimizerKind::Darts,
        composition: || Composition {
            perturbation: PerturbationKind::Adversarial,
            ..darts()
        },
    },
    Registered {
        name: "drnas",
        description: "DrNAS (Chen et al. 2021): Dirichlet mixing weights with pathwise gradients and a KL regularizer",
        defaults_of: OptimizerKind::Darts,
        composition: || Composition {
            relaxation: RelaxationKind::Dirichlet,
            regularizers: vec![RegularizerKind::DrnasKl],
            ..darts()
        },
    },
    Registered {
        name: "beta_darts",
        description: "β-DARTS (Ye et al. 2022): DARTS with the β-decay regularizer λ·mean logsumexp(α) of the choice blocks, λ ramped",
        defaults_of: OptimizerKind::Darts,
        composition: || Composition {
            regularizers: vec![RegularizerKind::BetaDecay],
            ..darts()
        },
    },
    Registered {
        name: "fair_darts",
        description: "Fair-DARTS (Chu et al. 2020): independent sigmoid weights and the zero-one loss, argmax of the sigmoids",
        defaults_of: OptimizerKind::Darts,
        composition: || Composition {
            relaxation: RelaxationKind::Sigmoid,
            regularizers: vec![RegularizerKind::ZeroOne],
            ..darts()
        },
    },
    Registered {
        name: "darts_pt",
        description: "DARTS-PT (Wang et al. 2021): DARTS, then per choice block the op and per node the parents whose removal most lowers the supernet's validation accuracy, projected one at a time with fine-tuning between",
        defaults_of: OptimizerKind::Darts,
        composition: || Composition {
            selection: SelectionKind::Projection,
            ..darts()
        },
    },
];

/// The registered method called `name` (case and `-`/`_` ignored, the built-ins' aliases
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
