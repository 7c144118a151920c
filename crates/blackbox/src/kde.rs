//! BOHB's model (Falkner et al. 2018, as hpbandster implements it): two kernel densities over
//! the vector form of a configuration, l(x) over the good observations and g(x) over the bad
//! ones, and proposals drawn around good observations, the best of `num_samples` by l(x)/g(x).
//!
//! One model serves every space: a dimension is either categorical (an index below its
//! cardinality, Aitchison–Aitken kernel: the cell decisions of the black-box runs) or
//! continuous (a value in [0, 1], Gaussian kernel, truncated-normal proposals: a numeric
//! hyperparameter in ConfigSpace's vector form, log scales and integers mapped by the caller).
//! Bandwidths are statsmodels' normal reference 1.06·σ·n^(−1/(4+d)), clipped below at
//! `min_bandwidth`; proposals widen continuous kernels by `bandwidth_factor`.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// BOHB's model settings (the black-box runs' values by default).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BohbSettings {
    pub top_n_percent: usize,
    pub num_samples: usize,
    pub random_fraction: f64,
    /// Widens continuous kernels when proposing (hpbandster).
    pub bandwidth_factor: f64,
    pub min_bandwidth: f64,
    /// statsmodels' Aitchison–Aitken kernel as hpbandster calls it: h/(L − 1) off the
    /// observed value with L the number of levels *present in the data* (infinite with one
    /// level); `false` divides by the decision's cardinality.
    pub levels_from_data: bool,
}

impl Default for BohbSettings {
    fn default() -> Self {
        BohbSettings {
            top_n_percent: 15,
            num_samples: 64,
            random_fraction: 1.0 / 3.0,
            bandwidth_factor: 3.0,
            min_bandwidth: 0.3,
            levels_from_data: false,
        }
    }
}

/// One dimension of the vector form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dim {
    /// A value in [0, 1].
    Continuous,
    /// An index in `0..cardinality`, stored as a float.
    Categorical(usize),
}

/// One observation: the configuration's vector form and its loss.
pub type Observation = (Vec<f64>, f64);

/// A product-kernel density over observed vectors.
pub struct Kde {
    pub points: Vec<Vec<f64>>,
    pub bandwidth: Vec<f64>,
    /// Per dimension, the level count of the categorical kernel (its cardinality unless
    /// [`Kde::with_data_levels`]).
    pub levels: Vec<usize>,
}

impl Kde {
    /// Normal-reference bandwidths per dimension (on the raw vector values, as statsmodels
    /// computes them for every variable type), clipped below at `min_bw` as hpbandster does.
    pub fn fit(points: Vec<Vec<f64>>, dims: &[Dim], min_bw: f64) -> Kde {
        let n = points.len().max(1) as f64;
        let d = dims.len() as f64;
        let bandwidth = (0..dims.len())
            .map(|dim| {
                let xs: Vec<f64> = points
                    .iter()
                    .map(|p| p.get(dim).copied().unwrap_or(0.0))
                    .collect();
                let mean = xs.iter().sum::<f64>() / n;
                let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
                (1.06 * sd * n.powf(-1.0 / (4.0 + d))).max(min_bw)
            })
            .collect();
        let levels = dims
            .iter()
            .map(|d| match d {
                Dim::Categorical(card) => *card,
                Dim::Continuous => 0,
            })
            .collect();
        Kde {
            points,
            bandwidth,
            levels,
        }
    }

    /// Categorical kernels count the levels present in the points, as statsmodels does.
    pub fn with_data_levels(mut self) -> Kde {
        for (d, l) in self.levels.iter_mut().enumerate() {
            if *l > 0 {
                let mut seen: Vec<u64> = self.points.iter().map(|p| p[d].to_bits()).collect();
                seen.sort_unstable();
                seen.dedup();
                *l = seen.len();
            }
        }
        self
    }

    fn kernel(v: f64, x: f64, bw: f64, dim: Dim, levels: usize) -> f64 {
        match dim {
            Dim::Categorical(card) if levels == card => {
                if v == x {
                    1.0 - bw
                } else {
                    bw / (card.saturating_sub(1).max(1)) as f64
                }
            }
            // statsmodels: h / (L − 1), infinite when the data hold one level.
            Dim::Categorical(_) => {
                if v == x {
                    1.0 - bw
                } else {
                    bw / levels.saturating_sub(1) as f64
                }
            }
            Dim::Continuous => {
                let z = (v - x) / bw;
                (-0.5 * z * z).exp() / (bw * (2.0 * std::f64::consts::PI).sqrt())
            }
        }
    }

