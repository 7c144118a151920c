//! Training-step benchmark of the supernet (issue 4): one DARTS first-order step = one
//! architecture step (Adam on the architecture weights, "valid" batch) + one weight step (SGD
//! momentum 0.9, weight decay 3e-4, gradient-norm clip 5, "train" batch). Warm-up, then the median
//! over timed steps. Compares the layout that mirrors benches/pytorch/supernet_step.py with the
//! optimised variants.
//!
//! `cargo bench -p supernet --bench step -- [--device cpu|cuda] [--threads 2] [--batch 96]
//!  [--steps 10] [--warmup 3] [--space 3] [--variants parity,shared,fused,frozen,channels-last,all]`
//! Prints one `RESULT impl=... median_ms=...` line per variant.

use std::time::Instant;

use searchspace::{SearchSpace, SpaceId};
use supernet::{
    softmax_mixing, ArchParams, MixingSource, MixingWeights, SharedMixing, Supernet, SupernetConfig,
};
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// The original's behaviour: the softmax is recomputed inside the cell loop.
struct PerCellSoftmax<'a>(&'a ArchParams);

impl MixingSource for PerCellSoftmax<'_> {
    fn for_cell(&mut self, _cell: usize) -> MixingWeights {
        softmax_mixing(self.0)
    }
}

#[derive(Clone, Copy, Debug)]
struct Variant {
    name: &'static str,
    /// One softmax per forward shared by all cells.
    shared_softmax: bool,
    /// One fused 1×1 projection per cell.
    fuse: bool,
    /// Weights frozen during the architecture step and architecture weights frozen during the
    /// weight step: the gradients the other optimizer would discard are never computed.
    freeze_other: bool,
    /// Images and convolution weights in channels-last (NHWC) layout
    /// (`SupernetConfig::channels_last`).
    channels_last: bool,
}

const VARIANTS: [Variant; 5] = [
    Variant {
        name: "parity",
        shared_softmax: false,
        fuse: false,
        freeze_other: false,
        channels_last: false,
    },
    Variant {
        name: "shared",
        shared_softmax: true,
        fuse: false,
        freeze_other: false,
        channels_last: false,
    },
    Variant {
        name: "fused",
        shared_softmax: true,
        fuse: true,
        freeze_other: false,
        channels_last: false,
    },
    Variant {
        name: "frozen",
        shared_softmax: true,
        fuse: true,
        freeze_other: true,
        channels_last: false,
    },
    Variant {
        name: "channels-last",
        shared_softmax: true,
        fuse: true,
        freeze_other: true,
        channels_last: true,
    },
];

