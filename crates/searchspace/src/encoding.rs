//! Encodings of an architecture for optimizers: the categorical configuration of the original
//! ConfigSpace (`choice_block_{k}_op`, `choice_block_{k}_parents`, spec §1.2), and one-hot
//! architecture weights with the supernet's shapes (spec §2.4), with their discretization.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::architecture::{ArchError, Architecture};
use crate::discretize::{discretize_weights, DiscretizeError, TopKTies};
use crate::space::{mask_to_vec, primitive_index, SearchSpace, PRIMITIVES};

/// One categorical decision: its ConfigSpace name and number of values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub name: String,
    pub cardinality: usize,
}

/// A malformed encoding.
#[derive(Debug, thiserror::Error)]
pub enum EncodingError {
    #[error("space {space}: expected {expected} values, got {found}")]
    Length {
        space: crate::SpaceId,
        expected: usize,
        found: usize,
    },
    #[error("space {space}: decision {name} has no value {value:?}")]
    Value {
        space: crate::SpaceId,
        name: String,
        value: String,
    },
    #[error("space {space}: decision {name} is missing")]
    Missing { space: crate::SpaceId, name: String },
    #[error(transparent)]
    Arch(#[from] ArchError),
    #[error(transparent)]
    Discretize(#[from] DiscretizeError),
}

/// ConfigSpace value names of the operations, in [`PRIMITIVES`] order.
const OP_VALUES: [&str; 3] = ["maxpool", "conv3x3", "conv1x1"];

fn parents_value(mask: u16) -> String {
    let v = mask_to_vec(mask);
    if v.len() == 1 {
        format!("({},)", v[0])
    } else {
        let items: Vec<String> = v.iter().map(|p| p.to_string()).collect();
        format!("({})", items.join(", "))
    }
}

impl SearchSpace {
    /// The categorical decisions: `choice_block_{k}_op` for k = 1..=N (values in
    /// [`PRIMITIVES`] order), then `choice_block_{k}_parents` for k = 1..=N+1 (values in
    /// lexicographic order of the parent tuples; node 1 has the single value `(0,)`).
    pub fn decisions(&self) -> Vec<Decision> {
        let mut out: Vec<Decision> = (1..=self.num_choice_blocks())
            .map(|k| Decision {
                name: format!("choice_block_{k}_op"),
                cardinality: 3,
            })
            .collect();
        out.extend((1..=self.output_node()).map(|k| Decision {
            name: format!("choice_block_{k}_parents"),
            cardinality: self.parent_options(k).len(),
        }));
        out
    }

    /// The value index of every decision of `arch`, in [`Self::decisions`] order.
    pub fn encode_categorical(&self, arch: &Architecture) -> Result<Vec<usize>, ArchError> {
        arch.validate()?;
        let mut out: Vec<usize> = arch.ops.iter().map(|&o| primitive_index(o)).collect();
        for (i, m) in arch.parent_masks().into_iter().enumerate() {
            out.push(
                self.parent_options(i + 1)
                    .iter()
                    .position(|&o| o == m)
                    .unwrap_or(0),
            );
        }
        Ok(out)
    }

    /// The architecture of a vector of value indices in [`Self::decisions`] order.
    pub fn decode_categorical(&self, values: &[usize]) -> Result<Architecture, EncodingError> {
        let decisions = self.decisions();
        if values.len() != decisions.len() {
            return Err(EncodingError::Length {
                space: self.id(),
                expected: decisions.len(),
                found: values.len(),
            });
        }
        for (d, &v) in decisions.iter().zip(values) {
            if v >= d.cardinality {
                return Err(EncodingError::Value {
                    space: self.id(),
                    name: d.name.clone(),
                    value: v.to_string(),
                });
            }
        }
        let n = self.num_choice_blocks();
        let ops = values[..n].iter().map(|&v| PRIMITIVES[v]).collect();
        let masks: Vec<u16> = values[n..]
            .iter()
            .enumerate()
            .map(|(i, &v)| self.parent_options(i + 1)[v])
            .collect();
        Ok(Architecture::from_masks(self.id(), ops, &masks))
    }

    /// The ConfigSpace configuration of `arch`: name → value, e.g. `choice_block_2_op` →
    /// `conv3x3`, `choice_block_4_parents` → `(0, 3)`.
    pub fn to_configuration(
        &self,
        arch: &Architecture,
    ) -> Result<BTreeMap<String, String>, ArchError> {
        let values = self.encode_categorical(arch)?;
        let n = self.num_choice_blocks();
        Ok(self
            .decisions()
            .into_iter()
            .zip(values)
            .enumerate()
            .map(|(i, (d, v))| {
                let value = if i < n {
                    OP_VALUES[v].to_string()
                } else {
                    parents_value(self.parent_options(i - n + 1)[v])
                };
                (d.name, value)
            })
            .collect())
    }

    /// Parses a ConfigSpace configuration (as written by [`Self::to_configuration`]).
    pub fn from_configuration(
        &self,
        config: &BTreeMap<String, String>,
    ) -> Result<Architecture, EncodingError> {
        let n = self.num_choice_blocks();
        let mut values = Vec::new();
        for (i, d) in self.decisions().into_iter().enumerate() {
            let given = config.get(&d.name).ok_or_else(|| EncodingError::Missing {
                space: self.id(),
                name: d.name.clone(),
            })?;
            let norm: String = given.chars().filter(|c| !c.is_whitespace()).collect();
            let pos = if i < n {
                OP_VALUES.iter().position(|v| *v == norm)
            } else {
                self.parent_options(i - n + 1).iter().position(|&m| {
                    let want: String = parents_value(m)
                        .chars()
                        .filter(|c| !c.is_whitespace())
                        .collect();
                    want == norm || want.replace(",)", ")") == norm
                })
            };
            values.push(pos.ok_or_else(|| EncodingError::Value {
                space: self.id(),
                name: d.name.clone(),
                value: given.clone(),
            })?);
        }
        self.decode_categorical(&values)
    }
}

/// Architecture weights with the supernet's shapes (spec §2.4): `ops` (N rows of 3, in
/// [`PRIMITIVES`] order), `output` (N+1: input then blocks 1..N) and `inputs`, one vector per
/// node with edge weights (nodes 2..=N, or 3..=N in space 1), node k's vector of length k.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchitectureWeights {
    pub ops: Vec<[f32; 3]>,
    pub output: Vec<f32>,
    pub inputs: Vec<Vec<f32>>,
}

impl SearchSpace {
    /// Nodes that carry an edge-weight vector: 2..=N, except node 2 in space 1.
    pub fn edge_weight_nodes(&self) -> Vec<usize> {
        (2..=self.num_choice_blocks())
            .filter(|&k| self.num_parents(k) < k)
            .collect()
    }

