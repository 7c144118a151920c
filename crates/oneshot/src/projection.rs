//! DARTS-PT's perturbation-based projection (Wang et al., "Rethinking Architecture Selection in
//! Differentiable NAS", ICLR 2021) as a selection: after the supernet is trained, one choice at
//! a time is fixed by what removing it does to the supernet's validation accuracy, with
//! fine-tuning in between.
//!
//! The run's last [`ProjectionConfig::phase_epochs`] epochs are the projection phase. At the
//! start of its epochs 0, `proj_intv`, 2·`proj_intv`, … one projection is made: first every
//! choice block's operation (the block drawn at random among those left, as the authors'
//! `edge_decision = random`), each operation masked out of the mixture in turn and the one whose
//! removal lowers the accuracy most kept; then every node with a parent choice (the output
//! included), each candidate parent's edge weight zeroed in turn and the k whose removal lowers
//! the accuracy most kept. A projected block mixes with the one-hot row of its operation, a
//! projected node with the indicator of its parents, in every pass (weight step, architecture
//! step, evaluation). During the phase the weights train at `lr_factor` · lr with fresh momentum
//! (the authors reset the optimizer); before it the learning rate follows the cosine over the
//! search phase alone, so the supernet is trained as DARTS for that many epochs. docs/oneshot.md
//! gives the mapping onto NB-1Shot1 and docs/deviations.md where ours differs.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use rand::Rng;
use searchspace::SearchSpace;
use supernet::{
    discretize_with, softmax_mixing, ArchParams, MixingSource, MixingWeights, SharedMixing,
};
use tch::{Kind, Tensor};

use crate::config::SearchConfig;
use crate::error::OneShotError;
use crate::hook::EpochHook;
use crate::mixing::{MixContext, Relaxation};
use crate::model::{OneShotModel, TensorBatch};
use crate::optimizer::{EpochContext, EpochEnd};
use crate::run_dir::Metrics;
use crate::schedule::epoch_lr;
use crate::selection::{SelectContext, Selected, Selection};
pub use crate::settings::{parent_choices, ProjectionConfig, ProjectionCriterion, ProjectionOrder};

/// Metric: projections made so far.
pub const METRIC_PROJECTED: &str = "pt_projected";
/// Metric: weight steps since the last projection, at the end of the epoch.
pub const METRIC_TUNE_STEPS: &str = "pt_tune_steps";

/// What the projections have fixed so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Projected {
    /// Per choice block 1..=N (index block − 1): its operation (in `PRIMITIVES` order).
    pub ops: Vec<Option<usize>>,
    /// Per node 1..=N+1 (index node − 1): its parents, ascending.
    pub parents: Vec<Option<Vec<usize>>>,
}

/// What the next projection fixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The operation of choice block `b` (1..=N).
    Op(usize),
    /// The parents of node `k` (1..=N+1).
    Parents(usize),
}

impl Projected {
    /// Nothing projected on `space`.
    pub fn new(space: &SearchSpace) -> Self {
        let n = space.num_choice_blocks();
        Projected {
            ops: vec![None; n],
            parents: vec![None; n + 1],
        }
    }

    /// Projections made.
    pub fn count(&self) -> usize {
        self.ops.iter().flatten().count() + self.parents.iter().flatten().count()
    }

    /// What may be projected next: the open operations, or once none is left the open parent
    /// choices (the authors project every operation before any edge).
    pub fn open(&self, space: &SearchSpace) -> Vec<Target> {
        let ops: Vec<Target> = (1..=self.ops.len())
            .filter(|b| self.ops[b - 1].is_none())
            .map(Target::Op)
            .collect();
        match ops.is_empty() {
            false => ops,
            true => parent_choices(space)
                .into_iter()
                .filter(|k| self.parents[k - 1].is_none())
                .map(Target::Parents)
                .collect(),
        }
    }

