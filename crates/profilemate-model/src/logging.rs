//! Provides vLLM's MFU log line and its debug-details aggregation, as text (never printed here).
//!
//! Mirrors `PerfMetricsLogging` and `PerfMetricsDebugLogging` in `vllm/v1/metrics/perf.py`
//! (vLLM 0.32). vLLM's debug aggregation raises `TypeError` in 0.32 because it tries to add the
//! per-request list of the context; ours sums the numeric context fields and leaves the list
//! out.

use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::breakdown::Breakdown;
use crate::step::{DebugPerfStats, PerfStats};

/// Accumulates per-step [`PerfStats`] between two MFU log lines.
#[derive(Debug, Clone, Default)]
pub struct MfuAccumulator {
    flops: u128,
    read_bytes: u128,
    write_bytes: u128,
    debug: Option<DebugAggregate>,
}

impl MfuAccumulator {
    /// An accumulator; with `debug`, breakdowns are aggregated too (`VLLM_DEBUG_MFU_METRICS=1`).
    pub fn new(debug: bool) -> Self {
        Self {
            debug: debug.then(DebugAggregate::default),
            ..Self::default()
        }
    }

    /// Adds one step.
    pub fn observe(&mut self, stats: &PerfStats) {
        self.flops += stats.num_flops_per_gpu;
        self.read_bytes += stats.num_read_bytes_per_gpu;
        self.write_bytes += stats.num_write_bytes_per_gpu;
        if let (Some(aggregate), Some(debug)) = (&mut self.debug, &stats.debug_stats) {
            aggregate.observe(debug);
        }
    }

    /// The log lines for the interval `elapsed` (the MFU line, then the debug JSON when
    /// enabled), and a reset; `None` (and no reset) when all three counters are zero, as vLLM
    /// skips the line then.
    pub fn log(&mut self, prefix: &str, elapsed: Duration) -> Option<Vec<String>> {
        if self.flops == 0 && self.read_bytes == 0 && self.write_bytes == 0 {
            return None;
        }
        let secs = elapsed.as_secs_f64();
        let mut lines = vec![mfu_line(
            prefix,
            self.flops,
            self.read_bytes + self.write_bytes,
            secs,
        )];
        if let Some(aggregate) = &self.debug {
            lines.push(format!(
                "{prefix}MFU details: {}",
                aggregate.details_json(secs)
            ));
        }
        *self = Self::new(self.debug.is_some());
        Some(lines)
    }
}

/// `"{prefix}MFU: %.1f TF/s/device %.1f GB/s/device"`, rates over `secs` (0 when `secs <= 0`).
pub fn mfu_line(prefix: &str, flops: u128, bytes: u128, secs: f64) -> String {
    let (tflops, gbps) = if secs <= 0.0 {
        (0.0, 0.0)
    } else {
        (flops as f64 / secs / 1e12, bytes as f64 / secs / 1e9)
    };
    format!("{prefix}MFU: {tflops:.1} TF/s/device {gbps:.1} GB/s/device")
}

/// The debug aggregation of `PerfMetricsDebugLogging`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DebugAggregate {
    /// Σ time spent computing stats.
    pub calc_duration: Duration,
    /// Σ prefill requests.
    pub prefill_reqs: u64,
    /// Σ decode requests.
    pub decode_reqs: u64,
    /// Steps observed.
    pub num_batches: u64,
    /// Σ of each numeric context field.
    pub context: Breakdown,
    /// Σ FLOPs by key.
    pub flops: Breakdown,
    /// Σ read bytes by key.
    pub read_bytes: Breakdown,
    /// Σ write bytes by key.
    pub write_bytes: Breakdown,
}

