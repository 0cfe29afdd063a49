//! Derives the figures of a [`LogReport`]: means, shares, percentiles, utilization against the
//! configured limits, MFU and MBU against a GPU, and the findings. Pure; units in the names.

use serde::Serialize;

use profilemate_model::hardware::Gpu;

use crate::aggregate::{EngineAgg, IterationAgg, StatsAgg, StepKind};
use crate::config::EngineConfig;
use crate::counts::ValueCounts;
use crate::findings::{Finding, findings};
use crate::reader::LogReport;

/// The analysis of one log.
#[derive(Debug, Clone, Serialize)]
pub struct LogSummary {
    /// Line counts.
    pub lines: LineCounts,
    /// The deployment as the log states it.
    pub config: EngineConfig,
    /// The GPU that MFU and MBU are measured against.
    pub gpu: Option<GpuRef>,
    /// All engines together (the same as the one engine when there is one).
    #[serde(flatten)]
    pub total: EngineSummary,
    /// Σ preemptions: the stats lines' `Preemptions: N` plus V0 preemption warnings.
    pub preemptions: u64,
    /// Per engine (`000`, `001`, `2 engines aggregated`).
    pub engines: Vec<EngineSummary>,
    /// What to change, most important first.
    pub findings: Vec<Finding>,
}

/// How many lines were read and used.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LineCounts {
    /// Bytes read (decompressed).
    pub bytes: u64,
    /// All lines.
    pub total: u64,
    /// Lines in vLLM's envelope.
    pub vllm: u64,
    /// Lines the analysis used.
    pub recognised: u64,
    /// Lines it did not (never an error).
    pub unknown: u64,
    /// Lines cut at 1 MiB.
    pub overlong: u64,
    /// WARNING/ERROR/CRITICAL lines.
    pub warnings: u64,
}

/// The GPU used for MFU/MBU, and where its name came from.
#[derive(Debug, Clone, Serialize)]
pub struct GpuRef {
    /// Preset or file name.
    pub name: String,
    /// `--gpu`, or `log` when told from a device name in the log.
    pub source: &'static str,
    /// Peak dense TFLOP/s used (FP8 when the model is FP8-quantized).
    pub peak_tflops: f64,
    /// Peak memory bandwidth, GB/s.
    pub peak_gbps: f64,
}

/// The figures of one engine (or of all together).
#[derive(Debug, Clone, Serialize)]
pub struct EngineSummary {
    /// `000`, …, or `all`.
    pub engine: String,
    /// From the `Iteration(N)` lines.
    pub iterations: IterationSummary,
    /// From the periodic stats lines.
    pub stats_lines: StatsSummary,
    /// From the MFU lines.
    pub mfu: MfuSummary,
    /// From the CUDA-graph tables.
    pub cudagraph: CudaGraphSummary,
    /// From the spec-decode lines.
    pub spec_decode: SpecDecodeSummary,
    /// From the KV-transfer lines: lines and each key's sum.
    pub kv_transfer: KvTransferSummary,
}

/// Mean, percentiles and maximum.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Distribution {
    /// Mean.
    pub mean: f64,
    /// Median (linear interpolation, as numpy).
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

impl Distribution {
    /// The figures of the counted values, each divided by `unit`.
    fn of(counts: &ValueCounts, unit: f64) -> Self {
        if counts.is_empty() {
            return Distribution::default();
        }
        let [p50, p90, p99] = counts.percentiles([50.0, 90.0, 99.0], unit);
        Distribution {
            mean: counts.sum() / unit / counts.len() as f64,
            p50,
            p90,
            p99,
            max: counts.max().unwrap_or_default() as f64 / unit,
        }
    }
}

/// Mean and maximum.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct MeanMax {
    /// Mean.
    pub mean: f64,
    /// Maximum.
    pub max: f64,
}

