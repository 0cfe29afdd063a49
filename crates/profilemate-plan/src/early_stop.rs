//! Stops a simulated probe as soon as a percentile SLO can no longer be met, so a capacity
//! search does not simulate the rest of a run it already knows fails.
//!
//! A run of `n` requests reports the `p`-th percentile of a latency as numpy's default
//! (linear) `percentile` does: at index `h = (n − 1)·p/100` of the sorted values, between the
//! values at `⌊h⌋` and `⌈h⌉`. Once `n − ⌊h⌋` requests exceed the bound, the value at `⌊h⌋`
//! exceeds it whatever the others do, and so does the percentile: the SLO has failed. TTFT
//! and end-to-end latency are known when a request finishes in the engine (first and last
//! token time minus arrival, exactly as the virtual client measures them), and so is TPOT
//! (last minus first token time over the later tokens). TPOT is summarised over the requests
//! with more than one output token, at most all of them: the count needed for all of them is
//! never below the count needed for fewer, so counting against it stays exact.

use std::time::Duration;

use profilemate_sim::{EngineRequestRecord, EngineSink, StepRecord};

use crate::slo::{LatencyMetric, Slo, Statistic};

/// One percentile bound being watched.
#[derive(Debug, Clone)]
struct Watched {
    metric: LatencyMetric,
    limit: Duration,
    /// Requests over the limit that make the percentile exceed it.
    needed: usize,
    over: usize,
}

/// An [`EngineSink`] that asks the simulation to stop once any watched SLO has failed.
#[derive(Debug, Clone, Default)]
pub struct SloGuard {
    watched: Vec<Watched>,
    tripped: bool,
}

/// How many of `requests` values must exceed a bound for their `percentile` to exceed it.
pub fn values_over_bound_to_fail(requests: usize, percentile: f64) -> usize {
    if requests == 0 {
        return usize::MAX;
    }
    let index = ((requests - 1) as f64 * percentile / 100.0).floor() as usize;
    requests - index
}

impl SloGuard {
    /// Watches the percentile (and median) SLOs on TTFT, TPOT and end-to-end latency of a run
    /// of `requests` requests; others (means, ITL) are judged at the end of the run.
    pub fn new(slos: &[Slo], requests: usize) -> Self {
        let watched = slos
            .iter()
            .filter_map(|slo| {
                let percentile = match slo.metric.statistic {
                    Statistic::Percentile(p) => p,
                    Statistic::Median => 50.0,
                    Statistic::Mean | Statistic::Std => return None,
                };
                let metric = slo.metric.metric;
                if !matches!(
                    metric,
                    LatencyMetric::Ttft | LatencyMetric::Tpot | LatencyMetric::E2el
                ) {
                    return None;
                }
                Some(Watched {
                    metric,
                    limit: Duration::try_from_secs_f64(slo.limit_ms / 1e3).ok()?,
                    needed: values_over_bound_to_fail(requests, percentile),
                    over: 0,
                })
            })
            .collect();
        SloGuard {
            watched,
            tripped: false,
        }
    }

    /// Whether an SLO has failed (and the run was asked to stop).
    pub fn tripped(&self) -> bool {
        self.tripped
    }
}

impl EngineSink for SloGuard {
    fn on_step(&mut self, _step: &StepRecord) {}

    fn on_request_finished(&mut self, record: &EngineRequestRecord) {
        for w in &mut self.watched {
            let since_arrival_over =
                |t: Option<Duration>| t.is_some_and(|t| t.saturating_sub(record.arrival) > w.limit);
            let over = match w.metric {
                LatencyMetric::Ttft => since_arrival_over(record.first_token),
                LatencyMetric::Tpot => tpot_over(record, w.limit),
                _ => since_arrival_over(record.last_token),
            };
            if over {
                w.over += 1;
                if w.over >= w.needed {
                    self.tripped = true;
                }
            }
        }
    }

    fn stop_requested(&self) -> bool {
        self.tripped
    }
}

