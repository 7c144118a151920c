//! Statistics for comparing methods on final regret (the paper's "statistically robust
//! conclusions"): a percentile bootstrap confidence interval of the mean over seeds, a two-sided
//! Mann–Whitney rank test of each method against the best one of its space, and a
//! critical-difference ranking across spaces (Friedman average ranks with Nemenyi's critical
//! difference, Demšar 2006). Everything is deterministic: the bootstrap has a fixed seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Resamples of the bootstrap.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// A two-sided 95 % percentile bootstrap interval of the mean of `values` (`None` for fewer
/// than two values: one seed has no spread to resample).
pub fn bootstrap_ci95(values: &[f64]) -> Option<(f64, f64)> {
    let n = values.len();
    if n < 2 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0x6e_6231_7331);
    let mut means: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
        .map(|_| (0..n).map(|_| values[rng.gen_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * (BOOTSTRAP_RESAMPLES - 1) as f64).round()) as usize];
    Some((at(0.025), at(0.975)))
}

/// Splits examined exactly before the test falls back to the normal approximation.
const EXACT_SPLITS: u64 = 200_000;

/// Two-sided p-value of the Mann–Whitney U test that `a` and `b` come from one distribution:
/// exact (every split of the pooled values, ties included) when there are at most
/// [`EXACT_SPLITS`] splits, else the normal approximation with the tie correction. `None`
/// when either sample is empty.
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> Option<f64> {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    let ranks = crate::stats::average_ranks(&pooled);
    let r1: f64 = ranks[..n1].iter().sum();
    let expected = n1 as f64 * (pooled.len() + 1) as f64 / 2.0;
    let observed = (r1 - expected).abs();
    if binomial(pooled.len() as u64, n1 as u64) <= EXACT_SPLITS {
        let (mut extreme, mut total) = (0u64, 0u64);
        for_each_subset(pooled.len(), n1, &mut |subset| {
            let s: f64 = subset.iter().map(|&i| ranks[i]).sum();
            total += 1;
            if (s - expected).abs() >= observed - 1e-9 {
                extreme += 1;
            }
        });
        return Some(extreme as f64 / total as f64);
    }
    // Normal approximation: variance of the rank sum with ties.
    let n = pooled.len() as f64;
    let mut sorted = pooled.clone();
    sorted.sort_by(f64::total_cmp);
    let mut ties = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let j = sorted[i..].iter().take_while(|&&x| x == sorted[i]).count();
        ties += (j as f64).powi(3) - j as f64;
        i += j;
    }
    let var = n1 as f64 * n2 as f64 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    if var <= 0.0 {
        return Some(1.0);
    }
    let z = (observed - 0.5).max(0.0) / var.sqrt();
    Some((2.0 * normal_sf(z)).min(1.0))
}

fn binomial(n: u64, k: u64) -> u64 {
    let k = k.min(n - k);
    let mut r: u64 = 1;
    for i in 0..k {
        r = r.saturating_mul(n - i) / (i + 1);
        if r > EXACT_SPLITS * 10 {
            return u64::MAX;
        }
    }
    r
}

/// Calls `f` with every `k`-subset of `0..n` (lexicographic).
fn for_each_subset(n: usize, k: usize, f: &mut dyn FnMut(&[usize])) {
    let mut idx: Vec<usize> = (0..k).collect();
    loop {
        f(&idx);
        let Some(i) = (0..k).rev().find(|&i| idx[i] != i + n - k) else {
            return;
        };
        idx[i] += 1;
        for j in i + 1..k {
            idx[j] = idx[j - 1] + 1;
        }
    }
}

/// The standard normal survival function (Abramowitz–Stegun 7.1.26 for erfc; error < 1.5e-7).
fn normal_sf(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    0.5 * poly * (-x * x).exp()
}

/// Nemenyi's two-tailed critical values q₀.₀₅ for 2..=10 methods (Demšar 2006, table 5a).
const NEMENYI_Q05: [f64; 9] = [
    1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164,
];

/// Average ranks of methods over the spaces that all of them were run on.
#[derive(Debug, Clone, PartialEq)]
pub struct CdRanking {
    /// (method, average rank), best (lowest) first.
    pub ranks: Vec<(String, f64)>,
    /// The spaces the ranking rests on.
    pub spaces: Vec<u8>,
    /// Nemenyi's critical difference at α = 0.05: methods whose average ranks differ by less
    /// are not significantly different.
    pub critical_difference: Option<f64>,
}

