//! [`Signals`]: the few figures the shared rules read, filled from a log summary here and from
//! a scrape window by [`crate::scrape`].

use serde::Serialize;

use crate::summary::LogSummary;

/// What the shared rules know about a deployment, whichever input it came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Signals {
    /// How much requests queue, if the input says.
    pub queue: Option<QueueSignal>,
    /// The configured `max_num_seqs`, if known.
    pub max_num_seqs: Option<u64>,
    /// KV-cache usage in %, with how it was measured.
    pub kv_usage: Option<KvSignal>,
    /// Preemptions counted.
    pub preemptions: u64,
    /// Preemptions per 1000 of something (`steps`, `finished requests`).
    pub preemption_rate: Option<(f64, &'static str)>,
    /// Prefix-cache hit rate, when prefix caching is on and was queried.
    pub prefix_cache: Option<PrefixSignal>,
    /// MFU / MBU and roofline bound, when the server estimated FLOPs and bytes.
    pub utilization: Option<UtilSignal>,
    /// Speculative-decoding acceptance, when drafts were made.
    pub spec_decode: Option<SpecSignal>,
}

/// How much requests wait.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueSignal {
    /// 0-1: the share of stats intervals with Waiting > 0 (log), or the share of request time
    /// spent queued (scrapes).
    pub share: f64,
    /// The figures behind `share`, in words.
    pub measured: String,
    /// The most requests seen running at once, when the input tracks it.
    pub running_peak: Option<f64>,
}

/// KV-cache usage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KvSignal {
    /// Usage in %.
    pub pct: f64,
    /// How it was read (`peaked at`, `at the second scrape`).
    pub how: &'static str,
}

/// Prefix-cache hits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrefixSignal {
    /// Hits over queries, 0-1.
    pub hit_rate: f64,
    /// Prompt tokens looked up, when counted.
    pub queried_tokens: Option<f64>,
}

/// Hardware utilization.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UtilSignal {
    /// MFU in % against the GPU, when rates and a GPU are known.
    pub mfu_pct: Option<f64>,
    /// MBU in %.
    pub mbu_pct: Option<f64>,
    /// Estimated TF/s per GPU.
    pub tflops_per_gpu: Option<f64>,
    /// Estimated GB/s per GPU.
    pub gbps_per_gpu: Option<f64>,
    /// FLOP per byte of the work done.
    pub intensity: Option<f64>,
    /// The GPU's ridge point, FLOP per byte.
    pub ridge_point: Option<f64>,
    /// `memory` or `compute`, intensity against the ridge point.
    pub bound: Option<&'static str>,
}

/// Speculative decoding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpecSignal {
    /// Accepted over drafted tokens, 0-1.
    pub acceptance_rate: f64,
    /// Drafted tokens.
    pub drafted: f64,
    /// Mean tokens per draft step, accepted plus the bonus token.
    pub mean_acceptance_length: Option<f64>,
}

impl Signals {
    /// The signals of a log summary (its all-engines total).
    pub fn from_log(summary: &LogSummary) -> Self {
        let s = &summary.total;
        let st = &s.stats_lines;
        let queue = (st.count > 0 && st.waiting.max > 0.0).then(|| QueueSignal {
            share: st.waiting_share,
            measured: format!(
                "Waiting > 0 in {:.0}% of stats intervals (mean {:.1}, peak {:.0})",
                st.waiting_share * 100.0,
                st.waiting.mean,
                st.waiting.max
            ),
            running_peak: Some(st.running.max),
        });
        let kv_peak = st.kv_usage_pct.max.max(s.iterations.kv_usage_pct.max);
        let prefix_on = summary.config.enable_prefix_caching != Some(false);
        Self {
            queue,
            max_num_seqs: summary.config.max_num_seqs,
            kv_usage: Some(KvSignal {
                pct: kv_peak,
                how: "peaked at",
            }),
            preemptions: summary.preemptions,
            preemption_rate: (s.iterations.count > 0).then(|| {
                (
                    summary.preemptions as f64 * 1000.0 / s.iterations.count as f64,
                    "steps",
                )
            }),
            prefix_cache: st
                .prefix_cache_hit_rate_pct
                .filter(|_| prefix_on)
                .map(|pct| PrefixSignal {
                    hit_rate: pct / 100.0,
                    queried_tokens: None,
                }),
            utilization: (s.mfu.lines > 0).then_some(UtilSignal {
                mfu_pct: s.mfu.mfu_pct,
                mbu_pct: s.mfu.mbu_pct,
                tflops_per_gpu: Some(s.mfu.tflops_per_gpu.mean),
                gbps_per_gpu: Some(s.mfu.gbps_per_gpu.mean),
                intensity: s.mfu.arithmetic_intensity,
                ridge_point: s.mfu.ridge_point,
                bound: s.mfu.bound,
            }),
            spec_decode: s.spec_decode.acceptance_rate.map(|rate| SpecSignal {
                acceptance_rate: rate,
                drafted: s.spec_decode.drafted as f64,
                mean_acceptance_length: s.spec_decode.mean_acceptance_length,
            }),
        }
    }
}
