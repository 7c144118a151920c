//! `nb1s1 correlation` end to end through the nb1s1-torch binary: a tiny search keeps a checkpoint, the
//! correlation command evaluates it and the latest one against a synthetic NB-101 file (taken
//! from run.json), reruns are cheap, bad requests fail with a clear message, and
//! `nb1s1 results ingest` turns the files into correlation rows.

use std::path::Path;
use std::process::{Command, Output};

use nb1s1_data::Cifar10;
use nb1s1_synthetic::{generate_from_specs, FULL_BUDGETS};
use searchspace::{SearchSpace, SpaceId};

fn nb1s1(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nb1s1-torch"))
        .args(args)
        .env_remove("NB1S1_NB101")
        .env_remove("NB1S1_CIFAR10")
        .env_remove("NB1S1_RESULTS")
        .output()
        .expect("run nb1s1")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn correlation_command_evaluates_checkpoints_for_ingest() {
    let tmp = tempfile::tempdir().unwrap();
    let cifar = tmp.path().join("cifar");
    std::fs::create_dir_all(&cifar).unwrap();
    Cifar10 {
        train: nb1s1_data::bench::synthetic_split(48, 1),
        test: nb1s1_data::bench::synthetic_split(24, 2),
    }
    .save(&cifar)
    .unwrap();
    // Every unique model of space 1 but two of the 40 that `--sample 40 --seed 3` draws.
    let sample = oneshot::correlation::candidates(SpaceId::One, 40, 3);
    let left_out = [sample[5].hash, sample[17].hash];
    let specs: Vec<_> = SearchSpace::new(SpaceId::One)
        .unique_models()
        .iter()
        .filter(|(h, _)| !left_out.contains(h))
        .map(|(_, a)| a.to_spec().unwrap())
        .collect();
    let nb = tmp.path().join("nb.tfrecord");
    generate_from_specs(
        std::io::BufWriter::new(std::fs::File::create(&nb).unwrap()),
        &specs,
        &FULL_BUDGETS,
        3,
        &mut |_| {},
    )
    .unwrap();
    let cfg = tmp.path().join("tiny.toml");
    std::fs::write(
        &cfg,
        "optimizer = \"darts\"\nspace = 1\nepochs = 2\nkeep_checkpoints = [0]\n\
         [data]\ntrain_images = 24\nvalid_images = 24\nbatch_size = 8\neval_batch_size = 16\n\
         [model]\ninit_channels = 4\nlayers = 3\n",
    )
    .unwrap();
    let run = tmp.path().join("runs").join("r");
    let o = nb1s1(&[
        "search",
        "--config",
        p(&cfg),
        "--out",
        p(&run),
        "--data",
        p(&cifar),
        "--nb101",
        p(&nb),
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "search failed: {:?}", text(&o));
    assert!(run.join("checkpoints/epoch0/weights.safetensors").is_file());

    let corr = |extra: &[&str]| {
        let mut args = vec![
            "correlation",
            "--run",
            p(&run),
            "--data",
            p(&cifar),
            "--device",
            "cpu",
            "--images",
            "8",
            "--batch-size",
            "8",
            "--sample",
            "40",
            "--seed",
            "3",
        ];
        args.extend_from_slice(extra);
        nb1s1(&args)
    };
    let o = corr(&["--batch-archs", "8"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "correlation failed: {err}");
    eprintln!("{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        err.contains("2 of 40 architectures are not in the NB-101 table"),
        "{err}"
    );
    for e in [0, 1] {
        let f = run.join("correlation").join(format!("epoch{e}.jsonl"));
        let text = std::fs::read_to_string(&f).unwrap();
        assert_eq!(text.lines().count(), 38, "{}", f.display());
        for h in &left_out {
            assert!(!text.contains(&h.to_string()));
        }
    }
    let o = corr(&["--epochs", "1"]);
    let (_, err) = text(&o);
    assert!(o.status.success() && err.contains("skipped"), "{err}");
    let o = corr(&["--epochs", "0,9"]);
    let (_, err) = text(&o);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("no checkpoint of epoch 9") && err.contains("0, 1"),
        "{err}"
    );
    let o = nb1s1(&["correlation", "--run", p(&tmp.path().join("nope"))]);
    let (_, err) = text(&o);
    assert!(
        !o.status.success() && err.contains("no such run folder"),
        "{err}"
    );
    let o = corr(&["--mixing", "softmax"]);
    let (_, err) = text(&o);
    assert!(!o.status.success() && err.contains("--mixing"), "{err}");

    let db = tmp.path().join("r.sqlite");
    let o = nb1s1(&[
        "results",
        "ingest",
        p(&tmp.path().join("runs")),
        "--db",
        p(&db),
    ]);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("1 added") && err.contains("2 correlation files"),
        "{err}"
    );
    let store = nb1s1_bench::store::Store::open(&db).unwrap();
    let series = nb1s1_bench::analysis::correlation_series(&store).unwrap();
    assert_eq!(series.len(), 8, "test and valid at 4 budgets: {series:?}");
    assert!(series.iter().all(|s| s.points.len() == 2));
    // The search wrote its TensorBoard scalars live, so the export leaves the run alone.
    let o = nb1s1(&["results", "tensorboard", p(&run)]);
    let (_, err) = text(&o);
    assert!(o.status.success() && err.contains("skipped"), "{err}");
}
