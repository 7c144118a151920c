//! Builds the one optimizer from a configuration's `[method]`: one part per seam, each with its
//! `[options.<part>]` settings. The five spec §3 methods come out with the same parts, in the
//! same order, as before there was a composition (their fidelity depends on it).

use std::cell::RefCell;
use std::rc::Rc;

use tch::nn;

use crate::arch_update::{ArchUpdate, ControllerUpdate, FirstOrder, NoArchUpdate, SecondOrder};
use crate::config::{ArchOrder, SearchConfig};
use crate::controller::{Controller, Reinforce};
use crate::error::OneShotError;
use crate::hook::EpochHook;
use crate::method::{
    Composition, DataSplit, HookKind, PerturbationKind, RegularizerKind, RelaxationKind,
    SelectionKind, UpdateKind,
};
use crate::mixing::{Gumbel, Relaxation, SampledOneHot, Softmax};
use crate::model::OneShotModel;
use crate::optim::{named_trainable, Adam};
use crate::optimizer::{arch_adam, OneShotOptimizer};
use crate::perturbation::Perturbation;
use crate::regularizer::Regularizer;
use crate::sampler::{ArchSampler, FromController, Uniform};
use crate::selection::{Argmax, RankOn, SampleAndRank, Selection};

/// The optimizer `cfg.method` describes, on `model`.
pub fn build(cfg: &SearchConfig, model: &OneShotModel) -> Result<OneShotOptimizer, OneShotError> {
    let m = &cfg.method;
    m.validate().map_err(|msg| config_error(cfg, msg))?;
    // The controller is the one part three seams share (ENAS).
    let controller = (m.relaxation == RelaxationKind::ControllerOneHot).then(|| {
        let store = nn::VarStore::new(model.device);
        let c = Controller::new(&store.root(), &model.space, &cfg.controller);
        (store, Rc::new(RefCell::new(c)))
    });
    let shared = controller.as_ref().map(|(_, c)| c.clone());
    let sampler = || -> Box<dyn ArchSampler> {
        match &shared {
            Some(c) => Box::new(FromController(c.clone())),
            None => Box::new(Uniform),
        }
    };
    let mut relaxation = relaxation(cfg, m, sampler());
    let arch_update = update(cfg, m, model, controller.as_ref())?;
    let mut selection = selection(cfg, m, sampler());
    let mut hooks: Vec<Box<dyn EpochHook>> = Vec::new();
    // DARTS-PT's selection also fixes the mixing and drives its phase (crate::projection).
    if m.selection == SelectionKind::Projection {
        let (r, s, h) = crate::projection::parts(cfg, model)?;
        (relaxation, selection) = (r, s);
        hooks.push(h);
    }
    for h in &m.hooks {
        hooks.push(hook(cfg, *h)?);
    }
    let w = &cfg.weights;
    Ok(OneShotOptimizer {
        data_split: m.data_split,
        relaxation,
        arch_update,
        regularizers: m
            .regularizers
            .iter()
            .map(|r| regularizer(cfg, *r))
            .collect::<Result<_, _>>()?,
        perturbation: perturbation(cfg, m.perturbation)?,
        hooks,
        selection,
        controller_store: controller.map(|(s, _)| s),
        tau_schedule: (m.relaxation == RelaxationKind::Gumbel)
            .then_some((cfg.arch.tau_max, cfg.arch.tau_min)),
        warm_start_epochs: cfg.arch.warm_start_epochs,
        per_batch_lr: (cfg.faithful.enas_per_batch_lr && m.update == UpdateKind::Reinforce)
            .then_some((w.lr, w.lr_min)),
    })
}

fn config_error(cfg: &SearchConfig, msg: String) -> OneShotError {
    OneShotError::Config {
        file: format!("method `{}`", cfg.optimizer),
        msg,
    }
}

fn relaxation(
    cfg: &SearchConfig,
    m: &Composition,
    sampler: Box<dyn ArchSampler>,
) -> Box<dyn Relaxation> {
    match m.relaxation {
        RelaxationKind::Softmax => Box::new(Softmax),
        RelaxationKind::Gumbel => Box::new(Gumbel::gdas(cfg.arch.tau_max)),
        RelaxationKind::UniformOneHot | RelaxationKind::ControllerOneHot => {
            Box::new(SampledOneHot::new(sampler))
        }
        RelaxationKind::Dirichlet => Box::new(crate::drnas::DirichletMixing),
        RelaxationKind::Sigmoid => Box::new(crate::sigmoid::Sigmoid),
    }
}

