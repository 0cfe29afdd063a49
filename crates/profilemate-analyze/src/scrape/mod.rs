//! `analyze metrics`: what a vLLM server did between two `/metrics` scrapes (two files, or two
//! live scrapes a window apart) — rates, windowed latency quantiles, cache, utilization — and
//! the findings the shared rules draw from it.

pub mod fetch;
mod figures;
mod read;
mod signals;

pub use figures::{
    Gauges, LATENCIES, LatencyStat, PrefixCache, Rates, SpecDecode, Utilization, WindowFigures,
};
pub use read::{ScrapeInput, check_order, read_scrape_file};

use serde::Serialize;

use crate::Gpu;
use crate::findings::{Finding, from_signals};
use crate::summary::GpuRef;
use profilemate_metrics::Scrape;

/// Where the window's length came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowSource {
    /// `--window S`.
    Flag,
    /// Timed between two live scrapes.
    Measured,
    /// The samples' own timestamps.
    Timestamps,
    /// A bench result's `duration` (the scrapes bracket the run).
    BenchDuration,
}

/// The analysis of one window between two scrapes.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsSummary {
    /// The window's length in seconds, when known.
    pub window_s: Option<f64>,
    /// Where `window_s` came from.
    pub window_source: Option<WindowSource>,
    /// Said when per-second rates and MFU/MBU are omitted for want of a window.
    pub note: Option<String>,
    /// Malformed lines skipped in the first and second scrape.
    pub skipped_lines: [usize; 2],
    /// The GPU that MFU/MBU are measured against.
    pub gpu: Option<GpuRef>,
    /// All engines together.
    pub total: WindowFigures,
    /// Each engine, when the scrapes have more than one.
    pub engines: Vec<WindowFigures>,
    /// Ranked findings from the shared rules.
    pub findings: Vec<Finding>,
}

/// Analyses the window from `before` to `after`. `window_s` (with its source) enables
/// per-second rates and MFU/MBU; `gpu` enables MFU/MBU and the roofline bound.
pub fn analyze_window(
    before: &ScrapeInput,
    after: &ScrapeInput,
    window: Option<(f64, WindowSource)>,
    gpu: Option<(&Gpu, &'static str)>,
) -> MetricsSummary {
    let window = window.or_else(|| {
        timestamp_window(&before.scrape, &after.scrape).map(|s| (s, WindowSource::Timestamps))
    });
    let gpu_ref = gpu.map(|(g, source)| GpuRef {
        name: g.name.to_string(),
        source,
        peak_tflops: g.peak_flops(false) / 1e12,
        peak_gbps: g.memory_bandwidth / 1e9,
    });
    let seconds = window.map(|w| w.0);
    let fig = |engine: Option<&str>| {
        WindowFigures::new(
            &before.scrape,
            &after.scrape,
            engine,
            seconds,
            gpu_ref.as_ref(),
        )
    };
    let total = fig(None);
    let engine_ids = figures::engines(&after.scrape);
    let engines = if engine_ids.len() > 1 {
        engine_ids.iter().map(|e| fig(Some(e))).collect()
    } else {
        Vec::new()
    };
    let findings = from_signals(&signals::of(&total));
    MetricsSummary {
        window_s: seconds,
        window_source: window.map(|w| w.1),
        note: window.is_none().then(|| {
            "no window length (two files carry no clock): deltas and ratios only; pass \
             --window S for per-second rates and MFU/MBU"
                .to_owned()
        }),
        skipped_lines: [before.skipped, after.skipped],
        gpu: gpu_ref,
        total,
        engines,
        findings,
    }
}

/// The window between the latest sample timestamps of two scrapes, when both carry them.
fn timestamp_window(before: &Scrape, after: &Scrape) -> Option<f64> {
    let latest = |s: &Scrape| s.samples().filter_map(|x| x.timestamp).reduce(f64::max);
    let d = latest(after)? - latest(before)?;
    (d > 0.0).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(text: &str) -> ScrapeInput {
        ScrapeInput::from_text(text).unwrap()
    }

    fn two_engines(q: [f64; 2], h: [f64; 2], drafts: f64, accepted: f64) -> ScrapeInput {
        let mut t = String::from("# TYPE vllm:prefix_cache_queries_total counter\n");
        for (e, v) in q.iter().enumerate() {
            t += &format!("vllm:prefix_cache_queries_total{{engine=\"{e}\"}} {v}\n");
        }
        t += "# TYPE vllm:prefix_cache_hits_total counter\n";
        for (e, v) in h.iter().enumerate() {
            t += &format!("vllm:prefix_cache_hits_total{{engine=\"{e}\"}} {v}\n");
        }
        t += &format!(
            "vllm:spec_decode_num_drafts_total{{engine=\"0\"}} {drafts}\n\
             vllm:spec_decode_num_draft_tokens_total{{engine=\"0\"}} {}\n\
             vllm:spec_decode_num_accepted_tokens_total{{engine=\"0\"}} {accepted}\n\
             vllm:kv_offload_load_bytes_total{{engine=\"1\"}} {}\n\
             vllm:num_requests_waiting{{engine=\"0\"}} 3\nvllm:num_requests_waiting{{engine=\"1\"}} 4\n\
             bad line here\n",
            drafts * 3.0,
            accepted * 100.0
        );
        input(&t)
    }

    #[test]
    fn engines_are_reported_apart_and_together() {
        let before = two_engines([100.0, 0.0], [10.0, 0.0], 10.0, 12.0);
        let after = two_engines([300.0, 400.0], [110.0, 20.0], 110.0, 162.0);
        assert_eq!((before.skipped, after.skipped), (1, 1));
        let s = analyze_window(&before, &after, None, None);
        assert_eq!(s.engines.len(), 2);
        let p = |f: &WindowFigures| f.prefix_cache.clone().unwrap();
        // Engine 0: 100 of 200; engine 1: 20 of 400; together 120 of 600.
        assert_eq!(p(&s.engines[0]).hit_rate, Some(0.5));
        assert_eq!(p(&s.engines[1]).hit_rate, Some(0.05));
        assert_eq!((p(&s.total).hits, p(&s.total).queries), (120.0, 600.0));
        let sd = s.total.spec_decode.clone().unwrap();
        // 150 of 300 draft tokens accepted over 100 drafts: vLLM's 50% and 2.5.
        assert_eq!(
            (sd.acceptance_rate, sd.mean_acceptance_length),
            (0.5, Some(2.5))
        );
        assert!(s.engines[1].spec_decode.is_none());
        assert_eq!(
            s.engines[1].kv_offload,
            [("vllm:kv_offload_load_bytes_total".to_owned(), 15000.0)]
        );
        assert_eq!(s.total.at_after.waiting, Some(7.0));
        assert!(s.total.rates.is_none() && s.note.is_some());
    }

    #[test]
    fn sample_timestamps_give_the_window() {
        let s = analyze_window(
            &input("vllm:generation_tokens_total 10 1000000\n"),
            &input("vllm:generation_tokens_total 70 1030000\n"),
            None,
            None,
        );
        assert_eq!(
            (s.window_s, s.window_source),
            (Some(30.0), Some(WindowSource::Timestamps))
        );
        assert_eq!(s.total.rates.unwrap().generation_tokens_per_s, 2.0);
    }
}
