//! From continuous architecture weights to one discrete architecture of the search space:
//! argmax op per choice block, top-k parents per node (§2.4 "Discretization"). The rule lives in
//! the torch-free [`searchspace::discretize`], shared with the recorder of external methods and
//! the import of the original's runs; this module extracts the tensors' values for it.

use tch::{Kind, Tensor};

use crate::arch::{check_layout, ArchParams};
use crate::error::SupernetError;
use crate::topology::Topology;
use searchspace::discretize::{discretize_scores, Scores};
use searchspace::{Architecture, DiscretizeError, SearchSpace};

#[cfg(test)]
use searchspace::discretize::{argpartition_top_k, top_k};
pub use searchspace::TopKTies;

/// The architecture the weights point at.
///
/// - op of node i: the argmax of row i−1 of α (softmax is monotone, so the logits rank the same);
/// - parents of a node with an edge vector: the `k` largest entries, k = the space's required
///   count; ties go to the lower index (the original used `argpartition`:
///   [`discretize_with`] and [`TopKTies::Argpartition`]); parents are returned sorted;
/// - nodes without an edge vector take all earlier nodes (node 1 → {0}; space 1 node 2 → {0, 1});
/// - output parents: the top entries of γ, where index 0 is the input.
pub fn discretize(arch: &ArchParams, space: &SearchSpace) -> Result<Architecture, SupernetError> {
    discretize_with(arch, space, TopKTies::LowerIndex)
}

