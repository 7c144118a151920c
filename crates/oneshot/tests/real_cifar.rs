//! A tiny DARTS search on real CIFAR-10 images (../shared/data) must learn: its one-shot
//! validation accuracy ends clearly above chance (10 %).

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
}
