//! The five optimizers of spec §3 as compositions of the crate's primitives: DARTS and
//! PC-DARTS (softmax, Adam on α, argmax), GDAS (Gumbel, Adam on α, argmax, τ schedule),
//! Random-WS (uniform one-hot, no update, sample-and-rank) and ENAS ([`Enas`]: controller
//! one-hot, REINFORCE, sample-and-rank, its own data split and faithful per-batch schedule).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use supernet::MixingSource;
use tch::{nn, Tensor};

use crate::arch_update::{ArchUpdate, ControllerUpdate, FirstOrder, NoArchUpdate, SecondOrder};
use crate::config::{ArchOrder, SearchConfig};
use crate::controller::{Controller, Reinforce};
use crate::error::OneShotError;
use crate::mixing::{Gumbel, MixContext, SampledOneHot, Softmax};
use crate::model::{OneShotModel, TensorBatch};
use crate::optim::{named_trainable, Adam};
use crate::optimizer::{
    arch_adam, DataSplit, EpochContext, EpochEnd, OneShotOptimizer, SearchOptimizer, StepStats,
};
use crate::run_dir::Metrics;
use crate::sampler::{ArchSampler, FromController, Uniform};
use crate::schedule::cosine_lr;
use crate::selection::{Argmax, RankOn, SampleAndRank, SelectContext, Selected, Selection};

/// First or second order as `[arch] order` says; `no_momentum` drops the momentum term of the
/// second-order virtual step.
pub fn darts_update(
    cfg: &SearchConfig,
    model: &OneShotModel,
    no_momentum: bool,
) -> Box<dyn ArchUpdate> {
    let arch = arch_adam(cfg, model);
    match cfg.arch.order {
        ArchOrder::First => Box::new(FirstOrder(arch)),
        ArchOrder::Second => Box::new(SecondOrder { arch, no_momentum }),
    }
}

/// Sample-and-rank selection with the `[selection]` settings. `shuffled`: whether the
/// original's validation iterator was shuffled (Random-WS' valid half) or ran in order (ENAS'
/// test set), for `faithful.rank_next_batches`.
pub fn sample_and_rank(
    cfg: &SearchConfig,
    sampler: Box<dyn ArchSampler>,
    shuffled: bool,
) -> Box<dyn Selection> {
    Box::new(SampleAndRank {
        sampler,
        samples: cfg.selection.samples,
        rank_batches: cfg.selection.rank_batches,
        top_k: cfg.selection.top_k,
        rank_on: match cfg.faithful.rank_next_batches {
            true => RankOn::Next { shuffled },
            false => RankOn::First,
        },
    })
}

/// DARTS (and PC-DARTS, which differs only in the supernet's `partial_channels`).
pub fn darts(cfg: &SearchConfig, model: &OneShotModel) -> OneShotOptimizer {
    OneShotOptimizer {
        warm_start_epochs: cfg.arch.warm_start_epochs,
        ..OneShotOptimizer::new(
            Box::new(Softmax),
            darts_update(cfg, model, false),
            Box::new(Argmax),
        )
    }
}

/// GDAS: hard Gumbel operations, soft Gumbel edges, τ linear from `tau_max` toward `tau_min`.
pub fn gdas(cfg: &SearchConfig, model: &OneShotModel) -> OneShotOptimizer {
    OneShotOptimizer {
        tau_schedule: Some((cfg.arch.tau_max, cfg.arch.tau_min)),
        warm_start_epochs: cfg.arch.warm_start_epochs,
        ..OneShotOptimizer::new(
            Box::new(Gumbel::gdas(cfg.arch.tau_max)),
            darts_update(cfg, model, cfg.faithful.gdas_unrolled_no_momentum),
            Box::new(Argmax),
        )
    }
}

/// Random search with weight sharing.
pub fn random_ws(cfg: &SearchConfig) -> OneShotOptimizer {
    OneShotOptimizer::new(
        Box::new(SampledOneHot::new(Box::new(Uniform))),
        Box::new(NoArchUpdate),
        sample_and_rank(cfg, Box::new(Uniform), true),
    )
}

/// ENAS: the composition, the ENAS data split and (faithful mode) the cosine schedule stepped
/// every minibatch with period `epochs`.
pub struct Enas {
    pub parts: OneShotOptimizer,
    /// (lr, lr_min) of the faithful per-batch schedule, or none for the per-epoch one.
    pub per_batch_lr: Option<(f64, f64)>,
}

impl Enas {
    pub fn new(cfg: &SearchConfig, model: &OneShotModel) -> Self {
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
        let update = ControllerUpdate {
            controller: controller.clone(),
            adam,
            reinforce: Reinforce {
                entropy_weight: c.entropy_weight,
                baseline_decay: c.baseline_decay,
                baseline: 0.0,
            },
            steps: c.steps_per_epoch,
        };
        let parts = OneShotOptimizer {
            controller_store: Some(store),
            ..OneShotOptimizer::new(
                Box::new(SampledOneHot::new(Box::new(FromController(
                    controller.clone(),
                )))),
                Box::new(update),
                sample_and_rank(cfg, Box::new(FromController(controller)), false),
            )
        };
        let w = &cfg.weights;
        Enas {
            parts,
            per_batch_lr: cfg.faithful.enas_per_batch_lr.then_some((w.lr, w.lr_min)),
        }
    }
}

impl SearchOptimizer for Enas {
    fn data_split(&self) -> DataSplit {
        DataSplit::Enas
    }
    fn step(
        &mut self,
        cx: &mut EpochContext<'_>,
        train: &TensorBatch,
        valid: Option<&TensorBatch>,
    ) -> Result<StepStats, OneShotError> {
        if let Some((hi, lo)) = self.per_batch_lr {
            cx.sgd.lr = cosine_lr(cx.global_step as f64, cx.epochs as f64, hi, lo);
        }
        self.parts.step(cx, train, valid)
    }
    fn end_epoch(
        &mut self,
        cx: &mut EpochContext<'_>,
        batches: &mut dyn FnMut() -> Result<TensorBatch, OneShotError>,
    ) -> Result<EpochEnd, OneShotError> {
        self.parts.end_epoch(cx, batches)
    }
    fn select(&mut self, cx: &mut SelectContext<'_>) -> Result<Selected, OneShotError> {
        self.parts.select(cx)
    }
    fn mixing(&mut self, cx: &mut MixContext<'_>) -> Result<Box<dyn MixingSource>, OneShotError> {
        self.parts.mixing(cx)
    }
    fn metrics(&self) -> Metrics {
        self.parts.metrics()
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        self.parts.state()
    }
    fn load_state(&mut self, tensors: &BTreeMap<String, Tensor>) -> Result<(), OneShotError> {
        self.parts.load_state(tensors)
    }
    fn own_store(&self) -> Option<&nn::VarStore> {
        self.parts.own_store()
    }
    fn own_store_mut(&mut self) -> Option<&mut nn::VarStore> {
        self.parts.own_store_mut()
    }
}
