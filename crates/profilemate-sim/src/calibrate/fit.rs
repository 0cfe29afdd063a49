//! Robust non-negative linear regression: Huber-weighted least squares with standard errors.
//!
//! Fits `y ≈ Σ_j β_j · x_j` with every `β_j ≥ 0` (a step-time model's costs cannot be negative)
//! by iteratively reweighted least squares: residuals larger than `HUBER_K` robust standard
//! deviations (scale from the median absolute deviation) get weight `k·s/|r|`, so a few stalls or
//! garbage-collection pauses in a log do not pull the fit. Non-negativity is kept by an active
//! set: a coefficient that comes out negative is fixed at zero and the rest refitted. Standard
//! errors come from the weighted residual variance and `(XᵀWX)⁻¹` over the free coefficients.

/// Huber's tuning constant (95 % efficiency under Gaussian noise).
pub const HUBER_K: f64 = 1.345;
/// Reweighting passes at most.
const MAX_PASSES: usize = 50;

/// A fitted model.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// The coefficients, one per feature; those fixed at zero by the constraint are 0.
    pub coefficients: Vec<f64>,
    /// Their standard errors (0 for a coefficient fixed at zero).
    pub standard_errors: Vec<f64>,
    /// Whether each coefficient was fixed at zero by the non-negativity constraint.
    pub at_zero: Vec<bool>,
    /// Robust scale of the residuals (1.4826 × median absolute deviation).
    pub residual_scale: f64,
    /// Mean absolute percentage error of the fit on its own data, over rows with `y > 0`.
    pub mape: f64,
    /// Rows used.
    pub rows: usize,
}

impl Fit {
    /// The model's prediction for one row of features.
    pub fn predict(&self, features: &[f64]) -> f64 {
        self.coefficients
            .iter()
            .zip(features)
            .map(|(b, x)| b * x)
            .sum()
    }
}

/// Why a fit could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FitError {
    /// Fewer rows than features.
    #[error(
        "{rows} observations cannot fit {features} coefficients: give a longer log or more runs"
    )]
    TooFewRows {
        /// Rows given.
        rows: usize,
        /// Features per row.
        features: usize,
    },
    /// A row of the wrong width, or a value that is not finite.
    #[error(
        "observation {row} has {width} features or a value that is not finite (expected {features} finite values)"
    )]
    BadRow {
        /// The row's index.
        row: usize,
        /// Its width.
        width: usize,
        /// The expected width.
        features: usize,
    },
    /// The features do not vary independently (e.g. every step had the same shape).
    #[error(
        "the observations do not separate the coefficients (feature {feature} is a combination of the others): give steps of more varied shape"
    )]
    Degenerate {
        /// The feature that could not be separated.
        feature: usize,
    },
}

/// Fits `y ≈ X β`, `β ≥ 0`, robustly. `rows[i]` are the features of observation `i`.
pub fn fit_non_negative_huber(rows: &[Vec<f64>], y: &[f64]) -> Result<Fit, FitError> {
    let features = rows.first().map_or(0, Vec::len);
    if rows.len() < features.max(1) || rows.len() != y.len() {
        return Err(FitError::TooFewRows {
            rows: rows.len().min(y.len()),
            features,
        });
    }
    for (row, (x, target)) in rows.iter().zip(y).enumerate() {
        if x.len() != features || !target.is_finite() || x.iter().any(|v| !v.is_finite()) {
            return Err(FitError::BadRow {
                row,
                width: x.len(),
                features,
            });
        }
    }
    let mut free: Vec<bool> = vec![true; features];
    loop {
        let (beta, weights) = huber_irls(rows, y, &free)?;
        match most_negative(&beta, &free) {
            Some(j) => free[j] = false,
            None => return Ok(summarize(rows, y, beta, &weights, &free)),
        }
    }
}

/// The free coefficient with the most negative value, if any is negative.
fn most_negative(beta: &[f64], free: &[bool]) -> Option<usize> {
    (0..beta.len())
        .filter(|&j| free[j] && beta[j] < 0.0)
        .min_by(|&a, &b| beta[a].total_cmp(&beta[b]))
}

/// IRLS over the free features; returns the full coefficient vector and the final weights.
fn huber_irls(
    rows: &[Vec<f64>],
    y: &[f64],
    free: &[bool],
) -> Result<(Vec<f64>, Vec<f64>), FitError> {
    let mut weights = vec![1.0; y.len()];
    let mut beta = weighted_least_squares(rows, y, &weights, free)?;
    for _ in 0..MAX_PASSES {
        let residuals = residuals(rows, y, &beta);
        let scale = mad_scale(&residuals);
        if scale == 0.0 {
            break;
        }
        for (w, r) in weights.iter_mut().zip(&residuals) {
            let cut = HUBER_K * scale;
            *w = if r.abs() <= cut { 1.0 } else { cut / r.abs() };
        }
        let next = weighted_least_squares(rows, y, &weights, free)?;
        let moved = next
            .iter()
            .zip(&beta)
            .map(|(a, b)| (a - b).abs() / b.abs().max(1e-12))
            .fold(0.0, f64::max);
        beta = next;
        if moved < 1e-9 {
            break;
        }
    }
    Ok((beta, weights))
}

