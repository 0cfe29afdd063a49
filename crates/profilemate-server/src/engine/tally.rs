//! Provides [`TokenTally`]: the per-token metric updates of one engine advance, batched.
//!
//! Every token bumps `vllm:generation_tokens` and most observe an inter-token latency; at
//! `--time-scale 0` that is hundreds of thousands of atomic updates a second. The tally adds
//! the tokens up and run-length encodes the latencies (one decode step gives every running
//! request the same gap), then applies them with
//! [`Histogram::observe_repeated`](profilemate_metrics::registry::Histogram::observe_repeated),
//! which keeps the order and rounding of one-by-one observations: the metric values are the
//! same as before, only written less often.

use std::time::Duration;

use crate::metrics::ServerMetrics;

/// Token counts and inter-token latencies not yet written to the metrics.
#[derive(Debug, Default)]
pub(crate) struct TokenTally {
    tokens: u64,
    /// The latest run of equal inter-token latencies: `(gap, how many)`.
    itl_run: Option<(Duration, u64)>,
}

impl TokenTally {
    /// `n` output tokens; `itl` is the gap since the request's previous ones, if any.
    pub(crate) fn add(&mut self, n: u32, itl: Option<Duration>, metrics: &ServerMetrics) {
        self.tokens += u64::from(n);
        let Some(gap) = itl else {
            return;
        };
        match &mut self.itl_run {
            Some((run_gap, count)) if *run_gap == gap => *count += 1,
            _ => {
                self.flush_itl(metrics);
                self.itl_run = Some((gap, 1));
            }
        }
    }

    /// Writes everything tallied to the metrics.
    pub(crate) fn flush(&mut self, metrics: &ServerMetrics) {
        if self.tokens > 0 {
            metrics.add_generation_tokens(self.tokens);
            self.tokens = 0;
        }
        self.flush_itl(metrics);
    }

    fn flush_itl(&mut self, metrics: &ServerMetrics) {
        if let Some((gap, count)) = self.itl_run.take() {
            metrics.observe_itl(gap, count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use profilemate_metrics::registry::Registry;

    fn metrics() -> (Registry, ServerMetrics) {
        let registry = Registry::new();
        let metrics = ServerMetrics::register(&registry, "m", 4096, None).unwrap();
        (registry, metrics)
    }

    #[test]
    fn a_flushed_tally_renders_like_one_update_per_token() {
        let ms = Duration::from_millis;
        let updates = [
            (1, None),
            (1, Some(ms(7))),
            (1, Some(ms(7))),
            (2, Some(ms(13))),
            (1, Some(ms(7))),
        ];
        let (one_by_one, direct) = metrics();
        for (n, itl) in updates {
            direct.add_generation_tokens(u64::from(n));
            itl.into_iter().for_each(|gap| direct.observe_itl(gap, 1));
        }
        let (tallied, batched) = metrics();
        let mut tally = TokenTally::default();
        updates
            .into_iter()
            .for_each(|(n, itl)| tally.add(n, itl, &batched));
        tally.flush(&batched);
        assert_eq!(values(&one_by_one), values(&tallied));
        assert!(values(&tallied).contains("vllm:generation_tokens_total{"));
    }

    /// The rendered metrics less the `_created` timestamps.
    fn values(registry: &Registry) -> String {
        let text = registry.render();
        let lines = text.lines().filter(|l| !l.contains("_created"));
        lines.collect::<Vec<_>>().join("\n")
    }
}
