//! One cell of the supernet (§2.2): per-block input projections, N choice blocks that mix
//! maxpool3x3 / conv3x3 / conv1x1, weighted edges between blocks, and the output that adds the
//! projected input to the weighted concatenation of all blocks.

use tch::{nn, Tensor};

use crate::arch::MixingWeights;
use crate::ops::{shuffle_unchecked, BnMode, ConvBnRelu, LayerStyle};

/// A candidate operation of a choice block, in PRIMITIVES order (maxpool, conv3x3, conv1x1).
#[derive(Debug)]
enum Candidate {
    MaxPool,
    Conv(Box<ConvBnRelu>),
}

impl Candidate {
    fn forward(&self, x: &Tensor, train: BnMode) -> Tensor {
        match self {
            Candidate::MaxPool => x.max_pool2d([3, 3], [1, 1], [1, 1], [1, 1], false),
            Candidate::Conv(c) => c.forward(x, train),
        }
    }
}

/// A choice block's mixed op: Σ_o a\[o\]·op_o(x). With PC-DARTS partial channels K the ops see
/// only the first C/K channels; the rest pass through and the result is channel-shuffled.
#[derive(Debug)]
struct ChoiceBlock {
    candidates: Vec<Candidate>,
    partial: Option<i64>,
    channels: i64,
}

impl ChoiceBlock {
    fn new(p: &nn::Path, c: i64, partial: Option<i64>, momentum: f64, style: LayerStyle) -> Self {
        let cc = partial.map_or(c, |k| c / k);
        let candidates = vec![
            Candidate::MaxPool,
            Candidate::Conv(Box::new(ConvBnRelu::new(
                &(p / "conv3x3"),
                cc,
                cc,
                3,
                momentum,
                style,
            ))),
            Candidate::Conv(Box::new(ConvBnRelu::new(
                &(p / "conv1x1"),
                cc,
                cc,
                1,
                momentum,
                style,
            ))),
        ];
        Self {
            candidates,
            partial,
            channels: c,
        }
    }

    /// `w` holds the three op weights as 0-d tensors; `active` (when given) is the only op run.
    fn forward(&self, x: &Tensor, w: &[Tensor], active: Option<usize>, train: BnMode) -> Tensor {
        let mix = |x: &Tensor| -> Tensor {
            match active.and_then(|a| Some((self.candidates.get(a)?, w.get(a)?))) {
                Some((op, wa)) => op.forward(x, train) * wa,
                None => {
                    let mut acc: Option<Tensor> = None;
                    for (op, wo) in self.candidates.iter().zip(w) {
                        let y = op.forward(x, train) * wo;
                        acc = Some(match acc {
                            Some(a) => a + y,
                            None => y,
                        });
                    }
                    acc.unwrap_or_else(|| x.zeros_like())
                }
            }
        };
        match self.partial {
            None => mix(x),
            Some(k) => {
                let cc = self.channels / k;
                let head = x.narrow(1, 0, cc);
                let rest = x.narrow(1, cc, self.channels - cc);
                let y = Tensor::cat(&[mix(&head), rest], 1);
                let s = y.size();
                shuffle_unchecked(&y, k, [s[0], s[1], s[2], s[3]])
            }
        }
    }
}

/// The 1×1 projections of the cell input: one per choice block (Cin → C) and one for the
/// input→output edge (Cin → N·C), either as N+1 layers or fused into one layer that is split.
#[derive(Debug)]
enum Projections {
    Separate {
        blocks: Vec<ConvBnRelu>,
        output: ConvBnRelu,
    },
    Fused(ConvBnRelu),
}

/// A cell for N choice blocks of C channels each; maps Cin channels to N·C.
#[derive(Debug)]
pub(crate) struct Cell {
    projections: Projections,
    blocks: Vec<ChoiceBlock>,
    n: usize,
    c: i64,
}

/// Options that shape a cell.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CellOptions {
    pub partial: Option<i64>,
    pub momentum: f64,
    pub fuse_projections: bool,
    pub style: LayerStyle,
}

impl Cell {
    pub fn new(p: &nn::Path, n: usize, cin: i64, c: i64, opt: CellOptions) -> Self {
        let nc = n as i64 * c;
        let projections = if opt.fuse_projections {
            Projections::Fused(ConvBnRelu::new(
                &(p / "proj"),
                cin,
                2 * nc,
                1,
                opt.momentum,
                opt.style,
            ))
        } else {
            Projections::Separate {
                blocks: (1..=n)
                    .map(|i| {
                        ConvBnRelu::new(
                            &(p / format!("proj{i}")),
                            cin,
                            c,
                            1,
                            opt.momentum,
                            opt.style,
                        )
                    })
                    .collect(),
                output: ConvBnRelu::new(&(p / "proj_out"), cin, nc, 1, opt.momentum, opt.style),
            }
        };
        let blocks = (1..=n)
            .map(|i| {
                let p = p / format!("block{i}");
                ChoiceBlock::new(&p, c, opt.partial, opt.momentum, opt.style)
            })
            .collect();
        Self {
            projections,
            blocks,
            n,
            c,
        }
    }

