//! The NAS-Bench-101 network of a cell, worked out without building it: the channel count of
//! every vertex of every cell and the number of trainable parameters, as google-research/nasbench
//! (`model_builder.py`) lays the network out. The torch model (crate `standalone`) is built from
//! the same [`NetworkPlan`], so the count here is also a check of that model.
//!
//! Layout: a stem (3x3 conv-BN-ReLU to `stem_channels`), `stacks` stacks of `cells_per_stack`
//! copies of the cell, a 2x2 max-pool that halves the resolution and doubles the channels before
//! every stack but the first, global average pooling and a dense layer to `num_labels` logits.
//! Every conv is bias-free and followed by a BatchNorm with a scale and a shift; the dense layer
//! has a bias.

use crate::op::Op;
use crate::spec::{ModelSpec, SpecError};

/// The network around the cell; [`NetworkConfig::default`] is the NB-101 network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Output channels of the stem convolution (NB-101: 128).
    pub stem_channels: usize,
    /// Number of stacks (NB-101: 3).
    pub stacks: usize,
    /// Cells per stack (NB-101: 3).
    pub cells_per_stack: usize,
    /// Classes of the dense head (CIFAR-10: 10).
    pub num_labels: usize,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            stem_channels: 128,
            stacks: 3,
            cells_per_stack: 3,
            num_labels: 10,
        }
    }
}

/// Why a network cannot be laid out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// The cell is not a valid NB-101 cell.
    #[error("invalid cell: {0}")]
    Spec(#[from] SpecError),
    /// The matrix is not square or not strictly upper triangular.
    #[error("matrix is not a square strictly upper triangular 0/1 matrix")]
    BadMatrix,
    /// The output vertex has no interior in-edge although the cell has interior vertices (the
    /// matrix was not pruned).
    #[error("the output vertex has no interior in-edge; prune the cell first")]
    Unpruned,
    /// A vertex would get no channel: too few output channels for the output's fan-in.
    #[error("vertex {vertex} gets 0 channels: {output_channels} output channels are too few")]
    NoChannels {
        vertex: usize,
        output_channels: usize,
    },
    /// A setting of [`NetworkConfig`] is zero.
    #[error("network setting {0} must be at least 1")]
    ZeroSetting(&'static str),
}

fn edge(matrix: &[Vec<u8>], r: usize, c: usize) -> bool {
    matrix
        .get(r)
        .and_then(|row| row.get(c))
        .is_some_and(|&v| v != 0)
}

/// Channels of every vertex of a (pruned) cell that maps `input_channels` to `output_channels`.
///
/// The output's channels are split evenly over the interior vertices that feed it (the first
/// ones in vertex order take one extra channel when the split is uneven); every other interior
/// vertex takes the largest channel count among the interior vertices it feeds. Channels thus
/// never grow along an interior edge, so a wider source is cut to its target's width.
pub fn vertex_channels(
    input_channels: usize,
    output_channels: usize,
    matrix: &[Vec<u8>],
) -> Result<Vec<usize>, NetworkError> {
    let n = matrix.len();
    let square = matrix.iter().all(|row| row.len() == n);
    let upper = (0..n).all(|r| (0..=r).all(|c| !edge(matrix, r, c)));
    if n < 2 || !square || !upper {
        return Err(NetworkError::BadMatrix);
    }
    let out = n - 1;
    let mut channels = vec![0; n];
    channels[0] = input_channels;
    channels[out] = output_channels;
    if n == 2 {
        return Ok(channels);
    }
    let fan_in = (1..out).filter(|&v| edge(matrix, v, out)).count();
    if fan_in == 0 {
        return Err(NetworkError::Unpruned);
    }
    let (share, mut extra) = (output_channels / fan_in, output_channels % fan_in);
    for (v, c) in channels.iter_mut().enumerate().take(out).skip(1) {
        if edge(matrix, v, out) {
            *c = share + usize::from(extra > 0);
            extra = extra.saturating_sub(1);
        }
    }
    // Backwards, so every target's width is known before its sources'.
    for v in (1..out).rev() {
        if !edge(matrix, v, out) {
            let widest = (v + 1..out)
                .filter(|&d| edge(matrix, v, d))
                .map(|d| channels[d])
                .max();
            channels[v] = widest.unwrap_or(0);
        }
        if channels[v] == 0 {
            return Err(NetworkError::NoChannels {
                vertex: v,
                output_channels,
            });
        }
    }
    Ok(channels)
}

/// Trainable parameters of a bias-free `k`x`k` convolution and its BatchNorm (scale and shift).
pub fn conv_bn_parameters(k: usize, input_channels: usize, output_channels: usize) -> u64 {
    let (k, cin, cout) = (k as u64, input_channels as u64, output_channels as u64);
    k * k * cin * cout + 2 * cout
}

/// One cell of the network, its input and output widths and the channels of its vertices.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CellPlan {
    /// Channels entering the cell.
    pub input_channels: usize,
    /// Channels leaving the cell.
    pub output_channels: usize,
    /// [`vertex_channels`] of the pruned cell.
    pub vertex_channels: Vec<usize>,
}

