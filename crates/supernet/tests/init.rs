//! Weight initialization by the statistics of freshly built networks: PyTorch's default
//! (kaiming_uniform with a = √5, U(−1/√fan_in, 1/√fan_in), what the original code got) unless
//! `weight_init = "tch"` asks for tch's Kaiming-uniform (bound √(6/fan_in)).

use searchspace::SpaceId;
use supernet::{Supernet, SupernetConfig, WeightInit};
use tch::{nn, Device, Kind};

/// Every convolution and linear weight (and the classifier bias) scaled by √fan_in, so that
/// PyTorch's default gives U(−1, 1) whatever the layer: (name, fan_in, scaled values).
fn scaled_weights(
    init: WeightInit,
    space: SpaceId,
    partial: Option<i64>,
) -> Vec<(String, Vec<f64>)> {
    let cfg = SupernetConfig {
        init_channels: 8,
        layers: 3,
        partial_channels: partial,
        weight_init: init,
        channels_last: Some(false),
        ..SupernetConfig::for_space(space)
    };
    let vs = nn::VarStore::new(Device::Cpu);
    Supernet::new(&vs.root(), &cfg).unwrap();
    let mut out = Vec::new();
    let mut vars: Vec<_> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, t) in vars {
        let size = t.size();
        let fan_in = match (size.len(), name.as_str()) {
            (4, _) => size[1] * size[2] * size[3],
            (2, _) => size[1],
            (1, "classifier.bias") => cfg.init_channels * 4,
            _ => continue,
        };
        let v: Vec<f64> = Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).unwrap();
        let s = (fan_in as f64).sqrt();
        out.push((name, v.into_iter().map(|x| x * s).collect()));
    }
    out
}

fn variance(xs: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n
}

#[test]
fn default_init_is_pytorchs_bound_and_variance() {
    for (space, partial) in [(SpaceId::One, None), (SpaceId::Three, Some(4))] {
        let layers = scaled_weights(WeightInit::Pytorch, space, partial);
        // Stem, per cell N+1 projections and 2N block convs, head conv, classifier (+ bias).
        assert!(layers.len() > 20, "{}", layers.len());
        let mut pooled = Vec::new();
        for (name, v) in &layers {
            let max = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            assert!(max <= 1.0 + 1e-6, "{name}: |w|·√fan_in reaches {max}");
            if v.len() >= 1000 {
                // A layer this size fills its interval: U(−1, 1) has variance 1/3.
                assert!(max > 0.95, "{name}: max {max}");
                let var = variance(v);
                assert!((var - 1.0 / 3.0).abs() < 0.05, "{name}: variance {var}");
            }
            pooled.extend_from_slice(v);
        }
        // Tolerances are several standard errors wide (sd of x² under U(−1, 1) is 0.3).
        let n = pooled.len() as f64;
        assert!(n > 10_000.0, "{n}");
        let var = variance(&pooled);
        assert!(
            (var - 1.0 / 3.0).abs() < 6.0 * 0.3 / n.sqrt(),
            "pooled variance {var} over {n}"
        );
        let mean = pooled.iter().sum::<f64>() / n;
        assert!(mean.abs() < 6.0 * 0.58 / n.sqrt(), "pooled mean {mean}");
    }
}

#[test]
fn tch_init_is_kaiming_relu_and_wider() {
    let layers = scaled_weights(WeightInit::Tch, SpaceId::Two, None);
    let mut pooled = Vec::new();
    for (name, v) in &layers {
        let max = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let bound = if name == "classifier.bias" {
            1.0
        } else {
            6f64.sqrt()
        };
        assert!(max <= bound + 1e-6, "{name}: {max} > {bound}");
        if name != "classifier.bias" {
            pooled.extend_from_slice(v);
        }
    }
    // U(−√6, √6) has variance 2: six times PyTorch's default.
    let var = variance(&pooled);
    assert!((var - 2.0).abs() < 0.15, "pooled variance {var}");
}

#[test]
fn weight_init_is_a_named_config_option() {
    let cfg: SupernetConfig = serde_json::from_str(r#"{"weight_init": "tch"}"#).unwrap();
    assert_eq!(cfg.weight_init, WeightInit::Tch);
    assert_eq!(SupernetConfig::default().weight_init, WeightInit::Pytorch);
    assert!(serde_json::from_str::<SupernetConfig>(r#"{"weight_init": "xavier"}"#).is_err());
}