    /// Total number of architecture weights: 24 / 26 / 35.
    pub fn num_architecture_weights(&self) -> usize {
        let n = self.num_choice_blocks();
        3 * n + (n + 1) + self.edge_weight_nodes().iter().sum::<usize>()
    }

    /// The one-hot architecture weights of `arch`.
    pub fn one_hot(&self, arch: &Architecture) -> Result<ArchitectureWeights, ArchError> {
        arch.validate()?;
        let ops = arch
            .ops
            .iter()
            .map(|&o| {
                let mut row = [0.0f32; 3];
                row[primitive_index(o)] = 1.0;
                row
            })
            .collect();
        let mut output = vec![0.0f32; self.num_choice_blocks() + 1];
        for &p in arch.parents.last().map(|v| v.as_slice()).unwrap_or(&[]) {
            if let Some(x) = output.get_mut(p) {
                *x = 1.0;
            }
        }
        let inputs = self
            .edge_weight_nodes()
            .into_iter()
            .map(|k| {
                let mut v = vec![0.0f32; k];
                for &p in arch.parents.get(k - 1).map(|v| v.as_slice()).unwrap_or(&[]) {
                    if let Some(x) = v.get_mut(p) {
                        *x = 1.0;
                    }
                }
                v
            })
            .collect();
        Ok(ArchitectureWeights {
            ops,
            output,
            inputs,
        })
    }

    /// Discretizes architecture weights (spec §2.4, §9.6): the argmax operation per block, the
    /// top-k parents per node with k its parent count. Ties go to the lower index, so the
    /// result is deterministic. Softmax does not change the ranking, so raw logits work too.
    /// [`crate::discretize::discretize_weights`] offers the original's tie-break.
    pub fn discretize(&self, w: &ArchitectureWeights) -> Result<Architecture, EncodingError> {
        let arch = discretize_weights(self, w, TopKTies::LowerIndex)?;
        arch.validate()?;
        Ok(arch)
    }
}

impl ArchitectureWeights {
    /// All weights in one vector: ops row-major, then output, then each input vector.
    pub fn flatten(&self) -> Vec<f32> {
        let mut out: Vec<f32> = self.ops.iter().flatten().copied().collect();
        out.extend(&self.output);
        for v in &self.inputs {
            out.extend(v);
        }
        out
    }
}
