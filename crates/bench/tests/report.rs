//! The report on a small experiment run end to end (fake `nb1s1`, real runner, store and
//! report), checked in headless Chromium: every page loads without console errors and every
//! plot on it shows data; screenshots are taken.

mod common;

use nb1s1_bench::experiment::Experiment;
use nb1s1_bench::report::{self, ReportOptions};
use nb1s1_bench::runner::{self, Launcher, RunnerOptions};
use nb1s1_bench::store::Store;
use std::path::{Path, PathBuf};
use std::process::Command;

const EXPERIMENT: &str = r#"
name = "small"
[[study]]
name = "optimizers"
kind = "oneshot"
optimizers = ["darts", "gdas"]
spaces = [1, 3]
seeds = "0..3"
[[study]]
name = "weight-decay"
kind = "oneshot"
optimizers = ["darts"]
spaces = [1]
seeds = "0..2"
grid = { "weights.weight_decay" = [1e-4, 81e-4] }
[[study]]
name = "blackbox"
kind = "blackbox"
optimizers = ["re", "rs"]
spaces = [1, 3]
seeds = "0..3"
queries = 6
"#;

/// Stand-alone runs of the transfer study: 6 cells of space 3 (hashes of the DARTS run's
/// correlation files) at 2 x 2 network sizes; the largest network ranks them as NB-101 does.
fn transfer_runs(root: &Path) {
    for (channels, cells) in [(8, 1), (8, 2), (16, 1), (16, 2)] {
        for i in 0..6u64 {
            let dir = root.join(format!("c{channels}-n{cells}/arch{i}"));
            let nb101_error = 0.06 + 0.001 * i as f64;
            let wobble = if (channels, cells) == (16, 2) {
                0.0
            } else {
                0.02 * ((i * 5) % 6) as f64
            };
            let acc = 0.6 - 0.01 * i as f64 + wobble;
            let accs = [(acc - 0.1, acc - 0.1), (acc, acc)];
            common::write_standalone_run(
                &dir,
                &format!("a{i}"),
                3,
                (channels, cells),
                0,
                &accs,
                nb101_error,
            );
            let tag = r#"{"experiment": "small", "study": "transfer", "variant": "v"}"#;
            std::fs::write(
                dir.join("experiment.json"),
                tag.replace("\"v\"", &format!("\"channels={channels},cells={cells}\"")),
            )
            .unwrap();
        }
    }
}

