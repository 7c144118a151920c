//! The pruned NAS-Bench-101 graph of an architecture, computed with bit masks: NB-101 keeps a
//! vertex only if it lies on an input→output path (nb101.md §2.2). In these spaces every node
//! has a parent, so every node is reachable from the input and pruning keeps exactly the
//! ancestors of the output; the dummy vertex of spaces 1 and 2 is never one.

use std::sync::OnceLock;

use nasbench101::ModelHash;

/// Every permutation of 0..k, for k = 0..=5.
fn permutations(k: usize) -> &'static [Vec<u8>] {
    static ALL: OnceLock<Vec<Vec<Vec<u8>>>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        (0..=5)
            .map(|k| {
                let mut out = Vec::new();
                let mut cur: Vec<u8> = Vec::new();
                fn rec(k: usize, cur: &mut Vec<u8>, out: &mut Vec<Vec<u8>>) {
                    if cur.len() == k {
                        out.push(cur.clone());
                        return;
                    }
                    for v in 0..k as u8 {
                        if !cur.contains(&v) {
                            cur.push(v);
                            rec(k, cur, out);
                            cur.pop();
                        }
                    }
                }
                rec(k, &mut cur, &mut out);
                out
            })
            .collect()
    });
    all.get(k).map(|v| v.as_slice()).unwrap_or(&[])
}

/// Largest NB-101 graph: 7 vertices.
pub const MAX_VERTICES: usize = 7;

/// A pruned, labelled NB-101 graph: vertex 0 is the input, the last vertex the output, the
/// kept choice blocks in between in their original order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PrunedGraph {
    vertices: usize,
    /// `rows[i]`: bit j set when there is an edge i → j.
    rows: [u8; MAX_VERTICES],
    /// NB-101 hash labels: -1 input, -2 output, else 0 conv3x3, 1 conv1x1, 2 maxpool.
    labels: [i8; MAX_VERTICES],
}

impl PrunedGraph {
    /// Prunes the raw cell given by `parents[k - 1]` (bit mask of the parents of node k, for
    /// k = 1..=N+1, output last) and `labels[k - 1]` (NB-101 label of choice block k).
    /// Callers guarantee N + 2 <= 7, every mask nonzero and only naming lower nodes.
    pub(crate) fn prune(parents: &[u16], labels: &[i8]) -> PrunedGraph {
        let output = parents.len();
        let mut keep: u16 = 1 << output;
        for node in (1..=output).rev() {
            if keep & (1 << node) != 0 {
                keep |= parents.get(node - 1).copied().unwrap_or(0);
            }
        }
        keep |= 1; // the input is an ancestor of everything
        let mut new_index = [0usize; 16];
        let mut vertices = 0;
        let mut out_labels = [0i8; MAX_VERTICES];
        for (node, slot) in new_index.iter_mut().enumerate().take(output + 1) {
            if keep & (1 << node) != 0 && vertices < MAX_VERTICES {
                *slot = vertices;
                out_labels[vertices] = if node == 0 {
                    -1
                } else if node == output {
                    -2
                } else {
                    labels.get(node - 1).copied().unwrap_or(0)
                };
                vertices += 1;
            }
        }
        let mut rows = [0u8; MAX_VERTICES];
        for node in 1..=output {
            if keep & (1 << node) == 0 {
                continue;
            }
            let mask = parents.get(node - 1).copied().unwrap_or(0);
            for p in 0..node {
                if mask & (1 << p) != 0 {
                    rows[new_index[p]] |= 1 << new_index[node];
                }
            }
        }
        PrunedGraph {
            vertices,
            rows,
            labels: out_labels,
        }
    }

    /// Number of vertices, input and output included (2..=7).
    pub fn num_vertices(&self) -> usize {
        self.vertices
    }

    /// Number of edges.
    pub fn num_edges(&self) -> usize {
        self.rows[..self.vertices]
            .iter()
            .map(|r| r.count_ones() as usize)
            .sum()
    }

