//! A tiny DARTS search on real CIFAR-10 images (../shared/data) must learn: its one-shot
//! validation accuracy ends clearly above chance (10 %), and the correlation evaluation of its
//! checkpoint on real test images finds discrete cells that beat chance too.

mod common;

use std::sync::Arc;

use oneshot::{run_search, OptimizerKind, SearchData};

#[test]
fn tiny_search_on_real_cifar10_beats_chance() {
    let tar = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/cifar10-jpeg.tar.gz");
    if !tar.is_file() {
        eprintln!(
            "SKIPPED (real data absent): {} not found; the real-CIFAR-10 search test did not run",
            tar.display()
        );
        return;
    }
    let (set, _) = nb1s1_data::import::import_to_memory(&tar, 0, &indicatif::ProgressBar::hidden())
        .expect("import CIFAR-10 JPEGs");
    let data = SearchData {
        train: Arc::new(set.train),
        test: Arc::new(set.test),
        source: tar.display().to_string(),
    };
    let mut cfg = common::tiny(OptimizerKind::Darts, 3);
    cfg.epochs = 3;
    cfg.model.init_channels = 8;
    cfg.data.train_images = 1024;
    cfg.data.valid_images = 512;
    cfg.data.batch_size = 32;
    cfg.data.eval_batch_size = 128;
    cfg.weights.lr = 0.05;
    let tmp = tempfile::tempdir().unwrap();
    let out = run_search(&cfg, &data, None, tmp.path(), &common::cpu_options()).unwrap();
    let last = out.records.last().unwrap();
    let acc = 1.0 - last.one_shot_valid_error;
    eprintln!(
        "real CIFAR-10: one-shot valid accuracy per epoch {:?}",
        out.records
            .iter()
            .map(|r| 1.0 - r.one_shot_valid_error)
            .collect::<Vec<_>>()
    );
    assert!(
        acc > 0.2,
        "one-shot validation accuracy {acc:.3} is not clearly above chance (0.1)"
    );
    assert!(
        last.train_loss < out.records[0].train_loss,
        "training loss did not fall"
    );
    // The correlation evaluation of the last checkpoint: 24 cells on 512 real test images.
    let opts = oneshot::correlation::CorrelateOptions {
        settings: oneshot::CorrelationConfig {
            sample: 24,
            seed: 1,
            images: 512,
            batch_archs: 4,
            ..Default::default()
        },
        force: false,
        device: tch::Device::Cpu,
        progress: false,
    };
    oneshot::correlation::correlate_run(tmp.path(), &data.test, &common::FakeTable, &opts).unwrap();
    let file = nb1s1_bench::correlation::CorrelationFile::read(
        &tmp.path()
            .join("correlation")
            .join(format!("epoch{}.jsonl", cfg.epochs - 1)),
    )
    .unwrap();
    let errors: Vec<f64> = file.points.iter().map(|p| p.one_shot_error).collect();
    eprintln!("real CIFAR-10: one-shot errors of 24 discrete cells {errors:?}");
    assert_eq!(errors.len(), 24);
    let best = errors.iter().copied().fold(1.0, f64::min);
    assert!(
        best < 0.85,
        "no discrete cell beats chance (0.9) clearly: best one-shot error {best:.3}"
    );
}
