//! `ModelSpec`: a cell given as an adjacency matrix plus op names, with the official
//! construction errors, pruning (keep only vertices on an input→output path) and validity
//! checks (`_check_spec` order), and the graph hash of the pruned cell.

use crate::hash::{hash_module, ModelHash};
use crate::op::{Op, INPUT, OUTPUT};

/// Most vertices a valid cell may have after pruning (`module_vertices`).
pub const MAX_VERTICES: usize = 7;
/// Most edges a valid cell may have after pruning (`max_edges`).
pub const MAX_EDGES: usize = 9;

/// Why a spec cannot be built or is outside the NAS-Bench-101 domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The matrix is not square (row `row` has `len` entries, `rows` rows in total).
    #[error("matrix is not square: {rows} rows but row {row} has {len} entries")]
    NotSquare { rows: usize, row: usize, len: usize },
    /// The op list length differs from the number of vertices.
    #[error("{ops} ops given for {vertices} vertices")]
    OpsLength { vertices: usize, ops: usize },
    /// An entry on or below the diagonal is non-zero.
    #[error("matrix is not strictly upper triangular: entry ({row}, {col}) is non-zero")]
    NotUpperTriangular { row: usize, col: usize },
    /// An entry is neither 0 nor 1.
    #[error("matrix entry ({row}, {col}) is {value}, expected 0 or 1")]
    NotBinary { row: usize, col: usize, value: u8 },
    /// No path from input to output (official: "invalid spec, provided graph is disconnected").
    #[error("invalid spec, provided graph is disconnected")]
    Disconnected,
    /// More than 7 vertices after pruning. The official API means to raise this but crashes
    /// with a TypeError (`config[...]` indexes a module); we report it as a domain error.
    #[error("too many vertices: {vertices} after pruning, at most {max}", max = MAX_VERTICES)]
    TooManyVertices { vertices: usize },
    /// More than 9 edges after pruning.
    #[error("too many edges: {edges} after pruning, at most {max}", max = MAX_EDGES)]
    TooManyEdges { edges: usize },
    /// The first op is not `input` or the last is not `output`.
    #[error("first op must be \"input\" and last \"output\", got {first:?} and {last:?}")]
    BadInputOutput { first: String, last: String },
    /// An interior op of the pruned cell is not one of the three NB-101 ops.
    #[error("unsupported op {op:?} at vertex {vertex} of the pruned cell")]
    UnsupportedOp { vertex: usize, op: String },
}

impl SpecError {
    /// A stable snake_case code for machine-readable output.
    pub fn code(&self) -> &'static str {
        match self {
            SpecError::NotSquare { .. } => "not_square",
            SpecError::OpsLength { .. } => "ops_length",
            SpecError::NotUpperTriangular { .. } => "not_upper_triangular",
            SpecError::NotBinary { .. } => "not_binary",
            SpecError::Disconnected => "disconnected",
            SpecError::TooManyVertices { .. } => "too_many_vertices",
            SpecError::TooManyEdges { .. } => "too_many_edges",
            SpecError::BadInputOutput { .. } => "bad_input_output",
            SpecError::UnsupportedOp { .. } => "unsupported_op",
        }
    }
}

/// A cell: the caller's matrix and ops plus the pruned form (`None` when disconnected).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    original_matrix: Vec<Vec<u8>>,
    original_ops: Vec<String>,
    pruned: Option<(Vec<Vec<u8>>, Vec<String>)>,
}

impl ModelSpec {
    /// Builds a spec: checks shape, op count, strict upper triangularity and 0/1 entries
    /// (the official constructor accepts any integer; we refuse non-binary entries), then prunes.
    pub fn new(matrix: Vec<Vec<u8>>, ops: Vec<String>) -> Result<ModelSpec, SpecError> {
        let n = matrix.len();
        for (r, row) in matrix.iter().enumerate() {
            if row.len() != n {
                return Err(SpecError::NotSquare {
                    rows: n,
                    row: r,
                    len: row.len(),
                });
            }
        }
        if n == 0 {
            return Err(SpecError::NotSquare {
                rows: 0,
                row: 0,
                len: 0,
            });
        }
        if ops.len() != n {
            return Err(SpecError::OpsLength {
                vertices: n,
                ops: ops.len(),
            });
        }
        for (r, row) in matrix.iter().enumerate() {
            for (c, &v) in row.iter().enumerate() {
                if c <= r && v != 0 {
                    return Err(SpecError::NotUpperTriangular { row: r, col: c });
                }
            }
        }
        for (r, row) in matrix.iter().enumerate() {
            for (c, &v) in row.iter().enumerate() {
                if v > 1 {
                    return Err(SpecError::NotBinary {
                        row: r,
                        col: c,
                        value: v,
                    });
                }
            }
        }
        let pruned = prune(&matrix, &ops);
        Ok(ModelSpec {
            original_matrix: matrix,
            original_ops: ops,
            pruned,
        })
    }

    /// Convenience: `ops` are the interior ops; `input` and `output` are added at the ends.
    pub fn from_ops(matrix: Vec<Vec<u8>>, ops: &[Op]) -> Result<ModelSpec, SpecError> {
        let mut names = Vec::with_capacity(ops.len() + 2);
        names.push(INPUT.to_string());
        names.extend(ops.iter().map(|o| o.name().to_string()));
        names.push(OUTPUT.to_string());
        ModelSpec::new(matrix, names)
    }

