//! `histogram_quantile` over classic buckets, as Prometheus computes it
//! (`BucketQuantile` in `promql/quantile.go`).

/// One cumulative bucket: upper bound `le` and the count of observations ≤ `le`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// The upper bound (`+Inf` for the last bucket).
    pub le: f64,
    /// The cumulative count.
    pub count: f64,
}

/// Relative tolerance under which neighbouring bucket counts are treated as equal.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// The `q`-quantile of cumulative `buckets`, with Prometheus' rules:
///
/// - `q < 0` gives `-Inf`, `q > 1` gives `+Inf`, NaN gives NaN;
/// - no `+Inf` bucket, fewer than two buckets, or zero observations give NaN;
/// - buckets are sorted, equal bounds merged, and non-monotonic counts forced monotonic;
/// - a rank falling in the `+Inf` bucket returns the highest finite bound;
/// - a rank in the first bucket with a bound ≤ 0 returns that bound;
/// - otherwise linear interpolation inside the bucket (from 0 for the first bucket).
pub fn histogram_quantile(q: f64, buckets: &[Bucket]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    let b = normalise(buckets);
    match b.last() {
        Some(last) if last.le == f64::INFINITY && b.len() >= 2 && last.count > 0.0 => {
            interpolate(q * last.count, &b)
        }
        _ => f64::NAN,
    }
}

fn interpolate(rank: f64, b: &[Bucket]) -> f64 {
    let i = b[..b.len() - 1].partition_point(|x| x.count < rank);
    if i == b.len() - 1 {
        return b[b.len() - 2].le;
    }
    if i == 0 && b[0].le <= 0.0 {
        return b[0].le;
    }
    let (start, below) = if i > 0 {
        (b[i - 1].le, b[i - 1].count)
    } else {
        (0.0, 0.0)
    };
    start + (b[i].le - start) * ((rank - below) / (b[i].count - below))
}

/// Sorts by bound, merges equal bounds, and makes counts monotonic.
fn normalise(buckets: &[Bucket]) -> Vec<Bucket> {
    let mut sorted: Vec<Bucket> = buckets.iter().copied().filter(|b| !b.le.is_nan()).collect();
    sorted.sort_by(|a, b| a.le.total_cmp(&b.le));
    let mut merged: Vec<Bucket> = Vec::with_capacity(sorted.len());
    for b in sorted {
        match merged.last_mut() {
            Some(last) if last.le == b.le => last.count += b.count,
            _ => merged.push(b),
        }
    }
    force_monotonic(&mut merged);
    merged
}

fn force_monotonic(buckets: &mut [Bucket]) {
    let Some(first) = buckets.first() else { return };
    let mut prev = first.count;
    for b in buckets.iter_mut().skip(1) {
        if b.count == prev {
            continue;
        }
        if almost_equal(prev, b.count) || b.count < prev {
            b.count = prev;
            continue;
        }
        prev = b.count;
    }
}

/// Prometheus' `almost.Equal` with the small-delta tolerance.
fn almost_equal(a: f64, b: f64) -> bool {
    let diff = (a - b).abs();
    let sum = a.abs() + b.abs();
    if a == 0.0 || b == 0.0 || sum < f64::MIN_POSITIVE {
        return diff < SMALL_DELTA_TOLERANCE * f64::MIN_POSITIVE;
    }
    diff / sum.min(f64::MAX) < SMALL_DELTA_TOLERANCE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(raw: &[(f64, f64)]) -> Vec<Bucket> {
        raw.iter()
            .map(|&(le, count)| Bucket { le, count })
            .collect()
    }

    const INF: f64 = f64::INFINITY;

    #[test]
    fn interpolates_linearly_inside_the_bucket() {
        // 100 observations: 10 ≤ 0.1, 60 ≤ 0.5, 90 ≤ 1. p50: rank 50 in (0.1, 0.5], 40/50 of the
        // way → 0.1 + 0.4 x 0.8 = 0.42. p95: rank 95 in (1, +Inf] → 1. p5: rank 5 → 0.05.
        let b = hist(&[(0.1, 10.0), (0.5, 60.0), (1.0, 90.0), (INF, 100.0)]);
        assert!((histogram_quantile(0.5, &b) - 0.42).abs() < 1e-12);
        assert_eq!(histogram_quantile(0.95, &b), 1.0);
        assert!((histogram_quantile(0.05, &b) - 0.05).abs() < 1e-12);
        assert_eq!(histogram_quantile(0.0, &b), 0.0);
        assert_eq!(histogram_quantile(0.9, &b), 1.0);
    }

    #[test]
    fn edge_cases_follow_prometheus() {
        let b = hist(&[(1.0, 5.0), (INF, 10.0)]);
        assert_eq!(histogram_quantile(-0.1, &b), f64::NEG_INFINITY);
        assert_eq!(histogram_quantile(1.1, &b), INF);
        assert!(histogram_quantile(f64::NAN, &b).is_nan());
        assert!(
            histogram_quantile(0.5, &hist(&[(1.0, 5.0), (2.0, 10.0)])).is_nan(),
            "no +Inf"
        );
        assert!(
            histogram_quantile(0.5, &hist(&[(INF, 10.0)])).is_nan(),
            "one bucket"
        );
        assert!(
            histogram_quantile(0.5, &hist(&[(1.0, 0.0), (INF, 0.0)])).is_nan(),
            "empty"
        );
        let negative = hist(&[(-1.0, 5.0), (1.0, 10.0), (INF, 10.0)]);
        assert_eq!(histogram_quantile(0.2, &negative), -1.0);
    }

    #[test]
    fn unsorted_duplicate_and_non_monotonic_buckets_are_repaired() {
        // Sorted: 1→4, 2→(3+3=6, merged), 4→5 forced to 6, +Inf→8. p50 = rank 4 → bound 1.
        // p75: rank 6 → first bucket with count ≥ 6 is le=2: 1 + 1 x (2/2) = 2.
        let b = hist(&[(INF, 8.0), (2.0, 3.0), (1.0, 4.0), (4.0, 5.0), (2.0, 3.0)]);
        assert_eq!(histogram_quantile(0.5, &b), 1.0);
        assert_eq!(histogram_quantile(0.75, &b), 2.0);
        // rank 7 lies in (4, +Inf]: the highest finite bound.
        assert_eq!(histogram_quantile(0.875, &b), 4.0);
    }
}
