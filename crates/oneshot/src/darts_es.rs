//! DARTS-ES (Zela et al., ICLR 2020, "Understanding and robustifying DARTS"): DARTS with
//! [Hessian tracking](crate::hessian) and the [`EarlyStop`] hook after it, which stops the search once the dominant eigenvalue has
//! grown too fast: with λ̄_i the mean eigenvalue over the `window` epochs up to i, it stops after
//! epoch i when λ̄_{i−lag} / λ̄_i < `threshold`, and (with `backtrack`) returns the architecture
//! weights of epoch i − lag, before the growth.

use std::collections::BTreeMap;

use tch::{Kind, Tensor};

use crate::error::OneShotError;
use crate::hessian::METRIC;
use crate::hook::EpochHook;
use crate::mixing::Relaxation;
use crate::optimizer::{EpochContext, EpochEnd};
use crate::run_dir::Metrics;
pub use crate::settings::EarlyStopConfig;

const SNAPSHOT: &str = "darts_es.snapshot.";

/// The early stop as an epoch hook, reading the `hessian` hook's eigenvalue.
pub struct EarlyStop {
    pub settings: EarlyStopConfig,
    /// The eigenvalue of every finished epoch (checkpointed).
    pub history: Vec<f64>,
    /// Architecture weights (by name) after each of the last `lag` + 1 epochs, for the
    /// backtrack (checkpointed, so a resumed run stops and backtracks as an uninterrupted one).
    pub snapshots: Vec<Vec<(String, Tensor)>>,
}

impl EarlyStop {
    pub fn new(settings: EarlyStopConfig) -> Self {
        EarlyStop {
            settings,
            history: Vec::new(),
            snapshots: Vec::new(),
        }
    }

    /// λ̄ over the `window` epochs ending at index `i` of the history.
    fn mean_at(&self, i: usize) -> f64 {
        let w = self.settings.window.max(1);
        let from = (i + 1).saturating_sub(w);
        let s = &self.history[from..=i];
        s.iter().sum::<f64>() / s.len() as f64
    }

    /// Why to stop now, if the eigenvalue grew too fast.
    fn should_stop(&self) -> Option<String> {
        let (k, w) = (self.settings.lag, self.settings.window.max(1));
        let i = self.history.len().checked_sub(1)?;
        if i < k + w - 1 {
            return None;
        }
        let (before, now) = (self.mean_at(i - k), self.mean_at(i));
        let ratio = before / now;
        (now > 0.0 && ratio < self.settings.threshold).then(|| {
            format!(
                "DARTS-ES: mean Hessian eigenvalue {before:.4e} -> {now:.4e} over {k} epochs (ratio {ratio:.3} < {})",
                self.settings.threshold
            )
        })
    }
}

impl EpochHook for EarlyStop {
    fn end_epoch(
        &mut self,
        cx: &mut EpochContext<'_>,
        _relaxation: &mut dyn Relaxation,
        seen: &Metrics,
    ) -> Result<EpochEnd, OneShotError> {
        let arch = cx.model.arch_params();
        self.snapshots.push(tch::no_grad(|| {
            arch.iter().map(|(n, t)| (n.clone(), t.copy())).collect()
        }));
        let keep = self.settings.lag + 1;
        let excess = self.snapshots.len().saturating_sub(keep);
        self.snapshots.drain(..excess);
        let Some(&l) = seen.get(METRIC) else {
            return Ok(EpochEnd::Continue);
        };
        self.history.push(l);
        let Some(why) = self.should_stop() else {
            return Ok(EpochEnd::Continue);
        };
        if self.settings.backtrack && self.snapshots.len() == keep {
            tch::no_grad(|| {
                for ((_, t), (_, old)) in arch.iter().zip(&self.snapshots[0]) {
                    t.shallow_clone().copy_(old);
                }
            });
        }
        Ok(EpochEnd::Stop(why))
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        let mut s = Vec::new();
        if !self.history.is_empty() {
            s.push((
                "darts_es.history".into(),
                Tensor::from_slice(&self.history).to_kind(Kind::Double),
            ));
        }
        for (j, snap) in self.snapshots.iter().enumerate() {
            for (name, t) in snap {
                s.push((format!("{SNAPSHOT}{j}.{name}"), t.shallow_clone()));
            }
        }
        s
    }
    fn load_state(&mut self, tensors: &BTreeMap<String, Tensor>) -> Result<(), OneShotError> {
        self.history = match tensors.get("darts_es.history") {
            Some(h) => Vec::<f64>::try_from(h)?,
            None => Vec::new(),
        };
        let mut snaps: BTreeMap<usize, Vec<(String, Tensor)>> = BTreeMap::new();
        for (k, t) in tensors {
            let Some((j, name)) = k.strip_prefix(SNAPSHOT).and_then(|r| r.split_once('.')) else {
                continue;
            };
            let j: usize = j
                .parse()
                .map_err(|_| OneShotError::Invalid(format!("checkpoint tensor `{k}`")))?;
            snaps
                .entry(j)
                .or_default()
                .push((name.to_string(), t.copy()));
        }
        // Names sort like the model's arch_params (both by name), so the zip in the backtrack
        // pairs them up.
        self.snapshots = snaps
            .into_values()
            .map(|mut v| {
                v.sort_by(|a, b| a.0.cmp(&b.0));
                v
            })
            .collect();
        Ok(())
    }
}
