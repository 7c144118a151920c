//! Fuzzing the search-config parser (#13): TOML built from the real keys with hostile values,
//! and plain garbage, never panics; what it accepts validates and round-trips.

use oneshot::SearchConfig;
use proptest::prelude::*;

const KEYS: &[&str] = &[
    "epochs",
    "seed",
    "space",
    "divergence_loss",
    "weights.lr",
    "weights.lr_min",
    "weights.momentum",
    "weights.weight_decay",
    "weights.grad_clip",
    "arch.lr",
    "arch.beta1",
    "arch.beta2",
    "arch.weight_decay",
    "arch.warm_start_epochs",
    "arch.grad_clip",
    "arch.tau_max",
    "arch.tau_min",
    "data.batch_size",
    "data.train_images",
    "data.cutout_prob",
    "data.cutout_length",
    "model.init_channels",
    "model.layers",
    "controller.hidden",
    "selection.top_k",
    "correlation.batch_size",
    "correlation.epochs",
    "options.every",
    "nonsense.key",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("-inf".to_string()),
        Just("18446744073709551615".to_string()),
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("\"text\"".to_string()),
        Just("[1, 2, 99999999]".to_string()),
        any::<i32>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| format!("{v:?}")),
        (0.0f64..2.0).prop_map(|v| format!("{v:?}")),
    ]
}

fn config_text() -> impl Strategy<Value = String> {
    prop::collection::vec((prop::sample::select(KEYS), value()), 0..6).prop_map(|kv| {
        let mut top = String::new();
        let mut tables = std::collections::BTreeMap::<&str, String>::new();
        for (k, v) in kv {
            match k.split_once('.') {
                Some((t, key)) => tables
                    .entry(t)
                    .or_default()
                    .push_str(&format!("{key} = {v}\n")),
                None => top.push_str(&format!("{k} = {v}\n")),
            }
        }
        for (t, body) in tables {
            top.push_str(&format!("[{t}]\n{body}"));
        }
        top
    })
}

fn check(text: &str, optimizer: &str) {
    if let Ok(cfg) = SearchConfig::from_toml(text, "fuzz.toml", Some(optimizer), Some(1)) {
        cfg.validate().expect("an accepted config validates");
        let again = SearchConfig::from_toml(&cfg.to_toml(), "again", None, None).unwrap();
        assert_eq!(again, cfg);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn keyed_hostile_values_never_panic(text in config_text(), opt in prop::sample::select(oneshot::registry::names())) {
        check(&text, opt);
    }

    #[test]
    fn garbage_never_panics(text in "\\PC{0,200}") {
        check(&text, "darts");
    }
}
