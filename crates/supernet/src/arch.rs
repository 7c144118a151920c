//! Architecture weights (α for ops, β for edges, γ for the output; §2.4) and the mixing weights a
//! forward pass consumes. One set is shared by all cells; a [`MixingSource`] turns it into the
//! weights of one cell (softmax for DARTS, a Gumbel sample for GDAS, one-hot for Random-WS/ENAS).

use tch::{nn, Device, Kind, Tensor};

use crate::error::SupernetError;
use crate::topology::Topology;
use searchspace::{Architecture, SearchSpace, PRIMITIVES};

/// The learnable architecture logits of one search space, kept in their own `VarStore` so the
/// weight optimizer never sees them.
#[derive(Debug)]
pub struct ArchParams {
    /// α, shape (N, 3): row i−1 holds node i's op logits in [`PRIMITIVES`] order.
    pub ops: Tensor,
    /// γ, shape (1, N+1): column 0 is the input→output edge, column j is choice block j.
    pub output: Tensor,
    /// β per choice block 1..=N: `Some((1, k))` edge logits over parents 0..k−1 for node k when
    /// choosing its parents is a real choice, `None` otherwise (node 1; node 2 of space 1).
    pub inputs: Vec<Option<Tensor>>,
}

impl ArchParams {
    /// Creates the tensors in `path` as 1e-3 · N(0, 1) trainable variables named
    /// `alphas_mixed_op`, `alphas_output` and `alphas_inputs_<k>`.
    pub fn new(path: &nn::Path, space: &SearchSpace) -> Self {
        let topo = Topology::of(space);
        let n = topo.n as i64;
        let ops = path.randn("alphas_mixed_op", &[n, 3], 0.0, 1e-3);
        let output = path.randn("alphas_output", &[1, n + 1], 0.0, 1e-3);
        let inputs = (1..=topo.n)
            .map(|k| {
                topo.has_edge_vector(k)
                    .then(|| path.randn(&format!("alphas_inputs_{k}"), &[1, k as i64], 0.0, 1e-3))
            })
            .collect();
        Self {
            ops,
            output,
            inputs,
        }
    }

    /// All tensors, ops first, then output, then the present edge vectors in node order.
    pub fn tensors(&self) -> Vec<Tensor> {
        let mut v = vec![self.ops.shallow_clone(), self.output.shallow_clone()];
        v.extend(self.inputs.iter().flatten().map(Tensor::shallow_clone));
        v
    }

    /// Number of architecture values: 24 / 26 / 35 for spaces 1 / 2 / 3.
    pub fn num_values(&self) -> i64 {
        self.tensors().iter().map(|t| t.numel() as i64).sum()
    }

    /// Checks every tensor's presence and shape against `space` (§2.4).
    pub fn check(&self, space: &SearchSpace) -> Result<(), SupernetError> {
        check_layout(
            &Topology::of(space),
            &self.ops,
            &self.output,
            &self.inputs,
            None,
        )
    }
}

/// Checks the shapes of §2.4; with `batch = Some(B)` the per-sample layout of
/// [`MixingWeights`] ((B, N, 3), (B, N+1), (B, k)).
pub(crate) fn check_layout(
    topo: &Topology,
    ops: &Tensor,
    output: &Tensor,
    inputs: &[Option<Tensor>],
    batch: Option<i64>,
) -> Result<(), SupernetError> {
    let n = topo.n as i64;
    let lead = |rest: Vec<i64>| match batch {
        Some(b) => std::iter::once(b).chain(rest).collect(),
        None => rest,
    };
    let row = batch.unwrap_or(1);
    let shape = |name: String, t: &Tensor, expected: Vec<i64>| {
        let found = t.size();
        if found == expected {
            Ok(())
        } else {
            Err(SupernetError::ArchShape {
                tensor: name,
                expected,
                found,
            })
        }
    };
    shape("ops".into(), ops, lead(vec![n, 3]))?;
    shape("output".into(), output, vec![row, n + 1])?;
    if inputs.len() != topo.n {
        return Err(SupernetError::ArchLayout {
            tensor: "inputs".into(),
            reason: format!(
                "{} entries, expected one per choice block ({})",
                inputs.len(),
                topo.n
            ),
        });
    }
    for (i, t) in inputs.iter().enumerate() {
        let node = i + 1;
        let name = format!("inputs[{node}]");
        match (t, topo.has_edge_vector(node)) {
            (Some(t), true) => shape(name, t, vec![row, node as i64])?,
            (None, false) => {}
            (Some(_), false) => {
                return Err(SupernetError::ArchLayout {
                    tensor: name,
                    reason: "present, but this node has no edge vector".into(),
                })
            }
            (None, true) => {
                return Err(SupernetError::ArchLayout {
                    tensor: name,
                    reason: "missing, but this node has an edge vector".into(),
                })
            }
        }
    }
    Ok(())
}