    /// softmax(α) with the projected operation rows one-hot and the projected parent sets as
    /// indicators; exactly softmax(α) while nothing is projected.
    pub fn mixing(&self, arch: &ArchParams) -> MixingWeights {
        let mut w = softmax_mixing(arch);
        let (dev, kind) = (w.ops.device(), w.ops.kind());
        let constant = |v: &[f32], shape: &[i64]| {
            Tensor::from_slice(v)
                .view(shape)
                .to_kind(kind)
                .to_device(dev)
        };
        let n = self.ops.len();
        if self.ops.iter().any(Option::is_some) {
            let mut keep = vec![1f32; n];
            let mut fixed = vec![0f32; n * 3];
            for (i, o) in self.ops.iter().enumerate() {
                if let Some(o) = o {
                    keep[i] = 0.0;
                    fixed[i * 3 + o] = 1.0;
                }
            }
            let (keep, fixed) = (
                constant(&keep, &[n as i64, 1]),
                constant(&fixed, &[n as i64, 3]),
            );
            w.ops = &w.ops * keep + fixed;
        }
        for (i, p) in self.parents.iter().enumerate() {
            let Some(p) = p else { continue };
            let node = i + 1;
            let mut v = vec![0f32; node];
            p.iter().filter(|&&j| j < node).for_each(|&j| v[j] = 1.0);
            let t = constant(&v, &[1, node as i64]);
            match node == n + 1 {
                true => w.output = t,
                false => {
                    if let Some(slot @ Some(_)) = w.inputs.get_mut(i) {
                        *slot = Some(t);
                    }
                }
            }
        }
        w
    }

    /// The state as checkpoint tensors: the operations (−1: open) and one row per node of
    /// parent indicators (−1: open).
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let n = self.ops.len();
        let ops: Vec<i64> = self
            .ops
            .iter()
            .map(|o| o.map_or(-1, |o| o as i64))
            .collect();
        let mut parents = vec![-1i64; (n + 1) * (n + 1)];
        for (i, p) in self.parents.iter().enumerate() {
            if let Some(p) = p {
                let row = &mut parents[i * (n + 1)..(i + 1) * (n + 1)];
                row.iter_mut().for_each(|x| *x = 0);
                p.iter().for_each(|&j| row[j] = 1);
            }
        }
        vec![
            ("projection.ops".into(), Tensor::from_slice(&ops)),
            (
                "projection.parents".into(),
                Tensor::from_slice(&parents).view([n as i64 + 1, n as i64 + 1]),
            ),
        ]
    }

    /// Restores [`Projected::state`], checking every value against the space.
    pub fn load(
        space: &SearchSpace,
        tensors: &BTreeMap<String, Tensor>,
    ) -> Result<Self, OneShotError> {
        let mut p = Projected::new(space);
        let n = p.ops.len();
        let bad = |what: &str| {
            OneShotError::Invalid(format!(
                "checkpoint `projection.{what}`: does not fit space {}",
                space.id().number()
            ))
        };
        let read = |key: &str, len: usize| -> Result<Option<Vec<i64>>, OneShotError> {
            let Some(t) = tensors.get(&format!("projection.{key}")) else {
                return Ok(None);
            };
            let v = Vec::<i64>::try_from(t.flatten(0, -1).to_kind(Kind::Int64))
                .map_err(|_| bad(key))?;
            match v.len() == len {
                true => Ok(Some(v)),
                false => Err(bad(key)),
            }
        };
        // A checkpoint of the search phase written before the first projection has both.
        let (Some(ops), Some(parents)) = (read("ops", n)?, read("parents", (n + 1) * (n + 1))?)
        else {
            return Err(bad("ops"));
        };
        for (slot, &o) in p.ops.iter_mut().zip(&ops) {
            *slot = match o {
                -1 => None,
                0..=2 => Some(o as usize),
                _ => return Err(bad("ops")),
            };
        }
        let choices = parent_choices(space);
        for (i, row) in parents.chunks(n + 1).enumerate() {
            let node = i + 1;
            if row.iter().all(|&x| x == -1) {
                continue;
            }
            let set: Vec<usize> = (0..n + 1).filter(|&j| row[j] == 1).collect();
            let fits = choices.contains(&node)
                && row.iter().all(|&x| x == 0 || x == 1)
                && set.len() == space.num_parents(node)
                && set.iter().all(|&j| j < node);
            if !fits {
                return Err(bad("parents"));
            }
            p.parents[i] = Some(set);
        }
        Ok(p)
    }
}

