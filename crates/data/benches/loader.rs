//! `cargo bench -p nb1s1-data --bench loader`: loader throughput with the full DARTS
//! augmentation (crop, flip, normalize, Cutout 16) on random images, and, when the real JPEG
//! tarball is present, its import time. Plain timing (no criterion): each figure is the best of
//! five runs, printed as images per second.

use std::path::PathBuf;
use std::sync::Arc;

use nb1s1_data::bench::{import_time, loader_throughput, synthetic_split, Measurement};
use nb1s1_data::Augment;

fn best_of(runs: usize, mut f: impl FnMut() -> Measurement) -> Measurement {
    let mut best: Option<Measurement> = None;
    for _ in 0..runs {
        let m = f();
        if best
            .as_ref()
            .is_none_or(|b| m.images_per_sec > b.images_per_sec)
        {
            best = Some(m);
        }
    }
    best.expect("at least one run")
}

fn report(m: &Measurement) {
    println!(
        "{:<55} {:>8} images {:>8.3} s {:>10.0} images/s",
        m.what, m.images, m.seconds, m.images_per_sec
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run tiny then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let batches = if quick { 3 } else { 1000 };
    let split = Arc::new(synthetic_split(if quick { 1_000 } else { 50_000 }, 0));
    println!(
        "augment threads: {}, batches per run: {batches}",
        nb1s1_data::loader::augment_threads()
    );
    for augment in [
        Augment::darts().with_cutout(16, 1.0),
        Augment::darts(),
        Augment::eval(),
    ] {
        let m = best_of(5, || {
            loader_throughput(Arc::clone(&split), 96, batches, augment).expect("loader runs")
        });
        report(&m);
    }
    let tarball =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cifar10-jpeg.tar.gz");
    if quick {
        return;
    }
    if !tarball.is_file() {
        eprintln!("SKIPPED (real data absent): {}", tarball.display());
        return;
    }
    let out = std::env::temp_dir().join(format!("nb1s1-data-bench-{}", std::process::id()));
    let m = import_time(&tarball, &out, 0).expect("import runs");
    let _ = std::fs::remove_dir_all(&out);
    report(&m);
}
