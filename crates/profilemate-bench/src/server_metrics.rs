//! Provides the server's view of a run from two `/metrics` scrapes: vLLM's speculative-decoding
//! figures and, beyond vLLM, TF/s and GB/s per GPU, MFU / MBU, prefix-cache hit rate and
//! preemptions.
//!
//! The spec-decode part mirrors `fetch_spec_decode_metrics()` and the `spec_decode_stats` block of
//! `benchmark()` in vllm/benchmarks/serve.py, vLLM 0.32.

use std::collections::BTreeMap;

use crate::record::Seconds;

/// Counter totals read from one scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scrape {
    /// Spec-decode counters, present only when any `vllm:spec_decode*_total` sample exists.
    pub spec_decode: Option<SpecDecodeCounters>,
    /// Sum of each `vllm:*_total` counter over its label sets, and the number of label sets.
    totals: BTreeMap<String, (f64, u32)>,
}

/// vLLM's `SpecDecodeMetrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecDecodeCounters {
    /// `num_drafts`.
    pub num_drafts: i64,
    /// `num_draft_tokens`.
    pub num_draft_tokens: i64,
    /// `num_accepted_tokens`.
    pub num_accepted_tokens: i64,
    /// `num_accepted_tokens_per_pos` by position.
    pub accepted_per_pos: BTreeMap<i64, i64>,
}

impl Scrape {
    /// Parses Prometheus text exposition; malformed lines are skipped, as vLLM does.
    pub fn parse(text: &str) -> Self {
        let mut scrape = Self::default();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name_labels, value)) = line.rsplit_once(char::is_whitespace) else {
                continue;
            };
            let name = name_labels.split('{').next().unwrap_or_default();
            let Ok(value) = value.trim().parse::<f64>() else {
                continue;
            };
            if !name.starts_with("vllm:") || !name.ends_with("_total") {
                continue;
            }
            if name.starts_with("vllm:spec_decode") {
                add_spec(
                    scrape.spec_decode.get_or_insert_with(Default::default),
                    name,
                    line,
                    value,
                );
            }
            let e = scrape.totals.entry(name.to_string()).or_insert((0.0, 0));
            *e = (e.0 + value, e.1 + 1);
        }
        scrape
    }

    /// Sum over label sets of counter `name` (0 when absent).
    pub fn total(&self, name: &str) -> f64 {
        self.totals.get(name).map_or(0.0, |t| t.0)
    }

    /// Mean over label sets (engines) of a per-GPU counter.
    fn per_engine(&self, name: &str) -> Option<f64> {
        self.totals
            .get(name)
            .map(|&(sum, n)| sum / f64::from(n.max(1)))
    }
}

fn add_spec(c: &mut SpecDecodeCounters, name: &str, line: &str, value: f64) {
    let v = value as i64;
    if name.contains("num_drafts") {
        c.num_drafts += v;
    } else if name.contains("num_draft_tokens") {
        c.num_draft_tokens += v;
    } else if name.contains("num_accepted_tokens_per_pos") {
        if let Some(pos) = label(line, "position").and_then(|p| p.parse().ok()) {
            *c.accepted_per_pos.entry(pos).or_insert(0) += v;
        }
    } else if name.contains("num_accepted_tokens") {
        c.num_accepted_tokens += v;
    }
}

fn label<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("{key}=\""))? + key.len() + 2;
    let end = line[start..].find('"')? + start;
    Some(&line[start..end])
}

/// vLLM's spec-decode result block (`spec_decode_*` keys).
#[derive(Debug, Clone, PartialEq)]
pub struct SpecDecodeStats {
    /// Δ drafts.
    pub num_drafts: i64,
    /// Δ draft tokens.
    pub draft_tokens: i64,
    /// Δ accepted tokens.
    pub accepted_tokens: i64,
    /// Δaccepted / Δdraft_tokens · 100.
    pub acceptance_rate: f64,
    /// 1 + Δaccepted / Δdrafts.
    pub acceptance_length: f64,
    /// Δaccepted at position k / Δdrafts.
    pub per_position_acceptance_rates: Vec<f64>,
}

