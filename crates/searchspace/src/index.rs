//! The map from every configuration of a space to its unique NAS-Bench-101 model. Many
//! configurations prune to the same labelled graph, so each distinct pruned graph is hashed
//! once (in parallel) and graphs are then grouped by hash (isomorphic graphs share a hash).

use std::collections::HashMap;

use nasbench101::ModelHash;
use rayon::prelude::*;

use crate::architecture::Architecture;
use crate::graph::PrunedGraph;
use crate::space::{nb101_label, SearchSpace, SpaceId, PRIMITIVES};

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
        let n = space.num_choice_blocks();
        let labels_of = |mut oi: u64| {
            let mut labels = [0i8; 8];
            for slot in labels[..n].iter_mut().rev() {
                *slot = nb101_label(PRIMITIVES[(oi % 3) as usize]) as i8;
                oi /= 3;
            }
            labels
        };
        let graph_of = |ci: u64| {
            let (masks, _) = space.decode(ci / per, 0);
            PrunedGraph::prune(&masks, &labels_of(ci % per)[..n])
        };
        // 1. The pruned-graph key of every configuration.
        let keys: Vec<u64> = (0..space.parent_configurations())
            .into_par_iter()
            .flat_map_iter(|pi| {
                let (masks, _) = space.decode(pi, 0);
                (0..per)
                    .map(|oi| PrunedGraph::prune(&masks, &labels_of(oi)[..n]).key())
                    .collect::<Vec<_>>()
            })
            .collect();
        // 2. Distinct pruned graphs, each with its first configuration, in first-seen order.
        let mut graph_id: HashMap<u64, u32> = HashMap::new();
        let mut first_config: Vec<u64> = Vec::new();
        for (i, &k) in keys.iter().enumerate() {
            graph_id.entry(k).or_insert_with(|| {
                first_config.push(i as u64);
                (first_config.len() - 1) as u32
            });
        }
        // 3. Isomorphic graphs share a hash: group them by canonical form first.
        let canon: Vec<u64> = first_config
            .par_iter()
            .map(|&ci| graph_of(ci).canonical_key())
            .collect();
        let mut class_id: HashMap<u64, u32> = HashMap::new();
        let mut class_first: Vec<u64> = Vec::new();
        let graph_class: Vec<u32> = canon
            .iter()
            .zip(&first_config)
            .map(|(&c, &ci)| {
                *class_id.entry(c).or_insert_with(|| {
                    class_first.push(ci);
                    (class_first.len() - 1) as u32
                })
            })
            .collect();
        // 4. Hash one graph per class.
        let hashed: Vec<(PrunedGraph, ModelHash)> = class_first
            .par_iter()
            .map(|&ci| {
                let g = graph_of(ci);
                (g, g.hash())
            })
            .collect();
        // 5. Group classes by hash; model ids follow the first configuration's order.
        let mut by_hash: HashMap<ModelHash, u32> = HashMap::new();
        let mut models: Vec<UniqueModel> = Vec::new();
        let class_model: Vec<u32> = hashed
            .iter()
            .zip(&class_first)
            .map(|(&(g, h), &ci)| {
                *by_hash.entry(h).or_insert_with(|| {
                    models.push(UniqueModel {
                        hash: h,
                        representative: ci,
                        graph: g,
                        configurations: 0,
                    });
                    (models.len() - 1) as u32
                })
            })
            .collect();
        let config_to_model: Vec<u32> = keys
            .par_iter()
            .map(|k| {
                graph_id
                    .get(k)
                    .and_then(|&g| graph_class.get(g as usize))
                    .and_then(|&c| class_model.get(c as usize))
                    .copied()
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
