//! Every configuration of a space, addressed by a configuration index: the parent-set choices
//! (node 1 most significant, each node's options in lexicographic order) times the operations
//! (choice block 1 most significant, digits in [`PRIMITIVES`] order). Index order is the
//! enumeration order everywhere (iterators, unique-model representatives, tables).

use crate::architecture::{ArchError, Architecture};
use crate::space::{primitive_index, SearchSpace, PRIMITIVES};

impl SearchSpace {
    /// 3^N: operation assignments per parent configuration.
    pub fn op_configurations(&self) -> u64 {
        3u64.pow(self.num_choice_blocks() as u32)
    }

    /// The configuration with this index, `None` when out of range.
    pub fn configuration(&self, index: u64) -> Option<Architecture> {
        if index >= self.raw_configurations() {
            return None;
        }
        let per = self.op_configurations();
        let (parents, ops) = self.decode(index / per, index % per);
        Some(Architecture::from_masks(self.id(), ops, &parents))
    }

    /// Parent masks and operations of a (parent index, operation index) pair.
    pub(crate) fn decode(
        &self,
        mut parent_index: u64,
        mut op_index: u64,
    ) -> (Vec<u16>, Vec<nasbench101::Op>) {
        let nodes = self.output_node();
        let mut masks = vec![0u16; nodes];
        for node in (1..=nodes).rev() {
            let opts = self.parent_options(node);
            let r = opts.len().max(1) as u64;
            masks[node - 1] = opts.get((parent_index % r) as usize).copied().unwrap_or(1);
            parent_index /= r;
        }
        let n = self.num_choice_blocks();
        let mut ops = vec![PRIMITIVES[0]; n];
        for slot in ops.iter_mut().rev() {
            *slot = PRIMITIVES[(op_index % 3) as usize];
            op_index /= 3;
        }
        (masks, ops)
    }

    /// The configuration index of a valid architecture of this space.
    pub fn configuration_index(&self, arch: &Architecture) -> Result<u64, ArchError> {
        arch.validate()?;
        let masks = arch.parent_masks();
        let mut parent_index = 0u64;
        for (i, &m) in masks.iter().enumerate() {
            let opts = self.parent_options(i + 1);
            let pos = opts
                .iter()
                .position(|&o| o == m)
                .ok_or_else(|| ArchError::ParentCount {
                    space: arch.space,
                    node: i + 1,
                    expected: self.num_parents(i + 1),
                    found: m.count_ones() as usize,
                })?;
            parent_index = parent_index * opts.len() as u64 + pos as u64;
        }
        let op_index = arch
            .ops
            .iter()
            .fold(0u64, |acc, &o| acc * 3 + primitive_index(o) as u64);
        Ok(parent_index * self.op_configurations() + op_index)
    }

    /// Every raw configuration (spec §1.2), in configuration-index order.
    pub fn configurations(&self) -> impl Iterator<Item = Architecture> + '_ {
        (0..self.raw_configurations()).filter_map(move |i| self.configuration(i))
    }
}
