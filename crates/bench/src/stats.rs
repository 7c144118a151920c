//! Aggregation arithmetic of the protocol (spec §4): mean and standard error over seeds, and the
//! rank correlations (Spearman, Kendall tau-b) between one-shot and stand-alone errors.
//!
//! Ties are handled exactly: Spearman uses average ranks, Kendall uses the tau-b normalisation,
//! computed with Knight's O(n log n) algorithm so all 55,854 models of space 3 are cheap.

use crate::error::{BenchError, Result};

/// Mean and standard error of a sample (the paper's "mean ± standard error over seeds").
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MeanSe {
    pub mean: f64,
    /// Standard error, `s / sqrt(n)` with the sample standard deviation `s` (n − 1 in the
    /// denominator); 0 for a single value.
    pub se: f64,
    pub n: usize,
}

/// Mean and standard error of `values`; `None` for an empty slice.
pub fn mean_se(values: &[f64]) -> Option<MeanSe> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    // Identical values have no spread: say 0 exactly rather than rounding noise.
    let se = if n > 1 && values.iter().any(|v| *v != values[0]) {
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        (var / n as f64).sqrt()
    } else {
        0.0
    };
    Some(MeanSe { mean, se, n })
}

fn check(x: &[f64], y: &[f64]) -> Result<()> {
    if x.len() != y.len() {
        return Err(BenchError::Stats(format!(
            "paired samples differ in length ({} vs {})",
            x.len(),
            y.len()
        )));
    }
    if let Some(i) = x.iter().chain(y).position(|v| !v.is_finite()) {
        return Err(BenchError::Stats(format!(
            "non-finite value at position {}",
            i % x.len().max(1)
        )));
    }
    Ok(())
}

/// Average ranks (1-based); tied values share the mean of the ranks they occupy.
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end hold ranks start+1..=end; their mean is (start + 1 + end) / 2.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// Pearson correlation; `None` when either sample is constant or has fewer than 2 values.
pub fn pearson(x: &[f64], y: &[f64]) -> Result<Option<f64>> {
    check(x, y)?;
    let n = x.len();
    if n < 2 {
        return Ok(None);
    }
    let mx = x.iter().sum::<f64>() / n as f64;
    let my = y.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    if sxx == 0.0 || syy == 0.0 {
        return Ok(None);
    }
    Ok(Some(sxy / (sxx * syy).sqrt()))
}

/// Spearman's rank correlation (Pearson on average ranks); `None` when undefined.
pub fn spearman(x: &[f64], y: &[f64]) -> Result<Option<f64>> {
    check(x, y)?;
    pearson(&average_ranks(x), &average_ranks(y))
}

/// Number of tied pairs in a sorted run-length sense: Σ t(t−1)/2 over groups of equal keys.
fn tied_pairs<T: PartialEq>(sorted: &[T]) -> u64 {
    let mut total = 0u64;
    let mut start = 0;
    while start < sorted.len() {
        let mut end = start + 1;
        while end < sorted.len() && sorted[end] == sorted[start] {
            end += 1;
        }
        let t = (end - start) as u64;
        total += t * (t - 1) / 2;
        start = end;
    }
    total
}

/// Sorts `v` in place by merge sort and returns the number of inversions (swaps).
fn merge_count(v: &mut [f64], buf: &mut [f64]) -> u64 {
    let n = v.len();
    if n < 2 {
        return 0;
    }
    let mid = n / 2;
    let (left, right) = v.split_at_mut(mid);
    let mut swaps = merge_count(left, &mut buf[..mid]) + merge_count(right, &mut buf[mid..]);
    let (mut i, mut j, mut k) = (0, 0, 0);
    while i < left.len() && j < right.len() {
        if right[j] < left[i] {
            buf[k] = right[j];
            swaps += (left.len() - i) as u64;
            j += 1;
        } else {
            buf[k] = left[i];
            i += 1;
        }
        k += 1;
    }
    buf[k..k + left.len() - i].copy_from_slice(&left[i..]);
    k += left.len() - i;
    buf[k..].copy_from_slice(&right[j..]);
    v.copy_from_slice(&buf[..n]);
    swaps
}

/// Kendall's tau-b (ties in either variable corrected); `None` when a sample is constant or
/// shorter than 2. Knight's algorithm: sort by (x, y), count inversions of y by merge sort.
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Result<Option<f64>> {
    check(x, y)?;
    let n = x.len() as u64;
    if n < 2 {
        return Ok(None);
    }
    let mut pairs: Vec<(f64, f64)> = x.iter().copied().zip(y.iter().copied()).collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let n0 = n * (n - 1) / 2;
    let xs: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let n1 = tied_pairs(&xs);
    let n3 = tied_pairs(&pairs);
    let mut ys: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    let mut buf = vec![0.0; ys.len()];
    let swaps = merge_count(&mut ys, &mut buf);
    let n2 = tied_pairs(&ys);
    if n0 == n1 || n0 == n2 {
        return Ok(None);
    }
    let numerator = n0 as f64 - n1 as f64 - n2 as f64 + n3 as f64 - 2.0 * swaps as f64;
    let denominator = ((n0 - n1) as f64 * (n0 - n2) as f64).sqrt();
    Ok(Some(numerator / denominator))
}

/// Indices of the `k` best (lowest) entries of `key`, ties broken by index (deterministic).
pub fn top_k_lowest(key: &[f64], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..key.len()).collect();
    order.sort_by(|&a, &b| key[a].total_cmp(&key[b]).then(a.cmp(&b)));
    order.truncate(k);
    order
}

