//! A one-shot optimizer is a composition of three primitives: a [`Relaxation`] (how the
//! architecture state becomes mixing weights for the weight steps), an [`ArchUpdate`] (how the
//! architecture state learns) and a [`Selection`] (which architecture an epoch reports). This
//! module builds the five optimizers of spec §3 from a [`SearchConfig`].

use std::cell::RefCell;
use std::rc::Rc;

use tch::nn;

use crate::arch_update::{
    ArchAdam, ArchUpdate, ControllerUpdate, FirstOrder, NoArchUpdate, SecondOrder,
};
use crate::config::{ArchOrder, OptimizerKind, SearchConfig};
use crate::controller::{Controller, Reinforce};
use crate::mixing::{Gumbel, Relaxation, SampledOneHot, Softmax};
use crate::model::OneShotModel;
use crate::optim::{named_trainable, Adam};
use crate::sampler::{FromController, Uniform};
use crate::selection::{Argmax, SampleAndRank, Selection};

/// The parts of a one-shot optimizer.
pub struct OneShotOptimizer {
    pub relaxation: Box<dyn Relaxation>,
    pub arch_update: Box<dyn ArchUpdate>,
    pub selection: Box<dyn Selection>,
    /// The ENAS controller's weights, when there is one (checkpointed with the run).
    pub controller_store: Option<nn::VarStore>,
    /// GDAS: the temperature schedule (τ_max, τ_min).
    pub tau_schedule: Option<(f64, f64)>,
}

/// Adam on the model's architecture weights with the configuration's settings.
pub fn arch_adam(cfg: &SearchConfig, model: &OneShotModel) -> ArchAdam {
    let a = &cfg.arch;
    ArchAdam {
        adam: Adam::new(
            model.arch_params(),
            a.lr,
            (a.beta1, a.beta2),
            1e-8,
            a.weight_decay,
        ),
        grad_clip: a.grad_clip,
    }
}

/// First or second order, as configured.
fn darts_update(cfg: &SearchConfig, model: &OneShotModel) -> Box<dyn ArchUpdate> {
    let arch = arch_adam(cfg, model);
    match cfg.arch.order {
        ArchOrder::First => Box::new(FirstOrder(arch)),
        ArchOrder::Second => Box::new(SecondOrder {
            arch,
            no_momentum: cfg.optimizer == OptimizerKind::Gdas
                && cfg.faithful.gdas_unrolled_no_momentum,
        }),
    }
}

impl OneShotOptimizer {
    /// The optimizer `cfg.optimizer` with the settings of `cfg`. PC-DARTS differs from DARTS
    /// only in the supernet (`model.partial_channels`), so both build the same parts here.
    pub fn build(cfg: &SearchConfig, model: &OneShotModel) -> Self {
        let rank = |sampler| -> Box<dyn Selection> {
            Box::new(SampleAndRank {
                sampler,
                samples: cfg.selection.samples,
                rank_batches: cfg.selection.rank_batches,
                top_k: cfg.selection.top_k,
            })
        };
        match cfg.optimizer {
            OptimizerKind::Darts | OptimizerKind::PcDarts => OneShotOptimizer {
                relaxation: Box::new(Softmax),
                arch_update: darts_update(cfg, model),
                selection: Box::new(Argmax),
                controller_store: None,
                tau_schedule: None,
            },
            OptimizerKind::Gdas => OneShotOptimizer {
                relaxation: Box::new(Gumbel::gdas(cfg.arch.tau_max)),
                arch_update: darts_update(cfg, model),
                selection: Box::new(Argmax),
                controller_store: None,
                tau_schedule: Some((cfg.arch.tau_max, cfg.arch.tau_min)),
            },
            OptimizerKind::RandomWs => OneShotOptimizer {
                relaxation: Box::new(SampledOneHot::new(Box::new(Uniform))),
                arch_update: Box::new(NoArchUpdate),
                selection: rank(Box::new(Uniform)),
                controller_store: None,
                tau_schedule: None,
            },
            OptimizerKind::Enas => {
                let store = nn::VarStore::new(model.device);
                let c = &cfg.controller;
                let controller = Rc::new(RefCell::new(Controller::new(
                    &store.root(),
                    &model.space,
                    c,
                )));
                let adam = Adam::new(
                    named_trainable(&store),
                    c.lr,
                    (c.beta1, c.beta2),
                    c.eps,
                    0.0,
                );
                OneShotOptimizer {
                    relaxation: Box::new(SampledOneHot::new(Box::new(FromController(
                        controller.clone(),
                    )))),
                    arch_update: Box::new(ControllerUpdate {
                        controller: controller.clone(),
                        adam,
                        reinforce: Reinforce {
                            entropy_weight: c.entropy_weight,
                            baseline_decay: c.baseline_decay,
                            baseline: 0.0,
                        },
                        steps: c.steps_per_epoch,
                    }),
                    selection: rank(Box::new(FromController(controller))),
                    controller_store: Some(store),
                    tau_schedule: None,
                }
            }
        }
    }
}