/// Shared by the relaxation, the selection and the hook of one optimizer.
pub type SharedProjection = Rc<RefCell<Projected>>;

/// softmax(α) with the projections applied, in every phase.
pub struct ProjectedSoftmax(pub SharedProjection);

impl Relaxation for ProjectedSoftmax {
    fn mixing(&mut self, cx: &mut MixContext<'_>) -> Result<Box<dyn MixingSource>, OneShotError> {
        Ok(Box::new(SharedMixing(self.0.borrow().mixing(cx.arch))))
    }
}

/// The epoch's architecture: the projected choices, the argmax of the weights for the open ones
/// (plain DARTS argmax while nothing is projected).
pub struct ProjectionSelect(pub SharedProjection);

impl Selection for ProjectionSelect {
    fn select(&mut self, cx: &mut SelectContext<'_>) -> Result<Selected, OneShotError> {
        let p = self.0.borrow();
        let (space, ties) = (&cx.model.space, cx.ties);
        let architecture = match p.count() {
            0 => discretize_with(&cx.model.arch, space, ties),
            _ => {
                let w = p.mixing(&cx.model.arch);
                let projected = ArchParams {
                    ops: w.ops,
                    output: w.output,
                    inputs: w.inputs,
                };
                discretize_with(&projected, space, ties)
            }
        }
        .map_err(|e| OneShotError::Invalid(e.to_string()))?;
        Ok(Selected {
            architecture,
            one_shot_valid_error: None,
        })
    }
}

/// The supernet's validation accuracy and mean loss under `w` on `batches`, BatchNorm on the
/// batches' statistics (train mode, as the authors' projection passes), no gradients.
pub fn measure(model: &OneShotModel, w: &MixingWeights, batches: &[TensorBatch]) -> (f64, f64) {
    let (mut correct, mut loss, mut total) = (0i64, 0f64, 0usize);
    tch::no_grad(|| {
        for b in batches {
            let (l, c) = model.loss(b, &mut SharedMixing(w.clone()), true);
            correct += c;
            loss += l.double_value(&[]) * b.len as f64;
            total += b.len;
        }
    });
    let t = total.max(1) as f64;
    (correct as f64 / t, loss / t)
}

/// The score of a removal: lower means the removal hurts more.
fn score(criterion: ProjectionCriterion, (acc, loss): (f64, f64)) -> f64 {
    match criterion {
        ProjectionCriterion::Accuracy => acc,
        ProjectionCriterion::Loss => -loss,
    }
}

/// Block `b`'s operation: each one masked out of the projected mixture in turn; the one whose
/// removal scores lowest is kept (the first on ties, as the authors' strict comparison).
/// Returns it and every operation's score.
pub fn project_op(
    model: &OneShotModel,
    projected: &Projected,
    block: usize,
    batches: &[TensorBatch],
    criterion: ProjectionCriterion,
) -> (usize, Vec<f64>) {
    let base = projected.mixing(&model.arch);
    let n = projected.ops.len();
    let scores: Vec<f64> = (0..3)
        .map(|o| {
            let mut mask = vec![1f32; n * 3];
            mask[(block - 1) * 3 + o] = 0.0;
            let mask = Tensor::from_slice(&mask)
                .view([n as i64, 3])
                .to_kind(base.ops.kind())
                .to_device(base.ops.device());
            let w = MixingWeights {
                ops: &base.ops * mask,
                ..base.clone()
            };
            score(criterion, measure(model, &w, batches))
        })
        .collect();
    (argmin_first(&scores), scores)
}