/// The weights one cell mixes with, same shapes as [`ArchParams`].
///
/// Per-sample weights (one architecture per image, see [`MixingWeights::per_sample`]) carry a
/// leading batch axis instead: ops (B, N, 3), output (B, N+1), edges (B, k), for a forward pass
/// over B images. In evaluation mode every sample is independent, so B images under per-sample
/// weights give the same logits as B separate passes, one per architecture.
#[derive(Debug)]
pub struct MixingWeights {
    /// (N, 3) op weights, or (B, N, 3) per sample.
    pub ops: Tensor,
    /// (1, N+1) output weights, or (B, N+1) per sample.
    pub output: Tensor,
    /// Per choice block: (1, k) edge weights (or (B, k) per sample), or `None` to sum the inputs
    /// unweighted.
    pub inputs: Vec<Option<Tensor>>,
    /// Optional hint: per choice block the single op whose weight is non-zero. The cell then runs
    /// only that op (times its weight, so straight-through gradients still flow) unless the
    /// config asks for `run_all_ops`. Must be `None` for per-sample weights.
    pub active_ops: Option<Vec<usize>>,
}

impl MixingWeights {
    /// Whether the weights carry a leading batch axis (one set per sample).
    pub fn is_per_sample(&self) -> bool {
        self.ops.dim() == 3
    }

    /// Per-sample weights for a batch of `archs.len() · repeats` images laid out architecture
    /// by architecture: samples `a·repeats .. (a+1)·repeats` use `archs[a]`. Each entry of
    /// `archs` must be a shared (non-per-sample) set for the same space, on one device.
    pub fn per_sample(archs: &[MixingWeights], repeats: i64) -> Result<Self, SupernetError> {
        let bad = |reason: String| SupernetError::ArchLayout {
            tensor: "per-sample mixing weights".into(),
            reason,
        };
        let first = archs
            .first()
            .ok_or_else(|| bad("no architectures given".into()))?;
        if repeats < 1 {
            return Err(bad(format!("{repeats} images per architecture")));
        }
        if let Some(i) = archs.iter().position(|m| m.is_per_sample()) {
            return Err(bad(format!("entry {i} is already per-sample")));
        }
        if archs.iter().any(|m| m.inputs.len() != first.inputs.len()) {
            return Err(bad("entries have different numbers of choice blocks".into()));
        }
        let rep = |t: Tensor| t.repeat_interleave_self_int(repeats, 0, None);
        let ops: Vec<&Tensor> = archs.iter().map(|m| &m.ops).collect();
        let ops = Tensor::f_stack(&ops, 0)?;
        let outputs: Vec<&Tensor> = archs.iter().map(|m| &m.output).collect();
        let output = Tensor::f_cat(&outputs, 0)?;
        let mut inputs = Vec::with_capacity(first.inputs.len());
        for node in 0..first.inputs.len() {
            let edges: Vec<Option<&Tensor>> = archs
                .iter()
                .map(|m| m.inputs.get(node).and_then(Option::as_ref))
                .collect();
            if edges.iter().all(Option::is_none) {
                inputs.push(None);
            } else if edges.iter().all(Option::is_some) {
                let edges: Vec<&Tensor> = edges.into_iter().flatten().collect();
                inputs.push(Some(rep(Tensor::f_cat(&edges, 0)?)));
            } else {
                return Err(bad(format!(
                    "choice block {} has edge weights in some entries only",
                    node + 1
                )));
            }
        }
        Ok(MixingWeights {
            ops: rep(ops),
            output: rep(output),
            inputs,
            active_ops: None,
        })
    }
}