/// The whole network of one cell: the pruned cell and every cell's widths, stack by stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkPlan {
    /// The settings it was laid out with.
    pub config: NetworkConfig,
    /// The pruned adjacency matrix.
    pub matrix: Vec<Vec<u8>>,
    /// The interior ops of the pruned cell (vertex 1 .. n-2).
    pub ops: Vec<Op>,
    /// `stacks` entries of `cells_per_stack` cells.
    pub stacks: Vec<Vec<CellPlan>>,
}

impl NetworkPlan {
    /// Lays out the network of a valid `spec` (its pruned cell is what gets built).
    pub fn new(spec: &ModelSpec, config: NetworkConfig) -> Result<NetworkPlan, NetworkError> {
        spec.check()?;
        let (Some(matrix), Some(ops)) = (spec.pruned_matrix(), spec.pruned_interior_ops()) else {
            return Err(SpecError::Disconnected.into());
        };
        for (value, name) in [
            (config.stem_channels, "stem_channels"),
            (config.stacks, "stacks"),
            (config.cells_per_stack, "cells_per_stack"),
            (config.num_labels, "num_labels"),
        ] {
            if value == 0 {
                return Err(NetworkError::ZeroSetting(name));
            }
        }
        let mut width = config.stem_channels;
        let mut stacks = Vec::with_capacity(config.stacks);
        for stack in 0..config.stacks {
            let output_channels = if stack == 0 { width } else { 2 * width };
            let mut cells = Vec::with_capacity(config.cells_per_stack);
            for _ in 0..config.cells_per_stack {
                cells.push(CellPlan {
                    input_channels: width,
                    output_channels,
                    vertex_channels: vertex_channels(width, output_channels, matrix)?,
                });
                width = output_channels;
            }
            stacks.push(cells);
        }
        Ok(NetworkPlan {
            config,
            matrix: matrix.to_vec(),
            ops,
            stacks,
        })
    }

    /// Channels of the last cell, what the dense head sees after pooling.
    pub fn final_channels(&self) -> usize {
        self.stacks
            .last()
            .and_then(|cells| cells.last())
            .map_or(self.config.stem_channels, |c| c.output_channels)
    }

    /// Whether `matrix[r][c]` is an edge of the pruned cell.
    pub fn edge(&self, r: usize, c: usize) -> bool {
        edge(&self.matrix, r, c)
    }

    /// Trainable parameters of one cell: the 1x1 projections of the input (to every vertex it
    /// feeds, and to the output), and the convolutions at the vertices.
    pub fn cell_parameters(&self, cell: &CellPlan) -> u64 {
        let n = self.matrix.len();
        let out = n - 1;
        let cin = cell.input_channels;
        let mut total = 0;
        for v in 1..out {
            let c = cell.vertex_channels[v];
            if self.edge(0, v) {
                total += conv_bn_parameters(1, cin, c);
            }
            total += match self.ops.get(v - 1) {
                Some(Op::Conv3x3) => conv_bn_parameters(3, c, c),
                Some(Op::Conv1x1) => conv_bn_parameters(1, c, c),
                Some(Op::MaxPool3x3) | None => 0,
            };
        }
        if self.edge(0, out) {
            total += conv_bn_parameters(1, cin, cell.output_channels);
        }
        total
    }

    /// Trainable parameters of the whole network: what NAS-Bench-101 records store as
    /// `trainable_parameters` for the default configuration.
    pub fn trainable_parameters(&self) -> u64 {
        let stem = conv_bn_parameters(3, 3, self.config.stem_channels);
        let cells: u64 = self
            .stacks
            .iter()
            .flatten()
            .map(|c| self.cell_parameters(c))
            .sum();
        let labels = self.config.num_labels as u64;
        let head = self.final_channels() as u64 * labels + labels;
        stem + cells + head
    }
}

