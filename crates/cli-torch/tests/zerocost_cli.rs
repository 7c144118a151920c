//! `nb1s1 zerocost` end to end on a sample of space-1 cells with a small proxy network: one
//! line per cell with every proxy, a rerun resumes (nothing scored twice), changed settings are
//! refused, bad spec lines are named. Synthetic images keep it fast; the proxies themselves are
//! tested in crates/zerocost.

use std::path::Path;
use std::process::Command;

use nb1s1_data::Cifar10;
use nb1s1_synthetic::{generate_from_specs, FULL_BUDGETS};

fn nb1s1(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nb1s1-torch"))
        .args(args)
        .output()
        .expect("run nb1s1")
}

/// Synthetic images in the official binary layout.
fn synthetic_cifar(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    Cifar10 {
        train: nb1s1_data::bench::synthetic_split(48, 1),
        test: nb1s1_data::bench::synthetic_split(8, 2),
    }
    .save(dir)
    .unwrap();
}

fn rows(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("scores.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const SMALL: [&str; 8] = [
    "--channels",
    "4",
    "--stacks",
    "2",
    "--cells",
    "1",
    "--batch-size",
    "8",
];

#[test]
fn scores_a_space_sample_resumes_and_refuses_other_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("cifar");
    synthetic_cifar(&data);
    let out = tmp.path().join("zc");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let mut args = vec![
        "zerocost", "--space", "1", "--sample", "3", "--seed", "2", "--data", d, "--out", o,
    ];
    args.extend(SMALL);
    let run = nb1s1(&args);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let first = rows(&out);
    assert_eq!(first.len(), 3);
    for r in &first {
        assert_eq!(r["hash"].as_str().unwrap().len(), 32);
        for p in zerocost::Proxy::ALL {
            assert!(
                r[p.name()].is_number(),
                "{} missing or not finite in {r}",
                p.name()
            );
        }
    }
    // A larger sample: only the cells not yet scored are added.
    let mut more = args.clone();
    more[4] = "5";
    let run = nb1s1(&more);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let second = rows(&out);
    assert!(second.len() >= 5);
    assert_eq!(second[..3], first[..], "earlier lines kept as they were");
    let hashes: std::collections::HashSet<_> =
        second.iter().map(|r| r["hash"].as_str().unwrap()).collect();
    assert_eq!(hashes.len(), second.len(), "no cell scored twice");
    let n = second.len();
    // Another init seed is another run: refused, nothing appended.
    let mut other = args.clone();
    other.extend(["--init-seed", "1"]);
    let run = nb1s1(&other);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("other settings"));
    assert_eq!(rows(&out).len(), n);
    // With a (synthetic) NB-101 table of these cells: correlations and the report page.
    let specs: Vec<_> = second
        .iter()
        .map(|r| {
            nasbench101::ModelSpec::new(
                serde_json::from_value(r["matrix"].clone()).unwrap(),
                serde_json::from_value(r["ops"].clone()).unwrap(),
            )
            .unwrap()
        })
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
    let mut with_nb = args.clone();
    with_nb.extend(["--nb101", nb.to_str().unwrap(), "--resamples", "20"]);
    let run = nb1s1(&with_nb);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(rows(&out).len(), n, "nothing rescored");
    let corr: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(out.join("correlation.json")).unwrap()).unwrap();
    assert_eq!(corr.len(), 12 * FULL_BUDGETS.len() * 2);
    for c in &corr {
        assert_eq!(c["n"].as_u64().unwrap() as usize, n, "{c}");
    }
    let page = std::fs::read_to_string(out.join("report/index.html")).unwrap();
    assert!(page.contains("<svg") && page.contains("synflow vs validation accuracy"));
}

#[test]
fn specs_lines_are_scored_once_and_bad_lines_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("cifar");
    synthetic_cifar(&data);
    let cell =
        r#"{"matrix": [[0,1,1],[0,0,1],[0,0,0]], "ops": ["input","conv3x3-bn-relu","output"]}"#;
    let specs = tmp.path().join("specs.jsonl");
    std::fs::write(&specs, format!("{cell}\n\n{cell}\n")).unwrap();
    let out = tmp.path().join("zc");
    let (d, o, s) = (
        data.to_str().unwrap(),
        out.to_str().unwrap(),
        specs.to_str().unwrap(),
    );
    let mut args = vec![
        "zerocost",
        "--specs",
        s,
        "--proxies",
        "params,snip",
        "--data",
        d,
        "--out",
        o,
    ];
    args.extend(SMALL);
    let run = nb1s1(&args);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let r = rows(&out);
    assert_eq!(r.len(), 1, "the repeated cell is scored once");
    assert!(r[0]["snip"].as_f64().unwrap() > 0.0);
    assert!(r[0].get("synflow").is_none());
    std::fs::write(
        &specs,
        format!("{cell}\n{{\"matrix\": [[0]], \"ops\": [\"input\"]}}\n"),
    )
    .unwrap();
    let run = nb1s1(&args);
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("specs.jsonl line 2"), "{err}");
    let run = nb1s1(&[
        "zerocost",
        "--space",
        "1",
        "--proxies",
        "snip,bogus",
        "--out",
        o,
    ]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("bogus"));
}