impl DebugAggregate {
    /// Adds one step's debug stats.
    pub fn observe(&mut self, stats: &DebugPerfStats) {
        self.calc_duration += stats.calc_duration;
        self.prefill_reqs += stats.num_prefill_requests;
        self.decode_reqs += stats.num_decode_requests;
        self.num_batches += 1;
        let c = &stats.context;
        for (key, value) in [
            ("num_prefill_requests", u128::from(c.num_prefill_requests)),
            ("prefill_num_tokens", u128::from(c.prefill_num_tokens)),
            ("prefill_context_len", u128::from(c.prefill_context_len)),
            (
                "prefill_token_context_product",
                c.prefill_token_context_product,
            ),
            ("num_decode_requests", u128::from(c.num_decode_requests)),
            ("decode_num_tokens", u128::from(c.decode_num_tokens)),
            ("decode_context_len", u128::from(c.decode_context_len)),
            (
                "decode_token_context_product",
                c.decode_token_context_product,
            ),
        ] {
            self.context.add(key, value);
        }
        self.flops.accumulate(&stats.flops_breakdown);
        self.read_bytes.accumulate(&stats.read_bytes_breakdown);
        self.write_bytes.accumulate(&stats.write_bytes_breakdown);
    }

    /// The `MFU details` JSON, indented by two spaces like Python's `json.dumps(indent=2)`.
    pub fn details_json(&self, secs: f64) -> String {
        let overhead = if secs > 0.0 {
            self.calc_duration.as_secs_f64() / secs * 100.0
        } else {
            0.0
        };
        let doc = DetailsDoc {
            prefill_reqs: self.prefill_reqs,
            decode_reqs: self.decode_reqs,
            num_batches: self.num_batches,
            context_breakdown: &self.context,
            flops_breakdown: scaled(&self.flops, 1e12, "TF"),
            num_read_bytes_breakdown: scaled(&self.read_bytes, 1e9, "GB"),
            num_write_bytes_breakdown: scaled(&self.write_bytes, 1e9, "GB"),
            duration: format!("{secs:.1}s"),
            mfu_calc_overhead: format!("{overhead:.1}%"),
        };
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }
}

/// The `MFU details` document, fields in vLLM's order.
#[derive(Serialize)]
struct DetailsDoc<'a> {
    prefill_reqs: u64,
    decode_reqs: u64,
    num_batches: u64,
    context_breakdown: &'a Breakdown,
    flops_breakdown: OrderedStrings,
    num_read_bytes_breakdown: OrderedStrings,
    num_write_bytes_breakdown: OrderedStrings,
    duration: String,
    mfu_calc_overhead: String,
}

/// A string-valued map that keeps insertion order when serialized.
struct OrderedStrings(Vec<(String, String)>);

impl Serialize for OrderedStrings {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// Each value as `"%.1f{suffix}"` of `value / unit`, like vLLM's pretty breakdowns.
fn scaled(breakdown: &Breakdown, unit: f64, suffix: &str) -> OrderedStrings {
    OrderedStrings(
        breakdown
            .iter()
            .map(|(k, v)| (k.to_owned(), format!("{:.1}{suffix}", v as f64 / unit)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mfu_line_matches_vllm_format() {
        let line = mfu_line(
            "Engine 000: ",
            3_124_000_000_000_000,
            18_750_000_000_000,
            10.0,
        );
        assert_eq!(
            line,
            "Engine 000: MFU: 312.4 TF/s/device 1875.0 GB/s/device"
        );
        assert_eq!(
            mfu_line("", 5, 5, 0.0),
            "MFU: 0.0 TF/s/device 0.0 GB/s/device"
        );
    }

    #[test]
    fn zero_interval_is_not_logged_and_log_resets() {
        let mut acc = MfuAccumulator::new(false);
        assert!(acc.log("", Duration::from_secs(1)).is_none());
        acc.observe(&PerfStats {
            num_flops_per_gpu: 2_000_000_000_000,
            num_read_bytes_per_gpu: 1_000_000_000,
            num_write_bytes_per_gpu: 1_000_000_000,
            debug_stats: None,
        });
        let lines = acc.log("", Duration::from_secs(2)).unwrap();
        assert_eq!(lines, ["MFU: 1.0 TF/s/device 1.0 GB/s/device"]);
        assert!(
            acc.log("", Duration::from_secs(2)).is_none(),
            "reset after logging"
        );
    }
}