/// A run recorded outside nb1s1 in space 1, as `nb1s1.Recorder` writes it (no config.toml,
/// `external` in run.json, no one-shot error measured), outside the experiment: the study pages
/// of space 1 must show it beside their own runs.
fn external_run(dir: &Path) {
    common::write_oneshot_run(dir, "my-darts", 1, 0, &[0.04, 0.03, 0.02]);
    std::fs::remove_file(dir.join("config.toml")).unwrap();
    let path = dir.join("epochs.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["one_shot_valid_error"] = serde_json::Value::Null;
            v.to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let meta = serde_json::json!({
        "optimizer": "my-darts", "space": 1, "seed": 0, "device": "external (recorded)",
        "epochs": 3, "cifar10": "", "nb101_path": null, "nb101_synthetic": false,
        "regret_reference": null, "nb1s1_version": "0.1.0",
        "external": {"kind": "recorded", "ties": "lower_index", "settings": {"lr": 0.1}},
    });
    std::fs::write(dir.join("run.json"), meta.to_string()).unwrap();
}

/// Runs the small experiment and writes its report; returns (report dir, pages).
fn small_report(tmp: &Path) -> (PathBuf, Vec<report::PageSummary>) {
    let out = tmp.join("runs");
    let script = common::fake_launcher(tmp);
    let launcher = Launcher {
        program: "env".into(),
        prefix_args: vec![
            format!("FAKE_LOG={}", tmp.join("fake.log").display()),
            "FAKE_SLEEP=0".into(),
            script.to_string_lossy().into_owned(),
        ],
    };
    let exp: Experiment = toml::from_str(EXPERIMENT).unwrap();
    let units = exp.units(&out).unwrap();
    let options = RunnerOptions {
        workers: 2,
        gpus: vec![],
        max_retries: 0,
        experiment: exp.name.clone(),
    };
    let done = runner::run_experiment(&units, &out, &launcher, &options, &|_| {}).unwrap();
    assert!(done.failed.is_empty(), "{:?}", done.failed);
    // Correlation files: one DARTS run at two one-shot epochs, one GDAS run at a single
    // epoch (a single point per line must still be drawn).
    for (run, epochs) in [
        ("optimizers/darts/space3/default/seed0", &[5usize, 15][..]),
        ("optimizers/gdas/space1/default/seed0", &[2][..]),
    ] {
        let dir = out.join(run).join("correlation");
        std::fs::create_dir_all(&dir).unwrap();
        for &epoch in epochs {
            let mut lines = String::new();
            for i in 0..20 {
                let x = ((i * 7) % 20) as f64;
                let rec = serde_json::json!({"hash": format!("a{i}"), "one_shot_error": 0.3 + 0.01 * x,
                    "nb101_test_error": {"4": 0.2 + 0.001 * i as f64, "108": 0.06 + 0.0001 * (x + epoch as f64 * i as f64)}});
                lines.push_str(&format!("{rec}\n"));
            }
            std::fs::write(dir.join(format!("epoch{epoch}.jsonl")), lines).unwrap();
        }
    }
    // A tiny BOHB tuning: budgets 1/2, two iterations (3 + 2 evaluations).
    let tuning = out.join("tune");
    let settings = nb1s1_bench::tune::TuneSettings {
        budgets: vec![1, 2],
        iterations: 2,
        ..nb1s1_bench::tune::TuneSettings::original(
            "darts",
            1,
            nb1s1_bench::tune::ConfigSpaceId::Cs1,
        )
    };
    let backend = common::tune_backend(tmp, &tuning, &tmp.join("tune.log"), "0");
    nb1s1_bench::tune::Tuner::open(settings, &tuning, Vec::new())
        .unwrap()
        .run(&backend, &|_| {})
        .unwrap();
    let mut store = Store::open(&tmp.join("results.sqlite")).unwrap();
    let summary = store.ingest_dir(&out).unwrap();
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    assert_eq!(summary.added, 12 + 4 + 12 + 5);
    external_run(&tmp.join("external/my-darts-s0"));
    let summary = store.ingest_dir(&tmp.join("external")).unwrap();
    assert_eq!((summary.added, summary.errors.len()), (1, 0), "{summary:?}");
    transfer_runs(&tmp.join("transfer"));
    let summary = store.ingest_dir(&tmp.join("transfer")).unwrap();
    assert_eq!((summary.added, summary.errors.len()), (4 * 6, 0));
    let report_dir = tmp.join("report");
    let pages = report::write_report(
        &store,
        &report_dir,
        &ReportOptions {
            plot_width: 420,
            plot_height: 280,
            ..Default::default()
        },
    )
    .unwrap();
    (report_dir, pages)
}

#[test]
fn report_pages_have_the_expected_plots() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, pages) = small_report(tmp.path());
    // For a look in a browser: NB1S1_KEEP_REPORT=<dir> keeps a copy of the pages.
    if let Some(keep) = std::env::var_os("NB1S1_KEEP_REPORT") {
        std::fs::create_dir_all(&keep).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, Path::new(&keep).join(path.file_name().unwrap())).unwrap();
        }
    }
    let plots: Vec<(&str, usize)> = pages.iter().map(|p| (p.file.as_str(), p.plots)).collect();
    assert_eq!(
        plots,
        vec![
            ("index.html", 0),
            // per space: a line per optimizer (and the recorded run in space 1) against epochs,
            // and the same beside the black-box baselines against time
            ("study-optimizers.html", 4),
            // the untagged recorded run: against epochs, and beside the baselines
            ("study-runs.html", 2),
            // the sweep's curves (one plot: 2 grid points), the same beside the baselines, and
            // its final regret against the weight decay read from the runs' config.toml
            ("study-weight-decay.html", 3),
            // darts/space 3: Spearman, Kendall, 2 scatters; gdas/space 1: the same, 1 scatter
            ("correlation.html", 7),
            ("oneshot-vs-blackbox.html", 2), // one per space
            ("distribution.html", 2),        // one per space with a correlation file
            ("tuning.html", 1),              // one tuning, a line per budget
            ("metrics.html", 2),             // GDAS' `tau`, one per space
            ("transfer.html", 3),            // space 3: heatmap, vs NB-101, vs one-shot
        ]
    );
    for p in &pages {
        let html = std::fs::read_to_string(dir.join(&p.file)).unwrap();
        assert_eq!(
            html.matches("<figure class=\"plot\"><svg").count(),
            p.plots,
            "{}",
            p.file
        );
        assert!(
            !html.contains("http://") || !html.contains("src=\"http"),
            "no network resources"
        );
    }
    let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert_eq!(
        index.matches("<svg class=\"cell\"").count(),
        5,
        "a best cell per optimizer and space"
    );
    let study = std::fs::read_to_string(dir.join("study-optimizers.html")).unwrap();
    assert!(study.contains("darts one-shot") && study.contains("gdas"));
    assert!(study.contains("search epoch") && study.contains("test regret (error"));
    // Beside the study's runs: the black-box baselines against time (both spaces), and the
    // recorded run in space 1 (its curve and its final-regret row).
    assert_eq!(
        study
            .matches("against time, beside the black-box baselines")
            .count(),
        2,
        "a time plot per space"
    );
    assert!(study.contains("re (black-box)") && study.contains("rs (black-box)"));
    assert!(
        study.contains("my-darts (external-recorded): test regret"),
        "the recorded run's curve"
    );
    let table = &study[study.find("<h2>Final regret</h2>").unwrap()..];
    for cell in [
        "<td>blackbox</td>",
        "<td>external-recorded</td>",
        "<td>recorded</td>",
        "<th>p_vs_best_holm</th>",
        "<th>best_in_space</th>",
        "<th>seeds_of_best</th>",
    ] {
        assert!(
            table.contains(cell),
            "study page's final regret lacks {cell}"
        );
    }
    // The recorded run's own study page shows the baselines of its space too.
    let runs = std::fs::read_to_string(dir.join("study-runs.html")).unwrap();
    assert!(runs.contains("re (black-box)") && runs.contains("my-darts"));
    // The statistics on the index: Holm, the best's seeds, and per study a Friedman test
    // before the ranking across spaces (darts and gdas share spaces 1 and 3; so do re and rs).
    assert!(index.contains("<th>p_vs_best_holm</th>") && index.contains("<th>seeds_of_best</th>"));
    assert!(index.contains("Ranking across spaces: study optimizers (oneshot)"));
    assert!(index.contains("Ranking across spaces: study blackbox (blackbox)"));
    assert!(
        index.contains("Friedman's test"),
        "Friedman's test before each ranking"
    );
    assert!(index.contains("<th>seeds_per_space</th>") && index.contains("space 1: 3, space 3: 3"));
    let sweep = std::fs::read_to_string(dir.join("study-weight-decay.html")).unwrap();
    assert!(
        sweep.contains("weights.weight_decay, space 1"),
        "the sweep plot"
    );
    // The single-epoch correlation run is drawn as markers.
    let corr = std::fs::read_to_string(dir.join("correlation.html")).unwrap();
    assert!(corr.contains("gdas, space 1, epoch 2") && corr.contains("<circle"));
    assert!(
        index.contains("Hessian") && index.contains("BOHB"),
        "missing figures named"
    );
    let tuning = std::fs::read_to_string(dir.join("tuning.html")).unwrap();
    assert!(
        tuning.contains("darts-space1-cs1") && tuning.contains("budget 2 epochs: 3 evaluations"),
        "the tuning page"
    );
    assert!(tuning.contains("tuning time (summed search seconds)"));
    let metrics = std::fs::read_to_string(dir.join("metrics.html")).unwrap();
    assert!(metrics.contains("tau, search space 1") && metrics.contains("gdas"));
    let data: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("data.json")).unwrap()).unwrap();
    assert_eq!(data["regret_curves"].as_array().unwrap().len(), 4 + 2 + 1);
    assert_eq!(data["tunings"][0]["evaluations"].as_u64(), Some(5));
    let sweeps = data["sweeps"].as_array().unwrap();
    assert_eq!(sweeps.len(), 1, "{sweeps:?}");
    let xs: Vec<f64> = sweeps[0]["lines"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_f64().unwrap())
        .collect();
    assert_eq!(xs, vec![1e-4, 81e-4]);
    assert_eq!(data["error_distributions"].as_array().unwrap().len(), 2);
    // Transfer: the largest network ranks the 6 cells exactly as NB-101 (Spearman 1), and
    // every cell meets its one-shot error in the DARTS run's last correlation file.
    let groups = data["transfer"].as_array().unwrap();
    assert_eq!(groups.len(), 4);
    let big = groups
        .iter()
        .find(|g| g["channels"] == 16 && g["cells"] == 2)
        .unwrap();
    assert!(
        (big["spearman_nb101"].as_f64().unwrap() - 1.0).abs() < 1e-12,
        "{big}"
    );
    assert_eq!(big["n_one_shot"], 6);
    let transfer = std::fs::read_to_string(dir.join("transfer.html")).unwrap();
    assert!(transfer.contains("Spearman with NB-101: transfer, space 3"));
    assert!(transfer.contains("cells per stack") && transfer.contains("1.00"));
}

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let out = Command::new("which").arg(name).output().ok()?;
            out.status
                .success()
                .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        });
    if found.is_none() {
        // CI must run the browser checks: scripts/test.sh installs Debian's chromium.
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing: the headless report checks need it (apt-get install chromium)"
        );
        eprintln!("SKIPPED (chromium absent): headless report check; apt-get install chromium");
    }
    found
}