    /// Every BatchNorm of the cell, in a fixed order (projections, then blocks).
    pub(crate) fn batch_norms<'a>(&'a self, out: &mut Vec<&'a nn::BatchNorm>) {
        match &self.projections {
            Projections::Separate { blocks, output } => {
                out.extend(blocks.iter().map(ConvBnRelu::bn));
                out.push(output.bn());
            }
            Projections::Fused(f) => out.push(f.bn()),
        }
        for block in &self.blocks {
            for c in &block.candidates {
                if let Candidate::Conv(conv) = c {
                    out.push(conv.bn());
                }
            }
        }
    }

    /// Returns (P_1(x), …, P_N(x)) and P_out(x).
    fn project(&self, x: &Tensor, train: BnMode) -> (Vec<Tensor>, Tensor) {
        match &self.projections {
            Projections::Separate { blocks, output } => (
                blocks.iter().map(|b| b.forward(x, train)).collect(),
                output.forward(x, train),
            ),
            Projections::Fused(f) => {
                let y = f.forward(x, train);
                let mut sizes = vec![self.c; self.n];
                sizes.push(self.n as i64 * self.c);
                let mut parts = y.split_with_sizes(sizes, 1);
                let out = parts.pop().unwrap_or_else(|| y.shallow_clone());
                (parts, out)
            }
        }
    }

    /// `mix` must fit the cell's search space (checked once per forward by the network). Weights
    /// with a leading batch axis apply per sample; every op then runs (no `active_ops` hint).
    pub fn forward(
        &self,
        x: &Tensor,
        mix: &MixingWeights,
        run_all_ops: bool,
        train: BnMode,
    ) -> Tensor {
        let (proj, proj_out) = self.project(x, train);
        // Shared weights give 0-d tensors per entry; per-sample weights (a leading batch axis,
        // see `MixingWeights`) give (B, 1, 1, 1) columns that broadcast over each sample's maps.
        let per_sample = mix.ops.dim() == 3;
        let columns = |t: &Tensor| -> Vec<Tensor> {
            t.unbind(1).iter().map(|c| c.view([-1, 1, 1, 1])).collect()
        };
        let op_w: Vec<Vec<Tensor>> = if per_sample {
            mix.ops.unbind(1).iter().map(columns).collect()
        } else {
            mix.ops.unbind(0).iter().map(|r| r.unbind(0)).collect()
        };
        let mut hs: Vec<Tensor> = Vec::with_capacity(self.n);
        for (i, block) in self.blocks.iter().enumerate() {
            let edges = mix.inputs.get(i).and_then(Option::as_ref).map(|b| {
                if per_sample {
                    columns(b)
                } else {
                    b.view([-1]).unbind(0)
                }
            });
            let candidates = std::iter::once(&proj[i]).chain(hs.iter());
            let mut input: Option<Tensor> = None;
            for (j, cand) in candidates.enumerate() {
                let term = match edges.as_ref().and_then(|e| e.get(j)) {
                    Some(b) => cand * b,
                    None => cand.shallow_clone(),
                };
                input = Some(match input {
                    Some(acc) => acc + term,
                    None => term,
                });
            }
            let input = input.unwrap_or_else(|| proj[i].shallow_clone());
            let active = if run_all_ops || per_sample {
                None
            } else {
                mix.active_ops.as_ref().and_then(|a| a.get(i).copied())
            };
            hs.push(block.forward(&input, &op_w[i], active, train));
        }
        let (b, _, h, w) = proj_out.size4().unwrap_or((0, 0, 0, 0));
        let n = self.n as i64;
        // concat(γ_j·h_j) as one broadcast multiply over a (B, N, C, H, W) view.
        let stacked = Tensor::stack(&hs, 1);
        if per_sample {
            let gamma = &mix.output;
            let weighted = stacked * gamma.narrow(1, 1, n).view([-1, n, 1, 1, 1]);
            return proj_out * gamma.select(1, 0).view([-1, 1, 1, 1])
                + weighted.view([b, -1, h, w]);
        }
        let gamma = mix.output.view([-1]);
        let weighted = stacked * gamma.narrow(0, 1, n).view([1, -1, 1, 1, 1]);
        proj_out * gamma.get(0) + weighted.view([b, -1, h, w])
    }
}
