//! The only place that reads the search space's shape: choice-block count and parents per node,
//! and from them which nodes carry an edge-weight vector (§2.4).

use searchspace::{SearchSpace, SpaceId};

/// Shape facts of one search space, as the supernet needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Topology {
    /// Number of choice blocks N.
    pub n: usize,
    /// Required parent count of nodes 1..=N+1 (index node−1; the last entry is the output).
    pub parents: Vec<usize>,
}

impl Topology {
    pub fn of(space: &SearchSpace) -> Self {
        let n = space.num_choice_blocks();
        let parents = (1..=n + 1).map(|node| space.num_parents(node)).collect();
        Self { n, parents }
    }

    pub fn from_id(id: SpaceId) -> Self {
        Self::of(&SearchSpace::new(id))
    }

    /// Whether choice block `node` (1..=N) has its own edge logits: exactly when picking its
    /// parents is a real choice (fewer required parents than candidates). This gives "node 1
    /// never, node 2 of space 1 neither" from §2.4 without special cases.
    pub fn has_edge_vector(&self, node: usize) -> bool {
        node >= 1 && node <= self.n && self.parents.get(node - 1).is_some_and(|&p| p < node)
    }
}
