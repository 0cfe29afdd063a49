//! The highest load that meets every SLO: bracket by doubling, then bisect, and stop at the knee.
//!
//! The search assumes what holds for a serving engine under open-loop load: latency does not fall
//! as the offered load rises. It probes a load, doubles while every SLO is met (halves while one
//! is not) until it holds a passing and a failing load, then bisects until the two are within the
//! stated relative tolerance. A probe that shows saturation (the engine no longer keeps up with the
//! offered load) bounds the search from above like an SLO miss, so the search never runs past the
//! knee: it stops doubling there and says that saturation, not an SLO, set the limit.

/// How a probe at one load came out.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeOutcome<T> {
    /// Every SLO met.
    pub meets_slos: bool,
    /// The engine did not keep up with the offered load (see [`is_saturated`]).
    pub saturated: bool,
    /// What the prober measured (a bench summary, a simulated run), kept for the report.
    pub detail: T,
}

/// One probe the search made, in the order it made them.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe<T> {
    /// The offered load (request rate or concurrency).
    pub load: f64,
    /// What it showed.
    pub outcome: ProbeOutcome<T>,
}

/// The search's bounds and stopping rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchSettings {
    /// The first load probed.
    pub start: f64,
    /// The lowest load worth probing; if it fails, no load meets the SLOs.
    pub min: f64,
    /// The highest load probed; if it passes, the capacity is at least this.
    pub max: f64,
    /// Stop when the failing bound is within this fraction above the passing one (0.05 = 5 %).
    pub tolerance: f64,
    /// Stop after this many probes whatever the bracket.
    pub max_probes: usize,
}

/// Why the settings were refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SearchSettingsError {
    /// `min`, `start`, `max` not positive, finite and ordered.
    #[error(
        "search bounds must satisfy 0 < min ≤ start ≤ max (got min {min}, start {start}, max {max}): pass a positive start within the bounds"
    )]
    Bounds {
        /// `min`.
        min: f64,
        /// `start`.
        start: f64,
        /// `max`.
        max: f64,
    },
    /// Tolerance not in (0, 1].
    #[error("search tolerance must be in (0, 1] (got {0}): e.g. 0.05 for 5 %")]
    Tolerance(f64),
    /// No probe allowed.
    #[error("the search needs at least one probe")]
    NoProbes,
}

impl SearchSettings {
    /// Checks the bounds and tolerance.
    pub fn validate(&self) -> Result<(), SearchSettingsError> {
        let ordered = self.min > 0.0 && self.min <= self.start && self.start <= self.max;
        if !(ordered && self.max.is_finite()) {
            return Err(SearchSettingsError::Bounds {
                min: self.min,
                start: self.start,
                max: self.max,
            });
        }
        if !(self.tolerance > 0.0 && self.tolerance <= 1.0) {
            return Err(SearchSettingsError::Tolerance(self.tolerance));
        }
        if self.max_probes == 0 {
            return Err(SearchSettingsError::NoProbes);
        }
        Ok(())
    }
}

/// What bounded the capacity from above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The lowest failing load missed an SLO without saturating.
    Slo,
    /// The lowest failing load saturated the engine (it may still have met the SLOs).
    Saturation,
    /// No failing load was found up to `max`.
    SearchMaximum,
}

/// The search's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Capacity {
    /// The highest passing load probed, and the lowest failing one above it.
    Found {
        /// The highest load that met every SLO without saturating.
        load: f64,
        /// The lowest load that did not (`None` when `limit` is `SearchMaximum`).
        failing_load: Option<f64>,
        /// What set the limit.
        limit: Limit,
        /// Whether the bracket closed to the tolerance (false when `max_probes` ran out).
        converged: bool,
    },
    /// Even `min` missed an SLO or saturated.
    NoneMeets {
        /// The lowest load probed.
        lowest_probed: f64,
    },
}

/// The answer and every probe behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchReport<T> {
    /// The capacity found.
    pub capacity: Capacity,
    /// The probes, in order.
    pub probes: Vec<Probe<T>>,
}

/// Runs the search, calling `probe` once per load; an error from `probe` ends it.
pub fn find_capacity<T, E>(
    settings: &SearchSettings,
    probe: impl FnMut(f64) -> Result<ProbeOutcome<T>, E>,
) -> Result<SearchReport<T>, E>
where
    E: From<SearchSettingsError>,
{
    find_capacity_near(settings, 2.0, probe)
}