    /// The density at `v`: the mean over the points of the product kernel.
    pub fn pdf(&self, v: &[f64], dims: &[Dim]) -> f64 {
        let s: f64 = self
            .points
            .iter()
            .map(|p| {
                v.iter()
                    .zip(dims)
                    .enumerate()
                    .map(|(d, (&vd, &dim))| {
                        Kde::kernel(vd, p[d], self.bandwidth[d], dim, self.levels[d]).max(1e-32)
                    })
                    .product::<f64>()
            })
            .sum();
        s / self.points.len().max(1) as f64
    }
}

/// The good and bad densities of one budget's observations, if there are enough
/// (hpbandster's `new_result`): the best max(d+1, 15 %) are good, the next max(d+1, 85 %)
/// bad, and both sets need more points than dimensions.
pub fn fit_models(obs: &[Observation], dims: &[Dim], b: &BohbSettings) -> Option<(Kde, Kde)> {
    let d = dims.len();
    let n = obs.len();
    let min_points = d + 1;
    if n < min_points {
        return None;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| obs[x].1.total_cmp(&obs[y].1).then(x.cmp(&y)));
    let n_good = (b.top_n_percent * n / 100).max(min_points).min(n);
    let n_bad = ((100 - b.top_n_percent.min(100)) * n / 100).max(min_points);
    let good: Vec<Vec<f64>> = order[..n_good].iter().map(|&i| obs[i].0.clone()).collect();
    let bad: Vec<Vec<f64>> = order[n_good..(n_good + n_bad).min(n)]
        .iter()
        .map(|&i| obs[i].0.clone())
        .collect();
    if good.len() <= d || bad.len() <= d {
        return None;
    }
    let fit = |points| {
        let kde = Kde::fit(points, dims, b.min_bandwidth);
        if b.levels_from_data {
            kde.with_data_levels()
        } else {
            kde
        }
    };
    Some((fit(good), fit(bad)))
}

/// A draw from N(m, sd) truncated to [0, 1] (by rejection; a uniform draw after 1000
/// misses, which needs an sd far beyond any normal-reference bandwidth of [0, 1] data).
fn truncated_normal(m: f64, sd: f64, rng: &mut ChaCha8Rng) -> f64 {
    for _ in 0..1000 {
        // Box–Muller.
        let u1: f64 = rng.gen::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = rng.gen();
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        let x = m + sd * z;
        if (0.0..=1.0).contains(&x) {
            return x;
        }
    }
    rng.gen()
}

