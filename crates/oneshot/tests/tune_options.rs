//! Tuning a method's own options: the range declared beside the option in `settings`, named
//! `part.key`, becomes a hyperparameter of the tuning space, and the sampled values reach the
//! search config of every evaluation.

use std::collections::BTreeMap;

use nb1s1_bench::tune::{ConfigSpaceId, TuneSettings, TunedOption, Tuner};
use oneshot::SearchConfig;

/// `names` of `method`'s options as a tuning would resolve them (`nb1s1 tune --option`).
fn resolve(method: &str, names: &[&str]) -> Result<Vec<TunedOption>, String> {
    let cfg = SearchConfig::defaults_for(method, 2)?;
    names
        .iter()
        .map(|n| {
            let (r, default) = cfg.tunable_option(n)?;
            Ok(TunedOption {
                name: n.to_string(),
                lower: r.lower,
                upper: r.upper,
                log: r.log,
                integer: r.integer,
                default,
            })
        })
        .collect()
}

#[test]
fn a_space_over_a_methods_own_options_builds_and_carries_the_values() {
    let options = resolve("beta_darts", &["beta_decay.lambda_max"]).unwrap();
    assert_eq!(
        options[0].default, 50.0,
        "the method's default (the authors' λ ramp to 50)"
    );
    assert!(options[0].log && options[0].lower > 0.0 && options[0].upper > 1.0);
    for (cs, first) in [(ConfigSpaceId::Cs1, 2), (ConfigSpaceId::None, 0)] {
        let settings = TuneSettings {
            base: Some("none".into()),
            options: options.clone(),
            ..TuneSettings::original("beta_darts", 2, cs)
        };
        assert!(settings.study().ends_with("+beta_decay.lambda_max"));
        let tmp = tempfile::tempdir().unwrap();
        let tuner = Tuner::open(settings, tmp.path(), Vec::new()).unwrap();
        let space = tuner.space();
        assert_eq!(space.len(), first + 1);
        let h = &space[first];
        assert_eq!(
            (h.name.as_str(), h.key.as_str()),
            ("beta_decay.lambda_max", "options.beta_decay.lambda_max")
        );
        // Sampled configurations: the value of every draw is in the run's config.
        for x in [0.0, 0.3, 0.77, 1.0] {
            let v = h.from_vector(x);
            assert!((h.lower..=h.upper).contains(&v));
            let values: BTreeMap<String, f64> = space
                .iter()
                .map(|p| (p.name.clone(), if p.name == h.name { v } else { p.default }))
                .collect();
            let table = tuner.search_config(&values, 1);
            let cfg =
                SearchConfig::from_toml(&toml::to_string(&table).unwrap(), "tune", None, None)
                    .unwrap();
            assert_eq!(cfg.optimizer, "beta_darts");
            assert_eq!(cfg.epochs, 1);
            let got = cfg.options["beta_decay"]["lambda_max"].as_float().unwrap();
            assert_eq!(got, v);
        }
    }
    // An integer option (SDARTS-ADV's PGD steps) is written as an integer.
    let steps = resolve(
        "sdarts_adv",
        &["adversarial.steps", "adversarial.epsilon_max"],
    )
    .unwrap();
    assert!(steps[0].integer && !steps[1].integer);
    let settings = TuneSettings {
        base: Some("none".into()),
        options: steps,
        ..TuneSettings::original("sdarts_adv", 2, ConfigSpaceId::None)
    };
    let tmp = tempfile::tempdir().unwrap();
    let tuner = Tuner::open(settings, tmp.path(), Vec::new()).unwrap();
    let values: BTreeMap<String, f64> = tuner
        .space()
        .iter()
        .map(|p| (p.name.clone(), p.from_vector(0.5)))
        .collect();
    let cfg = SearchConfig::from_toml(
        &toml::to_string(&tuner.search_config(&values, 2)).unwrap(),
        "t",
        None,
        None,
    )
    .unwrap();
    let s = &cfg.options["adversarial"];
    assert_eq!(
        s["steps"].as_integer(),
        Some(values["adversarial.steps"] as i64)
    );
    assert_eq!(
        s["epsilon_max"].as_float(),
        Some(values["adversarial.epsilon_max"])
    );
    // DrNAS' KL weight too.
    let kl = resolve("drnas", &["drnas_kl.reg_scale"]).unwrap();
    assert_eq!(kl[0].default, 1e-3);
}

#[test]
fn unknown_or_untunable_options_are_errors_that_name_them() {
    for (method, name, says) in [
        ("beta_darts", "lambda_max", "part.key"),
        ("beta_darts", "drnas_kl.reg_scale", "no part `drnas_kl`"),
        ("beta_darts", "beta_decay.lambda", "no option `lambda`"),
        (
            "darts_hessian",
            "hessian.iterations",
            "declares no tuning range",
        ),
        ("darts", "weights.lr", "no part `weights`"),
    ] {
        let e = resolve(method, &[name]).unwrap_err();
        assert!(e.contains(name) && e.contains(says), "{method} {name}: {e}");
    }
    // cs `none` with no option has nothing to tune.
    let tmp = tempfile::tempdir().unwrap();
    let settings = TuneSettings {
        base: Some("none".into()),
        ..TuneSettings::original("darts", 2, ConfigSpaceId::None)
    };
    let e = Tuner::open(settings, tmp.path(), Vec::new())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("nothing to tune"), "{e}");
}
