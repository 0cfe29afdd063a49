//! Lock-free value cells behind the metric handles: an atomic `f64` and a histogram.

use std::sync::atomic::{AtomicU64, Ordering};

/// An `f64` stored as bits in an `AtomicU64`.
#[derive(Debug, Default)]
pub(crate) struct AtomicF64(AtomicU64);

impl AtomicF64 {
    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    pub(crate) fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }

    pub(crate) fn add(&self, delta: f64) {
        self.add_repeated(delta, 1);
    }

    /// Adds `delta` `times` times, one addition after another (the same rounding as that
    /// many [`add`](Self::add) calls), in one atomic update.
    pub(crate) fn add_repeated(&self, delta: f64, times: u64) {
        let mut old = self.0.load(Ordering::Relaxed);
        loop {
            let sum = (0..times).fold(f64::from_bits(old), |acc, _| acc + delta);
            let new = sum.to_bits();
            match self
                .0
                .compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(seen) => old = seen,
            }
        }
    }
}

/// Per-bucket (non-cumulative) counts, a sum and a count.
#[derive(Debug)]
pub(crate) struct HistogramCell {
    /// Finite upper bounds, strictly increasing; `+Inf` is implicit.
    bounds: std::sync::Arc<[f64]>,
    /// One count per bound plus the `+Inf` bucket.
    counts: Box<[AtomicU64]>,
    sum: AtomicF64,
}

/// A consistent-enough copy of a histogram's state.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HistogramState {
    /// `(upper bound, cumulative count)`, `+Inf` last.
    pub(crate) buckets: Vec<(f64, u64)>,
    pub(crate) sum: f64,
    pub(crate) count: u64,
}

impl HistogramCell {
    pub(crate) fn new(bounds: std::sync::Arc<[f64]>) -> Self {
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self {
            bounds,
            counts,
            sum: AtomicF64::default(),
        }
    }

    /// Records one observation: the first bucket whose bound is ≥ `value` (`+Inf` for NaN).
    pub(crate) fn observe(&self, value: f64) {
        self.observe_repeated(value, 1);
    }

    /// Records `times` observations of the same `value`, exactly as that many
    /// [`observe`](Self::observe) calls would.
    pub(crate) fn observe_repeated(&self, value: f64, times: u64) {
        let idx = self
            .bounds
            .partition_point(|&b| b < value || value.is_nan());
        self.counts[idx].fetch_add(times, Ordering::Relaxed);
        self.sum.add_repeated(value, times);
    }

    pub(crate) fn state(&self) -> HistogramState {
        let mut running = 0;
        let bounds = self
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY));
        let buckets = bounds
            .zip(self.counts.iter())
            .map(|(bound, n)| {
                running += n.load(Ordering::Relaxed);
                (bound, running)
            })
            .collect();
        HistogramState {
            buckets,
            sum: self.sum.get(),
            count: running,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_f64_adds_and_sets() {
        let a = AtomicF64::default();
        a.add(1.5);
        a.add(2.25);
        assert_eq!(a.get(), 3.75);
        a.set(-1.0);
        assert_eq!(a.get(), -1.0);
    }

    #[test]
    fn histogram_buckets_are_upper_inclusive_and_cumulative() {
        let h = HistogramCell::new(vec![1.0, 5.0].into());
        for v in [0.5, 1.0, 1.01, 5.0, 7.0] {
            h.observe(v);
        }
        let s = h.state();
        assert_eq!(s.buckets, vec![(1.0, 2), (5.0, 4), (f64::INFINITY, 5)]);
        assert_eq!((s.sum, s.count), (14.51, 5));
    }

    #[test]
    fn repeated_observations_match_one_by_one() {
        let (one, many) = (
            HistogramCell::new(vec![0.01].into()),
            HistogramCell::new(vec![0.01].into()),
        );
        for v in [0.1, 0.007, 0.007, 0.007, 0.3] {
            one.observe(v);
        }
        many.observe_repeated(0.1, 1);
        many.observe_repeated(0.007, 3);
        many.observe_repeated(0.3, 1);
        many.observe_repeated(0.5, 0);
        assert_eq!(one.state(), many.state());
        assert_eq!(one.state().sum.to_bits(), many.state().sum.to_bits());
    }
}