fn residuals(rows: &[Vec<f64>], y: &[f64], beta: &[f64]) -> Vec<f64> {
    rows.iter()
        .zip(y)
        .map(|(x, t)| t - x.iter().zip(beta).map(|(a, b)| a * b).sum::<f64>())
        .collect()
}

/// 1.4826 × the median absolute deviation from the median: σ for Gaussian noise.
fn mad_scale(values: &[f64]) -> f64 {
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    };
    let mut v = values.to_vec();
    let m = median(&mut v);
    let mut deviations: Vec<f64> = values.iter().map(|x| (x - m).abs()).collect();
    1.4826 * median(&mut deviations)
}

/// The normal matrix `XᵀWX` and vector `XᵀWy` over the free features.
fn normal_equations(
    rows: &[Vec<f64>],
    y: &[f64],
    weights: &[f64],
    index: &[usize],
) -> (Vec<Vec<f64>>, Vec<f64>) {
    let p = index.len();
    let mut a = vec![vec![0.0; p]; p];
    let mut b = vec![0.0; p];
    for ((x, t), w) in rows.iter().zip(y).zip(weights) {
        for (i, &fi) in index.iter().enumerate() {
            b[i] += w * x[fi] * t;
            for (j, &fj) in index.iter().enumerate() {
                a[i][j] += w * x[fi] * x[fj];
            }
        }
    }
    (a, b)
}

fn weighted_least_squares(
    rows: &[Vec<f64>],
    y: &[f64],
    weights: &[f64],
    free: &[bool],
) -> Result<Vec<f64>, FitError> {
    let index: Vec<usize> = (0..free.len()).filter(|&j| free[j]).collect();
    let (a, b) = normal_equations(rows, y, weights, &index);
    let solved = solve(a, b).map_err(|k| FitError::Degenerate { feature: index[k] })?;
    let mut beta = vec![0.0; free.len()];
    for (k, &j) in index.iter().enumerate() {
        beta[j] = solved[k];
    }
    Ok(beta)
}

