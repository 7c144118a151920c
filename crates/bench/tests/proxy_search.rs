//! Proxy-guided search on a synthetic table of space 1 with made-up proxy scores: best-of-N
//! looks up the sampled cell the proxy ranks best (then the next ones in proxy order), RE's
//! initial population is the top proxy-ranked cells, the incumbent's validation regret never
//! rises, the proxy seconds come before the first query, and the run folders go into the store
//! as black-box runs.

use std::collections::BTreeMap;

use blackbox::TabularBenchmark;
use nb1s1_bench::proxy_search::{self, Method, Plan, ProxySearchError};
use nb1s1_bench::zerocost::ScoreRow;
use nb1s1_synthetic::{generate_from_specs, FULL_BUDGETS};
use searchspace::{SearchSpace, SpaceId, SpaceTable};

/// A synthetic table of every unique model of space 1, and its benchmark.
fn bench(dir: &std::path::Path) -> (nasbench101::Nb101, TabularBenchmark) {
    let specs: Vec<_> = SearchSpace::new(SpaceId::One)
        .unique_models()
        .iter()
        .map(|(_, a)| a.to_spec().unwrap())
        .collect();
    let path = dir.join("nb.tfrecord");
    generate_from_specs(
        std::io::BufWriter::new(std::fs::File::create(&path).unwrap()),
        &specs,
        &FULL_BUDGETS,
        3,
        &mut |_| {},
    )
    .unwrap();
    let nb = nasbench101::Nb101::open(&path).unwrap();
    let table = SpaceTable::build(&SearchSpace::new(SpaceId::One), &nb).unwrap();
    (nb, TabularBenchmark::new(table))
}

/// 60 cells of space 1 with a made-up `synflow` (distinct values) and 0.25 s each; one more
/// row without a finite value and one not of the space.
fn rows() -> Vec<ScoreRow> {
    let models = SearchSpace::new(SpaceId::One).unique_models();
    let mut out: Vec<ScoreRow> = models
        .iter()
        .step_by(40)
        .take(60)
        .enumerate()
        .map(|(i, (h, _))| ScoreRow {
            hash: h.to_string(),
            seconds: 0.25,
            scores: BTreeMap::from([("synflow".to_string(), Some(((i * 37) % 61) as f64))]),
        })
        .collect();
    out.push(ScoreRow {
        hash: models[1].0.to_string(),
        seconds: 0.25,
        scores: BTreeMap::from([("synflow".to_string(), None)]),
    });
    out.push(ScoreRow {
        hash: "0".repeat(32),
        seconds: 0.25,
        scores: BTreeMap::from([("synflow".to_string(), Some(1e9))]),
    });
    out
}

fn plan(method: Method, n: usize, queries: usize, population: usize) -> Plan {
    Plan {
        method,
        proxy: "synflow".into(),
        n,
        queries,
        re: blackbox::evolution::Settings {
            population,
            tournament: 3,
            identity: true,
        },
    }
}

/// The incumbent is chosen by validation error, so its validation regret never rises (its test
/// regret may).
fn assert_monotone(records: &[blackbox::QueryRecord]) {
    for w in records.windows(2) {
        assert!(w[1].incumbent_valid_regret <= w[0].incumbent_valid_regret);
        assert!(w[1].incumbent_valid_error <= w[0].incumbent_valid_error);
        assert!(w[1].simulated_seconds > w[0].simulated_seconds);
    }
}

