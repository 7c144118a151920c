//! Run folders written before the methods' settings moved from a flat `[options]` table to
//! `[options.<part>]` (darts_hessian, darts_es, sdarts_rs, sdarts_adv, drnas) still load,
//! resume bit-identically and are refused with a typed error where a key has no new home.

mod common;

use oneshot::{OneShotError, RunStatus, SearchConfig, SearchOptions};

/// The old `[options]` of each method, with the key names of its settings structs before the
/// composition (git history: `HessianConfig`, `DartsEsConfig` with its nested `hessian`,
/// `SdartsConfig`, `DrnasConfig`), values changed from the defaults so a lost key would show.
const OLD: &[(&str, &str)] = &[
    (
        "darts_hessian",
        "every = 2\nbatches = 3\niterations = 7\ntolerance = 0.01\n",
    ),
    (
        "darts_es",
        "window = 2\nlag = 3\nthreshold = 0.5\nbacktrack = false\n\
         [options.hessian]\nevery = 1\nbatches = 2\niterations = 4\ntolerance = 0.001\n",
    ),
    (
        "sdarts_rs",
        "epsilon_min = 0.01\nepsilon_max = 0.2\nsteps = 3\n",
    ),
    (
        "sdarts_adv",
        "epsilon_min = 0.02\nepsilon_max = 0.25\nsteps = 5\n",
    ),
    ("drnas", "reg_scale = 0.005\nprior = 2.0\n"),
];

/// `cfg` as the config.toml of a run folder of the old layout: no `[method]`, and `options`
/// (the old flat keys) in place of `[options.<part>]`.
fn old_layout(cfg: &SearchConfig, options: &str) -> String {
    let mut t: toml::Table = cfg.to_toml().parse().unwrap();
    t.remove("method");
    t.remove("options");
    format!("{}\n[options]\n{options}", toml::to_string(&t).unwrap())
}

fn option(cfg: &SearchConfig, part: &str, key: &str) -> toml::Value {
    cfg.options[part][key].clone()
}

#[test]
fn every_old_flat_key_moves_to_its_part_with_its_value() {
    for (method, options) in OLD {
        let defaults = SearchConfig::defaults_for(method, 2).unwrap();
        let text = old_layout(&defaults, options);
        let cfg = SearchConfig::from_toml(&text, "old/config.toml", None, None)
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        assert_eq!(cfg.method, defaults.method, "{method}");
        let old: toml::Table = format!("[options]\n{options}").parse().unwrap();
        let old = old["options"].as_table().unwrap();
        for (key, value) in old {
            match value.as_table() {
                // DARTS-ES' nested [options.hessian] was already where it is now.
                Some(t) => assert_eq!(cfg.options[key].as_table().unwrap(), t, "{method}"),
                None => {
                    let part = cfg
                        .options
                        .iter()
                        .find(|(_, t)| t.as_table().unwrap().contains_key(key))
                        .map(|(p, _)| p.clone())
                        .unwrap_or_else(|| panic!("{method}: `{key}` lost"));
                    assert_eq!(&option(&cfg, &part, key), value, "{method}.{key}");
                }
            }
        }
        // Written again it is the new layout, and loads to the same configuration.
        let again = SearchConfig::from_toml(&cfg.to_toml(), "new", None, None).unwrap();
        assert_eq!(again, cfg, "{method}");
    }
    let sdarts = SearchConfig::from_toml(
        &old_layout(
            &SearchConfig::defaults_for("sdarts_adv", 1).unwrap(),
            OLD[3].1,
        ),
        "x",
        None,
        None,
    )
    .unwrap();
    assert_eq!(
        option(&sdarts, "adversarial", "steps"),
        toml::Value::Integer(5)
    );
    assert_eq!(
        option(&sdarts, "adversarial", "epsilon_max"),
        toml::Value::Float(0.25)
    );
}

#[test]
fn an_old_key_without_a_new_home_is_a_typed_error_naming_it() {
    let drnas = SearchConfig::defaults_for("drnas", 1).unwrap();
    let e = SearchConfig::from_toml(
        &old_layout(&drnas, "reg_scale = 0.1\nepsilon_min = 0.1\n"),
        "run/config.toml",
        None,
        None,
    )
    .unwrap_err();
    match &e {
        OneShotError::OldOption { file, method, key } => {
            assert_eq!(
                (file.as_str(), method.as_str()),
                ("run/config.toml", "drnas")
            );
            assert_eq!(key, "epsilon_min");
        }
        other => panic!("expected OldOption, got {other}"),
    }
    // A method that never had flat options (beta_darts came with [options.<part>]).
    let beta = SearchConfig::defaults_for("beta_darts", 1).unwrap();
    let e = SearchConfig::from_toml(&old_layout(&beta, "lambda_max = 2.0\n"), "b", None, None)
        .unwrap_err();
    assert!(
        matches!(&e, OneShotError::OldOption { key, .. } if key == "lambda_max"),
        "{e}"
    );
    // Out-of-range values are still refused after the move, named by part and key.
    let e = SearchConfig::from_toml(&old_layout(&drnas, "prior = -1.0\n"), "c", None, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("drnas_kl") && e.contains("prior"), "{e}");
}

/// DARTS-ES (hook state: the eigenvalue history) stopped after one epoch, its config.toml
/// rewritten in the old layout, resumed from that file: the same checkpoint and records as an
/// uninterrupted run.
#[test]
fn an_old_run_folder_resumes_bit_identically() {
    let _torch = common::torch_lock();
    let mut cfg = common::tiny_registered("darts_es", 2);
    cfg.epochs = 2;
    cfg.data.train_images = 16;
    cfg.data.valid_images = 16;
    common::set_option(&mut cfg, "hessian", "iterations", 3.into());
    common::set_option(&mut cfg, "hessian", "tolerance", 1e-2.into());
    let data = common::synthetic_data(48, 16);
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let oracle = Some(&common::FakeTable as &dyn oneshot::Nb101Oracle);
    oneshot::run_search(&cfg, &data, oracle, &a, &common::cpu_options()).unwrap();
    let stop = SearchOptions {
        stop_after: Some(1),
        ..common::cpu_options()
    };
    oneshot::run_search(&cfg, &data, oracle, &b, &stop).unwrap();
    let es = &cfg.options["early_stop"];
    let flat: String = es
        .as_table()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k} = {v}\n"))
        .collect();
    let hessian = toml::to_string(cfg.options["hessian"].as_table().unwrap()).unwrap();
    let old = old_layout(&cfg, &format!("{flat}[options.hessian]\n{hessian}"));
    assert!(!old.contains("[method]") && !old.contains("[options.early_stop]"));
    std::fs::write(b.join("config.toml"), &old).unwrap();
    let loaded = SearchConfig::load(Some(&b.join("config.toml")), None, None).unwrap();
    assert_eq!(loaded, cfg);
    let resume = SearchOptions {
        resume: true,
        ..common::cpu_options()
    };
    let rest = oneshot::run_search(&loaded, &data, oracle, &b, &resume).unwrap();
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
    // The folder's config.toml is the new layout now.
    let now = std::fs::read_to_string(b.join("config.toml")).unwrap();
    assert!(now.contains("[options.early_stop]"), "{now}");
}
