//! From continuous architecture weights to one architecture of the search space (§2.4
//! "Discretization"): the argmax operation per choice block, the top-k parents per node, the
//! output's inputs. The one rule every caller uses: the supernet (on its tensors), the Python
//! recorder and the import of the original's runs (on plain arrays), so a Rust search and an
//! external method are judged by the same code.

use serde::{Deserialize, Serialize};

use crate::architecture::Architecture;
use crate::encoding::ArchitectureWeights;
use crate::space::{SearchSpace, SpaceId, PRIMITIVES};

/// How equal weights are broken when the top-k parents are chosen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopKTies {
    /// The lower index wins, on the logits (deterministic and documented).
    #[default]
    LowerIndex,
    /// The original's `np.argpartition(softmax(β), -k)[-k:]` on float32 softmax values, as
    /// numpy's introselect picks (classic numpy, before its AVX-512 selection): mostly the
    /// higher indices, e.g. all-equal weights of 6 candidates give parents {1, 5} for k = 2.
    Argpartition,
}

/// Values to rank, in the supernet's layout: `ops` row-major (N rows of 3), `output` (N+1:
/// the input, then blocks 1..=N), `inputs` one entry per choice block 1..=N, `Some` exactly
/// where the node has an edge vector (of length = the node's index).
///
/// With [`TopKTies::LowerIndex`] these are the logits (softmax is monotone, so they rank the
/// same); with [`TopKTies::Argpartition`] they are the float32 softmax values the original
/// ranked (widened to f64 without loss).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scores {
    pub ops: Vec<f64>,
    pub output: Vec<f64>,
    pub inputs: Vec<Option<Vec<f64>>>,
}

/// Weights whose shapes do not fit the space.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DiscretizeError {
    #[error("space {space}: architecture weights {array}: {reason}")]
    Layout {
        space: SpaceId,
        /// `ops`, `output` or `inputs[k]` (k the node).
        array: String,
        reason: String,
    },
}

/// The architecture `scores` point at:
///
/// - op of block i: the largest entry of row i−1 (the first of equal maxima, as `np.argmax`);
/// - parents of a node with an edge vector: the `k` largest entries, k = the space's required
///   count, ties broken by `ties`; parents are returned sorted;
/// - nodes without an edge vector take all earlier nodes (node 1 → {0}; space 1 node 2 → {0, 1});
/// - output parents: the top entries of `output`, where index 0 is the input.
pub fn discretize_scores(
    space: &SearchSpace,
    scores: &Scores,
    ties: TopKTies,
) -> Result<Architecture, DiscretizeError> {
    check_scores(space, scores)?;
    let n = space.num_choice_blocks();
    let pick = |v: &[f64], k: usize| match ties {
        TopKTies::LowerIndex => top_k(v, k),
        TopKTies::Argpartition => {
            let v32: Vec<f32> = v.iter().map(|&x| x as f32).collect();
            argpartition_top_k(&v32, k)
        }
    };
    let ops = scores
        .ops
        .chunks_exact(3)
        .map(|row| PRIMITIVES[top_k(row, 1).first().copied().unwrap_or(0)])
        .collect();
    let mut parents = Vec::with_capacity(n + 1);
    for (i, beta) in scores.inputs.iter().enumerate() {
        let node = i + 1;
        parents.push(match beta {
            Some(b) => pick(b, space.num_parents(node)),
            None => (0..node).collect(),
        });
    }
    parents.push(pick(&scores.output, space.num_parents(n + 1)));
    Ok(Architecture {
        space: space.id(),
        ops,
        parents,
    })
}

/// [`discretize_scores`] on architecture weights (logits, in [`ArchitectureWeights`]' layout),
/// ranking them as `ties` asks: the logits themselves, or their float32 softmax values as the
/// original's evaluation script (`F.softmax(torch.Tensor(w))`, then `argmax`/`argpartition`).
pub fn discretize_weights(
    space: &SearchSpace,
    w: &ArchitectureWeights,
    ties: TopKTies,
) -> Result<Architecture, DiscretizeError> {
    let edge_nodes = space.edge_weight_nodes();
    if w.inputs.len() != edge_nodes.len() {
        return Err(layout(
            space,
            "inputs",
            format!(
                "{} vectors, expected {} (nodes {edge_nodes:?})",
                w.inputs.len(),
                edge_nodes.len()
            ),
        ));
    }
    let rank = |v: &[f32]| -> Vec<f64> {
        match ties {
            TopKTies::LowerIndex => v.iter().map(|&x| f64::from(x)).collect(),
            TopKTies::Argpartition => softmax_f32(v).into_iter().map(f64::from).collect(),
        }
    };
    let mut inputs: Vec<Option<Vec<f64>>> = vec![None; space.num_choice_blocks()];
    for (&node, v) in edge_nodes.iter().zip(&w.inputs) {
        inputs[node - 1] = Some(rank(v));
    }
    let scores = Scores {
        ops: w.ops.iter().flat_map(|row| rank(row)).collect(),
        output: rank(&w.output),
        inputs,
    };
    discretize_scores(space, &scores, ties)
}

fn layout(space: &SearchSpace, array: &str, reason: String) -> DiscretizeError {
    DiscretizeError::Layout {
        space: space.id(),
        array: array.to_string(),
        reason,
    }
}

