//! Defines [`Report`]: a finished run's records and every figure derived from them, which the
//! console table and the JSON writer present. Building one is pure.

use crate::config::{Backend, PercentileMetric};
use crate::metrics::connections::ConnectionStats;
use crate::metrics::{
    BenchmarkMetrics, EmbedBenchmarkMetrics, ExtraMetrics, Goodput, Summary,
    calculate_embedding_metrics, calculate_extras, calculate_metrics,
};
use crate::record::{ClientRequestRecord, ErrorKind, Seconds};
use crate::schedule::RampUp;
use crate::server_metrics::{ServerScrapes, ServerView, SpecDecodeStats};
use crate::tokenizer::Tokenizer;

/// The run settings a report echoes (vLLM's top-level JSON keys) and the metric selection.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSettings {
    /// `--backend`.
    pub backend: Backend,
    /// `--label`.
    pub label: Option<String>,
    /// The model id used.
    pub model_id: String,
    /// `tokenizer_id` (`None` with `--skip-tokenizer-init`).
    pub tokenizer_id: Option<String>,
    /// `--num-prompts`.
    pub num_prompts: usize,
    /// `--metadata`, in order.
    pub metadata: Vec<(String, String)>,
    /// `--request-rate`.
    pub request_rate: f64,
    /// `--burstiness`.
    pub burstiness: f64,
    /// `--max-concurrency`.
    pub max_concurrency: Option<usize>,
    /// Ramp-up, if any.
    pub ramp_up: Option<RampUp>,
    /// Selected percentile metrics.
    pub percentile_metrics: Vec<PercentileMetric>,
    /// `--metric-percentiles`.
    pub percentiles: Vec<f64>,
    /// `--goodput`.
    pub goodput: Goodput,
    /// Whether a client tokenizer is in use (vLLM prints token figures only then).
    pub has_tokenizer: bool,
}

/// vLLM's metrics for the task type.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskMetrics {
    /// Generation backends.
    Generation(BenchmarkMetrics),
    /// Pooling backends.
    Pooling(EmbedBenchmarkMetrics),
}

/// One `rps_change_events` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpsChange {
    /// The new integer rate.
    pub rps: u32,
    /// ISO timestamp.
    pub timestamp: String,
}

/// One printed / saved statistics block (`process_one_metric` in serve.py).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricBlock {
    /// Which metric.
    pub metric: PercentileMetric,
    /// The statistics.
    pub summary: Summary,
}

impl MetricBlock {
    /// Console name (`TTFT`, `Client Queue Time`, …).
    pub fn name(&self) -> &'static str {
        match self.metric {
            PercentileMetric::Ttft => "TTFT",
            PercentileMetric::Tpot => "TPOT",
            PercentileMetric::Itl => "ITL",
            PercentileMetric::E2el => "E2EL",
            PercentileMetric::ClientQueueTime => "Client Queue Time",
            PercentileMetric::E2elIncludingClientQueue => "E2EL incl. Client Queue",
        }
    }

    /// Console section header.
    pub fn header(&self) -> &'static str {
        match self.metric {
            PercentileMetric::Ttft => "Time to First Token",
            PercentileMetric::Tpot => "Time per Output Token (excl. 1st token)",
            PercentileMetric::Itl => "Inter-token Latency",
            PercentileMetric::E2el => "End-to-end Latency",
            PercentileMetric::ClientQueueTime => "Client-side Queueing",
            PercentileMetric::E2elIncludingClientQueue => "Queue-inclusive End-to-end Latency",
        }
    }
}

