//! The three search spaces (spec §1.1): how many parents each node chooses, the parent
//! combinations on offer, and the counts the paper and the code report.

use std::fmt;
use std::str::FromStr;

use nasbench101::Op;
use serde::{Deserialize, Serialize};

/// Operations in architecture-weight order (spec §0): index 0 = max-pool, 1 = 3x3 conv,
/// 2 = 1x1 conv. NAS-Bench-101's own label order is different; never index one with the other.
pub const PRIMITIVES: [Op; 3] = [Op::MaxPool3x3, Op::Conv3x3, Op::Conv1x1];

/// Position of `op` in [`PRIMITIVES`].
pub fn primitive_index(op: Op) -> usize {
    match op {
        Op::MaxPool3x3 => 0,
        Op::Conv3x3 => 1,
        Op::Conv1x1 => 2,
    }
}

/// NAS-Bench-101's name of `op` (`conv3x3-bn-relu`, `conv1x1-bn-relu`, `maxpool3x3`).
pub fn op_name(op: Op) -> &'static str {
    match op {
        Op::Conv3x3 => "conv3x3-bn-relu",
        Op::Conv1x1 => "conv1x1-bn-relu",
        Op::MaxPool3x3 => "maxpool3x3",
    }
}

/// Parses an operation from its NAS-Bench-101 name or the ConfigSpace short name
/// (`conv3x3`, `conv1x1`, `maxpool`).
pub fn op_from_name(name: &str) -> Option<Op> {
    match name {
        "conv3x3-bn-relu" | "conv3x3" => Some(Op::Conv3x3),
        "conv1x1-bn-relu" | "conv1x1" => Some(Op::Conv1x1),
        "maxpool3x3" | "maxpool" => Some(Op::MaxPool3x3),
        _ => None,
    }
}

/// Label of `op` in NAS-Bench-101's hash (`conv3x3` = 0, `conv1x1` = 1, `maxpool3x3` = 2).
pub fn nb101_label(op: Op) -> i32 {
    match op {
        Op::Conv3x3 => 0,
        Op::Conv1x1 => 1,
        Op::MaxPool3x3 => 2,
    }
}

/// One of the three search spaces of NAS-Bench-1Shot1. Serialized as the number 1, 2 or 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum SpaceId {
    One,
    Two,
    Three,
}

impl SpaceId {
    /// All three spaces, in order.
    pub const ALL: [SpaceId; 3] = [SpaceId::One, SpaceId::Two, SpaceId::Three];

    /// The space's number (1, 2 or 3).
    pub fn number(self) -> u8 {
        match self {
            SpaceId::One => 1,
            SpaceId::Two => 2,
            SpaceId::Three => 3,
        }
    }
}

impl From<SpaceId> for u8 {
    fn from(s: SpaceId) -> u8 {
        s.number()
    }
}

/// A search-space number outside 1..=3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown search space {0:?}: expected 1, 2 or 3")]
pub struct UnknownSpace(pub String);

impl TryFrom<u8> for SpaceId {
    type Error = UnknownSpace;
    fn try_from(n: u8) -> Result<Self, UnknownSpace> {
        match n {
            1 => Ok(SpaceId::One),
            2 => Ok(SpaceId::Two),
            3 => Ok(SpaceId::Three),
            other => Err(UnknownSpace(other.to_string())),
        }
    }
}

impl FromStr for SpaceId {
    type Err = UnknownSpace;
    fn from_str(s: &str) -> Result<Self, UnknownSpace> {
        let t = s.trim();
        let t = t.strip_prefix("space").unwrap_or(t).trim();
        match t {
            "1" => Ok(SpaceId::One),
            "2" => Ok(SpaceId::Two),
            "3" => Ok(SpaceId::Three),
            _ => Err(UnknownSpace(s.to_string())),
        }
    }
}

impl fmt::Display for SpaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

/// A search space: the number of parents of every node 1..=N+1 (N+1 is the cell output) and,
/// per node, every parent set it may choose (sorted combinations of lower nodes, in
/// lexicographic order; this order defines the categorical encoding and configuration index).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchSpace {
    id: SpaceId,
    parents_per_node: Vec<usize>,
    /// `parent_options[k - 1]`: every parent set of node k, as a bit mask over nodes 0..k.
    parent_options: Vec<Vec<u16>>,
}

