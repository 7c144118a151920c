//! Uniform sampling with loose ends (spec §1.6) and the regularized-evolution mutations
//! (spec §6): a hidden-state mutation swaps one parent for a non-parent, an operation
//! mutation switches one choice block to one of the two other operations.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::architecture::Architecture;
use crate::space::{SearchSpace, PRIMITIVES};

/// The kinds of mutation regularized evolution draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mutation {
    /// Leave the architecture unchanged (part of the original's draw).
    Identity,
    /// Replace one parent of one node with a lower non-parent node.
    HiddenState,
    /// Switch one choice block to one of the two other operations.
    Op,
}

impl SearchSpace {
    /// A uniform architecture: each node's parent set uniformly among its combinations, each
    /// operation uniformly among the three. Loose ends are allowed, as in the original.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Architecture {
        let masks: Vec<u16> = (1..=self.output_node())
            .map(|node| {
                let opts = self.parent_options(node);
                opts.get(rng.gen_range(0..opts.len().max(1)))
                    .copied()
                    .unwrap_or(1)
            })
            .collect();
        let ops = (0..self.num_choice_blocks())
            .map(|_| PRIMITIVES[rng.gen_range(0..PRIMITIVES.len())])
            .collect();
        Architecture::from_masks(self.id(), ops, &masks)
    }

    /// Nodes whose parent set can change (fewer parents than candidates): {3..N+1} in space 1,
    /// {2..N+1} in spaces 2 and 3.
    pub fn mutable_nodes(&self) -> Vec<usize> {
        (2..=self.output_node())
            .filter(|&k| self.num_parents(k) < k)
            .collect()
    }

    /// A mutation that changes exactly one decision: a hidden-state or an operation mutation,
    /// each with probability 1/2.
    pub fn mutate<R: Rng + ?Sized>(&self, arch: &Architecture, rng: &mut R) -> Architecture {
        let kind = if rng.gen_bool(0.5) {
            Mutation::HiddenState
        } else {
            Mutation::Op
        };
        self.mutate_with(arch, kind, rng)
    }

    /// Applies one mutation of the given kind. `arch` must be a valid architecture of this
    /// space; anything else is returned unchanged.
    pub fn mutate_with<R: Rng + ?Sized>(
        &self,
        arch: &Architecture,
        kind: Mutation,
        rng: &mut R,
    ) -> Architecture {
        let mut child = arch.clone();
        if arch.space != self.id() || arch.validate().is_err() {
            return child;
        }
        match kind {
            Mutation::Identity => {}
            Mutation::HiddenState => {
                let nodes = self.mutable_nodes();
                if nodes.is_empty() {
                    return child;
                }
                let node = nodes[rng.gen_range(0..nodes.len())];
                if let Some(ps) = child.parents.get_mut(node - 1) {
                    let non_parents: Vec<usize> = (0..node).filter(|p| !ps.contains(p)).collect();
                    if ps.is_empty() || non_parents.is_empty() {
                        return child;
                    }
                    let out = rng.gen_range(0..ps.len());
                    ps[out] = non_parents[rng.gen_range(0..non_parents.len())];
                    ps.sort_unstable();
                }
            }
            Mutation::Op => {
                if child.ops.is_empty() {
                    return child;
                }
                let block = rng.gen_range(0..child.ops.len());
                let current = child.ops[block];
                let others: Vec<_> = PRIMITIVES.iter().filter(|&&o| o != current).collect();
                child.ops[block] = *others[rng.gen_range(0..others.len())];
            }
        }
        child
    }
}