/// A finished run, ready to present.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Settings echoed in the output.
    pub settings: ReportSettings,
    /// `date` (`%Y%m%d-%H%M%S`).
    pub date: String,
    /// Benchmark duration (first dispatch to last completion).
    pub duration: Seconds,
    /// One record per sent request, in dispatch order.
    pub records: Vec<ClientRequestRecord>,
    /// vLLM's aggregates.
    pub metrics: TaskMetrics,
    /// Beyond-vLLM aggregates.
    pub extras: ExtraMetrics,
    /// Ramp-up rate changes.
    pub rps_change_events: Vec<RpsChange>,
    /// Spec-decode figures from `/metrics`.
    pub spec_decode: Option<SpecDecodeStats>,
    /// The server's view from `/metrics` (beyond vLLM).
    pub server: Option<ServerView>,
    /// The two raw `/metrics` scrapes around the run (beyond vLLM; `None` in a virtual run or
    /// when the server has no `/metrics`).
    pub server_scrapes: Option<ServerScrapes>,
    /// Scheduled requests never sent (Ctrl-C or `--duration`).
    pub not_sent: usize,
    /// Whether the run was interrupted (Ctrl-C).
    pub interrupted: bool,
    /// Requests in flight when the run was cut: neither completed nor failed, and not among
    /// [`Report::records`].
    pub interrupted_requests: usize,
    /// The client's connects, timed apart (beyond vLLM; `None` in a virtual run).
    pub connections: Option<ConnectionStats>,
    /// vLLM's `--probe-request-rate` figures, when probes ran and any succeeded.
    pub probe: Option<ProbeStats>,
    /// `multi_turn`: what became of the sessions (beyond vLLM; `None` for other datasets).
    pub sessions: Option<SessionStats>,
    /// How a virtual run (`sim run`) timed its engine steps and its front end, written as
    /// `virtual_timing` (beyond vLLM; `None` against a real server).
    pub virtual_timing: Option<serde_json::Value>,
}

/// What became of a `multi_turn` run's sessions. Every planned turn is a record, not sent
/// ([`Report::not_sent`]: the run stopped first), or skipped because an earlier turn of its
/// session failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Sessions planned (`--num-prompts`).
    pub planned: usize,
    /// Turns per session (`--multi-turn-turns`).
    pub turns_per_session: usize,
    /// Sessions whose first turn was sent.
    pub started: usize,
    /// Sessions whose every turn succeeded.
    pub completed: usize,
    /// Sessions ended early because a turn failed (a client does not go on without a reply).
    pub ended_by_failure: usize,
    /// Turns never sent because an earlier turn of their session failed.
    pub turns_skipped_after_failure: usize,
}

/// vLLM's probe-request block (`probe_*` keys of `benchmark()` in vllm/benchmarks/serve.py,
/// vLLM 0.32): latencies of the one-token probes sent beside the load.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeStats {
    /// Successful probes.
    pub completed: usize,
    /// Failed probes.
    pub failed: usize,
    /// Median E2EL of the successful probes, ms.
    pub median_e2el_ms: f64,
    /// P99 E2EL, ms.
    pub p99_e2el_ms: f64,
    /// Max E2EL, ms.
    pub max_e2el_ms: f64,
}

impl ProbeStats {
    /// vLLM's block from the probes' records; `None` when none succeeded (vLLM prints nothing).
    pub fn new(probes: &[ClientRequestRecord]) -> Option<Self> {
        let lats: Vec<f64> = probes
            .iter()
            .filter(|r| r.success)
            .map(|r| r.latency)
            .collect();
        if lats.is_empty() {
            return None;
        }
        let sorted = crate::metrics::stats::sorted(&lats);
        Some(Self {
            completed: lats.len(),
            failed: probes.len() - lats.len(),
            median_e2el_ms: crate::metrics::stats::median_sorted(&sorted) * 1000.0,
            p99_e2el_ms: crate::metrics::stats::percentile_sorted(&sorted, 99.0) * 1000.0,
            max_e2el_ms: sorted[sorted.len() - 1] * 1000.0,
        })
    }
}

/// Takes the records of requests cut in flight ([`ErrorKind::Cancelled`]) out of `records`:
/// what is left, and how many were cut.
pub fn split_interrupted(
    mut records: Vec<ClientRequestRecord>,
) -> (Vec<ClientRequestRecord>, usize) {
    let before = records.len();
    records.retain(|r| r.error_kind != Some(ErrorKind::Cancelled));
    let cut = before - records.len();
    (records, cut)
}

