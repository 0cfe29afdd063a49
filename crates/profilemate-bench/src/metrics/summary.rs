//! Defines [`Summary`]: mean, median, std and chosen percentiles of one latency metric, in ms.

use super::stats::{mean, median_and_percentiles_in_place, std_dev};
use crate::record::Seconds;

/// One metric's statistics in milliseconds, as vLLM prints and saves them.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// `mean_<metric>_ms`.
    pub mean_ms: f64,
    /// `median_<metric>_ms`.
    pub median_ms: f64,
    /// `std_<metric>_ms` (population).
    pub std_ms: f64,
    /// `(p, p<p>_<metric>_ms)` for each `--metric-percentiles` value.
    pub percentiles_ms: Vec<(f64, f64)>,
}

impl Summary {
    /// Summarises samples given in seconds; an empty sample gives zeros, as in vLLM.
    pub fn from_seconds(values: &[Seconds], percentiles: &[f64]) -> Self {
        Self::from_samples(values.to_vec(), percentiles)
    }

    /// [`from_seconds`](Self::from_seconds) taking the samples: the order statistics are
    /// selected within them, after the mean and std have read them in their order.
    pub fn from_samples(mut values: Vec<Seconds>, percentiles: &[f64]) -> Self {
        let (mean_s, std_s) = (mean(&values), std_dev(&values));
        let (median, ps) = median_and_percentiles_in_place(&mut values, percentiles);
        Self {
            mean_ms: mean_s * 1000.0,
            median_ms: median * 1000.0,
            std_ms: std_s * 1000.0,
            percentiles_ms: percentiles
                .iter()
                .zip(ps)
                .map(|(&p, v)| (p, v * 1000.0))
                .collect(),
        }
    }

    /// The largest requested percentile value, if any was requested.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        self.percentiles_ms
            .iter()
            .find(|(q, _)| *q == p)
            .map(|(_, v)| *v)
    }
}

/// vLLM's percentile label: `99` for integral values, `99.9` otherwise
/// (`str(int(p)) if int(p) == p else str(p)` in serve.py).
pub fn percentile_label(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("{}", p as i64)
    } else {
        format!("{p}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_python_str() {
        assert_eq!(percentile_label(99.0), "99");
        assert_eq!(percentile_label(99.9), "99.9");
        assert_eq!(percentile_label(50.0), "50");
    }

    #[test]
    fn summary_is_in_milliseconds() {
        let s = Summary::from_seconds(&[0.010, 0.020, 0.030], &[50.0]);
        assert!((s.mean_ms - 20.0).abs() < 1e-12);
        assert_eq!(s.percentile(50.0), Some(s.median_ms));
    }
}
