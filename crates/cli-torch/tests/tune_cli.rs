//! `nb1s1 tune` end to end through the nb1s1-torch binary: a tiny BOHB tuning (one bracket,
//! budgets of 1 and 2 epochs) of DARTS on real CIFAR-10 images (../shared/data) and a synthetic
//! NB-101 table, each evaluation a real search run; a rerun launches nothing, and
//! `--results` puts every evaluation in the store once with its configuration and budget.

use std::path::Path;
use std::process::{Command, Output};

use nb1s1_data::{Cifar10, Split};
use nb1s1_synthetic::{generate_from_specs, FULL_BUDGETS};
use searchspace::{SearchSpace, SpaceId};

fn nb1s1(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nb1s1-torch"))
        .args(args)
        .env_remove("NB1S1_NB101")
        .env_remove("NB1S1_CIFAR10")
        .output()
        .expect("run nb1s1")
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The first `n` images of a split (the training split is shuffled, so all classes appear).
fn first(split: &Split, n: usize) -> Split {
    Split {
        images: split.images[..n * 3072].to_vec(),
        labels: split.labels[..n].to_vec(),
    }
}

/// A few real CIFAR-10 images in the binary layout; `None` (or a failure under CI) without the
/// archive.
fn real_cifar(dir: &Path) -> Option<()> {
    let tar =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cifar10-jpeg.tar.gz");
    if !tar.is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "real data absent in CI: {} (the tune end-to-end test needs it)",
            tar.display()
        );
        eprintln!("SKIPPED (real data absent): {}", tar.display());
        return None;
    }
    let (set, _) = nb1s1_data::import::import_to_memory(&tar, 0, &indicatif::ProgressBar::hidden())
        .expect("import CIFAR-10 JPEGs");
    Cifar10 {
        train: first(&set.train, 48),
        test: first(&set.test, 16),
    }
    .save(dir)
    .unwrap();
    Some(())
}

#[test]
fn a_tiny_tuning_on_real_images_runs_resumes_and_lands_in_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let cifar = tmp.path().join("cifar");
    std::fs::create_dir_all(&cifar).unwrap();
    if real_cifar(&cifar).is_none() {
        return;
    }
    let specs: Vec<_> = SearchSpace::new(SpaceId::One)
        .unique_models()
        .iter()
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
    let base = tmp.path().join("tiny.toml");
    std::fs::write(
        &base,
        "optimizer = \"darts\"\n[data]\ntrain_images = 24\nvalid_images = 24\nbatch_size = 8\n\
         eval_batch_size = 16\n[model]\ninit_channels = 4\nlayers = 3\n",
    )
    .unwrap();
    let out = tmp.path().join("tune");
    let db = tmp.path().join("results.sqlite");
    let args = [
        "tune",
        "--optimizer",
        "darts",
        "--space",
        "1",
        "--cs",
        "cs1",
        "--out",
        p(&out),
        "--iterations",
        "1",
        "--budgets",
        "1,2",
        "--base",
        p(&base),
        "--nb101",
        p(&nb),
        "--data",
        p(&cifar),
        "--device",
        "cpu",
        "--threads",
        "1",
        "--results",
        p(&db),
    ];
    let o = nb1s1(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "tune failed: {err}");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("tune.json")).unwrap()).unwrap();
    let evals = state["evaluations"].as_array().unwrap();
    // One bracket with s = 1 over 1/2 epochs: two configurations, the better one at 2 epochs.
    let names: Vec<&str> = evals.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names[..2], ["it000-br1-cfg00-e1", "it000-br1-cfg01-e1"]);
    assert_eq!(names.len(), 3, "{names:?}");
    for e in evals {
        let loss = e["loss"].as_f64().expect("an NB-101 validation error");
        assert!((0.0..1.0).contains(&loss), "{e}");
        let run = out.join("runs").join(e["name"].as_str().unwrap());
        let records = std::fs::read_to_string(run.join("epochs.jsonl")).unwrap();
        assert_eq!(
            records.lines().count() as u64,
            e["budget"].as_u64().unwrap()
        );
    }
    // The default configuration comes first, with cutout switched on.
    assert_eq!(evals[0]["values"]["weight_decay"].as_f64(), Some(3e-4));
    let cfg = std::fs::read_to_string(out.join("runs").join(names[0]).join("config.toml")).unwrap();
    assert!(cfg.contains("cutout = true"), "{cfg}");
    let incumbent = std::fs::read_to_string(out.join("incumbent.toml")).unwrap();
    assert!(incumbent.contains(names[2]), "{incumbent}");

    // Every evaluation is in the store once, tagged with its configuration and budget.
    let store = nb1s1_bench::store::Store::open_read_only(&db).unwrap();
    let mut st = store
        .conn()
        .prepare("SELECT variant, config FROM runs WHERE experiment = 'bohb-tune' ORDER BY variant")
        .unwrap();
    let rows: Vec<(String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(
        rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        sorted
    );
    for (name, config) in &rows {
        let c: serde_json::Value = serde_json::from_str(config).unwrap();
        let budget = if name.ends_with("-e2") { 2 } else { 1 };
        assert_eq!(c["epochs"].as_u64(), Some(budget), "{name}");
    }

    // A rerun finds every evaluation finished: it launches nothing and adds nothing.
    let logs = out.join(".experiment").join("logs");
    let snapshot = |dir: &Path| -> Vec<(String, String)> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let text = std::fs::read_to_string(e.path()).unwrap();
                (e.file_name().to_string_lossy().into_owned(), text)
            })
            .collect();
        v.sort();
        v
    };
    let before = snapshot(&logs);
    assert_eq!(before.len(), 3);
    let o = nb1s1(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "rerun failed: {err}");
    assert!(
        err.contains("0 added") && err.contains("3 unchanged"),
        "{err}"
    );
    assert_eq!(snapshot(&logs), before, "a rerun launched a search");
    // Different settings on the same folder are refused with the field's name.
    let mut other = args.to_vec();
    other.extend(["--eta", "3"]);
    let o = nb1s1(&other);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("settings.eta"), "{err}");
}
