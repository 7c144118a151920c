//! DARTS-PT's projection: on a supernet built so that one operation (one parent) carries the
//! prediction, removing it is what the projection measures as most harmful and keeps; the phase
//! projects at the stated epochs with the stated fine-tuning in between; a tiny real search
//! resumes bit-identically after a kill in the middle of the phase.

mod common;

use oneshot::projection::{
    project_op, project_parents, Projected, ProjectionCriterion, METRIC_PROJECTED,
    METRIC_TUNE_STEPS,
};
use oneshot::{run_search, OneShotModel, RunStatus, SearchConfig, SearchOptions, TensorBatch};
use supernet::{MixingWeights, SharedMixing};
use tch::{Device, Kind, Tensor};

/// Big enough that softmax gives ~1e-26 to the others: removing them changes nothing.
const BIG: f64 = 30.0;

/// A tiny space-1 supernet (4 choice blocks; nodes 3, 4 and the output choose parents).
fn model() -> (SearchConfig, OneShotModel) {
    let cfg = common::tiny_registered("darts_pt", 1);
    tch::manual_seed(5);
    let model = OneShotModel::new(&cfg.model, Device::Cpu).unwrap();
    (cfg, model)
}

/// Sets a row of logits: `BIG` at `hot`, −`BIG` elsewhere.
fn dominate(t: &Tensor, row: i64, hot: usize) {
    let n = t.size()[1];
    let v: Vec<f32> = (0..n)
        .map(|i| if i as usize == hot { BIG } else { -BIG } as f32)
        .collect();
    tch::no_grad(|| {
        t.get(row).copy_(&Tensor::from_slice(&v));
    });
}

/// Images with image-wide structure (a colour per channel, a gradient, noise), labelled with
/// the supernet's own predictions under `w` (train-mode BatchNorm, as the projection measures):
/// the unmasked supernet is 100% accurate on them.
fn own_predictions(model: &OneShotModel, w: &MixingWeights) -> Vec<TensorBatch> {
    tch::manual_seed(9);
    let opts = (Kind::Float, Device::Cpu);
    let grid = Tensor::arange(32, opts).view([1, 1, 1, 32]) / 16.0 - 1.0;
    (0..2)
        .map(|_| {
            let base = Tensor::randn([16, 3, 1, 1], opts);
            let slope = Tensor::randn([16, 1, 1, 1], opts) * 2.0;
            let x = base + slope * &grid + Tensor::randn([16, 3, 32, 32], opts) * 0.3;
            let y = tch::no_grad(|| {
                model
                    .net
                    .forward(&x, &mut SharedMixing(w.clone()), true)
                    .argmax(-1, false)
            });
            TensorBatch { x, y, len: 16 }
        })
        .collect()
}

fn distinct_labels(batches: &[TensorBatch]) -> usize {
    let y = Tensor::cat(&batches.iter().map(|b| &b.y).collect::<Vec<_>>(), 0);
    let mut v = Vec::<i64>::try_from(&y).unwrap();
    v.sort_unstable();
    v.dedup();
    v.len()
}

/// Block 1's mixture is maxpool alone (op 2) and the cell output reads block 1 alone: masking
/// maxpool empties every cell's output and the predictions collapse; masking either conv removes
/// a weight of ~1e-26 and changes nothing. The projection keeps maxpool, which no tie-break would
/// pick (ties keep the first operation).
#[test]
fn the_projection_keeps_the_operation_whose_removal_destroys_accuracy() {
    let _torch = common::torch_lock();
    let (_, model) = model();
    dominate(&model.arch.ops, 0, 2);
    dominate(&model.arch.output, 0, 1);
    let projected = Projected::new(&model.space);
    let batches = own_predictions(&model, &projected.mixing(&model.arch));
    assert!(
        distinct_labels(&batches) > 1,
        "the supernet predicts one class for every image: the test cannot see a drop"
    );
    let (op, scores) = project_op(
        &model,
        &projected,
        1,
        &batches,
        ProjectionCriterion::Accuracy,
    );
    assert_eq!(op, 2, "scores {scores:?}");
    assert_eq!(scores[0], 1.0, "{scores:?}");
    assert_eq!(scores[1], 1.0, "{scores:?}");
    assert!(scores[2] < 1.0, "{scores:?}");
    // The loss criterion agrees: removing maxpool raises the loss most.
    let (op, _) = project_op(&model, &projected, 1, &batches, ProjectionCriterion::Loss);
    assert_eq!(op, 2);
    // Once projected, block 1 mixes with maxpool's one-hot row.
    let mut p = projected.clone();
    p.ops[0] = Some(2);
    let w = p.mixing(&model.arch);
    let row = Vec::<f32>::try_from(w.ops.get(0)).unwrap();
    assert_eq!(row, [0.0, 0.0, 1.0]);
}

