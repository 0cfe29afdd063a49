//! Provides numpy-compatible statistics over float samples: mean, population std, median and
//! `np.percentile` with linear interpolation.
//!
//! Mirrors the `np.mean(x or 0)`, `np.std`, `np.median`, `np.percentile` calls in
//! `calculate_metrics()` of vllm/benchmarks/serve.py, vLLM 0.32: an empty sample behaves as `[0]`.

/// Arithmetic mean (numpy's pairwise sum over the count); 0 for an empty slice.
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    pairwise_sum(xs) / xs.len() as f64
}

/// numpy's `pairwise_sum` (numpy/_core/src/umath/loops_utils.h.src): plain below 8 values,
/// eight accumulators up to 128, halves (at a multiple of 8) above. Matching its order makes
/// means and standard deviations agree with vLLM's to the last bit.
pub fn pairwise_sum(xs: &[f64]) -> f64 {
    pairwise_sum_of(xs, |x| x)
}

/// [`pairwise_sum`] of `f(x)` over `xs`, in the same order, without building the mapped array.
fn pairwise_sum_of(xs: &[f64], f: impl Fn(f64) -> f64 + Copy) -> f64 {
    let n = xs.len();
    if n < 8 {
        return xs.iter().fold(-0.0, |acc, &x| acc + f(x));
    }
    if n <= 128 {
        let mut r = [0.0; 8];
        r.iter_mut().zip(&xs[..8]).for_each(|(acc, &x)| *acc = f(x));
        let full = n - n % 8;
        for block in xs[8..full].chunks_exact(8) {
            r.iter_mut().zip(block).for_each(|(acc, &x)| *acc += f(x));
        }
        let head = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        return xs[full..].iter().fold(head, |acc, &x| acc + f(x));
    }
    let half = n / 2 - (n / 2) % 8;
    pairwise_sum_of(&xs[..half], f) + pairwise_sum_of(&xs[half..], f)
}

/// Population standard deviation (numpy's default `ddof=0`); 0 for an empty slice. numpy
/// sums the squared deviations pairwise as an array; they are summed in the same order here.
pub fn std_dev(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let m = mean(xs);
    (pairwise_sum_of(xs, |x| (x - m) * (x - m)) / xs.len() as f64).sqrt()
}

/// Median of an ascending slice, averaging the middle pair as `np.median` does.
pub fn median_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// `np.percentile(sorted, p)` with the default linear method; `p` in [0, 100].
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    // numpy's "linear" method: virtual index = (n - 1) * (p / 100).
    let (lo, hi, t) = percentile_ranks(n, p);
    lerp(sorted[lo], sorted[hi], t)
}

/// The positions `np.percentile(x, p)` reads in the ascending order of `n` values: the index
/// below its virtual index `(n − 1)·p/100`, the one above, and the weight of the upper one.
fn percentile_ranks(n: usize, p: f64) -> (usize, usize, f64) {
    let index = ((n - 1) as f64 * (p / 100.0)).clamp(0.0, (n - 1) as f64);
    let lo = index.floor() as usize;
    (lo, (lo + 1).min(n - 1), index - lo as f64)
}

/// The median and the `percentiles` of `xs`, exactly as [`median_sorted`] and
/// [`percentile_sorted`] give them on the sorted values, but found by selection
/// (`select_nth_unstable`): linear time for the few ranks they read, instead of a sort of
/// millions of inter-token latencies, and within `xs` itself (its order is lost), without a
/// copy. Zeros for an empty slice, as numpy's `[0]` would give.
pub fn median_and_percentiles_in_place(xs: &mut [f64], percentiles: &[f64]) -> (f64, Vec<f64>) {
    let n = xs.len();
    if n == 0 {
        return (0.0, vec![0.0; percentiles.len()]);
    }
    let mut ranks: Vec<usize> = vec![(n - 1) / 2, n / 2];
    for &p in percentiles {
        let (lo, hi, _) = percentile_ranks(n, p);
        ranks.extend([lo, hi]);
    }
    ranks.sort_unstable();
    ranks.dedup();
    // Each rank is selected within what lies above the previous one: the values there are
    // exactly the ones ranked after it, so the k-th of them is the rank sought.
    let mut values = Vec::with_capacity(ranks.len());
    let mut from = 0;
    for &rank in &ranks {
        let (_, value, _) = xs[from..].select_nth_unstable_by(rank - from, f64::total_cmp);
        values.push(*value);
        from = rank + 1;
    }
    let at = |rank: usize| {
        values[ranks
            .binary_search(&rank)
            .expect("every rank read was selected")]
    };
    let median = if n % 2 == 1 {
        at(n / 2)
    } else {
        (at(n / 2 - 1) + at(n / 2)) / 2.0
    };
    let ps = percentiles
        .iter()
        .map(|&p| {
            let (lo, hi, t) = percentile_ranks(n, p);
            lerp(at(lo), at(hi), t)
        })
        .collect();
    (median, ps)
}

