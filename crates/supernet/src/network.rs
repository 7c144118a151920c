//! The whole one-shot model (§2.3): stem, `layers` cells in three stacks separated by 2×2
//! max-pool down-sampling with doubling width, and the head.

use tch::{nn, Device, Tensor};

use crate::arch::{check_layout, MixingSource};
use crate::cell::{Cell, CellOptions};
use crate::config::SupernetConfig;
use crate::error::SupernetError;
use crate::ops::{linear, to_channels_last, BnMode, ConvBnRelu, LayerStyle, ReluConvBn};
use crate::topology::Topology;

/// The NAS-Bench-1Shot1 supernet. Its weights live in the `VarStore` of the path it was built
/// in; the architecture weights are not part of it (see [`crate::ArchParams`]).
#[derive(Debug)]
pub struct Supernet {
    cfg: SupernetConfig,
    topo: Topology,
    stem: ConvBnRelu,
    /// (down-sample before this cell, cell)
    cells: Vec<(bool, Cell)>,
    head: ReluConvBn,
    classifier: nn::Linear,
    device: Device,
    /// Convolution weights are channels-last; images are brought into that layout on entry.
    channels_last: bool,
}

impl Supernet {
    /// Builds the network in `path` (all variables below it).
    pub fn new(path: &nn::Path, cfg: &SupernetConfig) -> Result<Self, SupernetError> {
        cfg.validate()?;
        let topo = Topology::from_id(cfg.space);
        let n = topo.n as i64;
        let channels_last = cfg.channels_last_on(path.device());
        let style = LayerStyle {
            channels_last,
            init: cfg.weight_init,
        };
        let stem = ConvBnRelu::new(
            &(path / "stem"),
            3,
            cfg.init_channels,
            3,
            cfg.bn_momentum,
            style,
        );
        let opt = CellOptions {
            partial: cfg.partial_channels,
            momentum: cfg.bn_momentum,
            fuse_projections: cfg.fuse_projections,
            style,
        };
        let mut c = cfg.init_channels;
        let mut cin = cfg.init_channels;
        let mut cells = Vec::with_capacity(cfg.layers as usize);
        for i in 0..cfg.layers {
            let down = i == cfg.layers / 3 || i == 2 * cfg.layers / 3;
            if down {
                c *= 2;
            }
            cells.push((
                down,
                Cell::new(&(path / format!("cell{i}")), topo.n, cin, c, opt),
            ));
            cin = n * c;
        }
        let head = ReluConvBn::new(&(path / "postprocess"), cin, c, style);
        let classifier = linear(path / "classifier", c, cfg.num_classes, cfg.weight_init);
        Ok(Self {
            cfg: cfg.clone(),
            topo,
            stem,
            cells,
            head,
            classifier,
            device: path.device(),
            channels_last,
        })
    }