/// Adam on α, first or second order as `[arch] order` says. GDAS' faithful `musl_` typo drops
/// the momentum of the second-order virtual step (only with the Gumbel relaxation, as GDAS).
fn update(
    cfg: &SearchConfig,
    m: &Composition,
    model: &OneShotModel,
    controller: Option<&(nn::VarStore, Rc<RefCell<Controller>>)>,
) -> Result<Box<dyn ArchUpdate>, OneShotError> {
    Ok(match m.update {
        UpdateKind::None => Box::new(NoArchUpdate),
        UpdateKind::Gradient => {
            let arch = arch_adam(cfg, model);
            match cfg.arch.order {
                ArchOrder::First => Box::new(FirstOrder(arch)),
                ArchOrder::Second => Box::new(SecondOrder {
                    arch,
                    no_momentum: cfg.faithful.gdas_unrolled_no_momentum
                        && m.relaxation == RelaxationKind::Gumbel,
                }),
            }
        }
        UpdateKind::Reinforce => {
            let (store, controller) = controller.ok_or_else(|| {
                config_error(cfg, "[method]: `reinforce` needs a controller".into())
            })?;
            let c = &cfg.controller;
            Box::new(ControllerUpdate {
                controller: controller.clone(),
                adam: Adam::new(named_trainable(store), c.lr, (c.beta1, c.beta2), c.eps, 0.0),
                reinforce: Reinforce {
                    entropy_weight: c.entropy_weight,
                    baseline_decay: c.baseline_decay,
                    baseline: 0.0,
                },
                steps: c.steps_per_epoch,
            })
        }
    })
}

/// Sample-and-rank: `[selection]` settings; `faithful.rank_next_batches` ranks on a cycling
/// iterator, reshuffled where the original's valid queue was (DARTS' halves, not ENAS' test set).
fn selection(
    cfg: &SearchConfig,
    m: &Composition,
    sampler: Box<dyn ArchSampler>,
) -> Box<dyn Selection> {
    match m.selection {
        SelectionKind::Argmax | SelectionKind::Projection => Box::new(Argmax),
        SelectionKind::SampleAndRank => Box::new(SampleAndRank {
            sampler,
            samples: cfg.selection.samples,
            rank_batches: cfg.selection.rank_batches,
            top_k: cfg.selection.top_k,
            rank_on: match cfg.faithful.rank_next_batches {
                true => RankOn::Next {
                    shuffled: m.data_split == DataSplit::Halves,
                },
                false => RankOn::First,
            },
        }),
    }
}

fn regularizer(
    cfg: &SearchConfig,
    r: RegularizerKind,
) -> Result<Box<dyn Regularizer>, OneShotError> {
    let name = r.name();
    Ok(match r {
        RegularizerKind::DrnasKl => Box::new(crate::drnas::DrnasKl(cfg.part_options(name)?)),
        RegularizerKind::BetaDecay => {
            Box::new(crate::beta_decay::BetaDecay::new(cfg.part_options(name)?))
        }
        RegularizerKind::ZeroOne => Box::new(crate::zero_one::ZeroOne(cfg.part_options(name)?)),
    })
}

fn perturbation(
    cfg: &SearchConfig,
    p: PerturbationKind,
) -> Result<Option<Box<dyn Perturbation>>, OneShotError> {
    use crate::sdarts::{Adversarial, RandomSmoothing};
    Ok(match (p, p.name()) {
        (PerturbationKind::RandomSmoothing, Some(n)) => {
            Some(Box::new(RandomSmoothing::new(cfg.part_options(n)?)))
        }
        (PerturbationKind::Adversarial, Some(n)) => {
            Some(Box::new(Adversarial::new(cfg.part_options(n)?)))
        }
        _ => None,
    })
}

fn hook(cfg: &SearchConfig, h: HookKind) -> Result<Box<dyn EpochHook>, OneShotError> {
    let name = h.name();
    Ok(match h {
        HookKind::Hessian => Box::new(crate::hessian::HessianHook::new(cfg.part_options(name)?)),
        HookKind::EarlyStop => Box::new(crate::darts_es::EarlyStop::new(cfg.part_options(name)?)),
    })
}
