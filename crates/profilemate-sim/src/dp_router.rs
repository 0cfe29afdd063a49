//! Provides [`DataParallelRouter`]: vLLM's load balancer in front of `--data-parallel-size N`
//! engines, shared by the virtual-time cluster and the simulated server.

use crate::simulation::EngineLoad;

/// vLLM's data-parallel load balancer for one API server
/// (vllm/v1/engine/core_client.py `DPLBAsyncMPClient.get_core_engine_for_request`, 0.32).
///
/// Each engine scores `max(in_flight, waiting + running)`, plus
/// `waiting × 6 × max(0, kv_cache_usage − 0.5)` when requests wait; the lowest score wins, the
/// scan starting one engine further on each request so ties go round-robin.
///
/// Simplified: vLLM scores from the coordinator's snapshot (published every 100 ms) raised by
/// the client's local count of requests routed since; the callers here read every engine's
/// load exactly when a request is routed ([`Simulation::load`](crate::Simulation::load)), so
/// there is no staleness. `in_flight` (this client's unfinished requests per engine) is exact
/// in both.
#[derive(Debug, Clone)]
pub struct DataParallelRouter {
    start: usize,
    in_flight: Vec<usize>,
}

impl DataParallelRouter {
    /// A router over `engines` engines (at least one), none loaded.
    pub fn new(engines: usize) -> Self {
        Self {
            start: 0,
            in_flight: vec![0; engines.max(1)],
        }
    }

    /// The number of engines routed over.
    pub fn engines(&self) -> usize {
        self.in_flight.len()
    }

    /// The engine for the next request, given each engine's load (one per engine, in order),
    /// counted as in flight on it until [`finished`](Self::finished).
    pub fn pick(&mut self, loads: &[EngineLoad]) -> usize {
        let n = self.in_flight.len();
        let mut best = (f64::MAX, 0);
        for i in 0..n {
            let idx = (self.start + i) % n;
            let load = loads.get(idx).copied().unwrap_or_default();
            let published = f64::from(load.waiting + load.running);
            let mut score = (self.in_flight[idx] as f64).max(published);
            if load.waiting > 0 {
                score += f64::from(load.waiting) * 6.0 * (load.kv_cache_usage - 0.5).max(0.0);
            }
            if score < best.0 {
                best = (score, idx);
            }
        }
        self.start = (self.start + 1) % n;
        self.in_flight[best.1] += 1;
        best.1
    }

    /// `count` requests on `engine` finished (or were refused).
    pub fn finished(&mut self, engine: usize, count: usize) {
        if let Some(n) = self.in_flight.get_mut(engine) {
            *n = n.saturating_sub(count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle() -> EngineLoad {
        EngineLoad {
            waiting: 0,
            running: 0,
            kv_cache_usage: 0.0,
        }
    }

    #[test]
    fn idle_engines_take_a_burst_round_robin() {
        let mut router = DataParallelRouter::new(3);
        let picks: Vec<usize> = (0..6).map(|_| router.pick(&[idle(); 3])).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn a_finish_makes_its_engine_the_least_loaded() {
        let mut router = DataParallelRouter::new(2);
        assert_eq!(router.pick(&[idle(); 2]), 0);
        assert_eq!(router.pick(&[idle(); 2]), 1);
        router.finished(1, 1);
        // The scan starts at engine 0 (1 in flight); engine 1 has none left.
        assert_eq!(router.pick(&[idle(); 2]), 1);
    }

    #[test]
    fn a_queue_on_a_full_kv_cache_repels_requests() {
        // Engine 0 runs 2 and queues 2 at 100 % KV usage: 4 + 2 × 6 × 0.5 = 10; engine 1 runs
        // 5 with an empty queue: 5. Both have as many in flight as published.
        let mut router = DataParallelRouter::new(2);
        router.in_flight = vec![4, 5];
        let loads = [
            EngineLoad {
                waiting: 2,
                running: 2,
                kv_cache_usage: 1.0,
            },
            EngineLoad {
                waiting: 0,
                running: 5,
                kv_cache_usage: 0.9,
            },
        ];
        assert_eq!(router.pick(&loads), 1);
        // At 50 % usage the queue costs nothing extra: 4 < 6.
        let loads = [
            EngineLoad {
                kv_cache_usage: 0.5,
                ..loads[0]
            },
            loads[1],
        ];
        assert_eq!(router.pick(&loads), 0);
    }
}
