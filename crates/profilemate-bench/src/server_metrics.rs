//! Provides the server's view of a run from two `/metrics` scrapes: vLLM's speculative-decoding
//! figures and, beyond vLLM, TF/s and GB/s per GPU, MFU / MBU, prefix-cache hit rate and
//! preemptions.
//!
//! Scrapes are read by profilemate-metrics' lenient parser and queried with its two-scrape window
//! helpers; the spec-decode part (vLLM's `fetch_spec_decode_metrics()`) lives there too.

use std::fmt;

pub use profilemate_metrics::Scrape;
use profilemate_metrics::parse::parse_lenient;
use profilemate_metrics::query::{counter_increase, total_increase};
use profilemate_model::hardware::Gpu;
use profilemate_model::roofline::{Bound, Efficiency, Roofline};

pub use profilemate_metrics::spec_decode::{
    SpecDecodeCounters, SpecDecodeStats, spec_decode_stats,
};

use crate::record::Seconds;

/// The raw `/metrics` bodies taken just before and just after the timed run, kept in the result
/// JSON (`server_scrapes`) so `profilemate analyze bench` can read the server's view later.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerScrapes {
    /// The body scraped before the first request.
    pub before: String,
    /// The body scraped after the last response.
    pub after: String,
    /// When the first scrape answered, seconds since the Unix epoch.
    pub before_unix_s: f64,
    /// When the second scrape answered.
    pub after_unix_s: f64,
    /// Seconds between the two answers (a monotonic clock).
    pub elapsed_s: f64,
}

/// Reads a `/metrics` body with profilemate-metrics' lenient reader: malformed lines are
/// skipped, as vLLM's `fetch_spec_decode_metrics()` skips them.
pub fn read_scrape(text: &str) -> Scrape {
    parse_lenient(text).scrape
}

/// Peak dense compute and memory bandwidth of one GPU, for MFU / MBU (the CLI fills it from
/// profilemate-model's hardware presets).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GpuPeak {
    /// Peak TF/s.
    pub tflops: f64,
    /// Peak GB/s.
    pub gbps: f64,
}

impl GpuPeak {
    /// The dense BF16 peak and memory bandwidth of a profilemate-model GPU.
    pub fn of(gpu: &Gpu) -> Self {
        Self {
            tflops: gpu.bf16_flops / 1e12,
            gbps: gpu.memory_bandwidth / 1e9,
        }
    }

    /// The ridge point in FLOP/byte at the peaks: profilemate-model's
    /// [`Roofline::ridge_point`] with ideal efficiency.
    pub fn ridge_point(&self) -> f64 {
        let gpu = Gpu {
            bf16_flops: self.tflops * 1e12,
            memory_bandwidth: self.gbps * 1e9,
            ..profilemate_model::hardware::presets::H100_SXM.clone()
        };
        Roofline::new(gpu, Efficiency::ideal()).ridge_point()
    }
}

/// The server's view of the run (beyond vLLM), from counter deltas over the run's duration.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerView {
    /// Estimated TF/s per GPU (`vllm:estimated_flops_per_gpu_total`).
    pub tflops_per_gpu: Option<f64>,
    /// Estimated GB/s per GPU (read + write bytes counters).
    pub gbps_per_gpu: Option<f64>,
    /// TF/s per GPU over the `--gpu` peak, in %.
    pub mfu_pct: Option<f64>,
    /// GB/s per GPU over the `--gpu` peak, in %.
    pub mbu_pct: Option<f64>,
    /// Δprefix_cache_hits / Δprefix_cache_queries (tokens), when queries moved.
    pub prefix_cache_hit_rate: Option<f64>,
    /// Δ`vllm:num_preemptions_total`.
    pub preemptions: f64,
    /// Δ`vllm:prompt_tokens_total`.
    pub prompt_tokens: f64,
    /// Δ`vllm:generation_tokens_total`.
    pub generation_tokens: f64,
    /// The GPU the utilisations are measured against.
    pub gpu: Option<GpuPeak>,
}

/// Below this MFU and MBU (both, in %), the GPU mostly waits for work.
pub const UNDERLOADED_PCT: f64 = 10.0;

/// What bounds a run on its GPU's roofline, read from its measured rates: the run's arithmetic
/// intensity (estimated FLOPs over bytes) against the GPU's ridge point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// [`Bound::Compute`] at or above the ridge point, else [`Bound::Memory`].
    pub bound: Bound,
    /// MFU in %.
    pub mfu_pct: f64,
    /// MBU in %.
    pub mbu_pct: f64,
    /// The run's FLOP/byte.
    pub intensity: f64,
    /// The GPU's ridge point, FLOP/byte.
    pub ridge: f64,
    /// Both MFU and MBU under [`UNDERLOADED_PCT`]: the GPU mostly waits for work.
    pub underloaded: bool,
}

