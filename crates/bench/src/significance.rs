//! Statistics for comparing methods on final regret (the paper's "statistically robust
//! conclusions"): a percentile bootstrap confidence interval of the mean over seeds, a two-sided
//! Mann–Whitney rank test of each method against the best one of its space with Holm's
//! correction over the space's tests, and a critical-difference ranking across spaces
//! (Friedman's test, then average ranks with Nemenyi's critical difference, Demšar 2006).
//! Everything is deterministic: the bootstrap has a fixed seed.

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

/// Holm's step-down adjustment of p-values for testing them as one family: the adjusted
/// p-values, in the given order (the i-th smallest times m − i + 1, made monotone, at most 1).
/// A hypothesis is rejected at level α when its adjusted p-value is at most α.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adjusted = vec![0.0; m];
    let mut running = 0.0f64;
    for (i, &at) in order.iter().enumerate() {
        running = running.max(((m - i) as f64 * p[at]).min(1.0));
        adjusted[at] = running;
    }
    adjusted
}

/// The Friedman test that k methods rank alike over N blocks (here: spaces).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Friedman {
    /// Friedman's χ² with the tie correction (as `scipy.stats.friedmanchisquare`).
    pub statistic: f64,
    /// Degrees of freedom, k − 1.
    pub df: usize,
    /// χ² approximation of the p-value.
    pub p_value: f64,
}

/// Friedman's test over `blocks`, each holding one value per method (the same methods in the
/// same order in every block; lower is better, ties share the average rank). `None` with fewer
/// than two blocks or methods, or when every block is one tie (nothing to rank).
pub fn friedman(blocks: &[Vec<f64>]) -> Option<Friedman> {
    let n = blocks.len();
    let k = blocks.first()?.len();
    if n < 2 || k < 2 || blocks.iter().any(|b| b.len() != k) {
        return None;
    }
    let mut rank_sums = vec![0.0; k];
    let mut ties = 0.0;
    for b in blocks {
        for (acc, r) in rank_sums.iter_mut().zip(crate::stats::average_ranks(b)) {
            *acc += r;
        }
        ties += tie_term(b);
    }
    let (nf, kf) = (n as f64, k as f64);
    let sum_sq: f64 = rank_sums.iter().map(|r| r * r).sum();
    let chi2 = 12.0 / (nf * kf * (kf + 1.0)) * sum_sq - 3.0 * nf * (kf + 1.0);
    let correction = 1.0 - ties / (nf * kf * (kf * kf - 1.0));
    if correction <= 0.0 {
        return None;
    }
    let statistic = (chi2 / correction).max(0.0);
    Some(Friedman {
        statistic,
        df: k - 1,
        p_value: chi2_sf(statistic, (k - 1) as f64),
    })
}

/// Σ (t³ − t) over the groups of tied values.
fn tie_term(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut sum = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let t = sorted[i..].iter().take_while(|&&x| x == sorted[i]).count();
        sum += (t as f64).powi(3) - t as f64;
        i += t;
    }
    sum
}

/// Survival function of the χ² distribution with `df` degrees of freedom.
pub fn chi2_sf(x: f64, df: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    gamma_q(df / 2.0, x / 2.0)
}

