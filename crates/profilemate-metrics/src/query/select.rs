//! Series selection by name and label matchers, range vectors across scrapes, and `sum by`.

use std::collections::BTreeMap;

use super::rate::{Point, Window, rate};
use crate::alias::same_metric;
use crate::model::{Labels, Sample, Scrape};

/// A label matcher: `name="value"` or `name!="value"`. A missing label matches `""`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matcher<'a> {
    /// The label name.
    pub name: &'a str,
    /// The value compared against.
    pub value: &'a str,
    /// `true` for `!=`.
    pub negate: bool,
}

impl<'a> Matcher<'a> {
    /// `name="value"`.
    pub fn eq(name: &'a str, value: &'a str) -> Self {
        Self {
            name,
            value,
            negate: false,
        }
    }

    /// `name!="value"`.
    pub fn ne(name: &'a str, value: &'a str) -> Self {
        Self {
            name,
            value,
            negate: true,
        }
    }

    /// Whether `labels` satisfy this matcher.
    pub fn matches(&self, labels: &Labels) -> bool {
        (labels.get(self.name).unwrap_or("") == self.value) != self.negate
    }
}

/// An instant vector: one value per label set.
pub type InstantVector = Vec<(Labels, f64)>;

/// A range vector: the points of each label set, oldest first.
pub type RangeVector = Vec<(Labels, Vec<Point>)>;

impl Scrape {
    /// The samples named `name` (Ray `vllm_` spellings accepted) whose labels satisfy every
    /// matcher.
    pub fn select<'s>(
        &'s self,
        name: &'s str,
        matchers: &'s [Matcher<'_>],
    ) -> impl Iterator<Item = &'s Sample> {
        self.samples()
            .filter(move |s| same_metric(&s.name, name))
            .filter(move |s| matchers.iter().all(|m| m.matches(&s.labels)))
    }

    /// [`Scrape::select`] as an instant vector.
    pub fn instant(&self, name: &str, matchers: &[Matcher<'_>]) -> InstantVector {
        self.select(name, matchers)
            .map(|s| (s.labels.clone(), s.value))
            .collect()
    }

    /// The value of the single series `name` with `matchers`, if exactly one matches.
    pub fn value(&self, name: &str, matchers: &[Matcher<'_>]) -> Option<f64> {
        let mut hits = self.select(name, matchers);
        let first = hits.next()?;
        hits.next().is_none().then_some(first.value)
    }
}

/// The series `name` across scrapes taken at the given times (seconds), one point per scrape in
/// which the series is present.
pub fn range_vector(
    scrapes: &[(f64, &Scrape)],
    name: &str,
    matchers: &[Matcher<'_>],
) -> RangeVector {
    let mut series: BTreeMap<Labels, Vec<Point>> = BTreeMap::new();
    for &(t, scrape) in scrapes {
        for s in scrape.select(name, matchers) {
            series
                .entry(s.labels.clone())
                .or_default()
                .push(Point { t, v: s.value });
        }
    }
    series.into_iter().collect()
}

/// `rate(name[window])` per series; series with fewer than two points in the window are dropped.
pub fn rate_by_series(range: &RangeVector, window: Window) -> InstantVector {
    range
        .iter()
        .filter_map(|(labels, points)| Some((labels.clone(), rate(points, window)?)))
        .collect()
}

/// `sum by (labels…) (vector)`: values summed per group, groups ordered by their labels.
pub fn sum_by(vector: &[(Labels, f64)], by: &[&str]) -> InstantVector {
    let mut groups: BTreeMap<Labels, f64> = BTreeMap::new();
    for (labels, value) in vector {
        *groups.entry(labels.keep_only(by)).or_default() += value;
    }
    groups.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    const TEXT: &str = "vllm_x{engine=\"0\",m=\"a\"} 1\nvllm:x{engine=\"1\",m=\"a\"} 2\n\
                        vllm:x{engine=\"1\",m=\"b\"} 4\nvllm:y 8\n";

    #[test]
    fn selects_with_matchers_and_ray_aliases() {
        let scrape = parse(TEXT).unwrap();
        assert_eq!(scrape.instant("vllm:x", &[]).len(), 3);
        assert_eq!(
            scrape.value("vllm:x", &[Matcher::eq("engine", "0")]),
            Some(1.0)
        );
        assert_eq!(scrape.value("vllm_y", &[]), Some(8.0));
        assert_eq!(
            scrape.value("vllm:x", &[Matcher::ne("m", "b")]),
            None,
            "two series match"
        );
        assert_eq!(scrape.value("vllm:x", &[Matcher::eq("absent", "")]), None);
        assert_eq!(
            scrape.instant("vllm:x", &[Matcher::eq("absent", "")]).len(),
            3
        );
    }

    #[test]
    fn sums_by_any_label_or_everything() {
        let scrape = parse(TEXT).unwrap();
        let v = scrape.instant("vllm:x", &[]);
        let by_engine = sum_by(&v, &["engine"]);
        assert_eq!(by_engine[0], (Labels::from_pairs([("engine", "0")]), 1.0));
        assert_eq!(by_engine[1], (Labels::from_pairs([("engine", "1")]), 6.0));
        assert_eq!(sum_by(&v, &[]), vec![(Labels::new(), 7.0)]);
    }

    #[test]
    fn rates_across_scrapes_handle_resets_and_sum_over_engines() {
        let scrape = |e0: f64, e1: f64| {
            parse(&format!(
                "c_total{{engine=\"0\"}} {e0}\nc_total{{engine=\"1\"}} {e1}\n"
            ))
            .unwrap()
        };
        let (a, b, c) = (scrape(100.0, 0.0), scrape(150.0, 10.0), scrape(30.0, 20.0));
        let range = range_vector(&[(0.0, &a), (10.0, &b), (20.0, &c)], "c_total", &[]);
        assert_eq!(range.len(), 2);
        assert_eq!(range[0].1.len(), 3);
        // Engine 0 restarted: 30 - 100 + 150 = 80 over 20 s; engine 1 gained 20.
        let rates = rate_by_series(
            &range,
            Window {
                start: -1e-9,
                end: 20.0,
            },
        );
        assert!(
            (rates[0].1 - 4.0).abs() < 1e-6 && (rates[1].1 - 1.0).abs() < 1e-6,
            "{rates:?}"
        );
        let total = sum_by(&rates, &[]);
        assert!((total[0].1 - 5.0).abs() < 1e-6);
        let one_scrape = range_vector(&[(0.0, &a)], "c_total", &[]);
        assert!(
            rate_by_series(
                &one_scrape,
                Window {
                    start: -1.0,
                    end: 0.0
                }
            )
            .is_empty()
        );
    }
}
