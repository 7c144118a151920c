//! Training-step benchmark of the stand-alone NB-101 network (issue 17): one forward, backward
//! and TF-style RMSProp step on random 32x32 images with train-mode BatchNorm. Warm-up steps,
//! then the median over timed steps. `benches/pytorch/nb101_step.py` is the same network and step
//! in PyTorch eager.
//!
//! `cargo bench -p standalone --bench train_step -- [--device cpu|cuda] [--threads 2]
//!  [--batch 256] [--stem 128] [--cells 3] [--steps 5] [--warmup 2] [--nchw]
//!  [--matrix 0111100/... --ops conv3x3-bn-relu,...]`
//! Prints `RESULT impl=tch ... median_ms=... images_per_s=...`.

use std::time::Instant;

use nasbench101::network::{NetworkConfig, NetworkPlan};
use nasbench101::ModelSpec;
use standalone::model::build;
use standalone::{count_trainable, ModelOptions, RmsProp, RmsPropConfig};
use tch::{Device, Kind, Tensor};

/// The default cell: a chain of five 3x3 convolutions, the input also projected into the first
/// four (9 edges). Every vertex is as wide as the cell, so it is the costliest NB-101 cell.
const MATRIX: &str = "0111100/0010000/0001000/0000100/0000010/0000001/0000000";
const OPS: &str =
    "input,conv3x3-bn-relu,conv3x3-bn-relu,conv3x3-bn-relu,conv3x3-bn-relu,conv3x3-bn-relu,output";

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn num(args: &[String], name: &str, default: usize) -> usize {
    arg(args, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Process CPU time (all threads) from /proc/self/stat: utime + stime, in 10 ms clock ticks.
fn process_cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat, 11 and 12 after the command name.
    (ticks(11) + ticks(12)) * 10.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let device = match arg(&args, "--device").as_deref() {
        Some("cuda") => Device::Cuda(0),
        _ => Device::Cpu,
    };
    let threads = num(&args, "--threads", 2);
    tch::set_num_threads(threads as i32);
    let batch = num(&args, "--batch", 256);
    let steps = num(&args, "--steps", 5).max(1);
    let warmup = num(&args, "--warmup", 2);
    let nhwc = device == Device::Cpu && !args.iter().any(|a| a == "--nchw");
    let matrix = arg(&args, "--matrix").unwrap_or_else(|| MATRIX.into());
    let ops = arg(&args, "--ops").unwrap_or_else(|| OPS.into());
    let matrix: Vec<Vec<u8>> = matrix
        .split('/')
        .map(|r| r.bytes().map(|b| u8::from(b == b'1')).collect())
        .collect();
    let ops = ops.split(',').map(str::to_string).collect();
    let spec = ModelSpec::new(matrix, ops).expect("--matrix/--ops: a valid cell");
    let cfg = NetworkConfig {
        stem_channels: num(&args, "--stem", 128),
        cells_per_stack: num(&args, "--cells", 3),
        ..Default::default()
    };
    let plan = NetworkPlan::new(&spec, cfg).expect("network plan");
    let (vs, net) = build(&plan, &ModelOptions::default(), device, nhwc, 0);
    let mut opt = RmsProp::new(&vs, RmsPropConfig::default());
    let x = Tensor::randn([batch as i64, 3, 32, 32], (Kind::Float, device));
    let y = Tensor::randint(10, [batch as i64], (Kind::Int64, device));
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    for i in 0..warmup + steps {
        let (t0, c0) = (Instant::now(), process_cpu_ms());
        let loss = net.forward_t(&x, true).cross_entropy_for_logits(&y);
        loss.backward();
        opt.step(0.1);
        let _ = loss.double_value(&[]); // waits for the device
        if i >= warmup {
            wall.push(t0.elapsed().as_secs_f64() * 1e3);
            cpu.push(process_cpu_ms() - c0);
        }
    }
    let med = median(wall.clone());
    let min = wall.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "RESULT impl=tch{} device={device:?} threads={threads} batch={batch} stem={} params={} \
         median_ms={med:.1} min_ms={min:.1} cpu_ms={:.1} images_per_s={:.1} steps={steps}",
        if nhwc { "-channels-last" } else { "" },
        cfg.stem_channels,
        count_trainable(&vs),
        median(cpu),
        batch as f64 / (med / 1e3),
    );
}
