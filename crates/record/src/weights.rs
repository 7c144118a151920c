//! Architecture weights as a method hands them over, checked and put into the supernet's
//! layout: the original's list (`model.arch_parameters()`: operations, output, then the inputs
//! of each node with an edge vector), or the same arrays by name.

use searchspace::{ArchitectureWeights, SearchSpace};

use crate::error::RecordError;
use crate::unpickle::Array;

/// The name of array `i` of the original's list in `space`, for errors.
pub fn original_name(space: &SearchSpace, i: usize) -> String {
    match i {
        0 => "arch_parameters()[0] (operations)".into(),
        1 => "arch_parameters()[1] (output)".into(),
        _ => match space.edge_weight_nodes().get(i - 2) {
            Some(node) => format!("arch_parameters()[{i}] (inputs of node {node})"),
            None => format!("arch_parameters()[{i}]"),
        },
    }
}

/// Weights in the original's list layout; `epoch` names the record in errors.
pub fn from_original(
    space: &SearchSpace,
    epoch: usize,
    arrays: &[Array],
) -> Result<ArchitectureWeights, RecordError> {
    let edge_nodes = space.edge_weight_nodes();
    let want = 2 + edge_nodes.len();
    if arrays.len() != want {
        return Err(RecordError::Weights {
            epoch,
            array: "arch_parameters()".into(),
            reason: format!(
                "{} arrays, but space {} has {want} (operations, output, inputs of nodes \
                 {edge_nodes:?})",
                arrays.len(),
                space.id()
            ),
        });
    }
    let name = |i: usize| original_name(space, i);
    let n = space.num_choice_blocks();
    let ops = rows(epoch, &name(0), &arrays[0], n)?;
    let output = vector(epoch, &name(1), &arrays[1], n + 1)?;
    let inputs = edge_nodes
        .iter()
        .enumerate()
        .map(|(j, &node)| vector(epoch, &name(j + 2), &arrays[j + 2], node))
        .collect::<Result<_, _>>()?;
    Ok(ArchitectureWeights {
        ops,
        output,
        inputs,
    })
}

/// The operations array: N rows of 3 (a leading batch axis of 1 is allowed).
fn rows(epoch: usize, name: &str, a: &Array, n: usize) -> Result<Vec<[f32; 3]>, RecordError> {
    let dims: Vec<usize> = squeeze_lead(&a.shape);
    if dims != [n, 3] {
        return Err(shape_err(epoch, name, &a.shape, &format!("[{n}, 3]")));
    }
    let v = finite(epoch, name, a)?;
    Ok(v.chunks_exact(3).map(|r| [r[0], r[1], r[2]]).collect())
}

/// An edge or output vector of `len` values, shaped `[len]` or `[1, len]` (the original's).
fn vector(epoch: usize, name: &str, a: &Array, len: usize) -> Result<Vec<f32>, RecordError> {
    if squeeze_lead(&a.shape) != [len] {
        return Err(shape_err(epoch, name, &a.shape, &format!("[1, {len}]")));
    }
    finite(epoch, name, a)
}

fn squeeze_lead(shape: &[usize]) -> Vec<usize> {
    let mut s = shape.to_vec();
    while s.len() > 1 && s[0] == 1 {
        s.remove(0);
    }
    s
}

fn shape_err(epoch: usize, name: &str, found: &[usize], expected: &str) -> RecordError {
    RecordError::Weights {
        epoch,
        array: name.into(),
        reason: format!("shape {found:?}, expected {expected}"),
    }
}

/// The values as float32 (what the original's evaluation ranked: `torch.Tensor(w)`), refusing
/// NaN and infinities, which would silently pick an arbitrary cell.
fn finite(epoch: usize, name: &str, a: &Array) -> Result<Vec<f32>, RecordError> {
    let v: Vec<f32> = a.data.iter().map(|&x| x as f32).collect();
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(RecordError::Weights {
            epoch,
            array: name.into(),
            reason: format!("value {i} is {} (the method diverged?)", a.data[i]),
        });
    }
    Ok(v)
}