/// Node `k`'s parents: each candidate's edge weight zeroed in turn; the `num_parents(k)` whose
/// removal scores lowest are kept (lower index first on ties). The authors drop the candidate
/// whose removal hurts least, one at a time, each round measured on the full supernet again:
/// on fixed batches that keeps the same set. Returns the parents, ascending, and every score.
pub fn project_parents(
    model: &OneShotModel,
    projected: &Projected,
    node: usize,
    batches: &[TensorBatch],
    criterion: ProjectionCriterion,
) -> (Vec<usize>, Vec<f64>) {
    let base = projected.mixing(&model.arch);
    let output = node == projected.ops.len() + 1;
    let edges = match output {
        true => Some(base.output.shallow_clone()),
        false => base.inputs[node - 1].as_ref().map(Tensor::shallow_clone),
    };
    let Some(edges) = edges else {
        return ((0..node).collect(), Vec::new());
    };
    let scores: Vec<f64> = (0..node)
        .map(|j| {
            let mut mask = vec![1f32; node];
            mask[j] = 0.0;
            let mask = Tensor::from_slice(&mask)
                .view([1, node as i64])
                .to_kind(edges.kind())
                .to_device(edges.device());
            let mut w = base.clone();
            match output {
                true => w.output = &edges * mask,
                false => w.inputs[node - 1] = Some(&edges * mask),
            }
            score(criterion, measure(model, &w, batches))
        })
        .collect();
    let mut order: Vec<usize> = (0..node).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut keep: Vec<usize> = order
        .into_iter()
        .take(model.space.num_parents(node))
        .collect();
    keep.sort_unstable();
    (keep, scores)
}

fn argmin_first(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x < v[best] {
            best = i;
        }
    }
    best
}

/// The projection phase's driver: its learning rates, its projections, its checkpoint state.
pub struct ProjectionHook {
    pub settings: ProjectionConfig,
    pub projected: SharedProjection,
    pub space: SearchSpace,
    /// The phase's first epoch.
    pub start: usize,
    /// `[faithful] scheduler_shift`, for the search phase's cosine.
    pub scheduler_shift: bool,
    /// Weight steps taken before the last projection.
    since: Option<u64>,
    tune_steps: Option<u64>,
}

impl ProjectionHook {
    /// The hook of a run of `epochs` on `space` (an error if the run is too short).
    pub fn new(
        settings: ProjectionConfig,
        projected: SharedProjection,
        space: SearchSpace,
        epochs: usize,
        scheduler_shift: bool,
    ) -> Result<Self, String> {
        let start = settings.phase_start(&space, epochs)?;
        Ok(ProjectionHook {
            settings,
            projected,
            space,
            start,
            scheduler_shift,
            since: None,
            tune_steps: None,
        })
    }

    /// Whether epoch `e` starts with a projection.
    pub fn projects_at(&self, e: usize) -> bool {
        e >= self.start && (e - self.start).is_multiple_of(self.settings.proj_intv)
    }

    /// The next projection: its target drawn (or the first open one), measured, fixed.
    fn project_next(&mut self, cx: &mut EpochContext<'_>) -> Result<(), OneShotError> {
        let open = self.projected.borrow().open(&self.space);
        let target = match (self.settings.order, open.len()) {
            (_, 0) => return Ok(()),
            (ProjectionOrder::Fixed, _) => open[0],
            (ProjectionOrder::Random, len) => open[cx.rng.gen_range(0..len)],
        };
        let n = match self.settings.batches {
            0 => cx.valid.len(),
            b => b.min(cx.valid.len()),
        };
        let batches = &cx.valid[..n];
        if batches.is_empty() {
            return Err(OneShotError::Invalid(
                "DARTS-PT: no validation batches to measure the projection on".into(),
            ));
        }
        let saved = (!self.settings.update_bn_stats).then(|| bn_statistics(cx.model));
        let criterion = self.settings.criterion;
        let current = self.projected.borrow().clone();
        let mut next = current.clone();
        match target {
            Target::Op(b) => {
                next.ops[b - 1] = Some(project_op(cx.model, &current, b, batches, criterion).0)
            }
            Target::Parents(k) => {
                next.parents[k - 1] =
                    Some(project_parents(cx.model, &current, k, batches, criterion).0)
            }
        }
        if let Some(saved) = saved {
            restore(saved);
        }
        *self.projected.borrow_mut() = next;
        Ok(())
    }
}

