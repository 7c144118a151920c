//! The NAS-Bench-101 network of a cell in tch, layer for layer as google-research/nasbench builds
//! it (`model_builder.py`, `base_ops.py`), laid out by [`NetworkPlan`]: the same plan gives the
//! analytic parameter count, so the two cannot drift apart.
//!
//! Initialization follows TensorFlow's defaults there: convolutions draw from a truncated normal
//! with variance 1/fan_in (`variance_scaling_initializer()`), the dense layer is Glorot-uniform
//! with a zero bias, BatchNorm starts at scale 1, shift 0.

use nasbench101::network::{CellPlan, NetworkPlan};
use nasbench101::Op;
use serde::{Deserialize, Serialize};
use tch::nn;
use tch::{Device, Tensor};

/// BatchNorm and memory-layout settings of the network.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelOptions {
    /// Moving-average decay in TensorFlow's convention (`moving = m * moving + (1 - m) * batch`);
    /// NB-101: 0.997.
    pub bn_momentum: f64,
    /// BatchNorm epsilon; NB-101: 1e-5.
    pub bn_epsilon: f64,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            bn_momentum: 0.997,
            bn_epsilon: 1e-5,
        }
    }
}

/// The same values with channels-last (NHWC) strides; ATen picks its faster CPU convolution
/// kernels from the strides, and outputs keep the layout of their inputs.
pub fn to_channels_last(t: &Tensor) -> Tensor {
    t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

/// Watches a forward pass (and may leave BatchNorm out); the zero-cost proxies (crate
/// `zerocost`) read the layers through it. Every method defaults to doing nothing.
pub trait Probe {
    /// Whether BatchNorm layers run; `false` makes them the identity (synflow's network).
    fn batch_norm(&self) -> bool {
        true
    }
    /// A convolution's or the dense layer's weight and its output (before BatchNorm).
    fn weighted(&mut self, _weight: &Tensor, _out: &Tensor) {}
    /// The input of a ReLU (BatchNorm's output).
    fn pre_relu(&mut self, _x: &Tensor) {}
    /// The feature map before the global average pool.
    fn features(&mut self, _x: &Tensor) {}
}

/// The probe of a plain forward pass.
struct NoProbe;

impl Probe for NoProbe {}

/// Fills `t` with a normal of standard deviation `std` truncated at two deviations (values
/// outside are redrawn), TensorFlow's `truncated_normal`.
fn truncated_normal_(t: &mut Tensor, std: f64) {
    tch::no_grad(|| {
        let mut x = t.randn_like();
        loop {
            let outside = x.abs().gt(2.0);
            if outside.any().int64_value(&[]) == 0 {
                break;
            }
            x = t.randn_like().where_self(&outside, &x);
        }
        t.copy_(&(x * std));
    });
}

/// How variables are made: NHWC strides, drawn initial values (else zeros, for counting or
/// loading).
#[derive(Clone, Copy, Debug)]
struct Build {
    nhwc: bool,
    init: bool,
}

/// Bias-free k x k convolution ("same" padding) -> BatchNorm -> ReLU (`conv_bn_relu`).
#[derive(Debug)]
struct ConvBnRelu {
    weight: Tensor,
    bn: nn::BatchNorm,
    padding: i64,
}

impl ConvBnRelu {
    fn new(p: &nn::Path, k: i64, cin: usize, cout: usize, opt: &ModelOptions, b: Build) -> Self {
        let (cin, cout) = (cin as i64, cout as i64);
        let mut weight = (p / "conv").var("weight", &[cout, cin, k, k], nn::Init::Const(0.0));
        if b.init {
            // TF's variance scaling: stddev sqrt(1/fan_in), corrected for the truncation.
            let std = (1.0 / (k * k * cin) as f64).sqrt() / 0.879_625_661_034_239_8;
            truncated_normal_(&mut weight, std);
        }
        if b.nhwc {
            let nhwc = tch::no_grad(|| to_channels_last(&weight));
            weight.set_data(&nhwc);
        }
        let bn = nn::batch_norm2d(
            p / "bn",
            cout,
            nn::BatchNormConfig {
                momentum: 1.0 - opt.bn_momentum,
                eps: opt.bn_epsilon,
                affine: true,
                ws_init: nn::Init::Const(1.0),
                bs_init: nn::Init::Const(0.0),
                ..Default::default()
            },
        );
        ConvBnRelu {
            weight,
            bn,
            padding: k / 2,
        }
    }

    fn forward(&self, x: &Tensor, train: bool, probe: &mut dyn Probe) -> Tensor {
        let p = self.padding;
        let conv = x.conv2d(&self.weight, None::<Tensor>, [1, 1], [p, p], [1, 1], 1);
        probe.weighted(&self.weight, &conv);
        let normed = if probe.batch_norm() {
            conv.apply_t(&self.bn, train)
        } else {
            conv
        };
        probe.pre_relu(&normed);
        normed.relu()
    }
}

/// What an interior vertex computes.
#[derive(Debug)]
enum VertexOp {
    Conv(ConvBnRelu),
    MaxPool3x3,
}

/// One cell: 1x1 projections of its input, the vertex ops, concatenation at the output.
#[derive(Debug)]
struct Cell {
    matrix: Vec<Vec<u8>>,
    channels: Vec<i64>,
    /// Projection of the input to vertex v (index v), where the input feeds v.
    projections: Vec<Option<ConvBnRelu>>,
    /// Op of vertex v at index v - 1.
    ops: Vec<VertexOp>,
}

impl Cell {
    fn new(
        p: &nn::Path,
        plan: &NetworkPlan,
        cell: &CellPlan,
        opt: &ModelOptions,
        b: Build,
    ) -> Self {
        let n = plan.matrix.len();
        let cin = cell.input_channels;
        let mut projections = Vec::with_capacity(n);
        for v in 0..n {
            projections.push((v > 0 && plan.edge(0, v)).then(|| {
                let c = cell.vertex_channels[v];
                ConvBnRelu::new(
                    &(p / format!("vertex_{v}") / "projection"),
                    1,
                    cin,
                    c,
                    opt,
                    b,
                )
            }));
        }
        let ops = plan
            .ops
            .iter()
            .enumerate()
            .map(|(i, op)| {
                let v = i + 1;
                let c = cell.vertex_channels[v];
                let at = p / format!("vertex_{v}");
                match op {
                    Op::Conv3x3 => VertexOp::Conv(ConvBnRelu::new(&at, 3, c, c, opt, b)),
                    Op::Conv1x1 => VertexOp::Conv(ConvBnRelu::new(&at, 1, c, c, opt, b)),
                    Op::MaxPool3x3 => VertexOp::MaxPool3x3,
                }
            })
            .collect();
        Cell {
            matrix: plan.matrix.clone(),
            channels: cell.vertex_channels.iter().map(|&c| c as i64).collect(),
            projections,
            ops,
        }
    }

    fn edge(&self, r: usize, c: usize) -> bool {
        self.matrix[r][c] != 0
    }

    fn forward(&self, x: &Tensor, train: bool, probe: &mut dyn Probe) -> Tensor {
        let out = self.matrix.len() - 1;
        let mut values: Vec<Tensor> = vec![x.shallow_clone()];
        let mut concat = Vec::new();
        for v in 1..out {
            // Interior sources are at least as wide as v: keep their first channels.
            let mut inputs: Vec<Tensor> = (1..v)
                .filter(|&s| self.edge(s, v))
                .map(|s| values[s].narrow(1, 0, self.channels[v]))
                .collect();
            if let Some(proj) = &self.projections[v] {
                inputs.push(proj.forward(x, train, probe));
            }
            let sum = inputs
                .into_iter()
                .reduce(|a, b| a + b)
                .unwrap_or_else(|| x.shallow_clone());
            let value = match &self.ops[v - 1] {
                VertexOp::Conv(conv) => conv.forward(&sum, train, probe),
                VertexOp::MaxPool3x3 => sum.max_pool2d([3, 3], [1, 1], [1, 1], [1, 1], false),
            };
            if self.edge(v, out) {
                concat.push(value.shallow_clone());
            }
            values.push(value);
        }
        let projected = self.projections.last().and_then(Option::as_ref);
        match (concat.len(), projected) {
            (0, Some(proj)) => proj.forward(x, train, probe),
            (_, proj) => {
                let cat = if concat.len() == 1 {
                    concat.swap_remove(0)
                } else {
                    Tensor::cat(&concat, 1)
                };
                match proj {
                    Some(proj) => cat + proj.forward(x, train, probe),
                    None => cat,
                }
            }
        }
    }
}

/// The NB-101 network of one cell.
#[derive(Debug)]
pub struct Nb101Network {
    plan: NetworkPlan,
    stem: ConvBnRelu,
    stacks: Vec<Vec<Cell>>,
    dense: nn::Linear,
    channels_last: bool,
}

impl Nb101Network {
    /// Builds the network of `plan` under `path`, drawing the initial weights from torch's
    /// generator (seed it with `tch::manual_seed`). `channels_last` keeps activations and
    /// convolution weights in NHWC strides (faster on CPU).
    pub fn new(
        path: &nn::Path,
        plan: &NetworkPlan,
        opt: &ModelOptions,
        channels_last: bool,
    ) -> Self {
        Self::with(
            path,
            plan,
            opt,
            Build {
                nhwc: channels_last,
                init: true,
            },
        )
    }

    /// The same layout with every variable at zero, BatchNorm at its start (cheap: for counting
    /// parameters or loading weights).
    pub fn zeroed(
        path: &nn::Path,
        plan: &NetworkPlan,
        opt: &ModelOptions,
        channels_last: bool,
    ) -> Self {
        Self::with(
            path,
            plan,
            opt,
            Build {
                nhwc: channels_last,
                init: false,
            },
        )
    }

    fn with(path: &nn::Path, plan: &NetworkPlan, opt: &ModelOptions, b: Build) -> Self {
        let channels_last = b.nhwc;
        let stem_c = plan.config.stem_channels;
        let stem = ConvBnRelu::new(&(path / "stem"), 3, 3, stem_c, opt, b);
        let stacks = plan
            .stacks
            .iter()
            .enumerate()
            .map(|(s, cells)| {
                cells
                    .iter()
                    .enumerate()
                    .map(|(m, cell)| {
                        let p = path / format!("stack{s}") / format!("module{m}");
                        Cell::new(&p, plan, cell, opt, b)
                    })
                    .collect()
            })
            .collect();
        let (fan_in, fan_out) = (plan.final_channels() as i64, plan.config.num_labels as i64);
        let limit = if b.init {
            (6.0 / (fan_in + fan_out) as f64).sqrt()
        } else {
            0.0
        };
        let dense = nn::linear(
            path / "dense",
            fan_in,
            fan_out,
            nn::LinearConfig {
                ws_init: nn::Init::Uniform {
                    lo: -limit,
                    up: limit,
                },
                bs_init: Some(nn::Init::Const(0.0)),
                bias: true,
            },
        );
        Nb101Network {
            plan: plan.clone(),
            stem,
            stacks,
            dense,
            channels_last,
        }
    }

    /// The layout it was built from.
    pub fn plan(&self) -> &NetworkPlan {
        &self.plan
    }

    /// Whether activations run in channels-last strides.
    pub fn is_channels_last(&self) -> bool {
        self.channels_last
    }

    /// Logits `[B, num_labels]` of images `[B, 3, H, W]`; `train` selects batch statistics
    /// (and updates the moving averages) instead of the moving averages.
    pub fn forward_t(&self, images: &Tensor, train: bool) -> Tensor {
        self.forward_probed(images, train, &mut NoProbe)
    }

    /// [`Nb101Network::forward_t`] with `probe` watching every layer.
    pub fn forward_probed(&self, images: &Tensor, train: bool, probe: &mut dyn Probe) -> Tensor {
        let x = if self.channels_last {
            to_channels_last(images)
        } else {
            images.shallow_clone()
        };
        let mut net = self.stem.forward(&x, train, probe);
        for (s, cells) in self.stacks.iter().enumerate() {
            if s > 0 {
                // ceil mode: TF's "same" pooling on odd sizes.
                net = net.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], true);
            }
            for cell in cells {
                net = cell.forward(&net, train, probe);
            }
        }
        probe.features(&net);
        let logits = net
            .mean_dim([2i64, 3].as_slice(), false, None::<tch::Kind>)
            .apply(&self.dense);
        probe.weighted(&self.dense.ws, &logits);
        logits
    }
}

/// Number of trainable values in a var store (what TF counts as trainable parameters).
pub fn count_trainable(vs: &nn::VarStore) -> u64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as u64)
        .sum()
}

/// A fresh var store with the network of `plan` on `device`, seeded.
pub fn build(
    plan: &NetworkPlan,
    opt: &ModelOptions,
    device: Device,
    channels_last: bool,
    seed: u64,
) -> (nn::VarStore, Nb101Network) {
    tch::manual_seed(seed as i64);
    let vs = nn::VarStore::new(device);
    let net = Nb101Network::new(&vs.root(), plan, opt, channels_last);
    (vs, net)
}