fn check_scores(space: &SearchSpace, s: &Scores) -> Result<(), DiscretizeError> {
    let n = space.num_choice_blocks();
    let count = |array: &str, found: usize, expected: usize| {
        if found == expected {
            Ok(())
        } else {
            Err(layout(
                space,
                array,
                format!("{found} values, expected {expected}"),
            ))
        }
    };
    count("ops", s.ops.len(), 3 * n)?;
    count("output", s.output.len(), n + 1)?;
    if s.inputs.len() != n {
        let reason = format!(
            "{} entries, expected one per choice block ({n})",
            s.inputs.len()
        );
        return Err(layout(space, "inputs", reason));
    }
    for (i, v) in s.inputs.iter().enumerate() {
        let node = i + 1;
        let name = format!("inputs[{node}]");
        let has_edge_vector = space.num_parents(node) < node;
        match (v, has_edge_vector) {
            (Some(v), true) => count(&name, v.len(), node)?,
            (None, false) => {}
            (Some(_), false) => {
                let reason = "present, but this node has no edge vector".to_string();
                return Err(layout(space, &name, reason));
            }
            (None, true) => {
                let reason = "missing, but this node has an edge vector".to_string();
                return Err(layout(space, &name, reason));
            }
        }
    }
    Ok(())
}

/// Softmax in float32 with the maximum subtracted first, as torch computes it on the CPU.
pub fn softmax_f32(v: &[f32]) -> Vec<f32> {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = v.iter().map(|&x| (x - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// numpy's float order: NaN after every number.
fn np_less(a: f32, b: f32) -> bool {
    a < b || (b.is_nan() && !a.is_nan())
}

/// `sorted(np.argpartition(v, -k)[-k:])`: numpy's introselect (median-of-3 quickselect, a
/// selection sort for small `kth`, a max scan for the last position) replayed on an index
/// array. Exact for the search spaces' sizes (at most 6 candidates), where numpy never falls
/// back to its median-of-medians pivot (that needs ⌊log₂ n⌋·2 rounds on 6+ elements).
pub fn argpartition_top_k(v: &[f32], k: usize) -> Vec<usize> {
    let n = v.len();
    if k == 0 || n == 0 {
        return Vec::new();
    }
    let kth = n - k.min(n);
    let mut t: Vec<usize> = (0..n).collect();
    introselect(v, &mut t, kth);
    let mut out = t[kth..].to_vec();
    out.sort_unstable();
    out
}

fn introselect(v: &[f32], t: &mut [usize], kth: usize) {
    let num = t.len();
    let at = |t: &[usize], i: usize| v[t[i]];
    if kth < 3 {
        // dumb_select: selection sort of the first kth + 1 positions (strict `<`: the first
        // of equal minima moves forward).
        for i in 0..=kth {
            let mut m = i;
            for j in i + 1..num {
                if np_less(at(t, j), at(t, m)) {
                    m = j;
                }
            }
            t.swap(i, m);
        }
        return;
    }
    if kth == num - 1 {
        // The maximum to the end; `!less` makes the last of equal maxima win.
        let mut m = 0;
        for j in 1..num {
            if !np_less(at(t, j), at(t, m)) {
                m = j;
            }
        }
        t.swap(kth, m);
        return;
    }
    partition_loop(v, t, kth);
}

/// The median-of-3 quickselect rounds of numpy's introselect.
fn partition_loop(v: &[f32], t: &mut [usize], kth: usize) {
    let at = |t: &[usize], i: isize| v[t[i as usize]];
    let swap = |t: &mut [usize], a: isize, b: isize| t.swap(a as usize, b as usize);
    let (mut low, mut high) = (0isize, t.len() as isize - 1);
    let kth = kth as isize;
    while low + 1 < high {
        let (mut ll, mut hh) = (low + 1, high);
        let mid = low + (high - low) / 2;
        // median3_swap: the median to `low`, the minimum to `low + 1`.
        if np_less(at(t, high), at(t, mid)) {
            swap(t, high, mid);
        }
        if np_less(at(t, high), at(t, low)) {
            swap(t, high, low);
        }
        if np_less(at(t, low), at(t, mid)) {
            swap(t, low, mid);
        }
        swap(t, mid, low + 1);
        // unguarded_partition around the pivot at `low`.
        let pivot = at(t, low);
        loop {
            ll += 1;
            while np_less(at(t, ll), pivot) {
                ll += 1;
            }
            hh -= 1;
            while np_less(pivot, at(t, hh)) {
                hh -= 1;
            }
            if hh < ll {
                break;
            }
            swap(t, ll, hh);
        }
        swap(t, low, hh);
        if hh >= kth {
            high = hh - 1;
        }
        if hh <= kth {
            low = ll;
        }
    }
    if high == low + 1 && np_less(at(t, high), at(t, low)) {
        swap(t, high, low);
    }
}

/// Indices of the `k` largest values, sorted ascending; equal values prefer the lower index.
/// NaN ranks below every number so a diverged weight never wins.
pub fn top_k(v: &[f64], k: usize) -> Vec<usize> {
    let key = |x: f64| if x.is_nan() { f64::NEG_INFINITY } else { x };
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| key(v[b]).total_cmp(&key(v[a])).then(a.cmp(&b)));
    idx.truncate(k);
    idx.sort_unstable();
    idx
}