/// Steps down [`find_capacity_near`] takes at its first step before they grow.
pub const CONSTANT_STEPS_DOWN: usize = 8;

/// [`find_capacity`] from a good guess at `settings.start`: steps are the factor `first_step`
/// (> 1) instead of 2. Steps up grow, each the square of the last (up to 2); the first
/// [`CONSTANT_STEPS_DOWN`] steps down stay at `first_step` (then they grow the same way), since
/// a simulated probe above the capacity usually fails early (it stops once its SLO has
/// certainly failed) while one below runs to the end: walking down in small failing steps
/// costs less than overshooting into passing loads that a bisection then needs. So a guess up
/// to that many steps above the answer costs one passing probe, and one far above it still
/// reaches the answer in a few more. `first_step` of 2 is
/// [`find_capacity`].
pub fn find_capacity_near<T, E>(
    settings: &SearchSettings,
    first_step: f64,
    mut probe: impl FnMut(f64) -> Result<ProbeOutcome<T>, E>,
) -> Result<SearchReport<T>, E>
where
    E: From<SearchSettingsError>,
{
    settings.validate()?;
    let first_step = if first_step.is_finite() && first_step > 1.0 {
        first_step.min(2.0)
    } else {
        2.0
    };
    let mut step = first_step;
    let (mut down_step, mut steps_down) = (first_step, 0);
    let mut probes: Vec<Probe<T>> = Vec::new();
    // Highest passing load; lowest failing load and whether it saturated.
    let mut passing: Option<f64> = None;
    let mut failing: Option<(f64, bool)> = None;
    let mut load = settings.start;
    let capacity = loop {
        let outcome = probe(load)?;
        let passed = outcome.meets_slos && !outcome.saturated;
        let saturated = outcome.saturated;
        probes.push(Probe { load, outcome });
        if passed {
            passing = Some(passing.map_or(load, |p: f64| p.max(load)));
        } else if failing.is_none_or(|(f, _)| load < f) {
            failing = Some((load, saturated));
        }
        let out_of_probes = probes.len() >= settings.max_probes;
        let next = match (passing, failing) {
            (Some(low), None) if low >= settings.max => {
                break Capacity::Found {
                    load: low,
                    failing_load: None,
                    limit: Limit::SearchMaximum,
                    converged: true,
                };
            }
            (Some(low), None) => {
                let next = (low * step).min(settings.max);
                step = (step * step).min(2.0);
                next
            }
            (None, Some((high, _))) if high <= settings.min => {
                break Capacity::NoneMeets {
                    lowest_probed: high,
                };
            }
            (None, Some((high, _))) => {
                let next = (high / down_step).max(settings.min);
                steps_down += 1;
                if steps_down >= CONSTANT_STEPS_DOWN {
                    down_step = (down_step * down_step).min(2.0);
                }
                next
            }
            (Some(low), Some((high, saturated))) => {
                let limit = if saturated {
                    Limit::Saturation
                } else {
                    Limit::Slo
                };
                // The slack absorbs rounding in a step of exactly the tolerance.
                let converged = high - low <= settings.tolerance * low * (1.0 + 1e-12);
                if converged || out_of_probes {
                    break Capacity::Found {
                        load: low,
                        failing_load: Some(high),
                        limit,
                        converged,
                    };
                }
                (low + high) / 2.0
            }
            (None, None) => unreachable!("every probe passes or fails"),
        };
        if out_of_probes {
            break match (passing, failing) {
                (Some(low), _) => Capacity::Found {
                    load: low,
                    failing_load: failing.map(|(f, _)| f),
                    limit: match failing {
                        Some((_, true)) => Limit::Saturation,
                        Some((_, false)) => Limit::Slo,
                        None => Limit::SearchMaximum,
                    },
                    converged: false,
                },
                (None, _) => Capacity::NoneMeets {
                    lowest_probed: failing.map_or(load, |(f, _)| f),
                },
            };
        }
        load = next;
    };
    Ok(SearchReport { capacity, probes })
}

