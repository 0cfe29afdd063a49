//! The handles callers hold: families to pick label values, and per-series counters, gauges and
//! histograms whose updates are a single atomic operation and never allocate.

use std::sync::Arc;

use super::cell::{AtomicF64, HistogramCell};
use super::family::FamilyCore;
use crate::error::RegistryError;

/// A family whose series are picked by label values.
pub trait LabelledFamily {
    /// The per-series handle.
    type Handle;

    /// The series for `values` (in label-name order), created on first use.
    fn labels(&self, values: &[&str]) -> Result<Self::Handle, RegistryError>;
}

/// Gives a family its inherent `labels` method and its [`LabelledFamily`] impl.
macro_rules! labelled_family {
    ($family:ident, $handle:ident) => {
        impl $family {
            /// The series for `values` (in label-name order), created on first use. Looking
            /// up an existing series takes a read lock and does not allocate.
            pub fn labels(&self, values: &[&str]) -> Result<$handle, RegistryError> {
                self.0.get_or_create(values).map($handle)
            }
        }

        impl LabelledFamily for $family {
            type Handle = $handle;

            fn labels(&self, values: &[&str]) -> Result<$handle, RegistryError> {
                $family::labels(self, values)
            }
        }
    };
}

/// A registered counter family (`prometheus_client.Counter` with label names).
#[derive(Debug, Clone)]
pub struct CounterFamily(pub(super) Arc<FamilyCore<AtomicF64>>);

/// One counter series. Cloning is cheap; [`Counter::inc_by`] is one atomic update.
#[derive(Debug, Clone)]
#[must_use = "counters do nothing unless you increment them"]
pub struct Counter(Arc<AtomicF64>);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.add(1.0);
    }

    /// Adds `delta`. Negative and NaN deltas are ignored: a counter never goes down.
    pub fn inc_by(&self, delta: f64) {
        if delta >= 0.0 {
            self.0.add(delta);
        }
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        self.0.get()
    }
}

labelled_family!(CounterFamily, Counter);

/// A registered gauge family.
#[derive(Debug, Clone)]
pub struct GaugeFamily(pub(super) Arc<FamilyCore<AtomicF64>>);

/// One gauge series.
#[derive(Debug, Clone)]
#[must_use = "gauges do nothing unless you set them"]
pub struct Gauge(Arc<AtomicF64>);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, value: f64) {
        self.0.set(value);
    }

    /// Adds `delta` (which may be negative).
    pub fn add(&self, delta: f64) {
        self.0.add(delta);
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        self.0.get()
    }
}

labelled_family!(GaugeFamily, Gauge);

/// A registered histogram family with fixed bucket bounds.
#[derive(Debug, Clone)]
pub struct HistogramFamily(pub(super) Arc<FamilyCore<HistogramCell>>);

/// One histogram series.
#[derive(Debug, Clone)]
#[must_use = "histograms do nothing unless you observe values"]
pub struct Histogram(Arc<HistogramCell>);

impl Histogram {
    /// Records one observation in the first bucket whose bound is ≥ `value`.
    pub fn observe(&self, value: f64) {
        self.0.observe(value);
    }

    /// Records `times` observations of `value` at once: the same buckets and the same sum
    /// (added one by one, so rounding too) as that many [`observe`](Self::observe) calls.
    pub fn observe_repeated(&self, value: f64, times: u64) {
        self.0.observe_repeated(value, times);
    }

    /// `(upper bound, cumulative count)` per bucket, `+Inf` last.
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        self.0.state().buckets
    }

    /// The number of observations.
    pub fn count(&self) -> u64 {
        self.0.state().count
    }

    /// The sum of observations.
    pub fn sum(&self) -> f64 {
        self.0.state().sum
    }
}

labelled_family!(HistogramFamily, Histogram);
