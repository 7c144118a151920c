//! The original repository's "exhaustive" enumerator (`generate_search_space_without_loose_ends`,
//! spec §1.5), replayed: its correlation study and its "best in space" constants cover only the
//! configurations it yields (2,487 / 3,609 / 24,066, of 2,127 / 3,258 / 17,940 NB-101 hashes).
//! It walks back from the output, adding one parent set per node and recursing into each parent
//! right after its edge is set, so a node with two parents is explored with only the first
//! edge in place; many loose-end-free graphs are never reached.

use nasbench101::Op;

use crate::architecture::Architecture;
use crate::space::{SearchSpace, SpaceId};

/// Node-by-node adjacency matrix of nodes 0..=N+1 (input, choice blocks, output).
type Matrix = Vec<Vec<u8>>;

impl SearchSpace {
    /// Every configuration the original enumerator yields, in its order: each graph it reaches,
    /// times every op assignment of the choice blocks that have successors. Blocks without
    /// successors (not in the graph) get the lowest parent set and `conv1x1`, which the pruning
    /// drops, so each configuration hashes as the original's matrix did.
    pub fn original_enumeration(&self) -> Vec<Architecture> {
        let m = self.output_node() + 1;
        let mut graphs = Vec::new();
        walk(self, vec![vec![0; m]; m], m - 1, &mut graphs);
        graphs
            .iter()
            .flat_map(|g| configurations(self, g))
            .collect()
    }
}

/// `_check_validity_of_adjacency_matrix`: some intermediate node has successors, every node
/// with parents has exactly its count, as many nodes have parents as have successors, the
/// input has a successor, at most 9 edges.
fn valid(space: &SearchSpace, a: &Matrix) -> bool {
    let m = a.len();
    let row = |i: usize| a[i].iter().map(|&x| x as usize).sum::<usize>();
    let col = |j: usize| a.iter().map(|r| r[j] as usize).sum::<usize>();
    if (1..m - 1).all(|i| row(i) == 0) {
        return false;
    }
    if (0..m).any(|j| col(j) > 0 && col(j) != space.num_parents(j)) {
        return false;
    }
    let with_parents = (0..m).filter(|&j| col(j) > 0).count();
    let with_children = (0..m).filter(|&i| row(i) > 0).count();
    with_parents == with_children && row(0) > 0 && (0..m).map(row).sum::<usize>() <= 9
}

/// `_generate_adjacency_matrix`: yields `a` if it is valid, else for every way to complete
/// `node`'s parents (node 1: always {0}) sets the edges one by one on a copy, recursing into
/// each parent as soon as its edge is set.
fn walk(space: &SearchSpace, a: Matrix, node: usize, out: &mut Vec<Matrix>) {
    if valid(space, &a) {
        out.push(a);
        return;
    }
    let have: usize = a.iter().map(|r| r[node] as usize).sum();
    let left = space.num_parents(node).saturating_sub(have);
    let options: Vec<Vec<usize>> = match node {
        1 => vec![vec![0]],
        _ => {
            let free: Vec<usize> = (0..node).filter(|&p| a[p][node] == 0).collect();
            combinations(&free, left)
        }
    };
    for parents in options {
        let mut b = a.clone();
        for p in parents {
            b[p][node] = 1;
            walk(space, b.clone(), p, out);
        }
    }
}

/// `itertools.combinations(items, k)` in its order.
fn combinations(items: &[usize], k: usize) -> Vec<Vec<usize>> {
    if k == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for (i, &x) in items.iter().enumerate() {
        for mut rest in combinations(&items[i + 1..], k - 1) {
            rest.insert(0, x);
            out.push(rest);
        }
    }
    out
}

/// The op assignments of one graph as `generate_search_space_without_loose_ends` makes them:
/// `itertools.product((conv1x1, conv3x3, maxpool), repeat = blocks with successors)`, each
/// tuple popped from its end onto those blocks in order.
fn configurations(space: &SearchSpace, a: &Matrix) -> Vec<Architecture> {
    let n = space.num_choice_blocks();
    let used: Vec<usize> = (1..=n).filter(|&i| a[i].iter().any(|&x| x > 0)).collect();
    let choices = [Op::Conv1x1, Op::Conv3x3, Op::MaxPool3x3];
    let total = 3usize.pow(used.len() as u32);
    let parents: Vec<Vec<usize>> = (1..=n + 1)
        .map(|node| {
            let ps: Vec<usize> = (0..node).filter(|&p| a[p][node] > 0).collect();
            match ps.is_empty() {
                true => (0..space.num_parents(node)).collect(),
                false => ps,
            }
        })
        .collect();
    (0..total)
        .map(|index| {
            // Digits of `index` in base 3, most significant first = the product's tuple.
            let mut tuple: Vec<Op> = (0..used.len())
                .rev()
                .map(|d| choices[index / 3usize.pow(d as u32) % 3])
                .collect();
            let mut ops = vec![Op::Conv1x1; n];
            for &block in &used {
                if let Some(op) = tuple.pop() {
                    ops[block - 1] = op;
                }
            }
            Architecture {
                space: space.id(),
                ops,
                parents: parents.clone(),
            }
        })
        .collect()
}

/// The enumerator's set for one space (see [`SearchSpace::original_enumeration`]).
pub fn original_enumeration(space: SpaceId) -> Vec<Architecture> {
    SearchSpace::new(space).original_enumeration()
}