/// Achieved throughput below this share of the offered rate (after the allowance for Poisson
/// noise, see [`is_saturated`]) marks a saturated run.
pub const SATURATION_THROUGHPUT_SHARE: f64 = 0.9;
/// A mean queue length in a run's second half above this multiple of its first half's (and
/// above one request) marks a queue that keeps growing.
pub const SATURATION_QUEUE_GROWTH: f64 = 2.0;

/// Whether a run of `requests` requests offered at `offered` requests/s saturated the engine: the
/// achieved rate stopped following the offered rate, or the waiting queue kept growing.
///
/// `achieved` is completed requests over the run's duration. Poisson arrivals make the span of
/// `n` arrivals vary by about `1/√n` of its mean, so a run that keeps up can read low by chance:
/// the rate counts as lagging only below [`SATURATION_THROUGHPUT_SHARE`] × `(1 − 3/√n)` of the
/// offered rate (0.63 at 100 requests, 0.81 at 1,000). Milder overload shows in the latency
/// SLOs instead, as the queue grows. The queue means are the mean number of waiting requests
/// over the first and second halves of the run; pass `None` when the queue was not observed.
pub fn is_saturated(
    offered: f64,
    achieved: f64,
    requests: u64,
    queue_halves: Option<(f64, f64)>,
) -> bool {
    let noise = 1.0 - 3.0 / (requests.max(1) as f64).sqrt();
    let lagging = offered.is_finite()
        && requests > 9
        && achieved < SATURATION_THROUGHPUT_SHARE * noise * offered;
    let growing = queue_halves
        .is_some_and(|(first, second)| second > 1.0 && second > SATURATION_QUEUE_GROWTH * first);
    lagging || growing
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, PartialEq, thiserror::Error)]
    enum TestError {
        #[error(transparent)]
        Settings(#[from] SearchSettingsError),
    }

    fn settings(start: f64) -> SearchSettings {
        SearchSettings {
            start,
            min: 0.01,
            max: 1000.0,
            tolerance: 0.05,
            max_probes: 40,
        }
    }

    /// An engine whose SLO holds up to `slo_edge` and that saturates from `knee`.
    fn engine(slo_edge: f64, knee: f64) -> impl FnMut(f64) -> Result<ProbeOutcome<()>, TestError> {
        move |load| {
            Ok(ProbeOutcome {
                meets_slos: load <= slo_edge,
                saturated: load >= knee,
                detail: (),
            })
        }
    }

    #[test]
    fn brackets_then_bisects_to_the_tolerance() {
        let report = find_capacity(&settings(1.0), engine(13.0, f64::INFINITY)).unwrap();
        let loads: Vec<f64> = report.probes.iter().map(|p| p.load).collect();
        assert_eq!(&loads[..5], &[1.0, 2.0, 4.0, 8.0, 16.0]);
        let Capacity::Found {
            load,
            failing_load: Some(high),
            limit,
            converged,
        } = report.capacity
        else {
            panic!("{:?}", report.capacity)
        };
        assert!(load <= 13.0 && high > 13.0 && high - load <= 0.05 * load);
        assert_eq!(limit, Limit::Slo);
        assert!(converged);
    }

    #[test]
    fn stops_at_the_knee_and_says_so() {
        // The SLO is loose enough to hold far past the knee at 6: the search must not double
        // on to the SLO edge at 500, and must name saturation.
        let report = find_capacity(&settings(1.0), engine(500.0, 6.0)).unwrap();
        assert!(report.probes.iter().all(|p| p.load <= 8.0));
        let Capacity::Found { load, limit, .. } = report.capacity else {
            panic!("{:?}", report.capacity)
        };
        assert_eq!(limit, Limit::Saturation);
        assert!((6.0 / 1.05 - 1e-9..6.0).contains(&load));
    }

    #[test]
    fn halves_down_when_the_start_fails_and_reports_none_below_min() {
        let report = find_capacity(&settings(10.0), engine(0.001, f64::INFINITY)).unwrap();
        assert_eq!(
            report.capacity,
            Capacity::NoneMeets {
                lowest_probed: 0.01
            }
        );
        let report = find_capacity(&settings(10.0), engine(0.7, f64::INFINITY)).unwrap();
        let Capacity::Found { load, .. } = report.capacity else {
            panic!()
        };
        assert!(load <= 0.7 && load > 0.7 / 1.05);
    }

    #[test]
    fn passing_at_max_reports_the_maximum() {
        let report = find_capacity(&settings(300.0), engine(5000.0, f64::INFINITY)).unwrap();
        assert_eq!(
            report.capacity,
            Capacity::Found {
                load: 1000.0,
                failing_load: None,
                limit: Limit::SearchMaximum,
                converged: true
            }
        );
        assert_eq!(report.probes.len(), 3);
    }

    #[test]
    fn an_error_from_the_prober_ends_the_search() {
        #[derive(Debug, PartialEq, thiserror::Error)]
        enum ProbeError {
            #[error("server gone")]
            Gone,
            #[error(transparent)]
            Settings(#[from] SearchSettingsError),
        }
        let result = find_capacity(&settings(1.0), |load| {
            if load > 3.0 {
                Err(ProbeError::Gone)
            } else {
                Ok(ProbeOutcome {
                    meets_slos: true,
                    saturated: false,
                    detail: (),
                })
            }
        });
        assert_eq!(result, Err(ProbeError::Gone));
    }

    #[test]
    fn bad_settings_are_refused_before_any_probe() {
        let mut called = false;
        let mut bad = settings(1.0);
        bad.start = 0.0;
        let result = find_capacity::<(), TestError>(&bad, |_| {
            called = true;
            unreachable!()
        });
        assert!(matches!(
            result,
            Err(TestError::Settings(SearchSettingsError::Bounds { .. }))
        ));
        assert!(!called);
        bad = settings(1.0);
        bad.tolerance = 0.0;
        assert!(find_capacity::<(), TestError>(&bad, |_| unreachable!()).is_err());
    }

    #[test]
    fn saturation_is_a_lagging_rate_or_a_growing_queue() {
        // 1,000 requests: lagging below 0.9 × (1 − 3/√1000) = 0.815 of the offered rate.
        assert!(!is_saturated(10.0, 8.2, 1000, None));
        assert!(is_saturated(10.0, 8.1, 1000, None));
        // 100 requests: below 0.63.
        assert!(!is_saturated(10.0, 6.4, 100, None));
        assert!(is_saturated(10.0, 6.2, 100, None));
        // Too few requests to judge by rate.
        assert!(!is_saturated(10.0, 1.0, 9, None));
        assert!(!is_saturated(10.0, 9.9, 1000, Some((0.5, 1.0))));
        assert!(is_saturated(10.0, 9.9, 1000, Some((3.0, 9.0))));
        assert!(!is_saturated(f64::INFINITY, 50.0, 1000, None));
    }

    proptest! {
        /// On any monotone engine the answer brackets the true edge within the tolerance, and
        /// the probe count stays within the doubling steps plus the bisection steps.
        #[test]
        fn finds_the_edge_of_any_monotone_engine(
            edge in 0.02f64..900.0,
            knee in prop_oneof![Just(f64::INFINITY), 0.02f64..2000.0],
            start in 0.01f64..1000.0,
            tolerance in 0.01f64..0.5,
        ) {
            let s = SearchSettings { start, min: 0.01, max: 1000.0, tolerance, max_probes: 200 };
            let report = find_capacity(&s, engine(edge, knee)).unwrap();
            let true_edge = if knee <= edge { knee } else { edge };
            match report.capacity {
                Capacity::Found { load, failing_load, limit, converged } => {
                    prop_assert!(converged);
                    prop_assert!(load <= edge && load < knee);
                    let high = failing_load.unwrap();
                    prop_assert!(high - load <= tolerance * load + 1e-12);
                    prop_assert!(high > edge || high >= knee);
                    prop_assert_eq!(limit == Limit::Saturation, high >= knee);
                    prop_assert!(load >= true_edge / (1.0 + tolerance) - 1e-9);
                }
                Capacity::NoneMeets { lowest_probed } => {
                    prop_assert_eq!(lowest_probed, 0.01);
                    prop_assert!(edge < 0.01 || knee <= 0.01);
                }
            }
            // Doubling from start to the edge, then bisection from a factor-2 bracket.
            let doublings = ((1000.0f64 / 0.01).log2()).ceil() + 1.0;
            let bisections = (1.0 / tolerance).log2().ceil() + 2.0;
            prop_assert!(report.probes.len() as f64 <= doublings + bisections);
        }
    }
}
