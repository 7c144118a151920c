//! A tiny stand-alone training on real CIFAR-10 images (../shared/data) learns (clearly above
//! chance); interrupted and continued it gives bit for bit the weights and records of an
//! uninterrupted run; its exported weights reload to the same test accuracy and logits.

use std::path::Path;
use std::sync::Arc;

use nasbench101::network::{NetworkConfig, NetworkPlan};
use nasbench101::{ModelSpec, Op};
use standalone::config::spread;
use standalone::run::{RunFolder, MODEL_FILE};
use standalone::{evaluate, load_exported, train, TrainConfig, TrainData, TrainOptions};
use tch::Device;

fn data() -> Option<TrainData> {
    let tar =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cifar10-jpeg.tar.gz");
    if !tar.is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "real data absent in CI: {} (the real-CIFAR-10 training test needs it)",
            tar.display()
        );
        eprintln!("SKIPPED (real data absent): {}", tar.display());
        return None;
    }
    let (set, _) = nb1s1_data::import::import_to_memory(&tar, 0, &indicatif::ProgressBar::hidden())
        .expect("import CIFAR-10 JPEGs");
    Some(TrainData {
        train: Arc::new(set.train),
        test: Arc::new(set.test),
        source: tar.display().to_string(),
    })
}

/// A proxy run sized for a few tens of seconds on 2 CPU cores: 8 stem channels, one cell per
/// stack, more epochs on fewer images (6 epochs of 1,024 images, 96 steps of 64).
fn tiny() -> TrainConfig {
    let mut cfg = TrainConfig {
        network: NetworkConfig {
            stem_channels: 8,
            stacks: 3,
            cells_per_stack: 1,
            num_labels: 10,
        },
        epochs: 6,
        batch_size: 64,
        eval_batch_size: 500,
        train_images: 1024,
        valid_images: 500,
        test_images: 500,
        seed: 7,
        ..Default::default()
    };
    // Few steps: the NB-101 moving averages (0.997) would still sit at their start.
    cfg.model.bn_momentum = 0.9;
    cfg.optimizer.lr = 0.1;
    cfg
}

fn cell() -> ModelSpec {
    ModelSpec::from_ops(
        vec![
            vec![0, 1, 1, 0, 0],
            vec![0, 0, 0, 1, 0],
            vec![0, 0, 0, 0, 1],
            vec![0, 0, 0, 0, 1],
            vec![0, 0, 0, 0, 0],
        ],
        &[Op::Conv3x3, Op::MaxPool3x3, Op::Conv1x1],
    )
    .unwrap()
}

fn without_seconds(dir: &Path) -> Vec<serde_json::Value> {
    RunFolder::create(dir)
        .unwrap()
        .records()
        .unwrap()
        .into_iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap();
            v.as_object_mut().unwrap().remove("seconds");
            v
        })
        .collect()
}

#[test]
fn tiny_training_on_real_cifar10_learns_resumes_and_exports() {
    let started = std::time::Instant::now();
    let Some(data) = data() else { return };
    eprintln!("import: {:.1} s", started.elapsed().as_secs_f64());
    // One thread: the network is too small for a second to pay its synchronization.
    tch::set_num_threads(1);
    let cfg = tiny();
    let spec = cell();
    let opts = TrainOptions::default();

    let whole = tempfile::tempdir().unwrap();
    let out = train(&spec, &cfg, &data, whole.path(), &opts).unwrap();
    assert!(out.complete);
    let accs: Vec<_> = out
        .records
        .iter()
        .map(|r| (r.valid_accuracy, r.test_accuracy))
        .collect();
    eprintln!(
        "real CIFAR-10, stand-alone (valid, test) accuracy per epoch {accs:?} after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let last = out.records.last().unwrap();
    assert!(
        last.valid_accuracy > 0.2 && last.test_accuracy > 0.2,
        "accuracies {accs:?} are not clearly above chance (0.1)"
    );
    assert!(
        last.train_loss < out.records[0].train_loss,
        "training loss did not fall"
    );

    // Interrupted after epoch 1, continued: the same records and the same bytes (a smaller run).
    let cfg = TrainConfig {
        epochs: 2,
        train_images: 256,
        valid_images: 100,
        test_images: 100,
        ..cfg
    };
    let whole = tempfile::tempdir().unwrap();
    train(&spec, &cfg, &data, whole.path(), &opts).unwrap();
    let parts = tempfile::tempdir().unwrap();
    let first = TrainOptions {
        stop_after: Some(1),
        ..opts.clone()
    };
    let half = train(&spec, &cfg, &data, parts.path(), &first).unwrap();
    assert!(!half.complete && half.records.len() == 1);
    assert!(!parts.path().join(MODEL_FILE).exists());
    train(&spec, &cfg, &data, parts.path(), &opts).unwrap();
    assert_eq!(without_seconds(whole.path()), without_seconds(parts.path()));
    let a = std::fs::read(whole.path().join(MODEL_FILE)).unwrap();
    let b = std::fs::read(parts.path().join(MODEL_FILE)).unwrap();
    assert!(
        a == b,
        "resumed weights differ from the uninterrupted run's"
    );

    // The export reloads into a network with the same test accuracy and logits.
    let plan = NetworkPlan::new(&spec, cfg.network).unwrap();
    let file = whole.path().join(MODEL_FILE);
    let (_, net) = load_exported(&plan, &cfg.model, &file, Device::Cpu, true).unwrap();
    let test_idx = spread(0, data.test.len(), cfg.test_images);
    let acc = evaluate(&net, &data.test, test_idx, cfg.eval_batch_size, Device::Cpu).unwrap();
    let records = RunFolder::create(whole.path()).unwrap().records().unwrap();
    assert_eq!(acc, records.last().unwrap().test_accuracy);
    let ckpt = whole
        .path()
        .join(format!("checkpoint-{}.safetensors", cfg.epochs));
    let (_, from_ckpt) = load_exported(&plan, &cfg.model, &ckpt, Device::Cpu, true).unwrap();
    let x = tch::Tensor::randn([4, 3, 32, 32], (tch::Kind::Float, Device::Cpu));
    let (l1, l2) = tch::no_grad(|| (net.forward_t(&x, false), from_ckpt.forward_t(&x, false)));
    assert!(l1.equal(&l2));

    // Another cell into the same folder is refused, naming the folder's cell.
    let other = ModelSpec::from_ops(
        vec![vec![0, 1, 0], vec![0, 0, 1], vec![0, 0, 0]],
        &[Op::Conv3x3],
    )
    .unwrap();
    let err = train(&other, &cfg, &data, whole.path(), &opts).unwrap_err();
    assert!(err.to_string().contains("run.json"), "{err}");
}