/// The regularized upper incomplete gamma function Q(a, x): its series below a + 1, Lentz's
/// continued fraction above (Numerical Recipes §6.2), to about 1e-14.
fn gamma_q(a: f64, x: f64) -> f64 {
    let log_front = a * x.ln() - x - ln_gamma(a);
    if x < a + 1.0 {
        let (mut term, mut sum, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..1000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        (1.0 - sum * log_front.exp()).clamp(0.0, 1.0)
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            d = if d.abs() < tiny { tiny } else { d };
            c = b + an / c;
            c = if c.abs() < tiny { tiny } else { c };
            d = 1.0 / d;
            let step = d * c;
            h *= step;
            if (step - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (log_front.exp() * h).clamp(0.0, 1.0)
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error about 1e-15).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let series = C[1..]
        .iter()
        .enumerate()
        .fold(C[0], |acc, (i, c)| acc + c / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + series.ln()
}

/// One method's mean final regret in one space, and the seeds it is the mean of.
#[derive(Debug, Clone, PartialEq)]
pub struct SpaceResult {
    pub method: String,
    pub space: u8,
    pub mean: f64,
    pub seeds: usize,
}

/// A method's place in a [`CdRanking`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RankedMethod {
    pub method: String,
    pub average_rank: f64,
    /// Seeds behind its mean in each ranked space, in the order of [`CdRanking::spaces`].
    pub seeds: Vec<usize>,
}

/// Average ranks of methods over the spaces that all of them were run on.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CdRanking {
    /// Best (lowest average rank) first.
    pub ranks: Vec<RankedMethod>,
    /// The spaces the ranking rests on.
    pub spaces: Vec<u8>,
    /// Friedman's test over those spaces, which should reject before the ranking is read as
    /// a difference (Demšar 2006); `None` when every space is one tie.
    pub friedman: Option<Friedman>,
    /// Nemenyi's critical difference at α = 0.05: methods whose average ranks differ by less
    /// are not significantly different.
    pub critical_difference: Option<f64>,
}

/// Ranks methods by their mean final regret in each space (1 = lowest; ties share the average
/// rank) and averages the ranks over the spaces every method shares, after Friedman's test
/// over those spaces. The caller passes the results of one comparison (one study): methods are
/// told apart by name only. `None` when fewer than two methods share at least two spaces.
pub fn cd_ranking(results: &[SpaceResult]) -> Option<CdRanking> {
    let mut methods: Vec<&str> = results.iter().map(|m| m.method.as_str()).collect();
    methods.sort_unstable();
    methods.dedup();
    let mut spaces: Vec<u8> = results.iter().map(|m| m.space).collect();
    spaces.sort_unstable();
    spaces.dedup();
    let find = |m: &str, s: u8| results.iter().find(|x| x.method == m && x.space == s);
    // Spaces where every method has a value.
    spaces.retain(|&s| methods.iter().all(|m| find(m, s).is_some()));
    if methods.len() < 2 || spaces.len() < 2 {
        return None;
    }
    let blocks: Vec<Vec<f64>> = spaces
        .iter()
        .map(|&s| {
            methods
                .iter()
                .map(|m| find(m, s).map_or(f64::NAN, |x| x.mean))
                .collect()
        })
        .collect();
    let mut sum = vec![0.0; methods.len()];
    for b in &blocks {
        for (acc, r) in sum.iter_mut().zip(crate::stats::average_ranks(b)) {
            *acc += r;
        }
    }
    let mut ranks: Vec<RankedMethod> = methods
        .iter()
        .zip(sum)
        .map(|(m, s)| RankedMethod {
            method: m.to_string(),
            average_rank: s / spaces.len() as f64,
            seeds: spaces
                .iter()
                .map(|&sp| find(m, sp).map_or(0, |x| x.seeds))
                .collect(),
        })
        .collect();
    ranks.sort_by(|a, b| {
        a.average_rank
            .total_cmp(&b.average_rank)
            .then(a.method.cmp(&b.method))
    });
    let k = ranks.len();
    let critical_difference = NEMENYI_Q05
        .get(k - 2)
        .map(|q| q * (k as f64 * (k as f64 + 1.0) / (6.0 * spaces.len() as f64)).sqrt());
    Some(CdRanking {
        ranks,
        friedman: friedman(&blocks),
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

    fn result(method: &str, space: u8, mean: f64) -> SpaceResult {
        SpaceResult {
            method: method.to_string(),
            space,
            mean,
            seeds: 3 + space as usize,
        }
    }

    #[test]
    fn cd_ranking_averages_ranks_over_shared_spaces() {
        let m = result;
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
        assert_eq!(
            (cd.ranks[0].method.as_str(), cd.ranks[0].average_rank),
            ("re", 1.0)
        );
        assert_eq!(
            (cd.ranks[2].method.as_str(), cd.ranks[2].average_rank),
            ("rs", 3.0)
        );
        // The seeds behind each mean, per ranked space.
        assert_eq!(cd.ranks[0].seeds, [4, 5]);
        let want = 2.343 * (3.0 * 4.0 / 12.0f64).sqrt();
        assert!((cd.critical_difference.unwrap() - want).abs() < 1e-12);
        // Friedman over spaces 1 and 2: ranks (2,1,3) twice, χ² = 12/(2·3·4)·(16+4+36) − 3·2·4
        // = 4, p = exp(−2) (χ² with 2 degrees of freedom).
        let f = cd.friedman.clone().unwrap();
        assert!((f.statistic - 4.0).abs() < 1e-12, "{f:?}");
        assert_eq!(f.df, 2);
        assert!((f.p_value - (-2.0f64).exp()).abs() < 1e-12, "{f:?}");
        assert_eq!(cd_ranking(&means[..3]), None);
    }

    #[test]
    fn friedman_matches_scipy() {
        // scipy 1.17.1: friedmanchisquare(a, b, c) over 4 blocks, with ties in two of them:
        // statistic 4.428571428571429, p 0.10923150889627105.
        let (a, b, c) = (
            [0.02, 0.03, 0.01, 0.05],
            [0.01, 0.01, 0.02, 0.03],
            [0.03, 0.04, 0.02, 0.05],
        );
        let blocks: Vec<Vec<f64>> = (0..4).map(|i| vec![a[i], b[i], c[i]]).collect();
        let f = friedman(&blocks).unwrap();
        assert!((f.statistic - 4.428571428571429).abs() < 1e-12, "{f:?}");
        assert!((f.p_value - 0.10923150889627105).abs() < 1e-12, "{f:?}");
        // 4 methods in the same order in 5 blocks: 15.0, p 0.0018166489665723214.
        let blocks: Vec<Vec<f64>> = (0..5)
            .map(|i| {
                let i = i as f64;
                vec![1.0 + i, 2.0 + i, 3.0 + i, i]
            })
            .collect();
        let f = friedman(&blocks).unwrap();
        assert!((f.statistic - 15.0).abs() < 1e-12, "{f:?}");
        assert!((f.p_value - 0.0018166489665723214).abs() < 1e-12, "{f:?}");
        // Nothing to rank: every block one tie; one block; blocks of other sizes.
        assert_eq!(friedman(&[vec![1.0, 1.0], vec![2.0, 2.0]]), None);
        assert_eq!(friedman(&[vec![1.0, 2.0]]), None);
        assert_eq!(friedman(&[vec![1.0, 2.0], vec![1.0]]), None);
    }

    #[test]
    fn chi2_survival_matches_scipy() {
        // scipy.stats.chi2.sf(x, df), scipy 1.17.1.
        for (x, df, want) in [
            (0.5, 1.0, 0.47950012218695337),
            (3.0, 2.0, 0.22313016014842982),
            (7.8, 3.0, 0.050331097859853326),
            (12.0, 5.0, 0.03478778050624185),
            (1e-3, 4.0, 0.9999998750416589),
            (40.0, 9.0, 7.598525229464264e-06),
        ] {
            let got = chi2_sf(x, df);
            assert!(
                (got - want).abs() <= 1e-10 * want,
                "chi2.sf({x}, {df}) = {got}, scipy {want}"
            );
        }
        assert_eq!(chi2_sf(0.0, 3.0), 1.0);
    }

    #[test]
    fn holm_adjusts_step_down_as_by_hand() {
        // Sorted 0.005, 0.01, 0.03, 0.04 (m = 4): 4·0.005 = 0.02, 3·0.01 = 0.03, 2·0.03 = 0.06,
        // 1·0.04 = 0.04 → 0.06 (monotone). In the given order:
        let adj = holm(&[0.01, 0.04, 0.03, 0.005]);
        let want = [0.03, 0.06, 0.06, 0.02];
        for (g, w) in adj.iter().zip(want) {
            assert!((g - w).abs() < 1e-15, "{adj:?}");
        }
        // Capped at 1; a single test is unchanged; ties keep equal values.
        assert_eq!(holm(&[0.6, 0.7]), vec![1.0, 1.0]);
        assert_eq!(holm(&[0.2]), vec![0.2]);
        assert_eq!(holm(&[0.01, 0.01]), vec![0.02, 0.02]);
        assert!(holm(&[]).is_empty());
    }
}