impl SearchSpace {
    /// The space `id` (spec §1.1, Table 1).
    pub fn new(id: SpaceId) -> SearchSpace {
        let parents_per_node = match id {
            SpaceId::One => vec![1, 2, 2, 2, 2],
            SpaceId::Two => vec![1, 1, 2, 2, 3],
            SpaceId::Three => vec![1, 1, 1, 2, 2, 2],
        };
        let parent_options = parents_per_node
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let node = i + 1;
                if node == 1 {
                    // Node 1's only candidate parent is the input.
                    vec![1u16]
                } else {
                    combinations(node, p)
                }
            })
            .collect();
        SearchSpace {
            id,
            parents_per_node,
            parent_options,
        }
    }

    /// Which space this is.
    pub fn id(&self) -> SpaceId {
        self.id
    }

    /// N: the number of choice blocks (intermediate nodes), 4, 4 or 5.
    pub fn num_choice_blocks(&self) -> usize {
        self.parents_per_node.len() - 1
    }

    /// Index of the cell output node (N + 1).
    pub fn output_node(&self) -> usize {
        self.parents_per_node.len()
    }

    /// Parent count of `node` (1..=N+1); 0 for the input or an out-of-range node.
    pub fn num_parents(&self, node: usize) -> usize {
        if node == 0 {
            return 0;
        }
        self.parents_per_node.get(node - 1).copied().unwrap_or(0)
    }

    /// Parent counts of nodes 1..=N+1, output last.
    pub fn parents_per_node(&self) -> &[usize] {
        &self.parents_per_node
    }

    /// Every parent set node `node` (1..=N+1) may choose, as bit masks over nodes 0..node.
    pub fn parent_options(&self, node: usize) -> &[u16] {
        if node == 0 {
            return &[];
        }
        self.parent_options
            .get(node - 1)
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    }

    /// Number of ways to choose all parent sets (180 / 360 / 5,400).
    pub fn parent_configurations(&self) -> u64 {
        self.parent_options.iter().map(|o| o.len() as u64).product()
    }

    /// Every configuration of the ConfigSpace encoding (spec §1.2): parent sets times 3^N
    /// operations (14,580 / 29,160 / 1,312,200).
    pub fn raw_configurations(&self) -> u64 {
        self.parent_configurations() * 3u64.pow(self.num_choice_blocks() as u32)
    }

    /// The paper's counting rule (spec §1.5): over all parent configurations, 3 operation choices
    /// for each choice block that has at least one successor (6,240 / 16,632 / 363,648). The
    /// paper prints 29,160 for space 2, which is the raw count: see docs/searchspaces.md.
    pub fn paper_count(&self) -> u64 {
        let n = self.num_choice_blocks();
        self.parent_masks()
            .map(|masks| {
                let used = (1..=n)
                    .filter(|&j| masks.iter().any(|&m| m & (1 << j) != 0))
                    .count();
                3u64.pow(used as u32)
            })
            .sum()
    }

    /// Every parent configuration, as one bit mask per node 1..=N+1, in configuration-index
    /// order (node 1 most significant).
    pub fn parent_masks(&self) -> impl Iterator<Item = Vec<u16>> + '_ {
        let total = self.parent_configurations();
        (0..total).map(move |mut idx| {
            let mut masks = vec![0u16; self.parent_options.len()];
            for (k, opts) in self.parent_options.iter().enumerate().rev() {
                let r = opts.len() as u64;
                // `opts` is never empty, and idx % r < r.
                masks[k] = opts[(idx % r) as usize];
                idx /= r;
            }
            masks
        })
    }
}

/// All `p`-element subsets of {0..n}, as bit masks, in lexicographic order of their sorted
/// elements.
fn combinations(n: usize, p: usize) -> Vec<u16> {
    fn rec(start: usize, n: usize, left: usize, acc: u16, out: &mut Vec<u16>) {
        if left == 0 {
            out.push(acc);
            return;
        }
        for i in start..n {
            rec(i + 1, n, left - 1, acc | (1 << i), out);
        }
    }
    let mut out = Vec::new();
    rec(0, n, p, 0, &mut out);
    out
}

/// The elements of a bit mask, ascending.
pub(crate) fn mask_to_vec(mask: u16) -> Vec<usize> {
    (0..16).filter(|i| mask & (1 << i) != 0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_configuration_counts_match_spec() {
        let counts: Vec<u64> = SpaceId::ALL
            .iter()
            .map(|&s| SearchSpace::new(s).raw_configurations())
            .collect();
        assert_eq!(counts, vec![14_580, 29_160, 1_312_200]);
    }

    #[test]
    fn paper_counts_follow_successor_rule() {
        let counts: Vec<u64> = SpaceId::ALL
            .iter()
            .map(|&s| SearchSpace::new(s).paper_count())
            .collect();
        assert_eq!(counts, vec![6_240, 16_632, 363_648]);
    }

    #[test]
    fn every_space_has_nine_edges() {
        for s in SpaceId::ALL {
            let sp = SearchSpace::new(s);
            assert_eq!(sp.parents_per_node().iter().sum::<usize>(), 9, "space {s}");
        }
    }

    #[test]
    fn space_ids_parse_and_print() {
        for s in SpaceId::ALL {
            assert_eq!(s.to_string().parse::<SpaceId>().unwrap(), s);
        }
        assert!("4".parse::<SpaceId>().is_err());
        assert_eq!(serde_json::to_string(&SpaceId::Three).unwrap(), "3");
        assert!(serde_json::from_str::<SpaceId>("0").is_err());
    }

    #[test]
    fn combinations_are_lexicographic() {
        assert_eq!(
            combinations(4, 2),
            vec![0b11, 0b101, 0b1001, 0b110, 0b1010, 0b1100]
        );
        assert_eq!(combinations(5, 3).len(), 10);
    }
}
