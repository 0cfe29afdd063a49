//! Provides vLLM's `KV Transfer metrics: k=v, …` log line and [`KvTransferLogger`], the sink
//! that accumulates connector payloads between two lines.
//!
//! Mirrors `KVConnectorLogging.observe()` / `log()`
//! (vllm/distributed/kv_transfer/kv_connector/v1/metrics.py), vLLM 0.32: payloads are
//! aggregated over the interval, reduced, and printed as `{k}={v}` with Python's `str()`.
//! Keys come in sorted order (Python keeps first-insertion order).

use std::time::Duration;

use profilemate_metrics::number::python_repr;
use profilemate_metrics::offload::{Number, OffloadStats};

use crate::records::StepRecord;
use crate::sink::EngineSink;

/// The message of the line for one interval's aggregated payload; `None` when it is empty
/// (vLLM prints nothing then).
pub fn kv_transfer_metrics_line(stats: &OffloadStats) -> Option<String> {
    if stats.is_empty() {
        return None;
    }
    let pairs: Vec<String> = stats
        .reduce()
        .into_iter()
        .map(|(k, v)| format!("{k}={}", python_str(v)))
        .collect();
    Some(format!("KV Transfer metrics: {}", pairs.join(", ")))
}

/// Python's `str()` of an int or a float ([`python_repr`] of floats).
fn python_str(n: Number) -> String {
    match n {
        Number::Int(i) => i.to_string(),
        Number::Float(f) => python_repr(f),
    }
}

/// A sink that aggregates the connector's payloads and produces the line on demand (vLLM
/// logs it with the periodic stats line).
#[derive(Debug, Default)]
pub struct KvTransferLogger {
    interval: OffloadStats,
}

impl KvTransferLogger {
    /// A logger with an empty interval.
    pub fn new() -> Self {
        Self::default()
    }

    /// The line for the interval so far, which then starts a new one.
    pub fn log(&mut self) -> Option<String> {
        let line = kv_transfer_metrics_line(&self.interval);
        self.interval.reset();
        line
    }
}

impl EngineSink for KvTransferLogger {
    fn on_step(&mut self, _step: &StepRecord) {}

    fn on_kv_connector_stats(&mut self, stats: &OffloadStats, _at: Duration) {
        // Payloads from the engine use each name with one type, so this cannot conflict.
        let _ = self.interval.aggregate(stats);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_like_python() {
        let cases = [
            (Number::Int(805306368), "805306368"),
            (Number::Float(0.0913), "0.0913"),
            (Number::Float(2.0), "2.0"),
            (Number::Float(0.0), "0.0"),
            (Number::Float(1e-5), "1e-05"),
            (Number::Float(1.5e-7), "1.5e-07"),
            (Number::Float(1e16), "1e+16"),
            (Number::Float(123456.5), "123456.5"),
        ];
        for (n, want) in cases {
            assert_eq!(python_str(n), want);
        }
    }

    #[test]
    fn empty_intervals_print_nothing() {
        let mut logger = KvTransferLogger::new();
        assert_eq!(logger.log(), None);
        let mut s = OffloadStats::new();
        s.increase_counter("vllm:kv_offload_store_bytes", 64_i64, &[])
            .unwrap();
        s.observe_histogram("vllm:kv_offload_store_size", 64_i64, &[])
            .unwrap();
        logger.on_kv_connector_stats(&s, Duration::ZERO);
        logger.on_kv_connector_stats(&s, Duration::ZERO);
        let want = "KV Transfer metrics: vllm:kv_offload_store_bytes=128, \
                    vllm:kv_offload_store_size_count=2, vllm:kv_offload_store_size_sum=128";
        assert_eq!(logger.log().as_deref(), Some(want));
        assert_eq!(logger.log(), None);
    }
}