/// Node 3 (parents: 2 of {0, 1, 2}) reads parent 2 alone and the output reads node 3 alone:
/// removing parent 2 collapses the predictions, removing 0 or 1 changes nothing. The projection
/// keeps 2 and, among the tied rest, the lower index: {0, 2} (a tie-break alone gives {0, 1}).
#[test]
fn the_projection_keeps_the_parents_whose_removal_hurts_most() {
    let _torch = common::torch_lock();
    let (_, model) = model();
    let beta3 = model.arch.inputs[2]
        .as_ref()
        .expect("node 3 chooses parents");
    dominate(beta3, 0, 2);
    dominate(&model.arch.output, 0, 3);
    let projected = Projected::new(&model.space);
    let batches = own_predictions(&model, &projected.mixing(&model.arch));
    assert!(distinct_labels(&batches) > 1, "one class for every image");
    let (parents, scores) = project_parents(
        &model,
        &projected,
        3,
        &batches,
        ProjectionCriterion::Accuracy,
    );
    assert_eq!(parents, [0, 2], "scores {scores:?}");
    assert!(
        scores[2] < 1.0 && scores[0] == 1.0 && scores[1] == 1.0,
        "{scores:?}"
    );
    let mut p = projected.clone();
    p.parents[2] = Some(parents);
    let w = p.mixing(&model.arch);
    let edges = Vec::<f32>::try_from(w.inputs[2].as_ref().unwrap().view([-1])).unwrap();
    assert_eq!(edges, [1.0, 0.0, 1.0]);
}

fn darts_pt(proj_intv: i64, epochs: usize) -> SearchConfig {
    let mut cfg = common::tiny_registered("darts_pt", 1);
    cfg.epochs = epochs;
    cfg.data.train_images = 24;
    cfg.data.valid_images = 24;
    common::set_option(
        &mut cfg,
        "projection",
        "proj_intv",
        toml::Value::Integer(proj_intv),
    );
    cfg
}

/// Space 1 has 7 projections (4 operations; nodes 3, 4 and the output). With `proj_intv` = 2
/// the phase is 2·6 + 1 = 13 epochs, the last 13 of 14: projections start epochs 1, 3, …, 13,
/// each followed by 2 epochs of 3 weight steps (24 images, batch 8), the last by 1. The phase
/// trains at lr / 10; epoch 0 is plain DARTS at the full rate.
#[test]
fn the_phase_projects_at_the_stated_epochs_and_fine_tunes_the_stated_steps() {
    let _torch = common::torch_lock();
    let cfg = darts_pt(2, 14);
    let data = common::synthetic_data(48, 8);
    let tmp = tempfile::tempdir().unwrap();
    let out = run_search(
        &cfg,
        &data,
        Some(&common::FakeTable),
        tmp.path(),
        &common::cpu_options(),
    )
    .unwrap();
    assert_eq!(out.status, RunStatus::Complete);
    let recs = &out.records;
    assert_eq!(recs.len(), 14);
    assert_eq!(recs[0].metric(METRIC_PROJECTED), Some(0.0));
    assert_eq!(recs[0].metric(METRIC_TUNE_STEPS), None);
    assert!(
        (recs[0].lr - cfg.weights.lr).abs() < 1e-12,
        "{}",
        recs[0].lr
    );
    for (e, r) in recs.iter().enumerate().skip(1) {
        let projected = ((e - 1) / 2 + 1) as f64;
        let steps = 3.0 * ((e - 1) % 2 + 1) as f64;
        assert_eq!(r.metric(METRIC_PROJECTED), Some(projected), "epoch {e}");
        assert_eq!(r.metric(METRIC_TUNE_STEPS), Some(steps), "epoch {e}");
        assert!(
            (r.lr - cfg.weights.lr / 10.0).abs() < 1e-12,
            "epoch {e}: {}",
            r.lr
        );
    }
    // The last projection is the last epoch's: 1 epoch of fine-tuning after it.
    assert_eq!(recs[13].metric(METRIC_TUNE_STEPS), Some(3.0));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("run.json")).unwrap())
            .unwrap();
    assert_eq!(meta["optimizer"], "darts_pt");
    assert_eq!(meta["method"]["selection"], "projection");
}