    /// The configuration the network was built with.
    pub fn config(&self) -> &SupernetConfig {
        &self.cfg
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Whether the convolutions run in channels-last layout (see
    /// [`SupernetConfig::channels_last`]).
    pub fn is_channels_last(&self) -> bool {
        self.channels_last
    }

    /// The images in the layout of the weights (a copy only when they differ).
    fn layout(&self, x: &Tensor) -> Tensor {
        if self.channels_last && x.dim() == 4 {
            to_channels_last(x)
        } else {
            x.shallow_clone()
        }
    }

    /// Number of cells.
    pub fn num_cells(&self) -> usize {
        self.cells.len()
    }

    /// Logits (B, num_classes) for images `x` (B, 3, H, W). `mixing` is asked once per cell, in
    /// order. `train` selects batch statistics (and running-stat updates) in every BatchNorm.
    ///
    /// Panics (inside libtorch) if `x` is not a 4-d float tensor with 3 channels on the model's
    /// device, or if the mixing weights do not have the shapes of the space (§2.4); use
    /// [`Supernet::try_forward`] to get those as errors.
    pub fn forward(&self, x: &Tensor, mixing: &mut dyn MixingSource, train: bool) -> Tensor {
        self.forward_bn(x, mixing, train.into())
    }

    /// [`Supernet::forward`] with the BatchNorm behaviour spelled out ([`BnMode`]).
    pub fn forward_bn(&self, x: &Tensor, mixing: &mut dyn MixingSource, train: BnMode) -> Tensor {
        let mut s = self.stem.forward(&self.layout(x), train);
        let p = self.cfg.downsample_padding;
        for (i, (down, cell)) in self.cells.iter().enumerate() {
            if *down {
                s = s.max_pool2d([2, 2], [2, 2], [p, p], [1, 1], false);
            }
            let mix = mixing.for_cell(i);
            s = cell.forward(&s, &mix, self.cfg.run_all_ops, train);
        }
        let s = self.head.forward(&s, train);
        s.adaptive_avg_pool2d([1, 1])
            .flatten(1, -1)
            .apply(&self.classifier)
    }

    /// [`Supernet::forward`] that first checks the input and every cell's mixing-weight shapes.
    pub fn try_forward(
        &self,
        x: &Tensor,
        mixing: &mut dyn MixingSource,
        train: bool,
    ) -> Result<Tensor, SupernetError> {
        self.try_forward_bn(x, mixing, train.into())
    }

    /// [`Supernet::try_forward`] with the BatchNorm behaviour spelled out ([`BnMode`]).
    pub fn try_forward_bn(
        &self,
        x: &Tensor,
        mixing: &mut dyn MixingSource,
        train: BnMode,
    ) -> Result<Tensor, SupernetError> {
        let size = x.size();
        if size.len() != 4 || size[1] != 3 {
            return Err(SupernetError::ArchShape {
                tensor: "input images".into(),
                expected: vec![-1, 3, -1, -1],
                found: size,
            });
        }
        let mut checked = Checked {
            inner: mixing,
            topo: &self.topo,
            batch: size[0],
            error: None,
        };
        let out = self.forward_checked(x, &mut checked, train);
        match checked.error {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    fn forward_checked(&self, x: &Tensor, mixing: &mut Checked<'_>, train: BnMode) -> Tensor {
        let mut s = self.stem.forward(&self.layout(x), train);
        let p = self.cfg.downsample_padding;
        for (i, (down, cell)) in self.cells.iter().enumerate() {
            if *down {
                s = s.max_pool2d([2, 2], [2, 2], [p, p], [1, 1], false);
            }
            let mix = mixing.for_cell(i);
            if mixing.error.is_some() {
                return s;
            }
            s = cell.forward(&s, &mix, self.cfg.run_all_ops, train);
        }
        let s = self.head.forward(&s, train);
        s.adaptive_avg_pool2d([1, 1])
            .flatten(1, -1)
            .apply(&self.classifier)
    }
}

/// BatchNorm recalibration (Pourchot et al. 2020, "To share or not to share"): the running
/// statistics of one architecture re-estimated on training batches before its one-shot error
/// is measured, and put back afterwards so nothing leaks into training or the next one.
impl Supernet {
    /// Every BatchNorm layer, in a fixed order (stem, cells, head).
    fn batch_norms(&self) -> Vec<&nn::BatchNorm> {
        let mut v = vec![self.stem.bn()];
        for (_, cell) in &self.cells {
            cell.batch_norms(&mut v);
        }
        v.push(self.head.bn());
        v
    }

    /// Copies of every running mean and variance (for [`Supernet::restore_bn_stats`]).
    pub fn save_bn_stats(&self) -> Vec<Tensor> {
        self.batch_norms()
            .iter()
            .flat_map(|bn| [bn.running_mean.copy(), bn.running_var.copy()])
            .collect()
    }

    /// Puts back statistics from [`Supernet::save_bn_stats`] of this network.
    pub fn restore_bn_stats(&self, saved: &[Tensor]) -> Result<(), SupernetError> {
        let bns = self.batch_norms();
        if saved.len() != 2 * bns.len() {
            return Err(SupernetError::ArchLayout {
                tensor: "BatchNorm statistics".into(),
                reason: format!(
                    "{} saved tensors for {} BatchNorm layers",
                    saved.len(),
                    bns.len()
                ),
            });
        }
        tch::no_grad(|| {
            for (bn, s) in bns.iter().zip(saved.chunks(2)) {
                bn.running_mean.shallow_clone().copy_(&s[0]);
                bn.running_var.shallow_clone().copy_(&s[1]);
            }
        });
        Ok(())
    }

    /// Resets every running mean to 0 and variance to 1, then re-estimates them on `batches`
    /// (images as [`Supernet::forward`] takes them) under `mixing`: batch statistics in train
    /// mode, their cumulative average over the batches (PyTorch's `momentum=None`), no
    /// gradient. Returns the number of batches used. Callers save and restore the statistics
    /// around it ([`Supernet::save_bn_stats`]).
    pub fn recalibrate_bn<'a>(
        &self,
        batches: impl IntoIterator<Item = &'a Tensor>,
        mixing: &mut dyn MixingSource,
    ) -> Result<usize, SupernetError> {
        tch::no_grad(|| {
            for bn in self.batch_norms() {
                let _ = bn.running_mean.shallow_clone().fill_(0.0);
                let _ = bn.running_var.shallow_clone().fill_(1.0);
            }
            let mut k = 0usize;
            for x in batches {
                k += 1;
                let _ = self.try_forward_bn(x, mixing, BnMode::Recalibrate(1.0 / k as f64))?;
            }
            Ok(k)
        })
    }
}

/// Wraps a mixing source and records the first shape error instead of letting libtorch panic.
struct Checked<'a> {
    inner: &'a mut dyn MixingSource,
    topo: &'a Topology,
    /// Images in the batch (the leading axis of per-sample weights).
    batch: i64,
    error: Option<SupernetError>,
}

impl Checked<'_> {
    fn for_cell(&mut self, cell: usize) -> crate::MixingWeights {
        let m = self.inner.for_cell(cell);
        let batch = m.is_per_sample().then_some(self.batch);
        if let Err(e) = check_layout(self.topo, &m.ops, &m.output, &m.inputs, batch) {
            self.error = Some(e);
        } else if batch.is_some() && m.active_ops.is_some() {
            self.error = Some(SupernetError::ArchLayout {
                tensor: "active_ops".into(),
                reason: "per-sample weights cannot name one active op per node".into(),
            });
        } else if let Some(a) = &m.active_ops {
            if a.len() != self.topo.n || a.iter().any(|&o| o >= 3) {
                self.error = Some(SupernetError::ArchLayout {
                    tensor: "active_ops".into(),
                    reason: format!("{a:?}: expected {} op indices below 3", self.topo.n),
                });
            }
        }
        m
    }
}