/// Spec-decode deltas between two scrapes; `None` unless both had the counters and drafts moved.
pub fn spec_decode_stats(before: &Scrape, after: &Scrape) -> Option<SpecDecodeStats> {
    let (b, a) = (before.spec_decode.as_ref()?, after.spec_decode.as_ref()?);
    let drafts = a.num_drafts - b.num_drafts;
    let draft_tokens = a.num_draft_tokens - b.num_draft_tokens;
    let accepted = a.num_accepted_tokens - b.num_accepted_tokens;
    if draft_tokens <= 0 {
        return None;
    }
    let mut per_pos = Vec::new();
    if drafts > 0 {
        let positions: std::collections::BTreeSet<i64> = b
            .accepted_per_pos
            .keys()
            .chain(a.accepted_per_pos.keys())
            .copied()
            .collect();
        for pos in positions {
            let before_v = b.accepted_per_pos.get(&pos).copied().unwrap_or(0);
            let after_v = a.accepted_per_pos.get(&pos).copied().unwrap_or(before_v);
            per_pos.push((after_v - before_v) as f64 / drafts as f64);
        }
    }
    Some(SpecDecodeStats {
        num_drafts: drafts,
        draft_tokens,
        accepted_tokens: accepted,
        acceptance_rate: accepted as f64 / draft_tokens as f64 * 100.0,
        acceptance_length: if drafts > 0 {
            1.0 + accepted as f64 / drafts as f64
        } else {
            0.0
        },
        per_position_acceptance_rates: per_pos,
    })
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
}

/// Computes the server's view between two scrapes taken `duration` apart.
pub fn server_view(
    before: &Scrape,
    after: &Scrape,
    duration: Seconds,
    gpu: Option<GpuPeak>,
) -> ServerView {
    let delta = |n: &str| after.total(n) - before.total(n);
    let per_gpu = |n: &str| Some(after.per_engine(n)? - before.per_engine(n).unwrap_or(0.0));
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_BEFORE: &str = "# HELP x\nvllm:spec_decode_num_drafts_total{engine=\"0\"} 10.0\nvllm:spec_decode_num_draft_tokens_total{engine=\"0\"} 30.0\nvllm:spec_decode_num_accepted_tokens_total{engine=\"0\"} 12.0\nvllm:spec_decode_num_accepted_tokens_per_pos_total{engine=\"0\",position=\"0\"} 8.0\nvllm:spec_decode_num_accepted_tokens_per_pos_total{engine=\"0\",position=\"1\"} 4.0\n";
    const SPEC_AFTER: &str = "vllm:spec_decode_num_drafts_total{engine=\"0\"} 110.0\nvllm:spec_decode_num_draft_tokens_total{engine=\"0\"} 330.0\nvllm:spec_decode_num_accepted_tokens_total{engine=\"0\"} 162.0\nvllm:spec_decode_num_accepted_tokens_per_pos_total{engine=\"0\",position=\"0\"} 88.0\nvllm:spec_decode_num_accepted_tokens_per_pos_total{engine=\"0\",position=\"1\"} 54.0\nvllm:spec_decode_num_drafts_created{engine=\"0\"} 5.0\n";

    #[test]
    fn spec_decode_deltas_follow_vllm() {
        let s = spec_decode_stats(&Scrape::parse(SPEC_BEFORE), &Scrape::parse(SPEC_AFTER)).unwrap();
        assert_eq!(
            (s.num_drafts, s.draft_tokens, s.accepted_tokens),
            (100, 300, 150)
        );
        assert!((s.acceptance_rate - 50.0).abs() < 1e-12);
        assert!((s.acceptance_length - 2.5).abs() < 1e-12);
        assert_eq!(s.per_position_acceptance_rates, vec![0.8, 0.5]);
    }

    #[test]
    fn no_spec_counters_means_no_block() {
        let plain = Scrape::parse("vllm:num_preemptions_total 3\n");
        assert!(spec_decode_stats(&plain, &plain).is_none());
    }

    #[test]
    fn server_view_from_real_vllm_scrapes() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/vllm-0.32-cpu/run1/"
        );
        let read = |f: &str| std::fs::read_to_string(format!("{dir}{f}")).unwrap();
        let (b, a) = (
            Scrape::parse(&read("metrics-before.txt")),
            Scrape::parse(&read("metrics-after-1.txt")),
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
        let flops = a.total("vllm:estimated_flops_per_gpu_total")
            - b.total("vllm:estimated_flops_per_gpu_total");
        assert!((v.tflops_per_gpu.unwrap() - flops / 10.0 / 1e12).abs() < 1e-15);
        assert!((v.mfu_pct.unwrap() - v.tflops_per_gpu.unwrap() / 989.0 * 100.0).abs() < 1e-12);
        assert!(v.gbps_per_gpu.unwrap() > 0.0);
    }
}
