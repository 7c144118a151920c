//! Speed of the correlation statistics at the size of search space 3 (55,854 unique models),
//! and of ingesting run folders into the results store.

use criterion::{criterion_group, criterion_main, Criterion};
use nb1s1_bench::stats;
use nb1s1_bench::store::Store;

/// Deterministic pseudo-random errors with ties (rounded to 1e-4, as NB-101 accuracies are).
fn errors(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) % 2000) as f64 * 1e-4 + 0.05
        })
        .collect()
}

fn correlation(c: &mut Criterion) {
    let n = 55_854;
    let x = errors(n, 1);
    let y: Vec<f64> = errors(n, 2).iter().zip(&x).map(|(a, b)| a + b).collect();
    c.bench_function("spearman 55854", |b| {
        b.iter(|| stats::spearman(&x, &y).unwrap())
    });
    c.bench_function("kendall_tau_b 55854", |b| {
        b.iter(|| stats::kendall_tau_b(&x, &y).unwrap())
    });
    c.bench_function("rank_correlation 55854 + top 1000", |b| {
        b.iter(|| stats::rank_correlation(&x, &y, 1000).unwrap())
    });
}

fn ingest(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("runs");
    // 50 one-shot runs of 100 epochs each.
    for run in 0..50 {
        let dir = root.join(format!("run{run}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.toml"),
            format!("optimizer = \"darts\"\nspace = 3\nseed = {run}\n"),
        )
        .unwrap();
        std::fs::write(
            dir.join("status.json"),
            r#"{"status": "complete", "message": ""}"#,
        )
        .unwrap();
        let mut lines = String::new();
        for e in 0..100 {
            lines.push_str(&format!(
                "{{\"epoch\": {e}, \"architecture\": {{\"ops\": [\"maxpool3x3\"], \"parents\": [[0], [0, 1]]}}, \"nb101_hash\": \"h{e}\", \"valid_errors\": [0.1, 0.1, 0.1], \"test_errors\": [0.1, 0.1, 0.1], \"valid_regret\": 0.01, \"test_regret\": 0.02, \"one_shot_valid_error\": 0.3, \"train_loss\": 1.0, \"seconds\": 60.0}}\n"
            ));
        }
        std::fs::write(dir.join("epochs.jsonl"), lines).unwrap();
    }
    let mut n = 0;
    c.bench_function("ingest 50 runs x 100 epochs (fresh db)", |b| {
        b.iter(|| {
            n += 1;
            let mut store = Store::open(&tmp.path().join(format!("r{n}.sqlite"))).unwrap();
            store.ingest_dir(&root).unwrap()
        })
    });
    let mut store = Store::open(&tmp.path().join("again.sqlite")).unwrap();
    store.ingest_dir(&root).unwrap();
    c.bench_function("re-ingest 50 unchanged runs", |b| {
        b.iter(|| store.ingest_dir(&root).unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = correlation, ingest
}
criterion_main!(benches);
