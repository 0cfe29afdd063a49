//! [`WindowFigures`]: one engine's (or all engines') figures over the window between two
//! scrapes, from counter deltas, histogram bucket deltas and the second scrape's gauges.

use std::collections::BTreeSet;

use profilemate_metrics::Scrape;
use profilemate_metrics::query::{Matcher, counter_increase, histogram_increase, total_increase};
use serde::Serialize;

use crate::summary::GpuRef;

/// The latency histograms reported, `(short name, vLLM metric)`.
pub const LATENCIES: [(&str, &str); 7] = [
    ("ttft", "vllm:time_to_first_token_seconds"),
    ("itl", "vllm:inter_token_latency_seconds"),
    ("tpot", "vllm:request_time_per_output_token_seconds"),
    ("e2e", "vllm:e2e_request_latency_seconds"),
    ("queue", "vllm:request_queue_time_seconds"),
    ("prefill", "vllm:request_prefill_time_seconds"),
    ("decode", "vllm:request_decode_time_seconds"),
];

/// The KV-offload counters (observability anchors §1.6), current and deprecated names.
const KV_OFFLOAD: [&str; 8] = [
    "vllm:kv_offload_load_bytes_total",
    "vllm:kv_offload_store_bytes_total",
    "vllm:kv_offload_load_time_total",
    "vllm:kv_offload_store_time_total",
    "vllm:kv_offload_allocation_failure_total",
    "vllm:kv_offload_stores_skipped_total",
    "vllm:kv_offload_total_bytes_total",
    "vllm:kv_offload_total_time_total",
];

/// The figures of one engine (or all together) over the window.
#[derive(Debug, Clone, Serialize)]
pub struct WindowFigures {
    /// The `engine` label value, or `all`.
    pub engine: String,
    /// Δ`vllm:request_success_total`: requests finished, any reason.
    pub requests_finished: f64,
    /// The same by `finished_reason`, reasons that moved only.
    pub finished_by_reason: Vec<(String, f64)>,
    /// Δ`vllm:prompt_tokens_total` (cached tokens included).
    pub prompt_tokens: f64,
    /// Δ`vllm:generation_tokens_total`.
    pub generation_tokens: f64,
    /// Per-second rates, when the window's length is known.
    pub rates: Option<Rates>,
    /// Latency histograms over the window.
    pub latency: Vec<LatencyStat>,
    /// Prefix-cache lookups over the window, when the counters exist.
    pub prefix_cache: Option<PrefixCache>,
    /// Δ`vllm:num_preemptions_total`.
    pub preemptions: f64,
    /// Estimated FLOPs and bytes per GPU, when they moved (`--enable-mfu-metrics`).
    pub utilization: Option<Utilization>,
    /// Speculative decoding, when drafts were made.
    pub spec_decode: Option<SpecDecode>,
    /// KV-offload counters that exist, `(name, Δ)`.
    pub kv_offload: Vec<(String, f64)>,
    /// Gauges at the second scrape.
    pub at_after: Gauges,
}

/// Per-second rates over the window.
#[derive(Debug, Clone, Serialize)]
pub struct Rates {
    /// Requests finished per second.
    pub requests_per_s: f64,
    /// Prompt tokens per second.
    pub prompt_tokens_per_s: f64,
    /// Generated tokens per second.
    pub generation_tokens_per_s: f64,
}

/// One latency histogram over the window, in seconds.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyStat {
    /// Short name (`ttft`, `itl`, …).
    pub name: &'static str,
    /// The vLLM metric.
    pub metric: &'static str,
    /// Observations in the window.
    pub count: f64,
    /// Δsum / Δcount.
    pub mean_s: Option<f64>,
    /// Windowed `histogram_quantile(0.5, …)`.
    pub p50_s: Option<f64>,
    /// Windowed p90.
    pub p90_s: Option<f64>,
    /// Windowed p99.
    pub p99_s: Option<f64>,
}

/// Prefix-cache lookups (tokens).
#[derive(Debug, Clone, Serialize)]
pub struct PrefixCache {
    /// Δqueries.
    pub queries: f64,
    /// Δhits.
    pub hits: f64,
    /// hits / queries, when queried.
    pub hit_rate: Option<f64>,
}

