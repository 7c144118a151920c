//! Per-epoch schedules: the cosine learning rate, GDAS' temperature τ and the cutout ramp, each
//! with the original code's defect available behind a flag (spec §9).

use std::f64::consts::PI;

/// Cosine annealing from `lr_max` to `lr_min` over `epochs` (PyTorch `CosineAnnealingLR`).
///
/// `t` counts epochs, or minibatches for ENAS' faithful per-batch stepping.
pub fn cosine_lr(t: f64, period: f64, lr_max: f64, lr_min: f64) -> f64 {
    if period <= 0.0 {
        return lr_max;
    }
    lr_min + 0.5 * (lr_max - lr_min) * (1.0 + (PI * t / period).cos())
}

/// The learning rate used during `epoch`: the intended schedule starts at `lr_max` in epoch 0;
/// the faithful one reproduces `train_search.py`'s call order, which is one epoch ahead.
pub fn epoch_lr(
    epoch: usize,
    epochs: usize,
    lr_max: f64,
    lr_min: f64,
    faithful_shift: bool,
) -> f64 {
    let t = if faithful_shift { epoch + 1 } else { epoch };
    cosine_lr(t as f64, epochs as f64, lr_max, lr_min)
}

/// GDAS temperature during `epoch`: linear from `tau_max` toward `tau_min`,
/// τ_e = τ_max − (τ_max − τ_min)·e/E.
pub fn gdas_tau(epoch: usize, epochs: usize, tau_max: f64, tau_min: f64) -> f64 {
    if epochs == 0 {
        return tau_max;
    }
    tau_max - (tau_max - tau_min) * epoch as f64 / epochs as f64
}

/// Cutout probability during `epoch`: the intended linear ramp `p·e/(E−1)`, or the faithful
/// constant `p` (the original ramp assigned to an attribute nobody read).
pub fn cutout_prob(epoch: usize, epochs: usize, prob: f64, faithful_constant: bool) -> f64 {
    if faithful_constant || epochs <= 1 {
        prob
    } else {
        prob * epoch as f64 / (epochs - 1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_ends_and_shift() {
        assert!((epoch_lr(0, 50, 0.025, 0.001, false) - 0.025).abs() < 1e-12);
        assert!((cosine_lr(50.0, 50.0, 0.025, 0.001) - 0.001).abs() < 1e-12);
        let shifted = epoch_lr(0, 50, 0.025, 0.001, true);
        assert!(shifted < 0.025 && (shifted - epoch_lr(1, 50, 0.025, 0.001, false)).abs() < 1e-15);
    }

    #[test]
    fn tau_goes_from_ten_toward_one() {
        assert_eq!(gdas_tau(0, 100, 10.0, 1.0), 10.0);
        assert!((gdas_tau(99, 100, 10.0, 1.0) - (10.0 - 9.0 * 99.0 / 100.0)).abs() < 1e-12);
    }

    #[test]
    fn cutout_ramp_intended_vs_faithful() {
        assert_eq!(cutout_prob(0, 11, 0.5, false), 0.0);
        assert!((cutout_prob(10, 11, 0.5, false) - 0.5).abs() < 1e-12);
        assert_eq!(cutout_prob(0, 11, 0.5, true), 0.5);
    }
}
