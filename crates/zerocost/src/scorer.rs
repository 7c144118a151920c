//! Scores cells: a fresh network per group of proxies, seeded the same for every cell.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use nasbench101::network::NetworkPlan;
use nasbench101::ModelSpec;
use standalone::model::build;
use standalone::{ModelOptions, Nb101Network};
use tch::nn::VarStore;
use tch::{Device, Kind};

use crate::batch::Minibatch;
use crate::measure;
use crate::{Proxy, Settings, ZeroCostError};

/// One cell's scores; `None` where a proxy is not finite (a singular kernel, a dead network).
pub type Scores = BTreeMap<Proxy, Option<f64>>;

/// libtorch's generator is global to the process: seeding it and drawing a network's weights
/// (and zen's redraw) hold this lock, so cells scored in parallel threads draw exactly what
/// they draw alone.
static TORCH_RNG: Mutex<()> = Mutex::new(());

/// The lock of libtorch's global generator (a panic elsewhere leaves it usable).
pub fn torch_rng_lock() -> MutexGuard<'static, ()> {
    TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner())
}

/// Scores cells on one minibatch with fixed settings.
pub struct Scorer {
    settings: Settings,
    batch: Minibatch,
}

impl Scorer {
    /// A scorer; the minibatch must hold `settings.batch_size` images.
    pub fn new(settings: Settings, batch: Minibatch) -> Result<Scorer, ZeroCostError> {
        settings.validate()?;
        if batch.len() != settings.batch_size {
            return Err(ZeroCostError::Config {
                field: "batch_size",
                why: format!(
                    "{} images given, settings say {}",
                    batch.len(),
                    settings.batch_size
                ),
            });
        }
        Ok(Scorer { settings, batch })
    }

    /// The settings scored with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn fresh(&self, plan: &NetworkPlan) -> (VarStore, Nb101Network) {
        let _rng = torch_rng_lock();
        self.fresh_locked(plan)
    }

    /// [`Self::fresh`] for a caller that holds [`torch_rng_lock`].
    fn fresh_locked(&self, plan: &NetworkPlan) -> (VarStore, Nb101Network) {
        // Channels-last strides: ATen's faster CPU convolutions; the values are the same.
        build(
            plan,
            &ModelOptions::default(),
            Device::Cpu,
            true,
            self.settings.init_seed,
        )
    }

    /// The `proxies` of `spec`'s network.
    pub fn score(&self, spec: &ModelSpec, proxies: &[Proxy]) -> Result<Scores, ZeroCostError> {
        let plan = NetworkPlan::new(spec, self.settings.network)?;
        let wants = |p: Proxy| proxies.contains(&p);
        let size = self.batch.images.size();
        let shape = &size[1..];
        let mut out = Scores::new();
        let mut put = |p: Proxy, v: f64| {
            if wants(p) {
                out.insert(p, v.is_finite().then_some(v));
            }
        };
        put(Proxy::Params, plan.trainable_parameters() as f64);
        let one_pass = [
            Proxy::Snip,
            Proxy::Plain,
            Proxy::GradNorm,
            Proxy::Fisher,
            Proxy::Jacov,
            Proxy::Nwot,
        ];
        let shared = [Proxy::Flops, Proxy::L2Norm, Proxy::Grasp];
        if one_pass.iter().chain(&shared).any(|&p| wants(p)) {
            let (vs, net) = self.fresh(&plan);
            if wants(Proxy::Flops) {
                put(
                    Proxy::Flops,
                    measure::flops(&net, shape, Kind::Float) as f64,
                );
            }
            put(Proxy::L2Norm, measure::l2_norm(&vs));
            if one_pass.iter().any(|&p| wants(p)) {
                let r = measure::one_pass(&vs, &net, &self.batch, self.settings.fisher_fan_in);
                put(Proxy::Snip, r.snip);
                put(Proxy::Plain, r.plain);
                put(Proxy::GradNorm, r.grad_norm);
                put(Proxy::Fisher, r.fisher);
                put(Proxy::Jacov, r.jacov);
                put(Proxy::Nwot, r.nwot);
            }
            // Train-mode passes change only BatchNorm's moving averages, which they do not read.
            if wants(Proxy::Grasp) {
                put(Proxy::Grasp, measure::grasp(&vs, &net, &self.batch));
            }
        }
        if wants(Proxy::Synflow) {
            let (mut vs, net) = self.fresh(&plan);
            put(Proxy::Synflow, measure::synflow(&mut vs, &net, shape));
        }
        if wants(Proxy::Zen) {
            let (_vs, net, x, eps) = {
                let _rng = torch_rng_lock();
                let (vs, net) = self.fresh_locked(&plan);
                let (x, eps) = measure::zen_redraw(&vs, &self.batch, self.settings.init_seed);
                (vs, net, x, eps)
            };
            put(
                Proxy::Zen,
                measure::zen_score(&net, &x, &eps, self.settings.zen_bn),
            );
        }
        Ok(out)
    }
}