/// Killed after 4 of 9 epochs (two projections made, in the middle of the phase) and resumed:
/// the checkpoint files and every epoch record are those of a run that was never stopped.
#[test]
fn a_darts_pt_search_resumes_bit_identically_in_the_middle_of_the_phase() {
    let _torch = common::torch_lock();
    let cfg = darts_pt(1, 9);
    let data = common::synthetic_data(48, 8);
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let straight = run_search(
        &cfg,
        &data,
        Some(&common::FakeTable),
        &a,
        &common::cpu_options(),
    )
    .unwrap();
    let stop = SearchOptions {
        stop_after: Some(4),
        ..common::cpu_options()
    };
    run_search(&cfg, &data, Some(&common::FakeTable), &b, &stop).unwrap();
    let resume = SearchOptions {
        resume: true,
        ..common::cpu_options()
    };
    let rest = run_search(&cfg, &data, Some(&common::FakeTable), &b, &resume).unwrap();
    assert_eq!(rest.status, RunStatus::Complete);
    for f in [
        "weights.safetensors",
        "arch.safetensors",
        "optimizers.safetensors",
    ] {
        let read = |d: &std::path::Path| std::fs::read(d.join("checkpoint").join(f)).unwrap();
        assert_eq!(read(&a), read(&b), "{f}");
    }
    let strip = |d: &std::path::Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(d.join("epochs.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("seconds");
                v
            })
            .collect()
    };
    assert_eq!(strip(&a), strip(&b));
    let recs = &straight.records;
    assert_eq!(recs.len(), 9);
    assert_eq!(recs[8].metric(METRIC_PROJECTED), Some(7.0));
}

fn load(text: &str) -> Result<SearchConfig, String> {
    SearchConfig::from_toml(text, "pt.toml", None, Some(1)).map_err(|e| e.to_string())
}

/// The phase's length is checked when the configuration loads, with what it needs; options are
/// range-checked by name; the method is registered.
#[test]
fn darts_pt_settings_are_checked_when_the_config_loads() {
    let _torch = common::torch_lock();
    let e = load("optimizer = \"darts_pt\"\nepochs = 31\n").unwrap_err();
    assert!(
        e.contains("pt.toml") && e.contains("`epochs` must be at least 32") && e.contains("31"),
        "{e}"
    );
    let cfg = load("optimizer = \"darts_pt\"\nepochs = 32\n").unwrap();
    assert_eq!(
        cfg.method.selection,
        oneshot::method::SelectionKind::Projection
    );
    assert!(cfg.options.contains_key("projection"));
    for (text, key) in [
        ("[options.projection]\nproj_intv = 0\n", "proj_intv"),
        ("[options.projection]\nlr_factor = -1.0\n", "lr_factor"),
        ("[options.projection]\nprojintv = 2\n", "projintv"),
        ("[options.projection]\norder = \"sideways\"\n", "sideways"),
    ] {
        let e = load(&format!("optimizer = \"darts_pt\"\nepochs = 60\n{text}")).unwrap_err();
        assert!(e.contains("pt.toml") && e.contains(key), "{text}: {e}");
    }
    let e = load("optimizer = \"x\"\nepochs = 60\n[method]\nbase = \"gdas\"\nrelaxation = \"gumbel\"\nselection = \"projection\"\n").unwrap_err();
    assert!(e.contains("projection") && e.contains("softmax"), "{e}");
    assert!(oneshot::registry::names().contains(&"darts_pt"));
    assert!(oneshot::registry::list().contains("darts_pt"));
}
