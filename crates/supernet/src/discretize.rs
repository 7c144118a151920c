//! From continuous architecture weights to one discrete architecture of the search space:
//! argmax op per choice block, top-k parents per node (§2.4 "Discretization").

use tch::{Kind, Tensor};

use crate::arch::{check_layout, ArchParams};
use crate::error::SupernetError;
use crate::topology::Topology;
use searchspace::{Architecture, SearchSpace, PRIMITIVES};

/// How equal edge weights are broken when the top-k parents are chosen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TopKTies {
    /// The lower index wins, on the logits (deterministic and documented).
    #[default]
    LowerIndex,
    /// The original's `np.argpartition(softmax(β), -k)[-k:]` on float32 softmax values, as
    /// numpy's introselect picks (classic numpy, before its AVX-512 selection): mostly the
    /// higher indices, e.g. all-equal weights of 6 candidates give parents {1, 5} for k = 2.
    Argpartition,
}

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
    let n = topo.n;
    // The original ranks float32 softmax values (np.argmax: the first maximum).
    let alpha = match ties {
        TopKTies::LowerIndex => values(&arch.ops)?,
        TopKTies::Argpartition => softmax_f32(&arch.ops)?.into_iter().map(f64::from).collect(),
    };
    let mut ops = Vec::with_capacity(n);
    for row in alpha.chunks_exact(3) {
        let best = top_k(row, 1).first().copied().unwrap_or(0);
        ops.push(PRIMITIVES[best.min(PRIMITIVES.len() - 1)]);
    }
    let pick = |t: &Tensor, k: usize| -> Result<Vec<usize>, SupernetError> {
        Ok(match ties {
            TopKTies::LowerIndex => top_k(&values(t)?, k),
            TopKTies::Argpartition => argpartition_top_k(&softmax_f32(t)?, k),
        })
    };
    let mut parents = Vec::with_capacity(n + 1);
    for (i, beta) in arch.inputs.iter().enumerate() {
        let node = i + 1;
        let need = topo.parents.get(i).copied().unwrap_or(node);
        parents.push(match beta {
            Some(b) => pick(b, need)?,
            None => (0..node).collect(),
        });
    }
    let need_out = topo.parents.get(n).copied().unwrap_or(n + 1);
    parents.push(pick(&arch.output, need_out)?);
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

/// numpy's float order: NaN after every number.
fn np_less(a: f32, b: f32) -> bool {
    a < b || (b.is_nan() && !a.is_nan())
}

/// `sorted(np.argpartition(v, -k)[-k:])`: numpy's introselect (median-of-3 quickselect, a
/// selection sort for small `kth`, a max scan for the last position) replayed on an index
/// array. Exact for the search spaces' sizes (at most 6 candidates), where numpy never falls
/// back to its median-of-medians pivot (that needs ⌊log₂ n⌋·2 rounds on 6+ elements).
pub(crate) fn argpartition_top_k(v: &[f32], k: usize) -> Vec<usize> {
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
    let (mut low, mut high) = (0isize, num as isize - 1);
    let kth = kth as isize;
    let u = |i: isize| i as usize;
    while low + 1 < high {
        let (mut ll, mut hh) = (low + 1, high);
        let mid = low + (high - low) / 2;
        // median3_swap: the median to `low`, the minimum to `low + 1`.
        if np_less(at(t, u(high)), at(t, u(mid))) {
            t.swap(u(high), u(mid));
        }
        if np_less(at(t, u(high)), at(t, u(low))) {
            t.swap(u(high), u(low));
        }
        if np_less(at(t, u(low)), at(t, u(mid))) {
            t.swap(u(low), u(mid));
        }
        t.swap(u(mid), u(low + 1));
        // unguarded_partition around the pivot at `low`.
        let pivot = at(t, u(low));
        loop {
            ll += 1;
            while np_less(at(t, u(ll)), pivot) {
                ll += 1;
            }
            hh -= 1;
            while np_less(pivot, at(t, u(hh))) {
                hh -= 1;
            }
            if hh < ll {
                break;
            }
            t.swap(u(ll), u(hh));
        }
        t.swap(u(low), u(hh));
        if hh >= kth {
            high = hh - 1;
        }
        if hh <= kth {
            low = ll;
        }
    }
    if high == low + 1 && np_less(at(t, u(high)), at(t, u(low))) {
        t.swap(u(high), u(low));
    }
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
