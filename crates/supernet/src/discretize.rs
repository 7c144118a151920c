//! From continuous architecture weights to one discrete architecture of the search space:
//! argmax op per choice block, top-k parents per node (§2.4 "Discretization").

use tch::{Kind, Tensor};

use crate::arch::{check_layout, ArchParams};
use crate::error::SupernetError;
use crate::topology::Topology;
use searchspace::{Architecture, SearchSpace, PRIMITIVES};

/// The architecture the weights point at.
///
/// - op of node i: the argmax of row i−1 of α (softmax is monotone, so the logits rank the same);
/// - parents of a node with an edge vector: the `k` largest entries, k = the space's required
///   count; ties go to the lower index (the original used `argpartition`, whose ties are
///   arbitrary); parents are returned sorted;
/// - nodes without an edge vector take all earlier nodes (node 1 → {0}; space 1 node 2 → {0, 1});
/// - output parents: the top entries of γ, where index 0 is the input.
pub fn discretize(arch: &ArchParams, space: &SearchSpace) -> Result<Architecture, SupernetError> {
    let topo = Topology::of(space);
    check_layout(&topo, &arch.ops, &arch.output, &arch.inputs, None)?;
    let n = topo.n;
    let alpha = values(&arch.ops)?;
    let mut ops = Vec::with_capacity(n);
    for row in alpha.chunks_exact(3) {
        let best = top_k(row, 1).first().copied().unwrap_or(0);
        ops.push(PRIMITIVES[best.min(PRIMITIVES.len() - 1)]);
    }
    let mut parents = Vec::with_capacity(n + 1);
    for (i, beta) in arch.inputs.iter().enumerate() {
        let node = i + 1;
        let need = topo.parents.get(i).copied().unwrap_or(node);
        parents.push(match beta {
            Some(b) => top_k(&values(b)?, need),
            None => (0..node).collect(),
        });
    }
    let need_out = topo.parents.get(n).copied().unwrap_or(n + 1);
    parents.push(top_k(&values(&arch.output)?, need_out));
    Ok(Architecture {
        space: space.id(),
        ops,
        parents,
    })
}

fn values(t: &Tensor) -> Result<Vec<f64>, SupernetError> {
    let flat = t
        .detach()
        .to_kind(Kind::Double)
        .to_device(tch::Device::Cpu)
        .flatten(0, -1);
    Ok(Vec::<f64>::try_from(&flat)?)
}

/// Indices of the `k` largest values, sorted ascending; equal values prefer the lower index.
/// NaN ranks below every number so a diverged weight never wins.
pub(crate) fn top_k(v: &[f64], k: usize) -> Vec<usize> {
    let key = |x: f64| if x.is_nan() { f64::NEG_INFINITY } else { x };
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| key(v[b]).total_cmp(&key(v[a])).then(a.cmp(&b)));
    idx.truncate(k);
    idx.sort_unstable();
    idx
}

#[cfg(test)]
mod tests {
    use super::top_k;

    #[test]
    fn top_k_prefers_lower_index_on_ties_and_sorts() {
        assert_eq!(top_k(&[0.5, 0.9, 0.9, 0.1], 2), vec![1, 2]);
        assert_eq!(top_k(&[0.3, 0.3, 0.3], 1), vec![0]);
        assert_eq!(top_k(&[0.1, 0.2, 0.3, 0.3], 3), vec![1, 2, 3]);
        assert_eq!(top_k(&[f64::NAN, 0.0], 1), vec![1]);
    }
}