/// One kind of step: count, time and share of all iteration time.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StepShare {
    /// Steps.
    pub count: u64,
    /// Σ elapsed ms.
    pub elapsed_ms: f64,
    /// Share of all (non-dummy) iteration time, 0-1.
    pub time_share: f64,
}

/// Use of a configured per-step limit.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LimitUse {
    /// The limit.
    pub limit: u64,
    /// Mean per step / limit, 0-1.
    pub mean_utilization: f64,
    /// Share of steps at ≥ 95 % of the limit.
    pub steps_at_limit_share: f64,
}

/// The `Iteration(N)` figures.
#[derive(Debug, Clone, Serialize)]
pub struct IterationSummary {
    /// Lines.
    pub count: u64,
    /// DP dummy steps.
    pub dummy: u64,
    /// Σ context requests.
    pub context_requests: u64,
    /// Σ context (prompt) tokens.
    pub context_tokens: u64,
    /// Σ generation requests.
    pub generation_requests: u64,
    /// Σ generation tokens.
    pub generation_tokens: u64,
    /// Per-step elapsed time, ms.
    pub elapsed_ms: Distribution,
    /// Σ elapsed time, ms.
    pub elapsed_ms_total: f64,
    /// Steps with prompt tokens only.
    pub prefill_only: StepShare,
    /// Steps with generated tokens only.
    pub decode_only: StepShare,
    /// Steps with both.
    pub mixed: StepShare,
    /// Tokens per step.
    pub tokens_per_step: MeanMax,
    /// Requests per step.
    pub requests_per_step: MeanMax,
    /// Against `max_num_batched_tokens`, when the log states it.
    pub token_budget: Option<LimitUse>,
    /// Against `max_num_seqs`, when the log states it.
    pub seq_limit: Option<LimitUse>,
    /// KV usage after each step, percent.
    pub kv_usage_pct: MeanMax,
    /// Σ elapsed / wall time from the first to the last iteration line (1 s resolution).
    pub busy_share: Option<f64>,
}

/// The periodic stats figures.
#[derive(Debug, Clone, Serialize)]
pub struct StatsSummary {
    /// Lines.
    pub count: u64,
    /// Lines with zero throughput.
    pub idle: u64,
    /// Prompt tokens/s per line.
    pub prompt_throughput: MeanMax,
    /// Generated tokens/s per line.
    pub generation_throughput: MeanMax,
    /// Running requests.
    pub running: MeanMax,
    /// Waiting requests.
    pub waiting: MeanMax,
    /// Share of lines with waiting > 0.
    pub waiting_share: f64,
    /// KV usage percent.
    pub kv_usage_pct: MeanMax,
    /// The last prefix-cache hit rate printed.
    pub prefix_cache_hit_rate_pct: Option<f64>,
    /// Σ `Preemptions: N`.
    pub preemptions: u64,
    /// The KV-cache device word (`GPU`, `CPU`).
    pub device: String,
    /// Throughput and queue over time (at most 64 points).
    pub series: Vec<SeriesEntry>,
}

/// One point over time.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SeriesEntry {
    /// Seconds since the first stats line.
    pub t_s: u32,
    /// Stats lines averaged.
    pub lines: u32,
    /// Mean prompt tokens/s.
    pub prompt_throughput: f64,
    /// Mean generated tokens/s.
    pub generation_throughput: f64,
    /// Mean running.
    pub running: f64,
    /// Mean waiting.
    pub waiting: f64,
    /// Mean KV usage percent.
    pub kv_usage_pct: f64,
}

