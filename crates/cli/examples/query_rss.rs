//! Peak memory of a query process: opens a data file, answers `N` queries by hash spread over
//! the whole table plus a full scan (the worst case: every page of the store touched), then
//! prints the peak resident set size next to the file size.
//!
//! `cargo run --release -p nb1s1 --example query_rss -- STORE [N]`

use nasbench101::Nb101;
use nb1s1::nb101_bench::{peak_rss_bytes, scan_mean_test_accuracy};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: query_rss STORE [N]")?;
    let n: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let size = std::fs::metadata(&path)?.len();
    let rss0 = peak_rss_bytes();
    let t = Instant::now();
    let db = Nb101::open(&path)?;
    let open_s = t.elapsed().as_secs_f64();
    let epochs = db.epochs().last().copied().unwrap_or(108);
    let len = db.len().max(1);
    let mut sum = 0.0;
    for i in 0..n {
        let idx = (i.wrapping_mul(2_654_435_761)) % len;
        let Some(h) = db.model_at(idx).map(|m| m.hash()) else {
            continue;
        };
        if let Some(m) = db.model(&h) {
            if let Ok(p) = m.repeat(epochs, i % 3 % m.repeat_count(epochs).max(1)) {
                sum += p.final_test_accuracy;
            }
        }
    }
    let mean = scan_mean_test_accuracy(&db, epochs);
    let peak = peak_rss_bytes();
    println!(
        "{}{path}: {size} bytes; open {:.2} ms; {n} queries + full scan (mean {mean:.6}, {sum:.1}); \
         peak RSS {:.1} MiB (before open {:.1} MiB) = {:.3}x the file size",
        if db.is_synthetic() { "SYNTHETIC " } else { "" },
        open_s * 1e3,
        peak as f64 / 1048576.0,
        rss0 as f64 / 1048576.0,
        peak as f64 / size as f64
    );
    Ok(())
}