/// [`discretize`] with a choice of tie-break for the parents.
pub fn discretize_with(
    arch: &ArchParams,
    space: &SearchSpace,
    ties: TopKTies,
) -> Result<Architecture, SupernetError> {
    let topo = Topology::of(space);
    check_layout(&topo, &arch.ops, &arch.output, &arch.inputs, None)?;
    // LowerIndex ranks the logits; the original ranked float32 softmax values.
    let rank = |t: &Tensor| -> Result<Vec<f64>, SupernetError> {
        match ties {
            TopKTies::LowerIndex => values(t),
            TopKTies::Argpartition => Ok(softmax_f32(t)?.into_iter().map(f64::from).collect()),
        }
    };
    let scores = Scores {
        ops: rank(&arch.ops)?,
        output: rank(&arch.output)?,
        inputs: arch
            .inputs
            .iter()
            .map(|b| b.as_ref().map(&rank).transpose())
            .collect::<Result<_, _>>()?,
    };
    discretize_scores(space, &scores, ties).map_err(|e| match e {
        DiscretizeError::Layout { array, reason, .. } => SupernetError::ArchLayout {
            tensor: array,
            reason,
        },
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

/// The float32 softmax over the last axis, flattened: the values the original ranked.
fn softmax_f32(t: &Tensor) -> Result<Vec<f32>, SupernetError> {
    let sm = t
        .detach()
        .to_kind(Kind::Float)
        .softmax(-1, Kind::Float)
        .to_device(tch::Device::Cpu)
        .flatten(0, -1);
    Ok(Vec::<f32>::try_from(&sm)?)
}

#[cfg(test)]
mod tests {
    use super::{argpartition_top_k, top_k};

    /// `sorted(np.argpartition(np.float32(v), -k)[-k:])` as numpy 1.26.4 printed it (its
    /// classic introselect; numpy 2 on AVX-512 machines selects differently): all-equal weights
    /// of every size the spaces use, and random ties.
    #[test]
    fn argpartition_ties_match_numpy() {
        let equal: [(usize, usize, &[usize]); 13] = [
            (2, 1, &[1]),
            (2, 2, &[0, 1]),
            (3, 1, &[2]),
            (3, 2, &[1, 2]),
            (4, 1, &[3]),
            (4, 2, &[2, 3]),
            (4, 3, &[1, 2, 3]),
            (5, 1, &[4]),
            (5, 2, &[1, 4]),
            (5, 3, &[2, 3, 4]),
            (6, 1, &[5]),
            (6, 2, &[1, 5]),
            (6, 3, &[1, 3, 5]),
        ];
        for (n, k, want) in equal {
            assert_eq!(argpartition_top_k(&vec![1.0; n], k), want, "n {n} k {k}");
        }
        let cases: [(&[f32], usize, &[usize]); 26] = [
            (&[0.1, 0.3, 0.3, 0.3], 2, &[2, 3]),
            (&[1.0, 1.0, 1.0, 1.0, 1.0, 2.0], 2, &[1, 5]),
            (&[0.25, 0.75, 0.5, 0.5, 0.5], 3, &[1, 3, 4]),
            (&[0.25, 0.25, 0.5], 3, &[0, 1, 2]),
            (&[0.25, 0.25, 0.25, 0.25], 2, &[2, 3]),
            (&[0.25, 0.5], 2, &[0, 1]),
            (&[0.25, 0.5, 0.25, 0.75, 0.25], 1, &[3]),
            (&[0.75, 0.25, 0.5, 0.5, 0.5, 0.5], 3, &[0, 3, 5]),
            (&[0.25, 0.75, 0.5, 0.75, 0.25], 2, &[1, 3]),
            (&[0.75, 0.5, 0.25, 0.5, 0.75], 1, &[4]),
            (&[0.25, 0.25, 0.75, 0.75, 0.75, 0.25], 3, &[2, 3, 4]),
            (&[0.5, 0.5], 2, &[0, 1]),
            (&[0.5, 0.25, 0.25, 0.75, 0.25, 0.25], 1, &[3]),
            (&[0.25, 0.75], 1, &[1]),
            (&[0.25, 0.75, 0.75, 0.25], 2, &[1, 2]),
            (&[0.25, 0.5, 0.75, 0.25], 2, &[1, 2]),
            (&[0.25, 0.75, 0.75, 0.25, 0.75], 1, &[4]),
            (&[0.5, 0.75, 0.75, 0.75, 0.5, 0.25], 2, &[2, 3]),
            (&[0.5, 0.75, 0.25, 0.25, 0.75, 0.25], 1, &[4]),
            (&[0.75, 0.5, 0.5, 0.75, 0.25], 3, &[0, 2, 3]),
            (&[0.5, 0.25, 0.25], 2, &[0, 2]),
            (&[0.5, 0.75, 0.5, 0.25, 0.75], 3, &[0, 1, 4]),
            (&[0.25, 0.5], 1, &[1]),
            (&[0.75, 0.5], 2, &[0, 1]),
            (&[0.2, 0.5, 0.2, 0.5, 0.5], 2, &[1, 4]),
            (&[0.3, 0.3, 0.1, 0.3, 0.3, 0.1], 2, &[0, 4]),
        ];
        for (v, k, want) in cases {
            assert_eq!(argpartition_top_k(v, k), want, "{v:?} k {k}");
        }
        assert_eq!(argpartition_top_k(&[0.5, 0.2, 0.5, 0.2, 0.5, 0.5], 1), [5]);
        // Without ties it is the plain top k.
        assert_eq!(argpartition_top_k(&[0.1, 0.4, 0.2, 0.3, 0.0], 2), [1, 3]);
        // The default tie-break differs exactly where ties straddle the cut.
        assert_eq!(top_k(&[1.0; 6], 2), [0, 1]);
    }

    #[test]
    fn top_k_prefers_lower_index_on_ties_and_sorts() {
        assert_eq!(top_k(&[0.5, 0.9, 0.9, 0.1], 2), vec![1, 2]);
        assert_eq!(top_k(&[0.3, 0.3, 0.3], 1), vec![0]);
        assert_eq!(top_k(&[0.1, 0.2, 0.3, 0.3], 3), vec![1, 2, 3]);
        assert_eq!(top_k(&[f64::NAN, 0.0], 1), vec![1]);
    }
}