impl Report {
    /// Computes every figure from the records.
    pub fn new(
        settings: ReportSettings,
        records: Vec<ClientRequestRecord>,
        duration: Seconds,
        tokenizer: Option<&dyn Tokenizer>,
        date: String,
    ) -> Self {
        let metrics = if settings.backend.is_pooling() {
            TaskMetrics::Pooling(calculate_embedding_metrics(
                &records,
                duration,
                &settings.percentiles,
            ))
        } else {
            TaskMetrics::Generation(calculate_metrics(
                &records,
                duration,
                tokenizer,
                &settings.percentiles,
                &settings.goodput,
            ))
        };
        let vllm = match &metrics {
            TaskMetrics::Generation(m) => Some(m),
            TaskMetrics::Pooling(_) => None,
        };
        let extras = calculate_extras(&records, &settings.percentiles, vllm);
        Self {
            settings,
            date,
            duration,
            records,
            metrics,
            extras,
            rps_change_events: Vec::new(),
            spec_decode: None,
            server: None,
            server_scrapes: None,
            not_sent: 0,
            interrupted: false,
            interrupted_requests: 0,
            connections: None,
            probe: None,
            sessions: None,
            virtual_timing: None,
        }
    }

    /// Successful requests.
    pub fn completed(&self) -> u64 {
        match &self.metrics {
            TaskMetrics::Generation(m) => m.completed,
            TaskMetrics::Pooling(m) => m.completed,
        }
    }

    /// Whether every sent request failed (profilemate exits non-zero then).
    pub fn all_failed(&self) -> bool {
        self.completed() == 0
    }

    /// The statistics blocks vLLM prints and saves, in its order and under its conditions.
    pub fn metric_blocks(&self) -> Vec<MetricBlock> {
        let s = &self.settings;
        let selected = |m: PercentileMetric| s.percentile_metrics.contains(&m);
        let mut blocks = Vec::new();
        let mut push = |metric, summary| blocks.push(MetricBlock { metric, summary });
        if let TaskMetrics::Generation(m) = &self.metrics
            && s.has_tokenizer
        {
            for (metric, summary) in [
                (PercentileMetric::Ttft, &m.ttft),
                (PercentileMetric::Tpot, &m.tpot),
                (PercentileMetric::Itl, &m.itl),
            ] {
                if selected(metric) {
                    push(metric, summary.clone());
                }
            }
        }
        if selected(PercentileMetric::E2el) {
            push(PercentileMetric::E2el, self.e2el().clone());
        }
        let ok = || self.records.iter().filter(|r| r.success);
        if s.max_concurrency.is_some() && selected(PercentileMetric::ClientQueueTime) {
            let q: Vec<Seconds> = ok().map(|r| r.client_queue_time).collect();
            push(
                PercentileMetric::ClientQueueTime,
                Summary::from_seconds(&q, &s.percentiles),
            );
        }
        if s.max_concurrency.is_some()
            && s.request_rate.is_finite()
            && selected(PercentileMetric::E2elIncludingClientQueue)
        {
            let q: Vec<Seconds> = ok().map(|r| r.latency + r.client_queue_time).collect();
            push(
                PercentileMetric::E2elIncludingClientQueue,
                Summary::from_seconds(&q, &s.percentiles),
            );
        }
        blocks
    }

    fn e2el(&self) -> &Summary {
        match &self.metrics {
            TaskMetrics::Generation(m) => &m.e2el,
            TaskMetrics::Pooling(m) => &m.e2el,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(success: bool, latency: f64) -> ClientRequestRecord {
        ClientRequestRecord {
            success,
            latency,
            ..ClientRequestRecord::default()
        }
    }

    #[test]
    fn probe_stats_follow_vllms_numpy_figures() {
        let probes = [
            probe(true, 0.010),
            probe(false, 0.0),
            probe(true, 0.030),
            probe(true, 0.020),
            probe(true, 0.100),
        ];
        let s = ProbeStats::new(&probes).unwrap();
        assert_eq!((s.completed, s.failed), (4, 1));
        // np.median([10, 20, 30, 100]) = 25; np.percentile(..., 99) = 30 + 0.97 * 70.
        assert!((s.median_e2el_ms - 25.0).abs() < 1e-9);
        assert!((s.p99_e2el_ms - 97.9).abs() < 1e-9);
        assert!((s.max_e2el_ms - 100.0).abs() < 1e-9);
        assert_eq!(
            ProbeStats::new(&[probe(false, 0.0)]),
            None,
            "none succeeded: no block"
        );
    }
}