impl Clone for MixingWeights {
    /// Shallow: the clone shares storage and autograd history with the original.
    fn clone(&self) -> Self {
        Self {
            ops: self.ops.shallow_clone(),
            output: self.output.shallow_clone(),
            inputs: self
                .inputs
                .iter()
                .map(|t| t.as_ref().map(Tensor::shallow_clone))
                .collect(),
            active_ops: self.active_ops.clone(),
        }
    }
}

/// Gives each cell its mixing weights; asked once per cell per forward pass, in cell order.
pub trait MixingSource {
    /// The weights for cell `cell` (0-based).
    fn for_cell(&mut self, cell: usize) -> MixingWeights;
}

/// The same weights for every cell. DARTS and PC-DARTS compute the softmax once per forward pass
/// and hand it to all cells (the original recomputed it per cell; the result is identical).
#[derive(Debug, Clone)]
pub struct SharedMixing(pub MixingWeights);

impl MixingSource for SharedMixing {
    fn for_cell(&mut self, _cell: usize) -> MixingWeights {
        self.0.clone()
    }
}

/// The DARTS transform: a softmax over the last axis of each tensor separately.
pub fn softmax_mixing(arch: &ArchParams) -> MixingWeights {
    let sm = |t: &Tensor| t.softmax(-1, Kind::Float);
    MixingWeights {
        ops: sm(&arch.ops),
        output: sm(&arch.output),
        inputs: arch.inputs.iter().map(|t| t.as_ref().map(sm)).collect(),
        active_ops: None,
    }
}

/// Encodes a discrete architecture as 0/1 mixing weights (`discrete=True`, §2.4 "One-hot
/// encoding"): the op row of node i is the one-hot of its op, γ\[j\] = 1 iff j is an output
/// parent, β_k\[j\] = 1 iff j is a parent of node k. Sets `active_ops`.
pub fn one_hot_mixing(arch: &Architecture, device: Device) -> Result<MixingWeights, SupernetError> {
    let topo = Topology::from_id(arch.space);
    let n = topo.n;
    if arch.ops.len() != n || arch.parents.len() != n + 1 {
        return Err(SupernetError::Architecture(format!(
            "{} ops and {} parent sets, expected {n} and {}",
            arch.ops.len(),
            arch.parents.len(),
            n + 1
        )));
    }
    let mut active = Vec::with_capacity(n);
    for (i, op) in arch.ops.iter().enumerate() {
        let idx = PRIMITIVES.iter().position(|p| p == op).ok_or_else(|| {
            SupernetError::Architecture(format!(
                "node {}: op {op:?} is not a choice-block op",
                i + 1
            ))
        })?;
        active.push(idx);
    }
    let mut ops = vec![0f32; n * 3];
    for (i, &o) in active.iter().enumerate() {
        ops[i * 3 + o] = 1.0;
    }
    let indicator = |node: usize, len: usize| -> Result<Vec<f32>, SupernetError> {
        let mut v = vec![0f32; len];
        for &p in arch.parents.get(node - 1).into_iter().flatten() {
            let slot = v.get_mut(p).ok_or_else(|| {
                SupernetError::Architecture(format!(
                    "node {node}: parent {p} is not an earlier node"
                ))
            })?;
            *slot = 1.0;
        }
        Ok(v)
    };
    let output = indicator(n + 1, n + 1)?;
    let mut inputs = Vec::with_capacity(n);
    for node in 1..=n {
        let v = indicator(node, node)?;
        if topo.has_edge_vector(node) {
            inputs.push(Some(
                Tensor::from_slice(&v)
                    .view([1, node as i64])
                    .to_device(device),
            ));
        } else if v.iter().all(|&x| x == 1.0) {
            inputs.push(None);
        } else {
            return Err(SupernetError::Architecture(format!(
                "node {node} has no edge weights, so its parents must be all of 0..{node}"
            )));
        }
    }
    Ok(MixingWeights {
        ops: Tensor::from_slice(&ops)
            .view([n as i64, 3])
            .to_device(device),
        output: Tensor::from_slice(&output)
            .view([1, n as i64 + 1])
            .to_device(device),
        inputs,
        active_ops: Some(active),
    })
}