/// The rank correlations of one comparison: all pairs, and the `top_k` best by the first sample.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RankCorrelation {
    pub n: usize,
    pub spearman: Option<f64>,
    pub kendall: Option<f64>,
    pub top_k: usize,
    pub spearman_top: Option<f64>,
    pub kendall_top: Option<f64>,
}

/// Spearman and Kendall tau-b over all pairs and over the `top_k` lowest `one_shot` errors
/// (the paper's "top 1,000").
pub fn rank_correlation(
    one_shot: &[f64],
    standalone: &[f64],
    top_k: usize,
) -> Result<RankCorrelation> {
    check(one_shot, standalone)?;
    let best = top_k_lowest(one_shot, top_k);
    let xs: Vec<f64> = best.iter().map(|&i| one_shot[i]).collect();
    let ys: Vec<f64> = best.iter().map(|&i| standalone[i]).collect();
    Ok(RankCorrelation {
        n: one_shot.len(),
        spearman: spearman(one_shot, standalone)?,
        kendall: kendall_tau_b(one_shot, standalone)?,
        top_k: best.len(),
        spearman_top: spearman(&xs, &ys)?,
        kendall_top: kendall_tau_b(&xs, &ys)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn mean_and_standard_error_by_hand() {
        // mean 2.5; sample variance ((1.5²+0.5²)·2)/3 = 5/3; se = sqrt(5/3/4).
        let m = mean_se(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        close(m.mean, 2.5);
        close(m.se, (5.0f64 / 12.0).sqrt());
        assert_eq!(m.n, 4);
        assert_eq!(mean_se(&[7.0]).unwrap().se, 0.0);
        assert_eq!(mean_se(&[0.05, 0.05, 0.05]).unwrap().se, 0.0);
        assert!(mean_se(&[]).is_none());
    }

    #[test]
    fn average_ranks_share_ties() {
        assert_eq!(
            average_ranks(&[10.0, 30.0, 20.0, 30.0]),
            vec![1.0, 3.5, 2.0, 3.5]
        );
    }

    #[test]
    fn spearman_and_kendall_with_ties_by_hand() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [5.0, 6.0, 7.0, 8.0, 7.0];
        // ranks y = 1, 2, 3.5, 5, 3.5 → Σdxdy = 8, Σdx² = 10, Σdy² = 9.5.
        close(spearman(&x, &y).unwrap().unwrap(), 8.0 / 95f64.sqrt());
        // 8 concordant, 1 discordant, 1 pair tied in y: (8 − 1) / sqrt(10 · 9).
        close(kendall_tau_b(&x, &y).unwrap().unwrap(), 7.0 / 90f64.sqrt());
        // Perfectly reversed order.
        close(
            kendall_tau_b(&x, &[5.0, 4.0, 3.0, 2.0, 1.0])
                .unwrap()
                .unwrap(),
            -1.0,
        );
    }

    #[test]
    fn constant_samples_are_undefined_not_nan() {
        assert_eq!(spearman(&[1.0, 2.0], &[3.0, 3.0]).unwrap(), None);
        assert_eq!(kendall_tau_b(&[1.0, 1.0], &[3.0, 4.0]).unwrap(), None);
        assert!(spearman(&[1.0], &[1.0, 2.0]).is_err());
        assert!(kendall_tau_b(&[1.0, f64::NAN], &[1.0, 2.0]).is_err());
    }

    /// O(n²) definition of tau-b, to check Knight's algorithm on data with many ties.
    fn kendall_brute(x: &[f64], y: &[f64]) -> f64 {
        let (mut c, mut d, mut tx, mut ty) = (0i64, 0i64, 0i64, 0i64);
        for i in 0..x.len() {
            for j in i + 1..x.len() {
                let a = (x[i] - x[j]).signum() * if x[i] == x[j] { 0.0 } else { 1.0 };
                let b = (y[i] - y[j]).signum() * if y[i] == y[j] { 0.0 } else { 1.0 };
                if a == 0.0 && b == 0.0 {
                } else if a == 0.0 {
                    tx += 1;
                } else if b == 0.0 {
                    ty += 1;
                } else if a == b {
                    c += 1;
                } else {
                    d += 1;
                }
            }
        }
        (c - d) as f64 / (((c + d + tx) * (c + d + ty)) as f64).sqrt()
    }

    #[test]
    fn knight_matches_pairwise_definition_with_ties() {
        // A deterministic pseudo-random sequence with heavy ties (values 0..7).
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % 7) as f64
        };
        let x: Vec<f64> = (0..300).map(|_| next()).collect();
        let y: Vec<f64> = (0..300).map(|_| next()).collect();
        let fast = kendall_tau_b(&x, &y).unwrap().unwrap();
        assert!((fast - kendall_brute(&x, &y)).abs() < 1e-12);
    }

    #[test]
    fn top_k_keeps_best_one_shot_errors() {
        let one_shot = [0.5, 0.1, 0.3, 0.2, 0.9];
        let standalone = [0.05, 0.07, 0.06, 0.08, 0.09];
        assert_eq!(top_k_lowest(&one_shot, 3), vec![1, 3, 2]);
        let r = rank_correlation(&one_shot, &standalone, 3).unwrap();
        assert_eq!((r.n, r.top_k), (5, 3));
        // Top three: one-shot 0.1, 0.2, 0.3 vs stand-alone 0.07, 0.08, 0.06 → ranks 2,3,1.
        close(r.spearman_top.unwrap(), -0.5);
        close(r.kendall_top.unwrap(), -1.0 / 3.0);
    }
}
