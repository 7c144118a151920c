//! Zero-cost scoring folders in the results store: ingested once (re-ingest is unchanged, a
//! copy or an overlapping folder of one identity counts each cell once), a changed folder
//! replaces its rows, a removed one is dropped, a bad one is named; the report's zero-cost
//! page shows the correlations and scatter plots from the store alone.

use std::path::Path;

use nb1s1_bench::report::{write_report, ReportOptions};
use nb1s1_bench::store::zerocost::groups;
use nb1s1_bench::store::Store;

const HASHES: [&str; 6] = [
    "00000000000000000000000000000001",
    "00000000000000000000000000000002",
    "00000000000000000000000000000003",
    "00000000000000000000000000000004",
    "00000000000000000000000000000005",
    "00000000000000000000000000000006",
];

/// A scoring folder of `cells` (indices into HASHES): synflow rises with the cell's accuracy,
/// nwot falls with it, jacov is missing for the first cell.
fn folder(dir: &Path, cells: &[usize], space: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let settings = serde_json::json!({
        "fingerprint": "abc-jacov+nwot+synflow",
        "proxies": ["synflow", "jacov", "nwot"],
        "settings": {"network": {"stem_channels": 4, "stacks": 2, "cells_per_stack": 1,
                     "num_labels": 10}, "batch_size": 8, "data_seed": 0, "init_seed": 0,
                     "fisher_fan_in": false, "zen_bn": "batch"},
        "space": space,
    });
    std::fs::write(dir.join("zerocost.json"), settings.to_string()).unwrap();
    let mut scores = String::new();
    let mut acc = String::new();
    for &i in cells {
        let jacov = if i == 0 {
            "null".to_string()
        } else {
            format!("{}", i as f64 * 0.5)
        };
        scores.push_str(&format!(
            "{{\"hash\":\"{}\",\"matrix\":[[0]],\"ops\":[\"input\"],\"seconds\":0.5,\
             \"synflow\":{},\"nwot\":{},\"jacov\":{jacov}}}\n",
            HASHES[i],
            10.0 + i as f64,
            -(i as f64)
        ));
        for (epochs, base) in [(36, 0.8), (108, 0.9)] {
            acc.push_str(&format!(
                "{{\"hash\":\"{}\",\"epochs\":{epochs},\"valid\":{},\"test\":{}}}\n",
                HASHES[i],
                base + 0.01 * i as f64,
                base + 0.01 * i as f64 - 0.005
            ));
        }
    }
    std::fs::write(dir.join("scores.jsonl"), scores).unwrap();
    std::fs::write(dir.join("nb101.jsonl"), acc).unwrap();
    let meta = serde_json::json!({"file": "nb.store", "fingerprint": "sha256:t",
        "synthetic": true, "budgets": [36, 108]});
    std::fs::write(dir.join("nb101.json"), meta.to_string()).unwrap();
}

#[test]
fn folders_are_ingested_once_replaced_when_changed_and_dropped_when_gone() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("runs");
    folder(&root.join("zc-a"), &[0, 1, 2, 3], 1);
    let mut store = Store::open(&tmp.path().join("r.sqlite")).unwrap();
    let s = store.ingest_dir(&root).unwrap();
    assert_eq!((s.zerocost, s.errors.len()), (1, 0), "{:?}", s.errors);
    assert_eq!(store.ingest_dir(&root).unwrap().zerocost, 0, "unchanged");
    let g = groups(&store).unwrap();
    assert_eq!(g.len(), 1);
    assert_eq!((g[0].space, g[0].rows.len()), (Some(1), 4));
    assert_eq!(g[0].budgets, [36, 108]);
    let v = 0.9 + 0.01 * 2.0;
    assert_eq!(g[0].accuracy(HASHES[2], 108), Some((v, v - 0.005)));
    assert_eq!(g[0].rows[0].scores["jacov"], None);

    // A copy, and a folder overlapping it: one group, each cell once.
    folder(&root.join("zc-copy"), &[0, 1, 2, 3], 1);
    folder(&root.join("zc-more"), &[2, 3, 4, 5], 1);
    assert_eq!(store.ingest_dir(&root).unwrap().zerocost, 2);
    let g = groups(&store).unwrap();
    assert_eq!((g.len(), g[0].rows.len(), g[0].folders.len()), (1, 6, 3));
    // The same settings for another space: another group.
    folder(&root.join("zc-s2"), &[0, 1], 2);
    store.ingest_dir(&root).unwrap();
    assert_eq!(groups(&store).unwrap().len(), 2);

    // A changed folder replaces its rows; a removed one is dropped.
    std::fs::remove_dir_all(root.join("zc-copy")).unwrap();
    std::fs::remove_dir_all(root.join("zc-more")).unwrap();
    std::fs::remove_dir_all(root.join("zc-s2")).unwrap();
    folder(&root.join("zc-a"), &[0, 1], 1);
    let s = store.ingest_dir(&root).unwrap();
    assert_eq!((s.zerocost, s.vanished.len()), (1, 3));
    let g = groups(&store).unwrap();
    assert_eq!((g.len(), g[0].rows.len(), g[0].folders.len()), (1, 2, 1));

    // A bad line is an error naming the file and the field; the folder's rows stay as they were.
    std::fs::write(
        root.join("zc-a/scores.jsonl"),
        format!("{{\"hash\":\"{}\",\"synflow\":\"high\"}}\n", HASHES[0]),
    )
    .unwrap();
    let s = store.ingest_dir(&root).unwrap();
    assert_eq!(s.errors.len(), 1);
    let why = &s.errors[0].1;
    assert!(
        why.contains("scores.jsonl") && why.contains("synflow"),
        "{why}"
    );
    assert_eq!(groups(&store).unwrap()[0].rows.len(), 2);
}

#[test]
fn the_report_page_correlates_the_stored_scores() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("runs");
    folder(&root.join("zc"), &[0, 1, 2, 3, 4, 5], 1);
    let mut store = Store::open(&tmp.path().join("r.sqlite")).unwrap();
    store.ingest_dir(&root).unwrap();
    let out = tmp.path().join("report");
    let pages = write_report(&store, &out, &ReportOptions::default()).unwrap();
    let page = pages.iter().find(|p| p.file == "zerocost.html").unwrap();
    // Three proxies: a scatter plot each.
    assert_eq!(page.plots, 3);
    let html = std::fs::read_to_string(out.join("zerocost.html")).unwrap();
    assert!(html.contains("Space 1"), "{html}");
    // synflow and jacov rank the cells as their accuracy does, nwot the other way round.
    assert!(html.contains("1.000 [1.000, 1.000]"), "{html}");
    assert!(html.contains("-1.000 [-1.000, -1.000]"), "{html}");
    assert!(html.contains("SYNTHETIC"));
    let data: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("data.json")).unwrap()).unwrap();
    assert_eq!(data["zerocost_groups"][0]["space"], 1);
}
