//! The map from every configuration of a space to its unique NAS-Bench-101 model. Many
//! configurations prune to the same labelled graph, so each distinct pruned graph is hashed
//! once (in parallel) and graphs are then grouped by hash (isomorphic graphs share a hash).

use std::collections::HashMap;

use nasbench101::ModelHash;
use rayon::prelude::*;

use crate::architecture::Architecture;
use crate::graph::PrunedGraph;
use crate::space::{nb101_label, SearchSpace, SpaceId};

/// One unique NAS-Bench-101 model reachable in a space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UniqueModel {
    /// The NB-101 model hash.
    pub hash: ModelHash,
    /// The first configuration (lowest index) that becomes this model.
    pub representative: u64,
    /// The pruned graph of the representative.
    pub graph: PrunedGraph,
    /// How many raw configurations become this model.
    pub configurations: u64,
}

/// Configuration index → unique model, for a whole space.
#[derive(Clone, Debug)]
pub struct ModelIndex {
    space: SearchSpace,
    models: Vec<UniqueModel>,
    config_to_model: Vec<u32>,
}

impl ModelIndex {
    /// Enumerates, prunes and hashes every configuration of `space`.
    pub fn build(space: &SearchSpace) -> ModelIndex {
        let per = space.op_configurations();
        let parent_configs = space.parent_configurations();
        // 1. The pruned-graph key of every configuration.
        let keys: Vec<u64> = (0..parent_configs)
            .into_par_iter()
            .flat_map_iter(|pi| {
                let (masks, _) = space.decode(pi, 0);
                (0..per)
                    .map(move |oi| {
                        let (_, ops) = space.decode(0, oi);
                        let labels: Vec<i8> = ops.iter().map(|&o| nb101_label(o) as i8).collect();
                        PrunedGraph::prune(&masks, &labels).key()
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        // 2. Distinct keys, each with its first configuration, in first-seen order.
        let mut first: HashMap<u64, u32> = HashMap::new();
        let mut distinct: Vec<(u64, u64)> = Vec::new();
        for (i, &k) in keys.iter().enumerate() {
            first.entry(k).or_insert_with(|| {
                distinct.push((k, i as u64));
                (distinct.len() - 1) as u32
            });
        }
        // 3. Hash each distinct pruned graph once.
        let graphs: Vec<(PrunedGraph, ModelHash)> = distinct
            .par_iter()
            .map(|&(_, ci)| {
                let (masks, ops) = space.decode(ci / per, ci % per);
                let labels: Vec<i8> = ops.iter().map(|&o| nb101_label(o) as i8).collect();
                let g = PrunedGraph::prune(&masks, &labels);
                (g, g.hash())
            })
            .collect();
        // 4. Group graphs by hash; model ids follow the first configuration's order.
        let mut by_hash: HashMap<ModelHash, u32> = HashMap::new();
        let mut models: Vec<UniqueModel> = Vec::new();
        let mut graph_to_model = Vec::with_capacity(graphs.len());
        for (d, (g, h)) in graphs.iter().enumerate() {
            let id = *by_hash.entry(*h).or_insert_with(|| {
                models.push(UniqueModel {
                    hash: *h,
                    representative: distinct[d].1,
                    graph: *g,
                    configurations: 0,
                });
                (models.len() - 1) as u32
            });
            graph_to_model.push(id);
        }
        let config_to_model: Vec<u32> = keys
            .iter()
            .map(|k| {
                first
                    .get(k)
                    .map(|&g| graph_to_model[g as usize])
                    .unwrap_or(0)
            })
            .collect();
        for &m in &config_to_model {
            if let Some(model) = models.get_mut(m as usize) {
                model.configurations += 1;
            }
        }
        ModelIndex {
            space: space.clone(),
            models,
            config_to_model,
        }
    }

    /// The space this index covers.
    pub fn space(&self) -> &SearchSpace {
        &self.space
    }

    /// Which space.
    pub fn space_id(&self) -> SpaceId {
        self.space.id()
    }

    /// The unique models, ordered by their first configuration.
    pub fn models(&self) -> &[UniqueModel] {
        &self.models
    }

    /// Model id (position in [`Self::models`]) of a configuration index.
    pub fn model_of(&self, configuration: u64) -> Option<u32> {
        usize::try_from(configuration)
            .ok()
            .and_then(|i| self.config_to_model.get(i).copied())
    }

    /// Model id of every configuration, in configuration-index order.
    pub fn config_to_model(&self) -> &[u32] {
        &self.config_to_model
    }

    /// Representative architecture of model `id`.
    pub fn representative(&self, id: u32) -> Option<Architecture> {
        self.models
            .get(id as usize)
            .and_then(|m| self.space.configuration(m.representative))
    }
}

impl SearchSpace {
    /// Every unique NB-101 model of the space with its first configuration (2,685 / 7,773 /
    /// 55,854 for spaces 1 / 2 / 3).
    pub fn unique_models(&self) -> Vec<(ModelHash, Architecture)> {
        let index = ModelIndex::build(self);
        (0..index.models().len() as u32)
            .filter_map(|id| {
                let m = index.models().get(id as usize)?;
                Some((m.hash, index.representative(id)?))
            })
            .collect()
    }
}