impl ServerView {
    /// The run's reading, when the server counted FLOPs and bytes (finite rates: a scrape may
    /// hold `NaN` or `+Inf`) and a GPU is known.
    pub fn reading(&self) -> Option<Reading> {
        let finite = |x: Option<f64>| x.filter(|x| x.is_finite());
        let (tflops, gbps, gpu) = (
            finite(self.tflops_per_gpu)?,
            finite(self.gbps_per_gpu)?,
            self.gpu?,
        );
        Some(Reading::new(tflops, gbps, gpu))
    }
}

impl Reading {
    /// Reads measured TF/s and GB/s per GPU against `gpu`'s peaks.
    pub fn new(tflops: f64, gbps: f64, gpu: GpuPeak) -> Self {
        let intensity = if gbps > 0.0 {
            tflops * 1e3 / gbps
        } else {
            f64::INFINITY
        };
        let ridge = gpu.ridge_point();
        let (mfu_pct, mbu_pct) = (tflops / gpu.tflops * 100.0, gbps / gpu.gbps * 100.0);
        Self {
            bound: if intensity >= ridge {
                Bound::Compute
            } else {
                Bound::Memory
            },
            mfu_pct,
            mbu_pct,
            intensity,
            ridge,
            underloaded: mfu_pct.max(mbu_pct) < UNDERLOADED_PCT,
        }
    }
}

impl fmt::Display for Reading {
    /// One line, e.g. `decode-bound: MBU 71%, MFU 9% — 12 FLOP/byte, below the GPU's ridge
    /// point of 295: the step time is spent reading weights and KV (memory-bound)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (i, r) = (self.intensity, self.ridge);
        match self.bound {
            Bound::Compute => write!(
                f,
                "prefill-bound: MFU {:.0}%, MBU {:.0}% — {i:.0} FLOP/byte, above the GPU's ridge point of {r:.0}: the step time is spent in matmuls (compute-bound)",
                self.mfu_pct, self.mbu_pct
            )?,
            _ => write!(
                f,
                "decode-bound: MBU {:.0}%, MFU {:.0}% — {i:.0} FLOP/byte, below the GPU's ridge point of {r:.0}: the step time is spent reading weights and KV (memory-bound)",
                self.mbu_pct, self.mfu_pct
            )?,
        }
        if self.underloaded {
            write!(
                f,
                "; both under {UNDERLOADED_PCT:.0}%: the GPU mostly waits for work (raise --max-concurrency or --request-rate)"
            )?;
        }
        Ok(())
    }
}

