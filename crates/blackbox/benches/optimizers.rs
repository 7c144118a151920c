//! Optimizer throughput on space 3 (synthetic table with every model): 500 seeds × 280 queries
//! of regularized evolution in parallel (the `nb1s1 blackbox` workload without file output),
//! and queries per second of each optimizer.

use std::path::Path;
use std::time::Duration;

use blackbox::{run, OptimizerKind, TabularBenchmark};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rayon::prelude::*;
use searchspace::{synthetic, SearchSpace, SpaceId, SpaceTable};

fn table(epochs: &[u32]) -> TabularBenchmark {
    let sp = SearchSpace::new(SpaceId::Three);
    let nb = synthetic::space_table(&sp, epochs, 0, Path::new("synthetic-s3")).expect("table");
    TabularBenchmark::new(SpaceTable::build(&sp, &nb).expect("space table"))
}

fn re_500_seeds(c: &mut Criterion) {
    let b = table(&[108]);
    let mut g = c.benchmark_group("re_space3");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(500 * 280));
    g.bench_function("500_seeds_x_280_queries", |bench| {
        bench.iter(|| {
            (0..500u64)
                .into_par_iter()
                .map(|s| {
                    run(OptimizerKind::Re, &b, 280, s)
                        .map(|t| t.len())
                        .unwrap_or(0)
                })
                .sum::<usize>()
        })
    });
    g.finish();
}

fn per_optimizer(c: &mut Criterion) {
    let b = table(&[4, 12, 36, 108]);
    let mut g = c.benchmark_group("queries_space3");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(280));
    for kind in OptimizerKind::ALL {
        g.bench_function(kind.name(), |bench| {
            let mut seed = 0u64;
            bench.iter(|| {
                seed += 1;
                run(kind, &b, 280, seed).map(|t| t.len()).unwrap_or(0)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, re_500_seeds, per_optimizer);
criterion_main!(benches);