/// Solves `A x = b` by Gaussian elimination with partial pivoting, after scaling each column to
/// unit diagonal; `Err(k)` names a column that is (numerically) dependent on the others.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Result<Vec<f64>, usize> {
    let n = b.len();
    let scale: Vec<f64> = (0..n)
        .map(|i| {
            if a[i][i] > 0.0 {
                1.0 / a[i][i].sqrt()
            } else {
                1.0
            }
        })
        .collect();
    for i in 0..n {
        b[i] *= scale[i];
        for j in 0..n {
            a[i][j] *= scale[i] * scale[j];
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&r, &s| a[r][col].abs().total_cmp(&a[s][col].abs()))
            .expect("col < n");
        if a[pivot][col].abs() < 1e-10 {
            return Err(order[col]);
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        order.swap(col, pivot);
        for r in col + 1..n {
            let f = a[r][col] / a[col][col];
            let (top, rest) = a.split_at_mut(r);
            let pivot_row = &top[col][col..];
            for (x, p) in rest[0][col..].iter_mut().zip(pivot_row) {
                *x -= f * p;
            }
            b[r] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let tail: f64 = (r + 1..n).map(|c| a[r][c] * x[c]).sum();
        x[r] = (b[r] - tail) / a[r][r];
    }
    Ok(x.iter().zip(&scale).map(|(v, s)| v * s).collect())
}

/// The inverse of a small symmetric positive-definite matrix, column by column.
fn invert(a: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = a.len();
    let mut columns = Vec::with_capacity(n);
    for k in 0..n {
        let mut e = vec![0.0; n];
        e[k] = 1.0;
        columns.push(solve(a.to_vec(), e).ok()?);
    }
    Some(
        (0..n)
            .map(|i| (0..n).map(|j| columns[j][i]).collect())
            .collect(),
    )
}

fn summarize(rows: &[Vec<f64>], y: &[f64], beta: Vec<f64>, weights: &[f64], free: &[bool]) -> Fit {
    let residuals = residuals(rows, y, &beta);
    let index: Vec<usize> = (0..free.len()).filter(|&j| free[j]).collect();
    let dof = (rows.len() - index.len()).max(1) as f64;
    let sigma2 = residuals
        .iter()
        .zip(weights)
        .map(|(r, w)| w * r * r)
        .sum::<f64>()
        / dof;
    let (a, _) = normal_equations(rows, y, weights, &index);
    let mut standard_errors = vec![0.0; beta.len()];
    if let Some(inverse) = invert(&a) {
        for (k, &j) in index.iter().enumerate() {
            standard_errors[j] = (sigma2 * inverse[k][k]).max(0.0).sqrt();
        }
    }
    let (sum, count) = residuals
        .iter()
        .zip(y)
        .filter(|(_, t)| **t > 0.0)
        .fold((0.0, 0usize), |(s, c), (r, t)| (s + (r / t).abs(), c + 1));
    Fit {
        residual_scale: mad_scale(&residuals),
        mape: if count == 0 { 0.0 } else { sum / count as f64 },
        at_zero: free.iter().map(|f| !f).collect(),
        coefficients: beta,
        standard_errors,
        rows: rows.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A deterministic generator so the synthetic logs are reproducible.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
        /// Approximately standard normal (sum of 12 uniforms).
        fn normal(&mut self) -> f64 {
            (0..12).map(|_| self.next()).sum::<f64>() - 6.0
        }
    }

    /// Synthetic steps: fixed cost, prefill time, decode time, with noise and stalls.
    fn synthetic(
        truth: &[f64; 3],
        n: usize,
        noise: f64,
        stalls: usize,
        seed: u64,
    ) -> (Vec<Vec<f64>>, Vec<f64>) {
        let mut rng = Lcg(seed);
        let mut rows = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let prefill = if rng.next() < 0.3 {
                rng.next() * 40.0
            } else {
                0.0
            };
            let decode = 1.0 + rng.next() * 8.0;
            let x = vec![1.0, prefill, decode];
            let mut t: f64 = x.iter().zip(truth).map(|(a, b)| a * b).sum();
            t += noise * rng.normal();
            if i < stalls {
                t += 200.0;
            }
            rows.push(x);
            y.push(t);
        }
        (rows, y)
    }

    #[test]
    fn recovers_known_coefficients_despite_stalls() {
        let truth = [3.2, 1.4, 2.1];
        let (rows, y) = synthetic(&truth, 400, 0.3, 12, 7);
        let fit = fit_non_negative_huber(&rows, &y).unwrap();
        for (j, t) in truth.iter().enumerate() {
            let b = fit.coefficients[j];
            assert!((b - t).abs() < 0.05 * t, "coefficient {j}: {b} vs {t}");
            assert!(fit.standard_errors[j] > 0.0 && fit.standard_errors[j] < 0.1 * t);
        }
        assert!(
            fit.residual_scale > 0.2 && fit.residual_scale < 0.45,
            "{}",
            fit.residual_scale
        );
        assert_eq!(fit.at_zero, vec![false; 3]);
    }

    #[test]
    fn plain_least_squares_would_be_pulled_by_the_stalls() {
        // The same data with every weight 1: the fixed cost absorbs the stalls. This is what the
        // Huber weights protect against.
        let truth = [3.2, 1.4, 2.1];
        let (rows, y) = synthetic(&truth, 400, 0.3, 12, 7);
        let ols = weighted_least_squares(&rows, &y, &vec![1.0; y.len()], &[true; 3]).unwrap();
        assert!((ols[0] - 3.2).abs() > 2.0, "{}", ols[0]);
    }

    #[test]
    fn a_negative_coefficient_is_fixed_at_zero() {
        // y does not depend on the second feature; noise would give it a small negative value.
        let rows: Vec<Vec<f64>> = (0..50)
            .map(|i| vec![1.0, (i % 7) as f64, (i % 5) as f64])
            .collect();
        let y: Vec<f64> = rows
            .iter()
            .enumerate()
            .map(|(i, x)| 2.0 + 3.0 * x[2] - 0.01 * x[1] + if i % 2 == 0 { 0.001 } else { -0.001 })
            .collect();
        let fit = fit_non_negative_huber(&rows, &y).unwrap();
        assert_eq!(fit.at_zero, vec![false, true, false]);
        assert_eq!(fit.coefficients[1], 0.0);
        assert!((fit.coefficients[2] - 3.0).abs() < 0.01);
    }

    #[test]
    fn refuses_too_few_rows_bad_rows_and_degenerate_features() {
        assert_eq!(
            fit_non_negative_huber(&[vec![1.0, 2.0]], &[1.0]),
            Err(FitError::TooFewRows {
                rows: 1,
                features: 2
            })
        );
        assert!(matches!(
            fit_non_negative_huber(&[vec![1.0], vec![f64::NAN]], &[1.0, 2.0]),
            Err(FitError::BadRow { row: 1, .. })
        ));
        let rows: Vec<Vec<f64>> = (0..10)
            .map(|i| vec![1.0, i as f64, 2.0 * i as f64])
            .collect();
        let y: Vec<f64> = (0..10).map(|i| 1.0 + i as f64).collect();
        assert!(matches!(
            fit_non_negative_huber(&rows, &y),
            Err(FitError::Degenerate { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any non-negative truth is recovered within 5 % (plus a small absolute slack for
        /// coefficients near zero) from 300 noisy steps with 3 % stalls.
        #[test]
        fn recovers_any_non_negative_truth(
            fixed in 0.0f64..10.0, prefill in 0.0f64..5.0, decode in 0.0f64..5.0, seed in any::<u64>(),
        ) {
            let truth = [fixed, prefill, decode];
            let (rows, y) = synthetic(&truth, 300, 0.05, 9, seed);
            let fit = fit_non_negative_huber(&rows, &y).unwrap();
            for (j, t) in truth.iter().enumerate() {
                let b = fit.coefficients[j];
                prop_assert!(b >= 0.0);
                prop_assert!((b - t).abs() <= 0.05 * t + 0.05, "coefficient {}: {} vs {}", j, b, t);
            }
        }
    }
}
