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

fn ok(out: std::process::Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

/// The scores of a folder without the measured seconds.
fn scores_only(out: &Path) -> Vec<serde_json::Value> {
    rows(out)
        .into_iter()
        .map(|mut r| {
            r.as_object_mut().unwrap().remove("seconds");
            r
        })
        .collect()
}

#[test]
fn workers_give_the_same_scores_bit_for_bit_in_the_same_order() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("cifar");
    synthetic_cifar(&data);
    let score = |name: &str, workers: &str| {
        let out = tmp.path().join(name);
        let mut args = vec![
            "zerocost",
            "--space",
            "1",
            "--sample",
            "5",
            "--seed",
            "1",
            "--threads",
            "1",
            "--workers",
            workers,
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(SMALL);
        ok(nb1s1(&args));
        scores_only(&out)
    };
    let one = score("one", "1");
    let three = score("three", "3");
    assert_eq!(one.len(), 5);
    assert_eq!(one, three);
}

/// A tiny end-to-end run: a sample of space-1 cells scored with a small proxy network, their
/// NB-101 accuracies from a synthetic table of the space, best-of-N and the RE warm start on
/// the scores (resumed: a second call skips the complete seeds), then the results store and
/// the report: the zero-cost page and the proxy-guided runs beside the black-box ones.
#[test]
fn proxy_guided_search_and_the_report_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("cifar");
    synthetic_cifar(&data);
    let specs: Vec<_> = searchspace::SearchSpace::new(searchspace::SpaceId::One)
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
    let runs = tmp.path().join("runs");
    let zc = runs.join("zc");
    let p = |p: &Path| p.to_str().unwrap().to_string();
    let mut args: Vec<String> = [
        "zerocost",
        "--space",
        "1",
        "--sample",
        "8",
        "--proxies",
        "synflow,nwot,params",
        "--resamples",
        "20",
        "--workers",
        "2",
        "--threads",
        "1",
    ]
    .map(String::from)
    .to_vec();
    args.extend(["--data", &p(&data), "--nb101", &p(&nb), "--out", &p(&zc)].map(String::from));
    args.extend(SMALL.map(String::from));
    ok(nb1s1(&args.iter().map(String::as_str).collect::<Vec<_>>()));
    assert_eq!(rows(&zc).len(), 8);
    assert!(zc.join("nb101.json").is_file() && zc.join("nb101.jsonl").is_file());
    let search = |method: &str, extra: &[&str]| {
        let mut a = vec![
            "zerocost".to_string(),
            "search".into(),
            "--method".into(),
            method.into(),
            "--proxy".into(),
            "synflow".into(),
            "--seeds".into(),
            "0..2".into(),
            "--scores".into(),
            p(&zc),
            "--nb101".into(),
            p(&nb),
            "--out".into(),
            p(&runs.join("guided")),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        nb1s1(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    ok(search("best-of-n", &["--n", "5"]));
    let re = [
        "--n",
        "8",
        "--population",
        "4",
        "--tournament",
        "2",
        "--queries",
        "12",
    ];
    ok(search("re-warm-start", &re));
    assert!(ok(search("re-warm-start", &re)).contains("2 already complete"));
    // Another N into the same folder: other inputs, refused.
    let mut other = re;
    other[1] = "7";
    assert!(!search("re-warm-start", &other).status.success());
    let seed0 = runs.join("guided/zc-re-synflow/space1/seed0");
    let traj: Vec<serde_json::Value> = std::fs::read_to_string(seed0.join("trajectory.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(traj.len(), 12);
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(seed0.join("run.json")).unwrap()).unwrap();
    let proxy_seconds = info["proxy_seconds"].as_f64().unwrap();
    assert!(proxy_seconds > 0.0);
    assert!(traj[0]["simulated_seconds"].as_f64().unwrap() > proxy_seconds);
    // The first four queries: the sample's top four by synflow.
    let synflow: std::collections::HashMap<String, f64> = rows(&zc)
        .iter()
        .map(|r| {
            (
                r["hash"].as_str().unwrap().to_string(),
                r["synflow"].as_f64().unwrap(),
            )
        })
        .collect();
    let first: Vec<f64> = traj[..4]
        .iter()
        .map(|q| synflow[q["hash"].as_str().unwrap()])
        .collect();
    let mut all: Vec<f64> = synflow.values().copied().collect();
    all.sort_by(|a, b| b.total_cmp(a));
    assert_eq!(first, all[..4], "n = 8 takes every scored cell");

    let db = tmp.path().join("r.sqlite");
    let err = ok(nb1s1(&["results", "ingest", "--db", &p(&db), &p(&runs)]));
    assert!(
        err.contains("4 added") && err.contains("1 zero-cost"),
        "{err}"
    );
    let report = tmp.path().join("report");
    ok(nb1s1(&[
        "report",
        "--results",
        &p(&db),
        "--out",
        &p(&report),
    ]));
    let page = std::fs::read_to_string(report.join("zerocost.html")).unwrap();
    assert!(page.contains("Space 1") && page.contains("<svg"), "{page}");
    let versus = std::fs::read_to_string(report.join("oneshot-vs-blackbox.html")).unwrap();
    assert!(
        versus.contains("zc-best5-synflow") && versus.contains("zc-re-synflow"),
        "{versus}"
    );
}