    /// The 0/1 adjacency matrix (upper triangular).
    pub fn matrix(&self) -> Vec<Vec<u8>> {
        (0..self.vertices)
            .map(|i| {
                (0..self.vertices)
                    .map(|j| (self.rows[i] >> j) & 1)
                    .collect()
            })
            .collect()
    }

    /// NB-101 hash labels of the vertices.
    pub fn labels(&self) -> Vec<i32> {
        self.labels[..self.vertices]
            .iter()
            .map(|&l| i32::from(l))
            .collect()
    }

    /// NB-101 operation names of the vertices, `input` and `output` included.
    pub fn op_names(&self) -> Vec<String> {
        self.labels[..self.vertices]
            .iter()
            .map(|&l| {
                match l {
                    -1 => "input",
                    -2 => "output",
                    0 => "conv3x3-bn-relu",
                    1 => "conv1x1-bn-relu",
                    _ => "maxpool3x3",
                }
                .to_string()
            })
            .collect()
    }

    /// A compact key that is equal exactly when two pruned graphs are identical (same vertex
    /// count, edges and labels): used to hash each distinct graph once.
    pub fn key(&self) -> u64 {
        let mut key = self.vertices as u64;
        let mut shift = 3;
        for i in 0..self.vertices {
            for j in (i + 1)..self.vertices {
                key |= u64::from((self.rows[i] >> j) & 1) << shift;
                shift += 1;
            }
        }
        for &l in &self.labels[1..self.vertices.saturating_sub(1)] {
            key |= ((l as u64) & 3) << shift;
            shift += 2;
        }
        key
    }

    /// A key that is equal exactly when two pruned graphs are isomorphic (input and output
    /// fixed, interior vertices matched with equal labels). Isomorphic graphs have the same
    /// NB-101 hash, so hashing one graph per canonical key suffices. Computed as the smallest
    /// adjacency code over the vertex orders that sort interior vertices by (label, in-degree,
    /// out-degree); there are few such orders, at most 5! = 120.
    pub fn canonical_key(&self) -> u64 {
        let n = self.vertices;
        if n < 3 {
            return self.key();
        }
        let interior = n - 2;
        let mut indeg = [0u32; MAX_VERTICES];
        for r in &self.rows[..n] {
            for (j, d) in indeg.iter_mut().enumerate().take(n) {
                *d += u32::from((r >> j) & 1);
            }
        }
        let inv = |v: usize| -> u32 {
            (((self.labels[v] as u32) & 3) << 8) | (indeg[v] << 4) | self.rows[v].count_ones()
        };
        let mut sorted: Vec<u32> = (1..=interior).map(inv).collect();
        sorted.sort_unstable();
        let mut best = u64::MAX;
        for perm in permutations(interior) {
            // perm[i] = old interior vertex placed at new position i + 1.
            if (0..interior).any(|i| inv(perm[i] as usize + 1) != sorted[i]) {
                continue;
            }
            let mut old = [0usize; MAX_VERTICES];
            old[n - 1] = n - 1;
            for (slot, &p) in old[1..=interior].iter_mut().zip(perm) {
                *slot = p as usize + 1;
            }
            let mut code = 0u64;
            for (i, &oi) in old[..n].iter().enumerate() {
                let row = self.rows[oi];
                for (j, &oj) in old[..n].iter().enumerate() {
                    code |= u64::from((row >> oj) & 1) << (i * MAX_VERTICES + j);
                }
            }
            best = best.min(code);
        }
        let labels = sorted
            .iter()
            .fold(0u64, |acc, &x| (acc << 2) | u64::from(x >> 8));
        n as u64 | (labels << 3) | (best << 13)
    }

    /// The NAS-Bench-101 model hash of this graph.
    pub fn hash(&self) -> ModelHash {
        nasbench101::hash_module(&self.matrix(), &self.labels())
    }
}
