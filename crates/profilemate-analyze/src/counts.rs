//! Provides [`ValueCounts`]: how many times each whole-number value occurred, in memory bounded
//! by the range of values rather than by their number, with exact numpy-style percentiles.
//!
//! The log prints step times as `%.2f` ms and token and request counts as integers, so counting
//! hundredths of a millisecond (and whole tokens) loses nothing: a 1 GB log and a 100 GB log
//! take the same memory.

use std::collections::BTreeMap;

/// Values below this are counted in a dense table (at most 8 MiB); larger ones in a map.
const DENSE_LIMIT: u64 = 1 << 20;

/// Occurrence counts of `u64` values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValueCounts {
    /// `dense[v]`: occurrences of `v`, for `v` below [`DENSE_LIMIT`]; grown to the largest seen.
    dense: Vec<u64>,
    /// Occurrences of values from [`DENSE_LIMIT`] on.
    sparse: BTreeMap<u64, u64>,
    /// Values counted.
    total: u64,
}

impl ValueCounts {
    /// Counts one occurrence of `value`.
    #[inline]
    pub fn add(&mut self, value: u64) {
        self.add_n(value, 1);
    }

    fn add_n(&mut self, value: u64, n: u64) {
        self.total += n;
        if value >= DENSE_LIMIT {
            *self.sparse.entry(value).or_default() += n;
            return;
        }
        let at = value as usize;
        if at >= self.dense.len() {
            let len = (at + 1).next_power_of_two().min(DENSE_LIMIT as usize);
            self.dense.resize(len, 0);
        }
        self.dense[at] += n;
    }

    /// Adds every occurrence counted in `other`.
    pub fn merge(&mut self, other: &ValueCounts) {
        for (value, n) in other.iter() {
            self.add_n(value, n);
        }
    }

    /// Values counted.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// `(value, occurrences)` in rising value order, values that occurred only.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let dense = self
            .dense
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(v, n)| (v as u64, *n));
        dense.chain(self.sparse.iter().map(|(v, n)| (*v, *n)))
    }

    /// Σ value × occurrences.
    pub fn sum(&self) -> f64 {
        self.iter().map(|(v, n)| v as f64 * n as f64).sum()
    }

    /// The largest value counted.
    pub fn max(&self) -> Option<u64> {
        self.iter().last().map(|(v, _)| v)
    }

    /// Occurrences of values at least `floor`.
    pub fn at_least(&self, floor: f64) -> u64 {
        self.iter()
            .filter(|(v, _)| *v as f64 >= floor)
            .map(|(_, n)| n)
            .sum()
    }

    /// numpy's default (linear) percentiles `qs` (rising, 0-100) of the counted values, each
    /// divided by `unit` (100 for hundredths), as `np.percentile` of the list with every value
    /// repeated as often as it occurred.
    pub fn percentiles<const N: usize>(&self, qs: [f64; N], unit: f64) -> [f64; N] {
        let mut out = [0.0; N];
        if self.total == 0 {
            return out;
        }
        let mut values = self.iter().peekable();
        // `seen`: occurrences before `current`, which covers ranks seen..seen+n. The low rank
        // of each percentile never goes down, so the walk only moves forward.
        let (mut seen, mut current) = (0u64, values.next().unwrap_or_default());
        for (q, slot) in qs.iter().zip(out.iter_mut()) {
            let rank = q / 100.0 * (self.total - 1) as f64;
            let (lo, hi) = (rank.floor() as u64, rank.ceil() as u64);
            while lo >= seen + current.1 {
                let Some(next) = values.next() else { break };
                seen += current.1;
                current = next;
            }
            let low = current.0;
            let high = match values.peek() {
                Some(next) if hi >= seen + current.1 => next.0,
                _ => low,
            };
            let (low, high) = (low as f64 / unit, high as f64 / unit);
            *slot = low + (high - low) * (rank - lo as f64);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numpy_percentile(sorted: &[u64], q: f64) -> f64 {
        let rank = q / 100.0 * (sorted.len() - 1) as f64;
        let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
        sorted[lo] as f64 + (sorted[hi] as f64 - sorted[lo] as f64) * (rank - lo as f64)
    }

    #[test]
    fn counts_small_and_large_values() {
        let mut c = ValueCounts::default();
        for v in [3, 1, 3, DENSE_LIMIT + 5, 0] {
            c.add(v);
        }
        assert_eq!(c.len(), 5);
        assert_eq!(c.max(), Some(DENSE_LIMIT + 5));
        assert_eq!(c.at_least(3.0), 3);
        assert_eq!(c.sum(), (7 + DENSE_LIMIT + 5) as f64);
        assert_eq!(
            c.percentiles([0.0, 50.0, 100.0], 1.0),
            [0.0, 3.0, (DENSE_LIMIT + 5) as f64]
        );
        assert_eq!(ValueCounts::default().percentiles([50.0], 1.0), [0.0]);
    }

    proptest::proptest! {
        #[test]
        fn percentiles_equal_numpy_on_the_repeated_list(
            values in proptest::collection::vec(
                proptest::prop_oneof![0u64..50, 1000u64..1100, DENSE_LIMIT..DENSE_LIMIT + 100],
                1..300),
            split in 0usize..300,
        ) {
            let mut sorted = values.clone();
            sorted.sort_unstable();
            // Counted in two parts and merged, as the all-engines view does.
            let split = split.min(values.len());
            let (mut a, mut b) = (ValueCounts::default(), ValueCounts::default());
            values[..split].iter().for_each(|v| a.add(*v));
            values[split..].iter().for_each(|v| b.add(*v));
            a.merge(&b);
            let qs = [0.0, 50.0, 90.0, 99.0, 100.0];
            let got = a.percentiles(qs, 1.0);
            for (q, got) in qs.iter().zip(got) {
                proptest::prop_assert_eq!(got, numpy_percentile(&sorted, *q));
            }
            proptest::prop_assert_eq!(a.max(), sorted.last().copied());
            proptest::prop_assert_eq!(a.sum(), sorted.iter().map(|v| *v as f64).sum::<f64>());
        }
    }
}
