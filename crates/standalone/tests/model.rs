//! The tch network against the analytic plan and NAS-Bench-101's records: parameter counts of
//! every fixture model, forward shapes, the export/reload round trip.

use nasbench101::network::{NetworkConfig, NetworkPlan};
use nasbench101::{ModelSpec, Op};
use standalone::model::build;
use standalone::run::write_tensors;
use standalone::train::named_variables;
use standalone::{count_trainable, load_exported, ModelOptions, Nb101Network};
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

fn fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/nb101");
    if dir.join("expected.json").exists() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "real data absent in CI: {} (the parameter-count test needs it)",
        dir.display()
    );
    eprintln!("SKIPPED (real data absent): {}", dir.display());
    None
}

fn fixture_specs(dir: &std::path::Path) -> Vec<(String, ModelSpec, u64)> {
    let text = std::fs::read_to_string(dir.join("expected.json")).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    expected["models"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(hash, m)| {
            let adj: Vec<Vec<u8>> = serde_json::from_value(m["module_adjacency"].clone()).unwrap();
            let ops: Vec<String> = serde_json::from_value(m["module_operations"].clone()).unwrap();
            let params = m["trainable_parameters"].as_u64().unwrap();
            (hash.clone(), ModelSpec::new(adj, ops).unwrap(), params)
        })
        .collect()
}

fn small() -> NetworkConfig {
    NetworkConfig {
        stem_channels: 8,
        stacks: 3,
        cells_per_stack: 1,
        num_labels: 10,
    }
}

#[test]
fn tch_parameter_count_equals_every_fixture_record() {
    let Some(dir) = fixtures() else { return };
    let specs = fixture_specs(&dir);
    assert!(specs.len() >= 32);
    for (hash, spec, want) in &specs {
        let plan = NetworkPlan::new(spec, NetworkConfig::default()).unwrap();
        assert_eq!(plan.trainable_parameters(), *want, "{hash}: analytic");
        let vs = tch::nn::VarStore::new(Device::Cpu);
        let _ = Nb101Network::zeroed(&vs.root(), &plan, &ModelOptions::default(), false);
        assert_eq!(count_trainable(&vs), *want, "{hash}: tch");
    }
}

#[test]
fn every_fixture_cell_runs_forward_with_the_right_shapes() {
    let Some(dir) = fixtures() else { return };
    let x = Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu));
    for (hash, spec, _) in fixture_specs(&dir) {
        let plan = NetworkPlan::new(&spec, small()).unwrap();
        let (vs, net) = build(&plan, &ModelOptions::default(), Device::Cpu, false, 1);
        assert_eq!(count_trainable(&vs), plan.trainable_parameters(), "{hash}");
        let y = net.forward_t(&x, true);
        assert_eq!(y.size(), [2, 10], "{hash}");
        assert_eq!(y.isfinite().all().int64_value(&[]), 1, "{hash}");
    }
}

fn chain() -> ModelSpec {
    ModelSpec::from_ops(
        vec![
            vec![0, 1, 1, 0],
            vec![0, 0, 1, 1],
            vec![0, 0, 0, 1],
            vec![0; 4],
        ],
        &[Op::Conv1x1, Op::MaxPool3x3],
    )
    .unwrap()
}

#[test]
fn edge_cells_and_odd_resolutions_run() {
    // Input straight to output: the cell is one projection.
    let direct = ModelSpec::new(
        vec![vec![0, 1], vec![0, 0]],
        vec!["input".into(), "output".into()],
    )
    .unwrap();
    let cfg = NetworkConfig {
        stacks: 4,
        ..small()
    };
    for spec in [direct, chain()] {
        let plan = NetworkPlan::new(&spec, cfg).unwrap();
        let (vs, net) = build(&plan, &ModelOptions::default(), Device::Cpu, true, 0);
        assert_eq!(count_trainable(&vs), plan.trainable_parameters());
        // 28 -> 14 -> 7 -> 4: TF's "same" pooling rounds up.
        let y = net.forward_t(
            &Tensor::randn([3, 3, 28, 28], (Kind::Float, Device::Cpu)),
            false,
        );
        assert_eq!(y.size(), [3, 10]);
    }
}

#[test]
fn channels_last_gives_the_same_logits() {
    let plan = NetworkPlan::new(&chain(), small()).unwrap();
    let x = Tensor::randn([4, 3, 32, 32], (Kind::Float, Device::Cpu));
    let (vs1, nchw) = build(&plan, &ModelOptions::default(), Device::Cpu, false, 5);
    let (mut vs2, nhwc) = build(&plan, &ModelOptions::default(), Device::Cpu, true, 6);
    // Tests share torch's generator across threads: copy the weights rather than reseed.
    vs2.copy(&vs1).unwrap();
    let a = nchw.forward_t(&x, true);
    let b = nhwc.forward_t(&x, true);
    let diff = (a - b).abs().max().double_value(&[]);
    assert!(diff < 1e-4, "max difference {diff}");
}

#[test]
fn export_then_reload_gives_the_same_logits() {
    let plan = NetworkPlan::new(&chain(), small()).unwrap();
    let opt = ModelOptions {
        bn_momentum: 0.5,
        ..Default::default()
    };
    let (vs, net) = build(&plan, &opt, Device::Cpu, true, 3);
    // Move the BatchNorm averages away from their start so that they must be exported too.
    for _ in 0..3 {
        let _ = net.forward_t(
            &Tensor::randn([8, 3, 32, 32], (Kind::Float, Device::Cpu)),
            true,
        );
    }
    let x = Tensor::randn([5, 3, 32, 32], (Kind::Float, Device::Cpu));
    let before = tch::no_grad(|| net.forward_t(&x, false));
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("model.safetensors");
    write_tensors(&file, &named_variables(&vs)).unwrap();
    for nhwc in [true, false] {
        let (_, again) = load_exported(&plan, &opt, &file, Device::Cpu, nhwc).unwrap();
        let after = tch::no_grad(|| again.forward_t(&x, false));
        if nhwc {
            assert!(before.equal(&after), "reloaded logits differ");
        } else {
            let diff = (&before - &after).abs().max().double_value(&[]);
            assert!(diff < 1e-4, "{diff}");
        }
    }
    // A file for another network is refused with the tensor's name.
    let other = NetworkPlan::new(
        &chain(),
        NetworkConfig {
            stem_channels: 16,
            ..small()
        },
    )
    .unwrap();
    let err = load_exported(&other, &opt, &file, Device::Cpu, true).unwrap_err();
    assert!(err.to_string().contains("shape"), "{err}");
}
