//! The building blocks of §2.1: ConvBnRelu, the non-affine ReLUConvBN of the head, and the
//! PC-DARTS channel shuffle.

use tch::nn::{self, Module};
use tch::Tensor;

use crate::config::WeightInit;
use crate::error::SupernetError;

/// How a layer's weights are laid out and drawn.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LayerStyle {
    pub channels_last: bool,
    pub init: WeightInit,
}

/// The weight distribution of a layer with `fan_in` inputs per output.
pub(crate) fn weight_init(init: WeightInit, fan_in: i64) -> nn::Init {
    match init {
        WeightInit::Pytorch => {
            // kaiming_uniform_(a = √5): gain √(2/(1+5)), bound gain·√(3/fan_in) = 1/√fan_in.
            let bound = 1.0 / (fan_in as f64).sqrt();
            nn::Init::Uniform {
                lo: -bound,
                up: bound,
            }
        }
        WeightInit::Tch => nn::init::DEFAULT_KAIMING_UNIFORM,
    }
}

/// The classifier: weights per `init`, the bias U(−1/√fan_in, 1/√fan_in) either way.
pub(crate) fn linear(p: nn::Path, cin: i64, cout: i64, init: WeightInit) -> nn::Linear {
    let config = nn::LinearConfig {
        ws_init: weight_init(init, cin),
        ..Default::default()
    };
    nn::linear(p, cin, cout, config)
}

/// Conv (no bias) → affine BatchNorm → ReLU, padding k/2 ("same" for odd k).
#[derive(Debug)]
pub(crate) struct ConvBnRelu {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
}

/// How the BatchNorm layers of a forward pass normalize and what they do to their running
/// statistics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BnMode {
    /// Running statistics; nothing is updated (evaluation mode).
    Eval,
    /// Batch statistics; running statistics updated with each layer's own momentum (training).
    Train,
    /// Batch statistics; every layer's running statistics updated with this factor instead of
    /// its momentum. 1/k on the k-th batch after a reset gives the cumulative average of
    /// PyTorch's `momentum=None` (BN recalibration, [`crate::Supernet::recalibrate_bn`]).
    Recalibrate(f64),
}

impl From<bool> for BnMode {
    fn from(train: bool) -> Self {
        match train {
            true => BnMode::Train,
            false => BnMode::Eval,
        }
    }
}

/// Every BatchNorm's ε (PyTorch's default).
const BN_EPS: f64 = 1e-5;

/// `bn` on `x` in `mode`; training and evaluation go through tch's own layer, unchanged.
pub(crate) fn batch_norm(bn: &nn::BatchNorm, x: &Tensor, mode: BnMode) -> Tensor {
    match mode {
        BnMode::Eval => x.apply_t(bn, false),
        BnMode::Train => x.apply_t(bn, true),
        BnMode::Recalibrate(factor) => Tensor::batch_norm(
            x,
            bn.ws.as_ref(),
            bn.bs.as_ref(),
            Some(&bn.running_mean),
            Some(&bn.running_var),
            true,
            factor,
            BN_EPS,
            true,
        ),
    }
}

/// PyTorch's BatchNorm2d defaults (weight 1, bias 0, eps 1e-5); tch's own default draws the
/// weight uniformly from [0, 1], which would not match the reference model.
pub(crate) fn bn_config(momentum: f64, affine: bool) -> nn::BatchNormConfig {
    nn::BatchNormConfig {
        momentum,
        affine,
        eps: BN_EPS,
        ws_init: nn::Init::Const(1.0),
        bs_init: nn::Init::Const(0.0),
        ..Default::default()
    }
}

/// The same values with channels-last (NHWC) strides, what `memory_format=torch.channels_last`
/// gives in PyTorch. tch 0.24 has no memory-format argument, but ATen picks its convolution
/// kernels from the strides, and outputs keep the layout of their inputs.
pub fn to_channels_last(t: &Tensor) -> Tensor {
    t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

/// A bias-free convolution, its weight in channels-last layout when asked.
fn conv(p: &nn::Path, cin: i64, cout: i64, k: i64, style: LayerStyle) -> nn::Conv2D {
    let config = nn::ConvConfig {
        ws_init: weight_init(style.init, cin * k * k),
        ..conv_config(k)
    };
    let mut conv = nn::conv2d(p / "conv", cin, cout, k, config);
    if style.channels_last {
        // `set_data` swaps the storage under the variable, so the VarStore (and through it
        // optimizers and checkpoints) sees the new layout.
        tch::no_grad(|| {
            let nhwc = to_channels_last(&conv.ws);
            conv.ws.set_data(&nhwc);
        });
    }
    conv
}

fn conv_config(k: i64) -> nn::ConvConfig {
    nn::ConvConfig {
        padding: k / 2,
        bias: false,
        ..Default::default()
    }
}

impl ConvBnRelu {
    pub(crate) fn bn(&self) -> &nn::BatchNorm {
        &self.bn
    }

    pub fn new(
        p: &nn::Path,
        cin: i64,
        cout: i64,
        k: i64,
        momentum: f64,
        style: LayerStyle,
    ) -> Self {
        Self {
            conv: conv(p, cin, cout, k, style),
            bn: nn::batch_norm2d(p / "bn", cout, bn_config(momentum, true)),
        }
    }

    pub fn forward(&self, x: &Tensor, train: BnMode) -> Tensor {
        batch_norm(&self.bn, &x.apply(&self.conv), train).relu()
    }
}

/// ReLU → 1×1 conv (no bias) → BatchNorm without affine parameters (DARTS' post-processing).
#[derive(Debug)]
pub(crate) struct ReluConvBn {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
}

impl ReluConvBn {
    pub(crate) fn bn(&self) -> &nn::BatchNorm {
        &self.bn
    }

    pub fn new(p: &nn::Path, cin: i64, cout: i64, style: LayerStyle) -> Self {
        Self {
            conv: conv(p, cin, cout, 1, style),
            bn: nn::batch_norm2d(p / "bn", cout, bn_config(0.1, false)),
        }
    }

    pub fn forward(&self, x: &Tensor, train: BnMode) -> Tensor {
        batch_norm(&self.bn, &self.conv.forward(&x.relu()), train)
    }
}

/// Interleaves the channels of `x` (B, C, H, W) across `groups` groups: view as
/// (B, groups, C/groups, H, W), swap the two channel axes, flatten back. PC-DARTS uses it so the
/// processed first C/K channels spread over the block output.
pub fn channel_shuffle(x: &Tensor, groups: i64) -> Result<Tensor, SupernetError> {
    let size = x.size();
    let [b, c, h, w] = size[..] else {
        return Err(SupernetError::Shuffle(format!(
            "expected a 4-d tensor, got shape {size:?}"
        )));
    };
    if groups < 1 || c % groups != 0 {
        return Err(SupernetError::Shuffle(format!(
            "{groups} groups do not divide {c} channels"
        )));
    }
    Ok(shuffle_unchecked(x, groups, [b, c, h, w]))
}

/// [`channel_shuffle`] for shapes the caller has already checked.
pub(crate) fn shuffle_unchecked(x: &Tensor, groups: i64, [b, c, h, w]: [i64; 4]) -> Tensor {
    x.view([b, groups, c / groups, h, w])
        .transpose(1, 2)
        .contiguous()
        .view([b, c, h, w])
}