#[test]
fn best_of_n_and_re_warm_start_follow_the_proxy() {
    let tmp = tempfile::tempdir().unwrap();
    let (_nb, bench) = bench(tmp.path());
    let (cands, left_out) = proxy_search::candidates(&rows(), "synflow", &bench).unwrap();
    assert_eq!((cands.len(), left_out), (60, 2));

    // Best of 10: one query, the sampled cell with the largest proxy value.
    let best = plan(Method::BestOfN, 10, 1, 100);
    let out = proxy_search::run(&bench, &cands, &best, 4).unwrap();
    assert_eq!(out.records.len(), 1);
    assert_eq!(out.ranked.len(), 10);
    let score = |h: &str| cands.iter().find(|c| c.hash == h).unwrap().score;
    let top = out.ranked.iter().map(|h| score(h)).fold(f64::MIN, f64::max);
    assert_eq!(score(&out.ranked[0]), top);
    assert_eq!(out.records[0].hash.to_string(), out.ranked[0]);
    assert_eq!(out.proxy_seconds, 2.5);
    assert!(out.records[0].simulated_seconds > 2.5);
    // Seeded: the same again; another seed samples other cells.
    let again = proxy_search::run(&bench, &cands, &best, 4).unwrap();
    assert_eq!(again.records, out.records);
    let other = proxy_search::run(&bench, &cands, &best, 5).unwrap();
    assert_ne!(other.ranked, out.ranked);

    // Five queries: the top five in proxy order, regret never rising.
    let five = proxy_search::run(&bench, &cands, &plan(Method::BestOfN, 10, 5, 100), 4).unwrap();
    let queried: Vec<String> = five.records.iter().map(|r| r.hash.to_string()).collect();
    assert_eq!(queried, out.ranked[..5]);
    assert_eq!(five.records[0], out.records[0]);
    assert_monotone(&five.records);

    // RE warm start: its population starts as the top 6 of 20, then evolves.
    let re = plan(Method::ReWarmStart, 20, 40, 6);
    let out = proxy_search::run(&bench, &cands, &re, 7).unwrap();
    assert_eq!(out.records.len(), 40);
    let initial: Vec<String> = out.records[..6]
        .iter()
        .map(|r| r.hash.to_string())
        .collect();
    assert_eq!(initial, out.ranked[..6]);
    assert_monotone(&out.records);
    assert_eq!(out.proxy_seconds, 5.0);
}

#[test]
fn impossible_plans_are_refused_naming_the_setting() {
    let tmp = tempfile::tempdir().unwrap();
    let (_nb, bench) = bench(tmp.path());
    let (cands, _) = proxy_search::candidates(&rows(), "synflow", &bench).unwrap();
    let err = proxy_search::run(&bench, &cands, &plan(Method::BestOfN, 61, 1, 5), 0).unwrap_err();
    assert!(
        matches!(err, ProxySearchError::Config { field: "n", .. }),
        "{err}"
    );
    let err = proxy_search::run(&bench, &cands, &plan(Method::BestOfN, 5, 0, 5), 0).unwrap_err();
    assert!(err.to_string().contains("queries"), "{err}");
    let err = proxy_search::candidates(&rows(), "nwot", &bench).unwrap_err();
    assert!(err.to_string().contains("nwot"), "{err}");
}

#[test]
fn run_folders_are_black_box_runs_in_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let (nb, bench) = bench(tmp.path());
    let (cands, _) = proxy_search::candidates(&rows(), "synflow", &bench).unwrap();
    let p = plan(Method::BestOfN, 10, 3, 100);
    let root = tmp.path().join("runs");
    for seed in 0..2 {
        let out = proxy_search::run(&bench, &cands, &p, seed).unwrap();
        let last = out.records.last().unwrap();
        let info = proxy_search::RunInfo {
            optimizer: p.optimizer(),
            method: p.method,
            proxy: p.proxy.clone(),
            n: p.n,
            population: None,
            space: 1,
            seed,
            budget: p.queries,
            scores_fingerprint: "f".into(),
            scores_sha256: "s".into(),
            nb101_file: "nb.tfrecord".into(),
            nb101_fingerprint: Some(nb.fingerprint()),
            synthetic: true,
            reference: blackbox::Benchmark::reference(&bench).clone(),
            proxy_seconds: out.proxy_seconds,
            queries: out.records.len(),
            simulated_seconds: last.simulated_seconds,
            final_incumbent_test_regret: Some(last.incumbent_test_regret),
            complete: true,
        };
        let dir = proxy_search::run_dir(&root, &info);
        proxy_search::write_run(&dir, &info, &out.records).unwrap();
        let back = proxy_search::read_info(&dir).unwrap().unwrap();
        assert!(back.same_inputs(&info) && back.complete);
        let other = proxy_search::RunInfo {
            n: 11,
            ..info.clone()
        };
        assert!(!back.same_inputs(&other));
    }
    let mut store = nb1s1_bench::store::Store::open(&tmp.path().join("r.sqlite")).unwrap();
    let s = store.ingest_dir(&root).unwrap();
    assert_eq!((s.added, s.errors.len()), (2, 0), "{:?}", s.errors);
    let curves =
        nb1s1_bench::analysis::blackbox_curves(&store, nb1s1_bench::analysis::Reference::Exact)
            .unwrap();
    assert_eq!(curves.len(), 1);
    assert_eq!(curves[0].key.optimizer, "zc-best10-synflow");
    assert_eq!(store.ingest_dir(&root).unwrap().unchanged, 2);
}