struct Args {
    device: Device,
    threads: i32,
    batch: i64,
    steps: usize,
    warmup: usize,
    space: SpaceId,
    variants: Vec<Variant>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        device: Device::Cpu,
        threads: 2,
        batch: 96,
        steps: 10,
        warmup: 3,
        space: SpaceId::Three,
        variants: VARIANTS.to_vec(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--bench" {
            continue; // appended by `cargo bench`
        }
        let val = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<i64>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--device" => {
                a.device = match val.as_str() {
                    "cpu" => Device::Cpu,
                    "cuda" => {
                        if supernet::load_cuda_runtime().is_err() || !tch::Cuda::is_available() {
                            return Err("--device cuda: CUDA is not available".into());
                        }
                        Device::Cuda(0)
                    }
                    other => return Err(format!("unknown device {other}")),
                }
            }
            "--threads" => a.threads = num(&val)? as i32,
            "--batch" => a.batch = num(&val)?,
            "--steps" => a.steps = num(&val)?.max(1) as usize,
            "--warmup" => a.warmup = num(&val)? as usize,
            "--space" => a.space = val.parse().map_err(|e| format!("{e}"))?,
            "--variants" => {
                a.variants = val
                    .split(',')
                    .map(|v| {
                        if v == "all" {
                            Ok(VARIANTS.to_vec())
                        } else {
                            VARIANTS
                                .iter()
                                .find(|x| x.name == v)
                                .map(|x| vec![*x])
                                .ok_or(format!("unknown variant {v}"))
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .concat()
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(a)
}

/// Gradient-norm clipping without a device→host copy (unlike `Optimizer::clip_grad_norm`):
/// grads ·= min(1, max / (‖g‖ + 1e-6)).
fn clip_grad_norm(vars: &[Tensor], max: f64) {
    tch::no_grad(|| {
        let grads: Vec<Tensor> = vars
            .iter()
            .map(Tensor::grad)
            .filter(Tensor::defined)
            .collect();
        if grads.is_empty() {
            return;
        }
        let norms: Vec<Tensor> = grads.iter().map(|g| g.norm()).collect();
        let coef = (Tensor::stack(&norms, 0).norm() + 1e-6).reciprocal() * max;
        let coef = coef.clamp_max(1.0);
        for mut g in grads {
            g *= &coef;
        }
    });
}

/// CPU time of the whole process (all threads), in ms.
fn process_cpu_ms() -> f64 {
    cpu_time::ProcessTime::try_now().map_or(f64::NAN, |t| t.as_duration().as_secs_f64()) * 1e3
}

/// Median of `v` (sorted in place); NaN for an empty slice.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

struct Timing {
    median_ms: f64,
    min_ms: f64,
    cpu_ms: f64,
    params: i64,
}

fn run(args: &Args, v: Variant) -> Result<Timing, tch::TchError> {
    tch::manual_seed(0);
    let dev = args.device;
    let cfg = SupernetConfig {
        space: args.space,
        fuse_projections: v.fuse,
        channels_last: Some(v.channels_last),
        ..Default::default()
    };
    let mut vs = nn::VarStore::new(dev);
    let net = Supernet::new(&vs.root(), &cfg).map_err(|e| tch::TchError::Kind(e.to_string()))?;
    let mut avs = nn::VarStore::new(dev);
    let arch = ArchParams::new(&avs.root(), &SearchSpace::new(args.space));
    let params: i64 = vs
        .trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum();
    let weights = vs.trainable_variables();
    let mut opt = nn::Sgd {
        momentum: 0.9,
        wd: 3e-4,
        ..Default::default()
    }
    .build(&vs, 0.025)?;
    let mut aopt = nn::Adam {
        beta1: 0.5,
        beta2: 0.999,
        wd: 1e-3,
        ..Default::default()
    }
    .build(&avs, 3e-4)?;
    let opts = (Kind::Float, dev);
    let (xt, xv) = (
        Tensor::randn([args.batch, 3, 32, 32], opts),
        Tensor::randn([args.batch, 3, 32, 32], opts),
    );
    if v.channels_last {
        // Same function, other kernels: the same weights in the default layout give the same
        // eval-mode logits up to rounding.
        let mut nchw_vs = nn::VarStore::new(dev);
        let nchw = Supernet::new(
            &nchw_vs.root(),
            &SupernetConfig {
                channels_last: Some(false),
                ..cfg.clone()
            },
        )
        .map_err(|e| tch::TchError::Kind(e.to_string()))?;
        nchw_vs.copy(&vs)?;
        let eval = |n: &Supernet| {
            tch::no_grad(|| n.forward(&xv, &mut SharedMixing(softmax_mixing(&arch)), false))
        };
        let diff = (eval(&net) - eval(&nchw)).abs().max().double_value(&[]);
        eprintln!("channels-last: eval-mode logits max |diff| vs the default layout {diff:.2e}");
    }
    let yt = Tensor::randint(10, [args.batch], (Kind::Int64, dev));
    let yv = Tensor::randint(10, [args.batch], (Kind::Int64, dev));
    let forward = |x: &Tensor| {
        if v.shared_softmax {
            net.forward(x, &mut SharedMixing(softmax_mixing(&arch)), true)
        } else {
            net.forward(x, &mut PerCellSoftmax(&arch), true)
        }
    };
    let mut step = |vs: &mut nn::VarStore, avs: &mut nn::VarStore| {
        if v.freeze_other {
            vs.freeze();
        }
        aopt.zero_grad();
        forward(&xv).cross_entropy_for_logits(&yv).backward();
        aopt.step();
        if v.freeze_other {
            vs.unfreeze();
            avs.freeze();
        }
        opt.zero_grad();
        forward(&xt).cross_entropy_for_logits(&yt).backward();
        clip_grad_norm(&weights, 5.0);
        opt.step();
        if v.freeze_other {
            avs.unfreeze();
        }
    };
    let sync = || {
        if let Device::Cuda(i) = dev {
            tch::Cuda::synchronize(i as i64);
        }
    };
    for _ in 0..args.warmup {
        step(&mut vs, &mut avs);
    }
    sync();
    let (mut ms, mut cpu) = (
        Vec::with_capacity(args.steps),
        Vec::with_capacity(args.steps),
    );
    for _ in 0..args.steps {
        let (t0, c0) = (Instant::now(), process_cpu_ms());
        step(&mut vs, &mut avs);
        sync();
        ms.push(t0.elapsed().as_secs_f64() * 1e3);
        cpu.push(process_cpu_ms() - c0);
    }
    let min_ms = ms.iter().copied().fold(f64::INFINITY, f64::min);
    Ok(Timing {
        median_ms: median(&mut ms),
        min_ms,
        cpu_ms: median(&mut cpu),
        params,
    })
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("step bench: {e}");
            std::process::exit(2);
        }
    };
    tch::set_num_threads(args.threads);
    let dev = match args.device {
        Device::Cpu => "cpu",
        _ => "cuda",
    };
    for v in &args.variants {
        match run(&args, *v) {
            Ok(t) => println!(
                "RESULT impl=tch-{} device={dev} threads={} params={} median_ms={:.1} \
                 min_ms={:.1} cpu_ms={:.1} steps={}",
                v.name, args.threads, t.params, t.median_ms, t.min_ms, t.cpu_ms, args.steps
            ),
            Err(e) => {
                eprintln!("step bench, variant {}: {e}", v.name);
                std::process::exit(1);
            }
        }
    }
}
