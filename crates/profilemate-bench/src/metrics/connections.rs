//! Provides [`ConnectionStats`]: the client's connects, timed apart from the requests (beyond
//! vLLM, whose client connects inside the first request of each slot).

use super::stats::{mean, percentile_sorted, sorted};

/// The connections the timed requests used and what opening them cost.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionStats {
    /// Whether the slots' connections were opened before the timed run (no `--cold-connections`).
    pub warm: bool,
    /// Connections opened before the timed run (ready check, warmups, and the warm-up of the
    /// slots' connections).
    pub opened_before_run: usize,
    /// Connections opened during the timed run, each inside a request's TTFT.
    pub opened_during_run: usize,
    /// Mean connect time over every connect, ms.
    pub mean_connect_ms: f64,
    /// P99 connect time over every connect, ms.
    pub p99_connect_ms: f64,
    /// Mean connect time of the connects made during the run, ms (0 with none).
    pub mean_connect_during_run_ms: f64,
}

impl ConnectionStats {
    /// From each connect's seconds, in order; the first `before_run` preceded the timed run.
    pub fn new(warm: bool, connect_secs: &[f64], before_run: usize) -> Self {
        let before_run = before_run.min(connect_secs.len());
        let ms: Vec<f64> = connect_secs.iter().map(|s| s * 1000.0).collect();
        Self {
            warm,
            opened_before_run: before_run,
            opened_during_run: ms.len() - before_run,
            mean_connect_ms: mean(&ms),
            p99_connect_ms: percentile_sorted(&sorted(&ms), 99.0),
            mean_connect_during_run_ms: mean(&ms[before_run..]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connects_split_at_the_run_start() {
        let s = ConnectionStats::new(true, &[0.001, 0.003, 0.002, 0.010], 3);
        assert_eq!((s.opened_before_run, s.opened_during_run), (3, 1));
        assert!((s.mean_connect_ms - 4.0).abs() < 1e-12);
        assert!((s.mean_connect_during_run_ms - 10.0).abs() < 1e-12);
        // numpy: percentile([1, 2, 3, 10], 99) = 3 + 0.97 * 7.
        assert!((s.p99_connect_ms - 9.79).abs() < 1e-9);
        let none = ConnectionStats::new(false, &[], 0);
        assert_eq!(
            (
                none.opened_during_run,
                none.mean_connect_ms,
                none.p99_connect_ms
            ),
            (0, 0.0, 0.0)
        );
    }
}
