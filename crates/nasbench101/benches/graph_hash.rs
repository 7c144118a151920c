//! The graph hash (`hash_module`) on 7-vertex cells with 9 edges, the largest NB-101 cells:
//! 1,000 distinct cells an iteration.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Random upper-triangular 7-vertex cells with exactly 9 edges and random interior labels.
fn cells(count: usize) -> Vec<(Vec<Vec<u8>>, Vec<i32>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    (0..count)
        .map(|_| {
            let mut m = vec![vec![0u8; 7]; 7];
            let mut edges = 0;
            while edges < 9 {
                let (r, c) = (rng.gen_range(0..7), rng.gen_range(0..7));
                if c > r && m[r][c] == 0 {
                    m[r][c] = 1;
                    edges += 1;
                }
            }
            let mut labels: Vec<i32> = (0..7).map(|_| rng.gen_range(0..3)).collect();
            (labels[0], labels[6]) = (-1, -2);
            (m, labels)
        })
        .collect()
}

fn graph_hash(c: &mut Criterion) {
    let cells = cells(1000);
    let mut g = c.benchmark_group("graph_hash");
    g.throughput(Throughput::Elements(cells.len() as u64));
    g.bench_function("seven_vertices_nine_edges", |b| {
        b.iter(|| {
            cells
                .iter()
                .map(|(m, l)| nasbench101::hash_module(m, l).0[0])
                .fold(0u8, |a, x| a ^ x)
        })
    });
    g.finish();
}

criterion_group!(benches, graph_hash);
criterion_main!(benches);
