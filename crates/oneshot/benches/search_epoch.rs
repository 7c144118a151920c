//! Images per second of a whole search epoch (weight steps, architecture steps, selection,
//! one-shot evaluation, checkpoint) next to the data pipeline alone, to show whether loading is
//! the bottleneck. Sizes: `NB1S1_BENCH_IMAGES` training images per epoch (default 384), the
//! paper's supernet (C = 16, 9 cells) unless `NB1S1_BENCH_SMALL=1` (C = 8, 3 cells); device
//! `NB1S1_BENCH_DEVICE=cpu|cuda` (default cpu; `benches/gpu_check.sh` sets cuda).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nb1s1_data::{Augment, Loader};
use oneshot::{run_search, OptimizerKind, SearchConfig, SearchData, SearchOptions};

fn images() -> usize {
    std::env::var("NB1S1_BENCH_IMAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(384)
}

fn config(opt: OptimizerKind, n: usize) -> SearchConfig {
    let mut c = SearchConfig::defaults(opt, 3);
    c.epochs = 1;
    c.data.train_images = n;
    c.data.valid_images = n;
    c.selection.samples = 10;
    c.selection.rank_batches = 1;
    c.selection.top_k = 2;
    c.controller.steps_per_epoch = 5;
    if std::env::var("NB1S1_BENCH_SMALL").is_ok_and(|v| v == "1") {
        c.model.init_channels = 8;
        c.model.layers = 3;
    }
    c
}

fn device() -> tch::Device {
    match std::env::var("NB1S1_BENCH_DEVICE").as_deref() {
        Ok("cuda") => tch::Device::Cuda(0),
        _ => tch::Device::Cpu,
    }
}

fn bench(c: &mut Criterion) {
    tch::set_num_threads(2);
    let device = device();
    if device.is_cuda() && (supernet::load_cuda_runtime().is_err() || !tch::Cuda::is_available()) {
        eprintln!("search_epoch: NB1S1_BENCH_DEVICE=cuda but no CUDA device is visible");
        std::process::exit(2);
    }
    let n = images();
    let split = Arc::new(nb1s1_data::bench::synthetic_split(2 * n, 1));
    let data = SearchData {
        train: split.clone(),
        test: split.clone(),
        source: "synthetic".into(),
    };
    let mut g = c.benchmark_group(if device.is_cuda() {
        "search_epoch_cuda"
    } else {
        "search_epoch"
    });
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(n as u64));
    g.bench_function("data_pipeline_only", |b| {
        b.iter(|| {
            let mut l = Loader::new(
                split.clone(),
                (0..n).collect(),
                96,
                Some(Augment::darts()),
                1,
                true,
            )
            .unwrap();
            std::iter::from_fn(|| l.next_batch())
                .map(|b| b.len)
                .sum::<usize>()
        })
    });
    for opt in [
        OptimizerKind::Darts,
        OptimizerKind::Gdas,
        OptimizerKind::RandomWs,
    ] {
        let cfg = config(opt, n);
        g.bench_function(opt.name(), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().unwrap();
                    let opts = SearchOptions {
                        device,
                        resume: false,
                        stop_after: None,
                        progress: false,
                        paper_reference: false,
                    };
                    let t = Instant::now();
                    run_search(&cfg, &data, None, dir.path(), &opts).unwrap();
                    total += t.elapsed();
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