/// Estimated work per GPU over the window.
#[derive(Debug, Clone, Serialize)]
pub struct Utilization {
    /// Δ`vllm:estimated_flops_per_gpu_total`, mean over engines.
    pub flops_per_gpu: f64,
    /// Δ read + write bytes per GPU, mean over engines.
    pub bytes_per_gpu: f64,
    /// FLOP per byte.
    pub arithmetic_intensity: Option<f64>,
    /// TF/s per GPU (needs the window).
    pub tflops_per_gpu: Option<f64>,
    /// GB/s per GPU (needs the window).
    pub gbps_per_gpu: Option<f64>,
    /// TF/s over the GPU's peak, % (needs the window and a GPU).
    pub mfu_pct: Option<f64>,
    /// GB/s over the GPU's peak, %.
    pub mbu_pct: Option<f64>,
    /// The GPU's ridge point, FLOP per byte (needs a GPU).
    pub ridge_point: Option<f64>,
    /// `memory` (decode-like) or `compute` (prefill-like): intensity against the ridge.
    pub bound: Option<&'static str>,
}

/// Speculative decoding over the window (vLLM's `spec_decode_*` definitions).
#[derive(Debug, Clone, Serialize)]
pub struct SpecDecode {
    /// Δ drafts.
    pub drafts: f64,
    /// Δ draft tokens.
    pub draft_tokens: f64,
    /// Δ accepted tokens.
    pub accepted_tokens: f64,
    /// accepted / draft tokens, 0-1.
    pub acceptance_rate: f64,
    /// 1 + accepted / drafts.
    pub mean_acceptance_length: Option<f64>,
}

/// Gauges at the second scrape (summed over engines for `all`).
#[derive(Debug, Clone, Serialize)]
pub struct Gauges {
    /// `vllm:num_requests_running`.
    pub running: Option<f64>,
    /// `vllm:num_requests_waiting`.
    pub waiting: Option<f64>,
    /// `vllm:kv_cache_usage_perc` × 100 (the highest engine's for `all`).
    pub kv_cache_usage_pct: Option<f64>,
}

/// The `engine` label values of the `vllm:` samples in a scrape.
pub(super) fn engines(scrape: &Scrape) -> Vec<String> {
    let set: BTreeSet<&str> = scrape
        .samples()
        .filter(|s| s.name.starts_with("vllm:") || s.name.starts_with("vllm_"))
        .filter_map(|s| s.labels.get("engine"))
        .collect();
    set.into_iter().map(str::to_owned).collect()
}

/// Quantiles with nothing observed are NaN: `None`.
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

impl WindowFigures {
    /// The figures of `engine` (all engines with `None`) from `before` to `after`.
    pub(super) fn new(
        before: &Scrape,
        after: &Scrape,
        engine: Option<&str>,
        seconds: Option<f64>,
        gpu: Option<&GpuRef>,
    ) -> Self {
        let matchers: Vec<Matcher<'_>> = engine
            .map(|e| Matcher::eq("engine", e))
            .into_iter()
            .collect();
        let m = matchers.as_slice();
        let delta = |n: &str| total_increase(before, after, n, m);
        let d0 = |n: &str| delta(n).unwrap_or(0.0);
        let requests = counter_increase(before, after, "vllm:request_success_total", m);
        let mut by_reason: Vec<(String, f64)> = Vec::new();
        for (labels, v) in &requests {
            let reason = labels.get("finished_reason").unwrap_or("").to_owned();
            match by_reason.iter_mut().find(|(r, _)| *r == reason) {
                Some(slot) => slot.1 += v,
                None => by_reason.push((reason, *v)),
            }
        }
        by_reason.retain(|(_, v)| *v > 0.0);
        let (finished, prompt, generation) = (
            requests.iter().map(|(_, v)| v).sum::<f64>(),
            d0("vllm:prompt_tokens_total"),
            d0("vllm:generation_tokens_total"),
        );
        let latency = LATENCIES
            .iter()
            .map(|&(name, metric)| {
                let h = histogram_increase(before, after, metric, m, &[]);
                let h = h.first();
                LatencyStat {
                    name,
                    metric,
                    count: h.map_or(0.0, |h| h.count),
                    mean_s: h.and_then(|h| h.mean()),
                    p50_s: h.and_then(|h| finite(h.quantile(0.5))),
                    p90_s: h.and_then(|h| finite(h.quantile(0.9))),
                    p99_s: h.and_then(|h| finite(h.quantile(0.99))),
                }
            })
            .collect();
        let prefix_cache = delta("vllm:prefix_cache_queries_total").map(|queries| {
            let hits = d0("vllm:prefix_cache_hits_total");
            PrefixCache {
                queries,
                hits,
                hit_rate: (queries > 0.0).then(|| hits / queries),
            }
        });
        let gauge = |n: &str| {
            let v = after.instant(n, m);
            (!v.is_empty()).then(|| v.iter().map(|(_, x)| x).sum::<f64>())
        };
        let kv_max = after
            .instant("vllm:kv_cache_usage_perc", m)
            .iter()
            .map(|(_, x)| *x * 100.0)
            .reduce(f64::max);
        Self {
            engine: engine.unwrap_or("all").to_owned(),
            requests_finished: finished,
            finished_by_reason: by_reason,
            prompt_tokens: prompt,
            generation_tokens: generation,
            rates: seconds.filter(|s| *s > 0.0).map(|s| Rates {
                requests_per_s: finished / s,
                prompt_tokens_per_s: prompt / s,
                generation_tokens_per_s: generation / s,
            }),
            latency,
            prefix_cache,
            preemptions: d0("vllm:num_preemptions_total"),
            utilization: utilization(before, after, m, seconds, gpu),
            spec_decode: spec_decode(&delta),
            kv_offload: KV_OFFLOAD
                .iter()
                .filter_map(|n| Some((n.to_string(), delta(n)?)))
                .collect(),
            at_after: Gauges {
                running: gauge("vllm:num_requests_running"),
                waiting: gauge("vllm:num_requests_waiting"),
                kv_cache_usage_pct: kv_max,
            },
        }
    }