/// Runs headless Chromium on a page; returns (stdout, stderr).
fn headless(chrome: &Path, profile: &Path, extra: &[&str], page: &Path) -> (String, String) {
    let out = Command::new("timeout")
        .arg("90")
        .arg(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn console_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") && (l.contains("Uncaught") || l.contains("Error")))
        .collect()
}

/// The value of the first `name="N"` attribute in the DOM.
fn attribute(dom: &str, name: &str) -> Option<usize> {
    let key = format!("{name}=\"");
    let at = dom.find(&key)? + key.len();
    dom[at..].split('"').next()?.parse().ok()
}

/// Every plot's `data-marks` count, in page order.
fn marks_per_plot(dom: &str) -> Vec<usize> {
    dom.split("data-marks=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next()?.parse().ok())
        .collect()
}

/// What the page script saw in the browser: (plots, plots with visible data marks, marks per
/// plot).
fn seen(chrome: &Path, profile: &Path, page: &Path) -> (Option<usize>, Option<usize>, Vec<usize>) {
    let (dom, stderr) = headless(chrome, profile, &["--dump-dom"], page);
    assert_eq!(
        console_errors(&stderr),
        Vec::<&str>::new(),
        "{}",
        page.display()
    );
    (
        attribute(&dom, "data-plots"),
        attribute(&dom, "data-plots-with-marks"),
        marks_per_plot(&dom),
    )
}

fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // Width and height from the IHDR chunk.
    let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
    (w, h)
}

/// Every page loads in headless Chromium without console errors, and every plot on it has
/// visible data marks (SVG elements in a series colour, inside the frame). The checks are
/// shown to fail: a script error is caught, and a page whose plots lost their data colours
/// counts as plots without marks. `NB1S1_REPORT_SCREENSHOTS=<dir>` keeps a screenshot of every
/// page (docs/report/ holds them).
#[test]
fn report_plots_show_data_in_headless_chromium() {
    let Some(chrome) = chromium() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (dir, pages) = small_report(tmp.path());

    let broken = dir.join("broken.html");
    std::fs::write(
        &broken,
        "<html><body><script>undefinedFunction();</script></body></html>",
    )
    .unwrap();
    let (_, stderr) = headless(&chrome, &tmp.path().join("p0"), &["--dump-dom"], &broken);
    assert!(
        !console_errors(&stderr).is_empty(),
        "a script error must be visible: {stderr}"
    );
    // Empty frames: the same page with every data colour turned black.
    let mut blank = std::fs::read_to_string(dir.join("study-optimizers.html")).unwrap();
    for c in nb1s1_bench::plots::palette_hex() {
        blank = blank.replace(&format!("\"{c}\""), "\"#000000\"");
    }
    std::fs::write(dir.join("blank.html"), blank).unwrap();
    let (plots, with_marks, marks) = seen(
        &chrome,
        &tmp.path().join("p-blank"),
        &dir.join("blank.html"),
    );
    assert_eq!(
        (plots, with_marks),
        (Some(4), Some(0)),
        "empty frames are caught"
    );
    assert_eq!(marks, vec![0, 0, 0, 0]);

    for (i, p) in pages.iter().enumerate() {
        let profile = tmp.path().join(format!("p{}", i + 1));
        let (plots, with_marks, marks) = seen(&chrome, &profile, &dir.join(&p.file));
        assert_eq!(plots, Some(p.plots), "{}: plots shown", p.file);
        assert_eq!(
            with_marks,
            Some(p.plots),
            "{}: plots with data {marks:?}",
            p.file
        );
        assert_eq!(marks.len(), p.plots, "{}", p.file);
    }

    let keep = std::env::var_os("NB1S1_REPORT_SCREENSHOTS").map(PathBuf::from);
    let shots: Vec<&report::PageSummary> = if keep.is_some() {
        pages.iter().collect()
    } else {
        pages
            .iter()
            .filter(|p| p.file == "study-optimizers.html")
            .collect()
    };
    for p in shots {
        let stem = p.file.trim_end_matches(".html");
        let shot = tmp.path().join(format!("{stem}.png"));
        headless(
            &chrome,
            &tmp.path().join(format!("shot-{stem}")),
            &[
                &format!("--screenshot={}", shot.display()),
                "--window-size=960,720",
            ],
            &dir.join(&p.file),
        );
        let png = std::fs::read(&shot).expect("screenshot written");
        assert_eq!(png_size(&png), (960, 720), "{}", p.file);
        assert!(png.len() > 5_000, "{}: more than a blank page", p.file);
        if let Some(keep) = &keep {
            std::fs::create_dir_all(keep).unwrap();
            std::fs::copy(&shot, keep.join(format!("{stem}.png"))).unwrap();
        }
    }
}

/// Runs made on a synthetic NAS-Bench-101 table are labelled SYNTHETIC on every page; runs on a
/// real table are not.
#[test]
fn synthetic_runs_are_labelled_on_every_page() {
    for synthetic in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let runs = tmp.path().join("runs");
        let run = runs.join("darts-seed0");
        common::write_oneshot_run(&run, "darts", 3, 0, &[0.05, 0.03]);
        std::fs::write(
            run.join("run.json"),
            serde_json::json!({"device": "cpu (test)", "nb101_synthetic": synthetic}).to_string(),
        )
        .unwrap();
        let mut store = Store::open(&tmp.path().join("results.sqlite")).unwrap();
        let summary = store.ingest_dir(&runs).unwrap();
        assert!(summary.errors.is_empty(), "{:?}", summary.errors);
        assert_eq!(store.synthetic_runs().unwrap(), u64::from(synthetic));
        let out = tmp.path().join("report");
        let pages = report::write_report(&store, &out, &ReportOptions::default()).unwrap();
        assert!(pages.len() >= 2);
        for p in &pages {
            let html = std::fs::read_to_string(out.join(&p.file)).unwrap();
            assert_eq!(html.contains("SYNTHETIC DATA"), synthetic, "{}", p.file);
        }
    }
}