    /// The matrix as given.
    pub fn original_matrix(&self) -> &[Vec<u8>] {
        &self.original_matrix
    }
    /// The ops as given.
    pub fn original_ops(&self) -> &[String] {
        &self.original_ops
    }
    /// The pruned matrix, `None` when input does not reach output.
    pub fn pruned_matrix(&self) -> Option<&[Vec<u8>]> {
        self.pruned.as_ref().map(|(m, _)| m.as_slice())
    }
    /// The pruned ops, `None` when input does not reach output.
    pub fn pruned_ops(&self) -> Option<&[String]> {
        self.pruned.as_ref().map(|(_, o)| o.as_slice())
    }

    /// The official `_check_spec` on the pruned cell, in its order: disconnected, too many
    /// vertices, too many edges, input/output ops, unsupported interior ops.
    pub fn check(&self) -> Result<(), SpecError> {
        let (matrix, ops) = self.pruned.as_ref().ok_or(SpecError::Disconnected)?;
        if ops.len() > MAX_VERTICES {
            return Err(SpecError::TooManyVertices {
                vertices: ops.len(),
            });
        }
        let edges: usize = matrix
            .iter()
            .map(|r| r.iter().map(|&v| usize::from(v)).sum::<usize>())
            .sum();
        if edges > MAX_EDGES {
            return Err(SpecError::TooManyEdges { edges });
        }
        let first = ops.first().map(String::as_str).unwrap_or("");
        let last = ops.last().map(String::as_str).unwrap_or("");
        if first != INPUT || last != OUTPUT {
            return Err(SpecError::BadInputOutput {
                first: first.to_string(),
                last: last.to_string(),
            });
        }
        for (v, op) in ops.iter().enumerate().take(ops.len() - 1).skip(1) {
            if Op::from_name(op).is_none() {
                return Err(SpecError::UnsupportedOp {
                    vertex: v,
                    op: op.clone(),
                });
            }
        }
        Ok(())
    }

    /// `check()` passes.
    pub fn is_valid(&self) -> bool {
        self.check().is_ok()
    }

    /// The hash labels of the pruned cell (-1 input, -2 output, op index otherwise).
    /// Requires a spec that passed `check()`.
    fn labels(ops: &[String]) -> Vec<i32> {
        let last = ops.len().saturating_sub(1);
        ops.iter()
            .enumerate()
            .map(|(v, op)| {
                if v == 0 {
                    -1
                } else if v == last {
                    -2
                } else {
                    Op::from_name(op).map_or(-3, Op::label)
                }
            })
            .collect()
    }

    /// `check()`, then the graph hash of the pruned cell (bit-exact with `hash_spec`).
    pub fn hash(&self) -> Result<ModelHash, SpecError> {
        self.check()?;
        let (matrix, ops) = self.pruned.as_ref().ok_or(SpecError::Disconnected)?;
        Ok(hash_module(matrix, &Self::labels(ops)))
    }

    /// The interior ops of the pruned cell as [`Op`]s, when the spec is valid.
    pub fn pruned_interior_ops(&self) -> Option<Vec<Op>> {
        let ops = self.pruned_ops()?;
        let n = ops.len();
        if n < 2 {
            return Some(Vec::new());
        }
        ops.get(1..n - 1)?
            .iter()
            .map(|o| Op::from_name(o))
            .collect()
    }
}

/// The official `_prune`: keep the vertices reachable from the input and co-reachable from
/// the output; `None` when more than V-2 vertices would go (no input→output path).
fn prune(matrix: &[Vec<u8>], ops: &[String]) -> Option<(Vec<Vec<u8>>, Vec<String>)> {
    let n = matrix.len();
    let edge = |r: usize, c: usize| {
        matrix
            .get(r)
            .and_then(|row| row.get(c))
            .is_some_and(|&v| v != 0)
    };
    let mut from_input = vec![false; n];
    let mut to_output = vec![false; n];
    if n == 0 {
        return None;
    }
    from_input[0] = true;
    let mut frontier = vec![0usize];
    while let Some(top) = frontier.pop() {
        for (v, seen) in from_input.iter_mut().enumerate().skip(top + 1) {
            if edge(top, v) && !*seen {
                *seen = true;
                frontier.push(v);
            }
        }
    }
    to_output[n - 1] = true;
    frontier.push(n - 1);
    while let Some(top) = frontier.pop() {
        for (v, seen) in to_output.iter_mut().enumerate().take(top) {
            if edge(v, top) && !*seen {
                *seen = true;
                frontier.push(v);
            }
        }
    }
    let keep: Vec<usize> = (0..n).filter(|&v| from_input[v] && to_output[v]).collect();
    let extraneous = n - keep.len();
    if extraneous as i64 > n as i64 - 2 {
        return None;
    }
    let pruned_matrix: Vec<Vec<u8>> = keep
        .iter()
        .map(|&r| keep.iter().map(|&c| u8::from(edge(r, c))).collect())
        .collect();
    let pruned_ops: Vec<String> = keep.iter().filter_map(|&v| ops.get(v).cloned()).collect();
    Some((pruned_matrix, pruned_ops))
}