/// Whether a finished request's TPOT certainly exceeds `limit`: computed from the engine's
/// token times, which the client's figure (from its own start) equals up to rounding, so a
/// margin far above the rounding keeps a request at the bound from counting.
fn tpot_over(record: &EngineRequestRecord, limit: Duration) -> bool {
    let (Some(first), Some(last)) = (record.first_token, record.last_token) else {
        return false;
    };
    if record.num_output_tokens < 2 {
        return false;
    }
    let tpot = last.saturating_sub(first).as_secs_f64() / f64::from(record.num_output_tokens - 1);
    tpot > limit.as_secs_f64() * (1.0 + 1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// numpy's linear percentile, for the property below.
    fn numpy_percentile(values: &[f64], p: f64) -> f64 {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let h = (v.len() - 1) as f64 * p / 100.0;
        let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
        v[lo] + (h - lo as f64) * (v[hi] - v[lo])
    }

    /// A finished request of `out` tokens, the first at 100 ms and one every `tpot_ms` after.
    fn finished(id: u32, out: u32, tpot_ms: f64) -> EngineRequestRecord {
        let first = Duration::from_millis(100);
        let mut r = EngineRequestRecord {
            id: profilemate_sim::RequestId(id),
            arrival: Duration::ZERO,
            prompt_tokens: 10,
            max_tokens: out,
            first_scheduled: Some(Duration::ZERO),
            token_times: Vec::new(),
            num_output_tokens: out,
            first_token: Some(first),
            last_token: None,
            finished: None,
            finish_reason: Some(profilemate_sim::FinishReason::Length),
            num_preemptions: 0,
            num_cached_tokens: 0,
            num_external_cached_tokens: 0,
        };
        let last = first + Duration::from_secs_f64(tpot_ms / 1e3 * f64::from(out - 1));
        r.last_token = Some(last);
        r.finished = Some(last);
        r
    }

    /// TPOT trips the guard once as many requests exceed the bound as fail the percentile over
    /// all the run's requests; a request at the bound, or with one token, never counts.
    #[test]
    fn tpot_over_its_bound_trips_after_the_count_that_fails_it() {
        let slo: Slo = "tpot_p99_ms:50".parse().unwrap();
        let mut guard = SloGuard::new(&[slo], 1000);
        let needed = values_over_bound_to_fail(1000, 99.0);
        guard.on_request_finished(&finished(0, 129, 50.0));
        guard.on_request_finished(&finished(1, 1, 500.0));
        for id in 0..needed as u32 - 1 {
            guard.on_request_finished(&finished(id + 2, 129, 50.5));
        }
        assert!(!guard.tripped(), "{needed} needed");
        guard.on_request_finished(&finished(999, 129, 50.5));
        assert!(guard.tripped());
    }

    #[test]
    fn the_count_that_fails_a_percentile() {
        // p99 of 1,000: index 989.01, so 11 values over the bound fail it.
        assert_eq!(values_over_bound_to_fail(1000, 99.0), 11);
        assert_eq!(values_over_bound_to_fail(100, 99.0), 2);
        assert_eq!(values_over_bound_to_fail(1, 99.0), 1);
        assert_eq!(values_over_bound_to_fail(10, 50.0), 6);
        assert_eq!(values_over_bound_to_fail(0, 99.0), usize::MAX);
    }

    proptest::proptest! {
        /// With `needed` values over the bound the percentile exceeds it, whatever the rest;
        /// with one fewer, the value at ⌊h⌋ can sit at or below it (so stopping would be early).
        #[test]
        fn the_count_is_exact(n in 1usize..400, p in 1.0f64..100.0, bound in 1.0f64..100.0) {
            let needed = values_over_bound_to_fail(n, p);
            proptest::prop_assert!(needed >= 1 && needed <= n);
            let mut values = vec![0.0; n];
            for v in values.iter_mut().take(needed) {
                *v = bound + 1.0;
            }
            proptest::prop_assert!(numpy_percentile(&values, p) > bound);
            let mut fewer = vec![bound; n];
            for v in fewer.iter_mut().take(needed - 1) {
                *v = bound + 1.0;
            }
            fewer.sort_by(f64::total_cmp);
            let h = ((n - 1) as f64 * p / 100.0).floor() as usize;
            proptest::prop_assert!(fewer[h] <= bound);
        }
    }
}
