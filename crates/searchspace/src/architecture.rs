//! A discrete architecture of a search space: one operation per choice block and one parent
//! set per node (the output included), its validation and its conversion to NAS-Bench-101.

use nasbench101::{ModelHash, ModelSpec, Op};
use serde::{Deserialize, Serialize};

use crate::graph::PrunedGraph;
use crate::space::{nb101_label, op_name, SearchSpace, SpaceId};

/// An architecture: `ops[k - 1]` is the operation of choice block k (1..=N) and `parents[k - 1]`
/// the sorted parent set of node k (1..=N+1, the cell output last). Operations serialize as
/// NAS-Bench-101 names, the space as its number.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Architecture {
    pub space: SpaceId,
    #[serde(with = "op_names")]
    pub ops: Vec<Op>,
    pub parents: Vec<Vec<usize>>,
}

/// Why an architecture does not belong to its space, or NB-101 refused it.
#[derive(Debug, thiserror::Error)]
pub enum ArchError {
    #[error("space {space}: expected {expected} choice-block operations, got {found}")]
    OpCount {
        space: SpaceId,
        expected: usize,
        found: usize,
    },
    #[error(
        "space {space}: expected parent sets for {expected} nodes (output included), got {found}"
    )]
    NodeCount {
        space: SpaceId,
        expected: usize,
        found: usize,
    },
    #[error("space {space}, node {node}: expected {expected} parents, got {found}")]
    ParentCount {
        space: SpaceId,
        node: usize,
        expected: usize,
        found: usize,
    },
    #[error("space {space}, node {node}: parent {parent} is not a lower node")]
    ParentNotLower {
        space: SpaceId,
        node: usize,
        parent: usize,
    },
    #[error("space {space}, node {node}: parents {parents:?} are not sorted and distinct")]
    ParentsNotSorted {
        space: SpaceId,
        node: usize,
        parents: Vec<usize>,
    },
    #[error("NAS-Bench-101 rejected the converted spec: {0}")]
    Spec(#[from] nasbench101::SpecError),
}

impl Architecture {
    /// The search space this architecture claims to belong to.
    pub fn search_space(&self) -> SearchSpace {
        SearchSpace::new(self.space)
    }

    /// Checks operation and parent counts, that parents are lower nodes, sorted and distinct.
    pub fn validate(&self) -> Result<(), ArchError> {
        let space = self.search_space();
        let n = space.num_choice_blocks();
        if self.ops.len() != n {
            return Err(ArchError::OpCount {
                space: self.space,
                expected: n,
                found: self.ops.len(),
            });
        }
        if self.parents.len() != n + 1 {
            return Err(ArchError::NodeCount {
                space: self.space,
                expected: n + 1,
                found: self.parents.len(),
            });
        }
        for (i, ps) in self.parents.iter().enumerate() {
            let node = i + 1;
            let expected = space.num_parents(node);
            if ps.len() != expected {
                return Err(ArchError::ParentCount {
                    space: self.space,
                    node,
                    expected,
                    found: ps.len(),
                });
            }
            if let Some(&parent) = ps.iter().find(|&&p| p >= node) {
                return Err(ArchError::ParentNotLower {
                    space: self.space,
                    node,
                    parent,
                });
            }
            if ps.windows(2).any(|w| w[0] >= w[1]) {
                return Err(ArchError::ParentsNotSorted {
                    space: self.space,
                    node,
                    parents: ps.clone(),
                });
            }
        }
        Ok(())
    }

    /// Parent sets as bit masks, node 1 first. Assumes a validated architecture.
    pub(crate) fn parent_masks(&self) -> Vec<u16> {
        self.parents
            .iter()
            .map(|ps| ps.iter().fold(0u16, |m, &p| m | (1u16 << (p & 15))))
            .collect()
    }

    /// Builds an architecture from parent bit masks (node 1 first) and operations.
    pub(crate) fn from_masks(space: SpaceId, ops: Vec<Op>, masks: &[u16]) -> Architecture {
        Architecture {
            space,
            ops,
            parents: masks
                .iter()
                .map(|&m| crate::space::mask_to_vec(m))
                .collect(),
        }
    }

    /// The raw NB-101 (matrix, ops) pair before pruning, as the original code builds it
    /// (spec §1.3): all chosen edges kept; for spaces 1 and 2 an isolated dummy `conv1x1`
    /// vertex is inserted at index 5 so the matrix is 7x7. Assumes a validated architecture.
    pub fn raw_nb101(&self) -> (Vec<Vec<u8>>, Vec<String>) {
        let n = self.ops.len();
        let output = n + 1;
        // Space 1 and 2: raw nodes 0..=5 map to 0..=4 and 6 (dummy at 5).
        let dummy = n == 4;
        let size = 7;
        let place = |node: usize| if dummy && node == output { 6 } else { node };
        let mut matrix = vec![vec![0u8; size]; size];
        for (i, ps) in self.parents.iter().enumerate() {
            let node = place(i + 1);
            for &p in ps {
                if let Some(cell) = matrix.get_mut(place(p)).and_then(|r| r.get_mut(node)) {
                    *cell = 1;
                }
            }
        }
        let mut ops = vec!["input".to_string()];
        ops.extend(self.ops.iter().map(|&o| op_name(o).to_string()));
        if dummy {
            ops.push(op_name(Op::Conv1x1).to_string());
        }
        ops.push("output".to_string());
        (matrix, ops)
    }

    /// The NB-101 spec of this architecture: the raw 7x7 pair of [`Self::raw_nb101`], pruned
    /// by NB-101's own rules (loose ends and the dummy vertex are dropped).
    pub fn to_spec(&self) -> Result<ModelSpec, ArchError> {
        self.validate()?;
        let (matrix, ops) = self.raw_nb101();
        Ok(ModelSpec::new(matrix, ops)?)
    }

    /// The pruned NB-101 graph, computed without building a `ModelSpec` (fast path; agrees
    /// with [`Self::to_spec`], which the tests check).
    pub fn pruned_graph(&self) -> Result<PrunedGraph, ArchError> {
        self.validate()?;
        let labels: Vec<i8> = self.ops.iter().map(|&o| nb101_label(o) as i8).collect();
        Ok(PrunedGraph::prune(&self.parent_masks(), &labels))
    }

    /// The NAS-Bench-101 model hash this architecture is evaluated as.
    pub fn hash(&self) -> Result<ModelHash, ArchError> {
        Ok(self.pruned_graph()?.hash())
    }

    /// Choice blocks (1..=N) that survive pruning, i.e. whose operation matters.
    pub fn used_blocks(&self) -> Vec<usize> {
        let output = self.parents.len();
        let mut keep = vec![false; output + 1];
        if let Some(k) = keep.get_mut(output) {
            *k = true;
        }
        for node in (1..=output).rev() {
            if keep.get(node).copied().unwrap_or(false) {
                for &p in self
                    .parents
                    .get(node - 1)
                    .map(|v| v.as_slice())
                    .unwrap_or(&[])
                {
                    if let Some(k) = keep.get_mut(p) {
                        *k = true;
                    }
                }
            }
        }
        (1..output).filter(|&k| keep[k]).collect()
    }
}

/// Serde for operation lists as NB-101 names.
mod op_names {
    use nasbench101::Op;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ops: &[Op], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(ops.iter().map(|&o| crate::space::op_name(o)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Op>, D::Error> {
        let names: Vec<String> = Vec::deserialize(d)?;
        names
            .iter()
            .map(|n| {
                crate::space::op_from_name(n)
                    .ok_or_else(|| D::Error::custom(format!("unknown operation {n:?}")))
            })
            .collect()
    }
}
