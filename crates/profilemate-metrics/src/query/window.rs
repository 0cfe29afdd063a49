//! The window between two scrapes of one server: per-series counter increases (reset-aware),
//! their sums, and the histograms observed in between, with mean and quantiles.

use super::histogram::{HistogramSeries, bucket_increase, sum_histograms_by};
use super::quantile::histogram_quantile;
use super::rate::{Point, reset_adjusted_delta};
use super::select::{InstantVector, Matcher, sum_by};
use crate::model::Scrape;

/// How much each series of counter `name` grew from `earlier` to `later`, matched by labels: a
/// series that went down was reset in between (its `later` value is the increase), a series new
/// in `later` counts from zero. Series only in `earlier` are dropped.
pub fn counter_increase(
    earlier: &Scrape,
    later: &Scrape,
    name: &str,
    matchers: &[Matcher<'_>],
) -> InstantVector {
    let before = earlier.instant(name, matchers);
    later
        .instant(name, matchers)
        .into_iter()
        .map(|(labels, v)| {
            let old = before
                .iter()
                .find(|(l, _)| *l == labels)
                .map_or(0.0, |(_, v)| *v);
            let points = [Point { t: 0.0, v: old }, Point { t: 1.0, v }];
            (labels, reset_adjusted_delta(&points).unwrap_or(0.0))
        })
        .collect()
}

/// `sum(increase(name[window]))` between two scrapes, without extrapolation: the summed
/// [`counter_increase`]. `None` when `later` has no such series.
pub fn total_increase(
    earlier: &Scrape,
    later: &Scrape,
    name: &str,
    matchers: &[Matcher<'_>],
) -> Option<f64> {
    let inc = counter_increase(earlier, later, name, matchers);
    (!inc.is_empty()).then(|| inc.iter().map(|(_, v)| v).sum())
}

/// [`counter_increase`] summed by the labels `by` (`sum by (engine)`).
pub fn increase_by(earlier: &Scrape, later: &Scrape, name: &str, by: &[&str]) -> InstantVector {
    sum_by(&counter_increase(earlier, later, name, &[]), by)
}

/// The observations histogram `name` gained between two scrapes (bucket, sum and count
/// deltas, reset-aware), summed by the labels `by` (`&[]` for one total).
pub fn histogram_increase(
    earlier: &Scrape,
    later: &Scrape,
    name: &str,
    matchers: &[Matcher<'_>],
    by: &[&str],
) -> Vec<HistogramSeries> {
    let delta = bucket_increase(
        &earlier.histograms(name, matchers),
        &later.histograms(name, matchers),
    );
    sum_histograms_by(&delta, by)
}

impl HistogramSeries {
    /// `sum / count`: the mean observation, `None` with no observations.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0.0).then(|| self.sum / self.count)
    }

    /// `histogram_quantile(q, …)` of these buckets: NaN with no observations.
    pub fn quantile(&self, q: f64) -> f64 {
        histogram_quantile(q, &self.buckets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;
    use crate::parse::parse;

    #[test]
    fn counters_increase_per_series_through_resets_and_new_series() {
        let before =
            parse("c_total{e=\"0\"} 10\nc_total{e=\"1\"} 50\nc_total{e=\"9\"} 7\n").unwrap();
        let after = parse("c_total{e=\"0\"} 25\nc_total{e=\"1\"} 4\nc_total{e=\"2\"} 3\n").unwrap();
        let inc = counter_increase(&before, &after, "c_total", &[]);
        let values: Vec<f64> = inc.iter().map(|(_, v)| *v).collect();
        // e0 +15; e1 restarted (4); e2 new (3); e9 gone.
        assert_eq!(values, [15.0, 4.0, 3.0]);
        assert_eq!(total_increase(&before, &after, "c_total", &[]), Some(22.0));
        assert_eq!(total_increase(&before, &after, "d_total", &[]), None);
        let by = increase_by(&before, &after, "c_total", &["e"]);
        assert_eq!(by[0], (Labels::from_pairs([("e", "0")]), 15.0));
    }

    #[test]
    fn histogram_windows_give_mean_and_quantiles() {
        let h = |n: [f64; 3], sum: f64| {
            parse(&format!(
                "h_bucket{{le=\"1.0\"}} {}\nh_bucket{{le=\"2.0\"}} {}\nh_bucket{{le=\"+Inf\"}} {}\nh_sum {sum}\nh_count {}\n",
                n[0], n[1], n[2], n[2]
            ))
            .unwrap()
        };
        let w = histogram_increase(
            &h([1.0, 1.0, 1.0], 0.5),
            &h([3.0, 5.0, 5.0], 6.5),
            "h",
            &[],
            &[],
        );
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].count, w[0].sum, w[0].mean()), (4.0, 6.0, Some(1.5)));
        // 4 new: 2 ≤ 1, 2 in (1, 2]. p50 = rank 2 → 1.0; p75 = rank 3 → 1.5.
        assert_eq!(w[0].quantile(0.5), 1.0);
        assert_eq!(w[0].quantile(0.75), 1.5);
        let none = histogram_increase(
            &h([1.0, 1.0, 1.0], 0.5),
            &h([1.0, 1.0, 1.0], 0.5),
            "h",
            &[],
            &[],
        );
        assert_eq!(none[0].mean(), None);
        assert!(none[0].quantile(0.5).is_nan());
    }
}