/// Computes the server's view between two scrapes taken `duration` apart. Counter deltas are
/// reset-aware per series (profilemate-metrics' [`counter_increase`]).
pub fn server_view(
    before: &Scrape,
    after: &Scrape,
    duration: Seconds,
    gpu: Option<GpuPeak>,
) -> ServerView {
    let delta = |n: &str| total_increase(before, after, n, &[]).unwrap_or(0.0);
    // A per-GPU counter has one series per engine: the mean over them.
    let per_gpu = |n: &str| {
        let inc = counter_increase(before, after, n, &[]);
        (!inc.is_empty()).then(|| inc.iter().map(|(_, v)| v).sum::<f64>() / inc.len() as f64)
    };
    let tflops = per_gpu("vllm:estimated_flops_per_gpu_total").map(|f| f / duration / 1e12);
    let bytes = per_gpu("vllm:estimated_read_bytes_per_gpu_total")
        .map(|r| r + per_gpu("vllm:estimated_write_bytes_per_gpu_total").unwrap_or(0.0));
    let gbps = bytes.map(|b| b / duration / 1e9);
    let queries = delta("vllm:prefix_cache_queries_total");
    ServerView {
        tflops_per_gpu: tflops,
        gbps_per_gpu: gbps,
        mfu_pct: tflops.zip(gpu).map(|(t, g)| t / g.tflops * 100.0),
        mbu_pct: gbps.zip(gpu).map(|(b, g)| b / g.gbps * 100.0),
        prefix_cache_hit_rate: (queries > 0.0)
            .then(|| delta("vllm:prefix_cache_hits_total") / queries),
        preemptions: delta("vllm:num_preemptions_total"),
        prompt_tokens: delta("vllm:prompt_tokens_total"),
        generation_tokens: delta("vllm:generation_tokens_total"),
        gpu,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_view_from_real_vllm_scrapes() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/vllm-0.32-cpu/run1/"
        );
        let read = |f: &str| std::fs::read_to_string(format!("{dir}{f}")).unwrap();
        let (b, a) = (
            read_scrape(&read("metrics-before.txt")),
            read_scrape(&read("metrics-after-1.txt")),
        );
        let v = server_view(
            &b,
            &a,
            10.0,
            Some(GpuPeak {
                tflops: 989.0,
                gbps: 3350.0,
            }),
        );
        // run1 bench 1: 40 random requests of 128 prompt tokens (+ a few) and 32 output tokens.
        assert_eq!(v.prompt_tokens, 5126.0);
        assert_eq!(v.generation_tokens, 1280.0);
        assert_eq!(v.prefix_cache_hit_rate, Some(0.0));
        assert_eq!(v.preemptions, 0.0);
        let flops = a.value("vllm:estimated_flops_per_gpu_total", &[]).unwrap()
            - b.value("vllm:estimated_flops_per_gpu_total", &[]).unwrap();
        assert!((v.tflops_per_gpu.unwrap() - flops / 10.0 / 1e12).abs() < 1e-15);
        assert!((v.mfu_pct.unwrap() - v.tflops_per_gpu.unwrap() / 989.0 * 100.0).abs() < 1e-12);
        assert!(v.gbps_per_gpu.unwrap() > 0.0);
    }

    const H100: GpuPeak = GpuPeak {
        tflops: 989.0,
        gbps: 3350.0,
    };

    #[test]
    fn the_ridge_point_is_peak_flops_over_peak_bandwidth() {
        assert!((H100.ridge_point() - 989e12 / 3350e9).abs() < 1e-9);
    }

    #[test]
    fn a_low_intensity_run_reads_decode_bound() {
        // 90 TF/s over 2,400 GB/s: 37.5 FLOP/byte, under the H100's ridge of ~295.
        let r = Reading::new(90.0, 2400.0, H100);
        assert_eq!(r.bound, Bound::Memory);
        assert!((r.intensity - 37.5).abs() < 1e-9);
        assert!((r.mbu_pct - 2400.0 / 3350.0 * 100.0).abs() < 1e-9);
        assert!(!r.underloaded);
        let line = r.to_string();
        assert!(
            line.starts_with(
                "decode-bound: MBU 72%, MFU 9% — 38 FLOP/byte, below the GPU's ridge point of 295"
            ),
            "{line}"
        );
        assert!(!line.contains("waits"), "{line}");
    }

    #[test]
    fn a_high_intensity_run_reads_prefill_bound() {
        // 600 TF/s over 1,000 GB/s: 600 FLOP/byte, above the ridge.
        let r = Reading::new(600.0, 1000.0, H100);
        assert_eq!(r.bound, Bound::Compute);
        assert!(
            r.to_string().starts_with("prefill-bound: MFU 61%, MBU 30%"),
            "{r}"
        );
    }

    #[test]
    fn a_lightly_loaded_run_says_the_gpu_waits() {
        let r = Reading::new(5.0, 300.0, H100);
        assert!(r.underloaded && r.bound == Bound::Memory);
        assert!(
            r.to_string()
                .contains("both under 10%: the GPU mostly waits for work"),
            "{r}"
        );
        // Just above the threshold on one side is loaded.
        assert!(!Reading::new(5.0, 336.0, H100).underloaded);
    }

    #[test]
    fn malformed_lines_are_skipped_not_fatal() {
        // A scrape with a broken line (unterminated label value) and garbage still counts the
        // good lines, as vLLM's reader does.
        let before = read_scrape("vllm:prompt_tokens_total{engine=\"0\"} 10\n");
        let after = read_scrape(
            "vllm:prompt_tokens_total{engine=\"0\"} 110\nvllm:generation_tokens_total{engine=\"0 5\n<html>\nvllm:num_preemptions_total 2\n",
        );
        let v = server_view(&before, &after, 1.0, None);
        assert_eq!(
            (v.prompt_tokens, v.generation_tokens, v.preemptions),
            (100.0, 0.0, 2.0)
        );
    }

    #[test]
    fn the_reading_needs_rates_and_a_gpu() {
        let plain = read_scrape("vllm:num_preemptions_total 3\n");
        let v = server_view(&plain, &plain, 1.0, Some(H100));
        assert_eq!(v.reading(), None, "no FLOP counters: no reading");
    }
}
