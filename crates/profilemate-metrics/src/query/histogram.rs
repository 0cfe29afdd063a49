//! Histograms read from scrapes: per-series buckets, deltas between two scrapes (reset-aware),
//! sums across engines or any label, and windowed quantiles.

use std::collections::BTreeMap;

use super::quantile::{Bucket, histogram_quantile};
use super::select::Matcher;
use crate::model::{Labels, Scrape};
use crate::number::parse_go_float;

/// One histogram series: its labels (without `le`), cumulative buckets, sum and count.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSeries {
    /// The series' labels, `le` removed.
    pub labels: Labels,
    /// Cumulative buckets in increasing `le`.
    pub buckets: Vec<Bucket>,
    /// `<name>_sum` (0 when the scrape has none).
    pub sum: f64,
    /// `<name>_count` (0 when the scrape has none).
    pub count: f64,
}

impl Scrape {
    /// The histogram series of family `name` (e.g. `vllm:iteration_tokens_total`), read from its
    /// `_bucket`, `_sum` and `_count` samples. Buckets with an unreadable `le` are skipped.
    pub fn histograms(&self, name: &str, matchers: &[Matcher<'_>]) -> Vec<HistogramSeries> {
        let mut series: BTreeMap<Labels, HistogramSeries> = BTreeMap::new();
        for s in self.select(&format!("{name}_bucket"), matchers) {
            let mut labels = s.labels.clone();
            let Some(le) = labels.remove("le").and_then(|le| parse_go_float(&le)) else {
                continue;
            };
            series_for(&mut series, labels)
                .buckets
                .push(Bucket { le, count: s.value });
        }
        for s in self.select(&format!("{name}_sum"), matchers) {
            series_for(&mut series, s.labels.clone()).sum = s.value;
        }
        for s in self.select(&format!("{name}_count"), matchers) {
            series_for(&mut series, s.labels.clone()).count = s.value;
        }
        series.into_values().map(sorted).collect()
    }
}

fn series_for(map: &mut BTreeMap<Labels, HistogramSeries>, labels: Labels) -> &mut HistogramSeries {
    map.entry(labels.clone())
        .or_insert_with(|| HistogramSeries {
            labels,
            buckets: Vec::new(),
            sum: 0.0,
            count: 0.0,
        })
}

fn sorted(mut s: HistogramSeries) -> HistogramSeries {
    s.buckets.sort_by(|a, b| a.le.total_cmp(&b.le));
    s
}

/// The per-series increase from `earlier` to `later`, matched by labels: what
/// `increase(x_bucket[…])` sees between two scrapes. A series whose count or any bucket went
/// down was reset in between, so its `later` state is the increase. Series new in `later` count
/// from zero.
pub fn bucket_increase(
    earlier: &[HistogramSeries],
    later: &[HistogramSeries],
) -> Vec<HistogramSeries> {
    later
        .iter()
        .map(
            |new| match earlier.iter().find(|old| old.labels == new.labels) {
                Some(old) if !was_reset(old, new) => subtract(old, new),
                _ => new.clone(),
            },
        )
        .collect()
}

fn was_reset(old: &HistogramSeries, new: &HistogramSeries) -> bool {
    new.count < old.count
        || new.buckets.iter().any(|b| {
            old.buckets
                .iter()
                .any(|o| o.le == b.le && b.count < o.count)
        })
}

fn subtract(old: &HistogramSeries, new: &HistogramSeries) -> HistogramSeries {
    let before = |le: f64| {
        old.buckets
            .iter()
            .find(|o| o.le == le)
            .map_or(0.0, |o| o.count)
    };
    let buckets = new.buckets.iter().map(|b| Bucket {
        le: b.le,
        count: b.count - before(b.le),
    });
    HistogramSeries {
        labels: new.labels.clone(),
        buckets: buckets.collect(),
        sum: new.sum - old.sum,
        count: new.count - old.count,
    }
}

/// `sum by (labels…, le)`: histograms summed bucket by bucket within each group.
pub fn sum_histograms_by(series: &[HistogramSeries], by: &[&str]) -> Vec<HistogramSeries> {
    let mut groups: BTreeMap<Labels, HistogramSeries> = BTreeMap::new();
    for s in series {
        let group = series_for(&mut groups, s.labels.keep_only(by));
        group.sum += s.sum;
        group.count += s.count;
        for b in &s.buckets {
            match group.buckets.iter_mut().find(|g| g.le == b.le) {
                Some(g) => g.count += b.count,
                None => group.buckets.push(*b),
            }
        }
    }
    groups.into_values().map(sorted).collect()
}

/// `histogram_quantile(q, sum(increase(name_bucket[window])))` for the window between two
/// scrapes, summed over every series matching `matchers` (all engines). NaN when nothing was
/// observed in the window.
pub fn windowed_quantile(
    q: f64,
    earlier: &Scrape,
    later: &Scrape,
    name: &str,
    matchers: &[Matcher<'_>],
) -> f64 {
    let delta = bucket_increase(
        &earlier.histograms(name, matchers),
        &later.histograms(name, matchers),
    );
    match sum_histograms_by(&delta, &[]).first() {
        Some(total) => histogram_quantile(q, &total.buckets),
        None => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    fn scrape(e0: [f64; 3], e1: [f64; 3]) -> Scrape {
        let mut text = String::new();
        for (engine, counts) in [("0", e0), ("1", e1)] {
            for (le, n) in ["1.0", "2.0", "+Inf"].iter().zip(counts) {
                text += &format!("h_bucket{{engine=\"{engine}\",le=\"{le}\"}} {n}\n");
            }
            text += &format!(
                "h_count{{engine=\"{engine}\"}} {}\nh_sum{{engine=\"{engine}\"}} {}\n",
                counts[2],
                counts[2] * 1.5
            );
        }
        parse(&text).unwrap()
    }

    #[test]
    fn reads_buckets_sum_and_count_per_series() {
        let s = scrape([1.0, 3.0, 4.0], [0.0, 0.0, 2.0]).histograms("h", &[]);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].labels, Labels::from_pairs([("engine", "0")]));
        assert_eq!(
            s[0].buckets[1],
            Bucket {
                le: 2.0,
                count: 3.0
            }
        );
        assert_eq!((s[0].sum, s[0].count), (6.0, 4.0));
    }

    #[test]
    fn windowed_quantile_uses_bucket_deltas_and_handles_resets() {
        let before = scrape([1.0, 3.0, 4.0], [5.0, 5.0, 9.0]);
        // Engine 0 gains (+2 ≤ 1, +4 ≤ 2, +4 total); engine 1 restarted (count 9 → 2).
        let after = scrape([3.0, 7.0, 8.0], [0.0, 1.0, 2.0]);
        let delta = bucket_increase(&before.histograms("h", &[]), &after.histograms("h", &[]));
        assert_eq!(
            delta[0].buckets.iter().map(|b| b.count).collect::<Vec<_>>(),
            [2.0, 4.0, 4.0]
        );
        assert_eq!(
            delta[1].buckets.iter().map(|b| b.count).collect::<Vec<_>>(),
            [0.0, 1.0, 2.0]
        );
        // Summed: ≤1: 2, ≤2: 5, +Inf: 6. p50 = rank 3 in (1, 2]: 1 + (3-2)/(5-2) = 4/3.
        let p50 = windowed_quantile(0.5, &before, &after, "h", &[]);
        assert!((p50 - 4.0 / 3.0).abs() < 1e-12);
        let only_e0 = windowed_quantile(0.5, &before, &after, "h", &[Matcher::eq("engine", "0")]);
        assert!(
            (only_e0 - 1.0).abs() < 1e-12,
            "rank 2 of 4 ends bucket ≤1: {only_e0}"
        );
        assert!(windowed_quantile(0.5, &before, &before, "h", &[]).is_nan());
    }
}