/// The MFU figures.
#[derive(Debug, Clone, Serialize)]
pub struct MfuSummary {
    /// MFU lines.
    pub lines: u64,
    /// TF/s per GPU (device).
    pub tflops_per_gpu: MeanMax,
    /// GB/s per GPU.
    pub gbps_per_gpu: MeanMax,
    /// Mean TF/s over the GPU's peak, percent.
    pub mfu_pct: Option<f64>,
    /// Mean GB/s over the GPU's bandwidth, percent.
    pub mbu_pct: Option<f64>,
    /// FLOP per byte achieved (Σ TF/s / Σ GB/s × 1000).
    pub arithmetic_intensity: Option<f64>,
    /// The GPU's ridge point, FLOP per byte.
    pub ridge_point: Option<f64>,
    /// `compute` or `memory`, from intensity against the ridge.
    pub bound: Option<&'static str>,
    /// `MFU details` JSONs read.
    pub details: u64,
    /// Σ prefill requests in them.
    pub details_prefill_reqs: u64,
    /// Σ decode requests in them.
    pub details_decode_reqs: u64,
    /// TFLOP per component in them.
    pub details_tflops_by_component: Vec<(String, f64)>,
}

/// The CUDA-graph figures.
#[derive(Debug, Clone, Serialize)]
pub struct CudaGraphSummary {
    /// Tables read.
    pub tables: u64,
    /// `- Mode:` of the last table.
    pub mode: Option<String>,
    /// Capture sizes of the last table.
    pub capture_sizes: Option<u32>,
    /// The largest capture size.
    pub max_capture_size: u32,
    /// Steps in the tables.
    pub steps: u64,
    /// Steps per runtime mode.
    pub steps_full: u64,
    /// PIECEWISE steps.
    pub steps_piecewise: u64,
    /// NONE (eager) steps.
    pub steps_none: u64,
    /// Σ unpadded / Σ padded tokens (1 = no padding).
    pub padding_efficiency: Option<f64>,
}

/// The spec-decode figures.
#[derive(Debug, Clone, Serialize)]
pub struct SpecDecodeSummary {
    /// Lines.
    pub lines: u64,
    /// Σ accepted.
    pub accepted: u64,
    /// Σ drafted.
    pub drafted: u64,
    /// accepted / drafted.
    pub acceptance_rate: Option<f64>,
    /// Mean of the lines' mean acceptance length.
    pub mean_acceptance_length: Option<f64>,
}

/// The KV-transfer figures.
#[derive(Debug, Clone, Serialize)]
pub struct KvTransferSummary {
    /// Lines.
    pub lines: u64,
    /// Key → Σ value.
    pub sums: Vec<(String, f64)>,
}