    /// The window's latency histogram `name` (`ttft`, `queue`, …).
    pub fn latency(&self, name: &str) -> Option<&LatencyStat> {
        self.latency.iter().find(|l| l.name == name)
    }
}

fn utilization(
    before: &Scrape,
    after: &Scrape,
    m: &[Matcher<'_>],
    seconds: Option<f64>,
    gpu: Option<&GpuRef>,
) -> Option<Utilization> {
    // A per-GPU counter has one series per engine: the mean over them.
    let per_gpu = |n: &str| {
        let inc = counter_increase(before, after, n, m);
        (!inc.is_empty()).then(|| inc.iter().map(|(_, v)| v).sum::<f64>() / inc.len() as f64)
    };
    let flops = per_gpu("vllm:estimated_flops_per_gpu_total").unwrap_or(0.0);
    let bytes = per_gpu("vllm:estimated_read_bytes_per_gpu_total").unwrap_or(0.0)
        + per_gpu("vllm:estimated_write_bytes_per_gpu_total").unwrap_or(0.0);
    if flops <= 0.0 && bytes <= 0.0 {
        return None;
    }
    let intensity = (bytes > 0.0).then(|| flops / bytes);
    let seconds = seconds.filter(|s| *s > 0.0);
    let tflops = seconds.map(|s| flops / s / 1e12);
    let gbps = seconds.map(|s| bytes / s / 1e9);
    let ridge = gpu.map(|g| g.peak_tflops * 1000.0 / g.peak_gbps);
    Some(Utilization {
        flops_per_gpu: flops,
        bytes_per_gpu: bytes,
        arithmetic_intensity: intensity,
        tflops_per_gpu: tflops,
        gbps_per_gpu: gbps,
        mfu_pct: tflops.zip(gpu).map(|(t, g)| t / g.peak_tflops * 100.0),
        mbu_pct: gbps.zip(gpu).map(|(b, g)| b / g.peak_gbps * 100.0),
        ridge_point: ridge,
        bound: intensity
            .zip(ridge)
            .map(|(i, r)| if i < r { "memory" } else { "compute" }),
    })
}

fn spec_decode(delta: &dyn Fn(&str) -> Option<f64>) -> Option<SpecDecode> {
    let draft_tokens = delta("vllm:spec_decode_num_draft_tokens_total").filter(|d| *d > 0.0)?;
    let drafts = delta("vllm:spec_decode_num_drafts_total").unwrap_or(0.0);
    let accepted = delta("vllm:spec_decode_num_accepted_tokens_total").unwrap_or(0.0);
    Some(SpecDecode {
        drafts,
        draft_tokens,
        accepted_tokens: accepted,
        acceptance_rate: accepted / draft_tokens,
        mean_acceptance_length: (drafts > 0.0).then(|| 1.0 + accepted / drafts),
    })
}