/// BatchNorm's running statistics and copies of their values.
fn bn_statistics(model: &OneShotModel) -> Vec<(Tensor, Tensor)> {
    let mut vars: Vec<(String, Tensor)> = model
        .weights
        .variables()
        .into_iter()
        .filter(|(k, _)| k.contains("running_"))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars.into_iter()
        .map(|(_, v)| {
            let c = v.copy();
            (v, c)
        })
        .collect()
}

fn restore(saved: Vec<(Tensor, Tensor)>) {
    tch::no_grad(|| {
        for (mut v, c) in saved {
            v.copy_(&c);
        }
    });
}

impl EpochHook for ProjectionHook {
    fn start_epoch(&mut self, cx: &mut EpochContext<'_>) -> Result<(), OneShotError> {
        let (e, w) = (cx.epoch, cx.weights);
        if e < self.start {
            cx.sgd.lr = epoch_lr(e, self.start, w.lr, w.lr_min, self.scheduler_shift);
            return Ok(());
        }
        if e == self.start {
            // The authors build a new weight optimizer for the phase: no momentum carried over.
            cx.sgd.buffers.clear();
        }
        cx.sgd.lr = w.lr * self.settings.lr_factor;
        if self.projects_at(e) {
            self.project_next(cx)?;
            self.since = Some(cx.global_step);
        }
        Ok(())
    }

    fn end_epoch(
        &mut self,
        cx: &mut EpochContext<'_>,
        _relaxation: &mut dyn Relaxation,
        _seen: &Metrics,
    ) -> Result<EpochEnd, OneShotError> {
        self.tune_steps = self.since.map(|s| cx.global_step - s);
        Ok(EpochEnd::Continue)
    }

    fn metrics(&self) -> Metrics {
        let mut m = Metrics::new();
        m.insert(
            METRIC_PROJECTED.into(),
            self.projected.borrow().count() as f64,
        );
        if let Some(s) = self.tune_steps {
            m.insert(METRIC_TUNE_STEPS.into(), s as f64);
        }
        m
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut s = self.projected.borrow().state();
        let since = self.since.map_or(-1, |s| s as i64);
        s.push(("projection.since".into(), Tensor::from_slice(&[since])));
        s
    }

    fn load_state(&mut self, tensors: &BTreeMap<String, Tensor>) -> Result<(), OneShotError> {
        *self.projected.borrow_mut() = Projected::load(&self.space, tensors)?;
        self.since = match tensors.get("projection.since").map(|t| t.int64_value(&[0])) {
            Some(s) if s >= 0 => Some(s as u64),
            _ => None,
        };
        Ok(())
    }
}

/// The relaxation, selection and hook [`parts`] builds.
pub type Parts = (Box<dyn Relaxation>, Box<dyn Selection>, Box<dyn EpochHook>);

/// DARTS-PT's three parts for `cfg` on `model`: the projected relaxation, the selection and
/// the hook that drives the phase, sharing one projection state.
pub fn parts(cfg: &SearchConfig, model: &OneShotModel) -> Result<Parts, OneShotError> {
    let settings: ProjectionConfig = cfg.part_options("projection")?;
    let shared = Rc::new(RefCell::new(Projected::new(&model.space)));
    let hook = ProjectionHook::new(
        settings,
        shared.clone(),
        model.space.clone(),
        cfg.epochs,
        cfg.faithful.scheduler_shift,
    )
    .map_err(|msg| OneShotError::Config {
        file: format!("method `{}`", cfg.optimizer),
        msg: format!("[options.projection]: {msg}"),
    })?;
    Ok((
        Box::new(ProjectedSoftmax(shared.clone())),
        Box::new(ProjectionSelect(shared)),
        Box::new(hook),
    ))
}