impl LogReport {
    /// Derives everything; `gpu` (with where it came from) enables MFU and MBU percentages.
    pub fn summarize(&self, gpu: Option<(&Gpu, &'static str)>) -> LogSummary {
        let fp8 = self
            .config
            .quantization
            .as_deref()
            .is_some_and(|q| q.contains("fp8"));
        let gpu_ref = gpu.map(|(g, source)| GpuRef {
            name: g.name.to_string(),
            source,
            peak_tflops: g.peak_flops(fp8) / 1e12,
            peak_gbps: g.memory_bandwidth / 1e9,
        });
        let engines: Vec<EngineSummary> = self
            .engines
            .iter()
            .map(|(key, agg)| engine_summary(key.to_string(), agg, &self.config, gpu_ref.as_ref()))
            .collect();
        let total = match self.engines.as_slice() {
            [(key, agg)] => engine_summary(key.to_string(), agg, &self.config, gpu_ref.as_ref()),
            many => {
                let mut all = EngineAgg::default();
                for (_, agg) in many {
                    all.merge(agg);
                }
                engine_summary("all".into(), &all, &self.config, gpu_ref.as_ref())
            }
        };
        let preemptions = total.stats_lines.preemptions + self.preemption_warnings;
        let mut summary = LogSummary {
            lines: LineCounts {
                bytes: self.bytes,
                total: self.lines,
                vllm: self.envelope_lines,
                recognised: self.recognised_lines,
                unknown: self.unknown_lines(),
                overlong: self.overlong_lines,
                warnings: self.warnings,
            },
            config: self.config.clone(),
            gpu: gpu_ref,
            total,
            preemptions,
            engines,
            findings: Vec::new(),
        };
        summary.findings = findings(&summary);
        summary
    }
}

fn engine_summary(
    engine: String,
    agg: &EngineAgg,
    config: &EngineConfig,
    gpu: Option<&GpuRef>,
) -> EngineSummary {
    let sum = &agg.cudagraph.sum;
    EngineSummary {
        engine,
        iterations: iteration_summary(&agg.iterations, config),
        stats_lines: stats_summary(&agg.stats),
        mfu: mfu_summary(agg, gpu),
        cudagraph: CudaGraphSummary {
            tables: agg.cudagraph.tables,
            mode: sum.mode.clone(),
            capture_sizes: sum.capture_sizes,
            max_capture_size: sum.max_capture_size,
            steps: sum.steps_by_mode.iter().sum(),
            steps_full: sum.steps_by_mode[0],
            steps_piecewise: sum.steps_by_mode[1],
            steps_none: sum.steps_by_mode[2],
            padding_efficiency: ratio(sum.unpadded_tokens as f64, sum.padded_tokens as f64),
        },
        spec_decode: SpecDecodeSummary {
            lines: agg.spec_decode.count,
            accepted: agg.spec_decode.accepted,
            drafted: agg.spec_decode.drafted,
            acceptance_rate: ratio(
                agg.spec_decode.accepted as f64,
                agg.spec_decode.drafted as f64,
            ),
            mean_acceptance_length: ratio(
                agg.spec_decode.mean_acceptance_length_sum,
                agg.spec_decode.count as f64,
            ),
        },
        kv_transfer: KvTransferSummary {
            lines: agg.kv_transfer.count,
            sums: agg.kv_transfer.sums.clone(),
        },
    }
}

/// `num / den`, `None` when `den` is 0.
fn ratio(num: f64, den: f64) -> Option<f64> {
    (den > 0.0).then(|| num / den)
}

fn iteration_summary(it: &IterationAgg, config: &EngineConfig) -> IterationSummary {
    let elapsed = Distribution::of(&it.elapsed_hundredths_ms, 100.0);
    let steps = it.tokens.len() as f64;
    let busy_ms = it.elapsed_hundredths_ms.sum() / 100.0;
    let share = |k: &StepKind| StepShare {
        count: k.count,
        elapsed_ms: k.elapsed_ms,
        time_share: ratio(k.elapsed_ms, busy_ms).unwrap_or(0.0),
    };
    let mean_max = |counts: &ValueCounts| MeanMax {
        mean: ratio(counts.sum(), steps).unwrap_or(0.0),
        max: counts.max().unwrap_or_default() as f64,
    };
    let limit_use = |limit: Option<u64>, counts: &ValueCounts| {
        let limit = limit.filter(|l| *l > 0 && steps > 0.0)?;
        let at_limit = counts.at_least(0.95 * limit as f64);
        Some(LimitUse {
            limit,
            mean_utilization: mean_max(counts).mean / limit as f64,
            steps_at_limit_share: at_limit as f64 / steps,
        })
    };
    IterationSummary {
        count: it.count,
        dummy: it.dummy,
        context_requests: it.ctx_requests,
        context_tokens: it.ctx_tokens,
        generation_requests: it.gen_requests,
        generation_tokens: it.gen_tokens,
        elapsed_ms: elapsed,
        elapsed_ms_total: it.elapsed_ms,
        prefill_only: share(&it.prefill_only),
        decode_only: share(&it.decode_only),
        mixed: share(&it.mixed),
        tokens_per_step: mean_max(&it.tokens),
        requests_per_step: mean_max(&it.requests),
        token_budget: limit_use(config.max_num_batched_tokens, &it.tokens),
        seq_limit: limit_use(config.max_num_seqs, &it.requests),
        kv_usage_pct: MeanMax {
            mean: ratio(it.kv_usage_sum_pct, it.count as f64).unwrap_or(0.0),
            max: it.kv_usage_max_pct,
        },
        busy_share: it.span.and_then(|(first, last)| {
            ratio(
                it.elapsed_ms / 1000.0,
                f64::from(last.saturating_sub(first) + 1),
            )
        }),
    }
}

fn stats_summary(s: &StatsAgg) -> StatsSummary {
    let n = s.count as f64;
    let mean = |sum: f64| ratio(sum, n).unwrap_or(0.0);
    StatsSummary {
        count: s.count,
        idle: s.idle,
        prompt_throughput: MeanMax {
            mean: mean(s.prompt_throughput_sum),
            max: s.prompt_throughput_max,
        },
        generation_throughput: MeanMax {
            mean: mean(s.generation_throughput_sum),
            max: s.generation_throughput_max,
        },
        running: MeanMax {
            mean: mean(s.running_sum as f64),
            max: f64::from(s.running_max),
        },
        waiting: MeanMax {
            mean: mean(s.waiting_sum as f64),
            max: f64::from(s.waiting_max),
        },
        waiting_share: mean(s.waiting_lines as f64),
        kv_usage_pct: MeanMax {
            mean: mean(s.kv_usage_sum_pct),
            max: s.kv_usage_max_pct,
        },
        prefix_cache_hit_rate_pct: s.prefix_cache_hit_rate_pct,
        preemptions: s.preemptions,
        device: s.device.as_str().to_owned(),
        series: s
            .series
            .points()
            .iter()
            .map(|p| SeriesEntry {
                t_s: p.t_s,
                lines: p.lines,
                prompt_throughput: p.mean(|p| p.prompt_throughput),
                generation_throughput: p.mean(|p| p.generation_throughput),
                running: p.mean(|p| p.running),
                waiting: p.mean(|p| p.waiting),
                kv_usage_pct: p.mean(|p| p.kv_usage_pct),
            })
            .collect(),
    }
}

fn mfu_summary(agg: &EngineAgg, gpu: Option<&GpuRef>) -> MfuSummary {
    let m = &agg.mfu;
    let n = m.count as f64;
    let tflops = ratio(m.tflops_sum, n);
    let gbps = ratio(m.gbps_sum, n);
    let intensity = ratio(m.tflops_sum * 1000.0, m.gbps_sum).filter(|i| *i > 0.0);
    let ridge = gpu.map(|g| g.peak_tflops * 1000.0 / g.peak_gbps);
    MfuSummary {
        lines: m.count,
        tflops_per_gpu: MeanMax {
            mean: tflops.unwrap_or(0.0),
            max: m.tflops_max,
        },
        gbps_per_gpu: MeanMax {
            mean: gbps.unwrap_or(0.0),
            max: m.gbps_max,
        },
        mfu_pct: gpu.zip(tflops).map(|(g, t)| t / g.peak_tflops * 100.0),
        mbu_pct: gpu.zip(gbps).map(|(g, b)| b / g.peak_gbps * 100.0),
        arithmetic_intensity: intensity,
        ridge_point: ridge,
        bound: intensity
            .zip(ridge)
            .map(|(i, r)| if i < r { "memory" } else { "compute" }),
        details: m.details,
        details_prefill_reqs: m.details_sum.prefill_reqs,
        details_decode_reqs: m.details_sum.decode_reqs,
        details_tflops_by_component: m.details_sum.tflops_by_component.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_times_are_exact_hundredths() {
        let mut counts = ValueCounts::default();
        for ms in [4.0, 1.0, 3.0, 2.0, 265.42] {
            counts.add((ms * 100.0_f64).round() as u64);
        }
        let d = Distribution::of(&counts, 100.0);
        assert_eq!((d.p50, d.max), (3.0, 265.42));
        assert!((d.mean - 275.42 / 5.0).abs() < 1e-12);
        assert!((d.p99 - (4.0 + (265.42 - 4.0) * 0.96)).abs() < 1e-9);
        assert_eq!(Distribution::of(&ValueCounts::default(), 100.0).p50, 0.0);
    }
}