/// Trainable parameters of the network of `spec` under `config`.
pub fn trainable_parameters(spec: &ModelSpec, config: NetworkConfig) -> Result<u64, NetworkError> {
    Ok(NetworkPlan::new(spec, config)?.trainable_parameters())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(rows: &[&str]) -> Vec<Vec<u8>> {
        rows.iter()
            .map(|r| r.bytes().map(|b| b - b'0').collect())
            .collect()
    }

    fn vc(cin: usize, cout: usize, rows: &[&str]) -> Vec<usize> {
        vertex_channels(cin, cout, &m(rows)).unwrap()
    }

    // The cases of the official model_builder_test.py, in our own words.
    #[test]
    fn vertex_channels_of_a_chain() {
        let chain = ["0100", "0010", "0001", "0000"];
        assert_eq!(vc(8, 8, &chain), [8, 8, 8, 8]);
        assert_eq!(vc(8, 16, &chain), [8, 16, 16, 16]);
        assert_eq!(vc(16, 8, &chain), [16, 8, 8, 8]);
        let direct = ["01", "00"];
        assert_eq!(vc(1, 1, &direct), [1, 1]);
        assert_eq!(vc(1, 5, &direct), [1, 5]);
        assert_eq!(vc(5, 1, &direct), [5, 1]);
    }

    #[test]
    fn vertex_channels_branching_before_the_output() {
        let cell = ["01100", "00010", "00010", "00001", "00000"];
        assert_eq!(vc(8, 8, &cell), [8, 8, 8, 8, 8]);
        assert_eq!(vc(8, 16, &cell), [8, 16, 16, 16, 16]);
        assert_eq!(vc(16, 8, &cell), [16, 8, 8, 8, 8]);
    }

    #[test]
    fn vertex_channels_branching_at_the_output() {
        let two = ["0110", "0001", "0001", "0000"];
        assert_eq!(vc(8, 8, &two), [8, 4, 4, 8]);
        assert_eq!(vc(8, 16, &two), [8, 8, 8, 16]);
        assert_eq!(vc(16, 8, &two), [16, 4, 4, 8]);
        assert_eq!(vc(8, 15, &two), [8, 8, 7, 15]);
        let three = ["01110", "00001", "00001", "00001", "00000"];
        assert_eq!(vc(8, 8, &three), [8, 3, 3, 2, 8]);
        assert_eq!(vc(8, 15, &three), [8, 5, 5, 5, 15]);
    }

    #[test]
    fn vertex_channels_take_the_widest_target() {
        let fork = ["01000", "00110", "00001", "00001", "00000"];
        assert_eq!(vc(8, 8, &fork), [8, 4, 4, 4, 8]);
        assert_eq!(vc(8, 9, &fork), [8, 5, 5, 4, 9]);
        let skip = ["01010", "00101", "00010", "00001", "00000"];
        assert_eq!(vc(8, 8, &skip), [8, 4, 4, 4, 8]);
        assert_eq!(vc(8, 15, &skip), [8, 8, 7, 7, 15]);
    }

    #[test]
    fn bad_matrices_and_too_few_channels_are_errors() {
        assert_eq!(
            vertex_channels(8, 8, &m(&["01", "10"])),
            Err(NetworkError::BadMatrix)
        );
        assert_eq!(
            vertex_channels(8, 8, &m(&["011", "000", "000"])),
            Err(NetworkError::Unpruned)
        );
        let three = ["01110", "00001", "00001", "00001", "00000"];
        assert_eq!(
            vertex_channels(8, 2, &m(&three)),
            Err(NetworkError::NoChannels {
                vertex: 3,
                output_channels: 2
            })
        );
    }

    /// The README's "Inception-like" cell: 2,694,282 parameters in the NB-101 record.
    #[test]
    fn inception_like_cell_has_the_recorded_count() {
        let spec = ModelSpec::from_ops(
            m(&[
                "0111100", "0000001", "0000001", "0000001", "0000010", "0000001", "0000000",
            ]),
            &[
                Op::Conv3x3,
                Op::Conv1x1,
                Op::MaxPool3x3,
                Op::Conv3x3,
                Op::Conv3x3,
            ],
        )
        .unwrap();
        assert_eq!(
            trainable_parameters(&spec, NetworkConfig::default()),
            Ok(2_694_282)
        );
    }

    #[test]
    fn proxy_settings_shrink_the_network() {
        let spec =
            ModelSpec::from_ops(m(&["0100", "0010", "0001", "0000"]), &[Op::Conv3x3; 2]).unwrap();
        let small = NetworkConfig {
            stem_channels: 16,
            stacks: 2,
            cells_per_stack: 1,
            num_labels: 10,
        };
        let plan = NetworkPlan::new(&spec, small).unwrap();
        assert_eq!(plan.final_channels(), 32);
        // stem 3*9*16+32; cell 1 (16->16): proj 16*16+32, two 3x3 16->16; cell 2 (16->32):
        // proj 16*32+64, two 3x3 32->32; head 32*10+10.
        let want = (432 + 32) + (256 + 32 + 2 * (2304 + 32)) + (512 + 64 + 2 * (9216 + 64)) + 330;
        assert_eq!(plan.trainable_parameters(), want);
        let zero = NetworkConfig { stacks: 0, ..small };
        assert_eq!(
            NetworkPlan::new(&spec, zero),
            Err(NetworkError::ZeroSetting("stacks"))
        );
    }
}