/// numpy's `_lerp`: computes from the nearer end so that `t = 1` gives exactly `b`.
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// Sorts a copy of `xs` ascending by IEEE total order. `total_cmp` calls two values equal only
/// when their bits are equal, so the unstable (faster, in-place) sort gives the same result as
/// a stable one.
pub fn sorted(xs: &[f64]) -> Vec<f64> {
    let mut v = xs.to_vec();
    v.sort_unstable_by(f64::total_cmp);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_numpy_linear() {
        let xs = [1.0, 2.0, 3.0, 4.0];
        // np.percentile([1,2,3,4], [0, 25, 50, 90, 99, 100]) = 1, 1.75, 2.5, 3.7, 3.97, 4
        let want = [
            (0.0, 1.0),
            (25.0, 1.75),
            (50.0, 2.5),
            (90.0, 3.7),
            (99.0, 3.97),
            (100.0, 4.0),
        ];
        for (p, v) in want {
            assert!((percentile_sorted(&xs, p) - v).abs() < 1e-12, "p{p}");
        }
    }

    proptest::proptest! {
        /// Selection reads the same values a sort would, to the bit, ties and duplicates
        /// included.
        #[test]
        fn selection_equals_the_sorted_figures(
            xs in proptest::collection::vec(prop_oneof_values(), 0..300),
            ps in proptest::collection::vec(0.0f64..=100.0, 0..5),
        ) {
            let s = sorted(&xs);
            let (median, got) = median_and_percentiles_in_place(&mut xs.clone(), &ps);
            proptest::prop_assert_eq!(median.to_bits(), median_sorted(&s).to_bits());
            for (p, v) in ps.iter().zip(got) {
                proptest::prop_assert_eq!(v.to_bits(), percentile_sorted(&s, *p).to_bits());
            }
        }
    }

    /// Floats with many ties (a handful of distinct values) or spread out.
    fn prop_oneof_values() -> impl proptest::strategy::Strategy<Value = f64> {
        use proptest::prelude::*;
        prop_oneof![(0u8..4).prop_map(f64::from), 0.0f64..1.0]
    }

    #[test]
    fn pairwise_sum_follows_numpys_order() {
        // 1e16 + 1 + ... : a left fold loses every 1.0; numpy's blocks keep some of them.
        let mut xs = vec![1.0; 200];
        xs[0] = 1e16;
        let naive: f64 = xs.iter().sum();
        assert_eq!(naive, 1e16);
        // np.sum([1e16] + [1.0] * 199) == 1.0000000000000188e16
        assert_eq!(pairwise_sum(&xs), 1.0000000000000188e16);
        assert_eq!(pairwise_sum(&[1.0, 2.0, 3.0]), 6.0);
    }

    #[test]
    fn empty_behaves_as_zero_like_vllm() {
        assert_eq!(
            (mean(&[]), std_dev(&[]), median_sorted(&[])),
            (0.0, 0.0, 0.0)
        );
        assert_eq!(percentile_sorted(&[], 99.0), 0.0);
    }

    #[test]
    fn std_is_population_and_median_averages_middle_pair() {
        assert!((std_dev(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]) - 2.0).abs() < 1e-12);
        assert_eq!(median_sorted(&[1.0, 2.0, 10.0, 20.0]), 6.0);
        assert_eq!(median_sorted(&[1.0, 2.0, 10.0]), 2.0);
    }
}