/// A model-based proposal, or `None` when the caller should sample uniformly: no budget has
/// a model yet, or the `random_fraction` draw says so. The model is the one of the largest
/// budget that has enough observations (`history` is indexed by budget, smallest first).
pub fn propose(
    history: &[Vec<Observation>],
    dims: &[Dim],
    b: &BohbSettings,
    rng: &mut ChaCha8Rng,
) -> Option<Vec<f64>> {
    let (good, bad) = history.iter().rev().find_map(|o| fit_models(o, dims, b))?;
    if rng.gen::<f64>() < b.random_fraction {
        return None;
    }
    let mut best: Option<(f64, Vec<f64>)> = None;
    for _ in 0..b.num_samples.max(1) {
        let center = &good.points[rng.gen_range(0..good.points.len())];
        let cand: Vec<f64> = dims
            .iter()
            .enumerate()
            .map(|(d, &dim)| match dim {
                // Keep the centre's value with probability 1 − bandwidth, else draw uniformly
                // (hpbandster widens only continuous kernels by the bandwidth factor).
                Dim::Categorical(c) => {
                    if rng.gen::<f64>() < 1.0 - good.bandwidth[d].min(1.0) {
                        center[d]
                    } else {
                        rng.gen_range(0..c.max(1)) as f64
                    }
                }
                Dim::Continuous => {
                    truncated_normal(center[d], b.bandwidth_factor * good.bandwidth[d], rng)
                }
            })
            .collect();
        let score = good.pdf(&cand, dims).max(1e-32) / bad.pdf(&cand, dims).max(1e-32);
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, cand));
        }
    }
    best.map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Two continuous dimensions and one categorical; the loss is low near x0 = 0.2 with
    /// category 1, whatever x1.
    fn history(rng: &mut ChaCha8Rng, n: usize) -> Vec<Vec<Observation>> {
        let obs = (0..n)
            .map(|_| {
                let v = vec![
                    rng.gen::<f64>(),
                    rng.gen::<f64>(),
                    rng.gen_range(0..3) as f64,
                ];
                let loss = (v[0] - 0.2).abs() + if v[2] == 1.0 { 0.0 } else { 0.5 };
                (v, loss)
            })
            .collect();
        vec![obs]
    }

    const DIMS: [Dim; 3] = [Dim::Continuous, Dim::Continuous, Dim::Categorical(3)];

    #[test]
    fn proposals_concentrate_where_the_good_observations_are() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let b = BohbSettings {
            min_bandwidth: 1e-3,
            ..BohbSettings::default()
        };
        // Fewer observations than d + 1: no model.
        let few = history(&mut rng, 3);
        assert!(propose(&few, &DIMS, &b, &mut rng).is_none());
        let hist = history(&mut rng, 120);
        let (mut picks, mut near, mut cat) = (0, 0, 0);
        let mut spread = 0.0;
        for _ in 0..600 {
            let Some(v) = propose(&hist, &DIMS, &b, &mut rng) else {
                continue;
            };
            assert!(v[..2].iter().all(|x| (0.0..=1.0).contains(x)), "{v:?}");
            assert!([0.0, 1.0, 2.0].contains(&v[2]), "{v:?}");
            picks += 1;
            near += usize::from((v[0] - 0.2).abs() < 0.15);
            cat += usize::from(v[2] == 1.0);
            spread += (v[1] - 0.5).abs();
        }
        let frac = picks as f64 / 600.0;
        assert!(
            (frac - 2.0 / 3.0).abs() < 0.06,
            "model-based fraction {frac}"
        );
        let near = near as f64 / picks as f64;
        let cat = cat as f64 / picks as f64;
        // Uniform draws would put 30 % within 0.15 of 0.2 and a third on category 1.
        assert!(near > 0.7, "picks near the good x0: {near}");
        assert!(cat > 0.8, "picks with the good category: {cat}");
        // The irrelevant dimension is not pinned to one value.
        assert!(spread / picks as f64 > 0.1);
    }

    #[test]
    fn data_levels_divide_by_the_categories_present_as_statsmodels() {
        let dims = [Dim::Categorical(4)];
        let points = vec![vec![0.0], vec![1.0], vec![1.0]];
        let card = Kde::fit(points.clone(), &dims, 0.3);
        let data = Kde::fit(points, &dims, 0.3).with_data_levels();
        assert_eq!((card.levels[0], data.levels[0]), (4, 2));
        let bw = card.bandwidth[0];
        // Value 3 was never observed: h/3 by cardinality, h/1 by the two levels present.
        assert!((card.pdf(&[3.0], &dims) - bw / 3.0).abs() < 1e-12);
        assert!((data.pdf(&[3.0], &dims) - bw).abs() < 1e-12);
        // One level present: statsmodels' kernel is infinite off it.
        let one = Kde::fit(vec![vec![2.0], vec![2.0]], &dims, 0.3).with_data_levels();
        assert!(one.pdf(&[0.0], &dims).is_infinite());
    }

    #[test]
    fn densities_integrate_to_one_and_truncated_draws_stay_inside() {
        let kde = Kde::fit(
            vec![vec![0.3], vec![0.5], vec![0.9]],
            &[Dim::Continuous],
            1e-3,
        );
        let steps = 20_000;
        let h = 20.0 / steps as f64;
        let mass: f64 = (0..steps)
            .map(|i| kde.pdf(&[-10.0 + (i as f64 + 0.5) * h], &[Dim::Continuous]) * h)
            .sum();
        assert!((mass - 1.0).abs() < 1e-6, "{mass}");
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let xs: Vec<f64> = (0..2000)
            .map(|_| truncated_normal(0.95, 0.2, &mut rng))
            .collect();
        assert!(xs.iter().all(|x| (0.0..=1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        // Truncation pulls the mean below the centre.
        assert!(mean < 0.9 && mean > 0.7, "{mean}");
    }
}