/// Ranks methods by their mean final regret in each space (1 = lowest; ties share the average
/// rank) and averages the ranks over the spaces every method shares. `means` holds (method,
/// space, mean final regret). `None` when fewer than two methods share at least two spaces.
pub fn cd_ranking(means: &[(String, u8, f64)]) -> Option<CdRanking> {
    let mut methods: Vec<String> = means.iter().map(|m| m.0.clone()).collect();
    methods.sort();
    methods.dedup();
    let mut spaces: Vec<u8> = means.iter().map(|m| m.1).collect();
    spaces.sort_unstable();
    spaces.dedup();
    let value = |m: &str, s: u8| means.iter().find(|x| x.0 == m && x.1 == s).map(|x| x.2);
    // Spaces where every method has a value.
    spaces.retain(|&s| methods.iter().all(|m| value(m, s).is_some()));
    if methods.len() < 2 || spaces.len() < 2 {
        return None;
    }
    let mut sum = vec![0.0; methods.len()];
    for &s in &spaces {
        let v: Vec<f64> = methods
            .iter()
            .map(|m| value(m, s).unwrap_or(f64::NAN))
            .collect();
        for (acc, r) in sum.iter_mut().zip(crate::stats::average_ranks(&v)) {
            *acc += r;
        }
    }
    let mut ranks: Vec<(String, f64)> = methods
        .into_iter()
        .zip(sum)
        .map(|(m, s)| (m, s / spaces.len() as f64))
        .collect();
    ranks.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    let k = ranks.len();
    let critical_difference = NEMENYI_Q05
        .get(k - 2)
        .map(|q| q * (k as f64 * (k as f64 + 1.0) / (6.0 * spaces.len() as f64)).sqrt());
    Some(CdRanking {
        ranks,
        spaces,
        critical_difference,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_interval_brackets_the_mean_and_is_deterministic() {
        let v = [0.01, 0.02, 0.015, 0.03, 0.012];
        let (lo, hi) = bootstrap_ci95(&v).unwrap();
        let mean = v.iter().sum::<f64>() / 5.0;
        assert!(
            lo < mean && mean < hi && lo >= 0.01 && hi <= 0.03,
            "{lo} {hi}"
        );
        assert_eq!(bootstrap_ci95(&v), Some((lo, hi)));
        assert_eq!(bootstrap_ci95(&[0.5]), None);
        assert_eq!(bootstrap_ci95(&[0.5, 0.5]), Some((0.5, 0.5)));
    }

    #[test]
    fn mann_whitney_matches_scipy() {
        // scipy.stats.mannwhitneyu(a, b, method="exact").pvalue == 2/C(6,3) = 0.1 for full
        // separation of 3 vs 3; 2/C(10,5) = 0.0079365 for 5 vs 5.
        let p = mann_whitney_p(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap();
        assert!((p - 0.1).abs() < 1e-12, "{p}");
        let p = mann_whitney_p(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]).unwrap();
        assert!((p - 2.0 / 252.0).abs() < 1e-12, "{p}");
        // Identical samples: nothing to tell apart.
        assert_eq!(mann_whitney_p(&[1.0, 1.0], &[1.0, 1.0]), Some(1.0));
        assert_eq!(mann_whitney_p(&[], &[1.0]), None);
        // Large samples use the normal approximation: full separation of 20 vs 20 is tiny.
        let a: Vec<f64> = (0..20).map(f64::from).collect();
        let b: Vec<f64> = (20..40).map(f64::from).collect();
        let p = mann_whitney_p(&a, &b).unwrap();
        assert!(p < 1e-6, "{p}");
        let p_same = mann_whitney_p(&a, &a).unwrap();
        assert!(p_same > 0.9, "{p_same}");
    }

    #[test]
    fn cd_ranking_averages_ranks_over_shared_spaces() {
        let m = |name: &str, s: u8, v: f64| (name.to_string(), s, v);
        let means = [
            m("darts", 1, 0.02),
            m("darts", 2, 0.03),
            m("darts", 3, 0.01),
            m("re", 1, 0.01),
            m("re", 2, 0.01),
            m("re", 3, 0.02),
            m("rs", 1, 0.03),
            m("rs", 2, 0.04),
        ];
        let cd = cd_ranking(&means).unwrap();
        // rs lacks space 3: only spaces 1 and 2 are shared.
        assert_eq!(cd.spaces, [1, 2]);
        assert_eq!(cd.ranks[0], ("re".to_string(), 1.0));
        assert_eq!(cd.ranks[2], ("rs".to_string(), 3.0));
        let want = 2.343 * (3.0 * 4.0 / 12.0f64).sqrt();
        assert!((cd.critical_difference.unwrap() - want).abs() < 1e-12);
        assert_eq!(cd_ranking(&means[..3]), None);
    }
}
