//! vLLM's speculative-decoding figures from two scrapes: the counters `fetch_spec_decode_metrics()`
//! reads and the `spec_decode_*` block `benchmark()` derives from their deltas
//! (vllm/benchmarks/serve.py, vLLM 0.32).

use std::collections::{BTreeMap, BTreeSet};

use crate::model::Scrape;

/// vLLM's `SpecDecodeMetrics`: the spec-decode counters of one scrape, summed over engines.
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

impl SpecDecodeCounters {
    /// Reads the counters as `fetch_spec_decode_metrics()` does: every `vllm:spec_decode*_total`
    /// sample, each value truncated to an integer and summed by which counter its name names.
    /// `None` when the scrape has no such sample (speculative decoding off).
    pub fn read(scrape: &Scrape) -> Option<Self> {
        let mut c = Self::default();
        let mut found = false;
        for s in scrape.samples() {
            let name = s.name.as_str();
            if !name.starts_with("vllm:spec_decode") || !name.ends_with("_total") {
                continue;
            }
            found = true;
            if !s.value.is_finite() {
                continue; // Python's int(float("nan")) raises and the line is skipped.
            }
            let v = s.value as i64;
            if name.contains("num_drafts") {
                c.num_drafts += v;
            } else if name.contains("num_draft_tokens") {
                c.num_draft_tokens += v;
            } else if name.contains("num_accepted_tokens_per_pos") {
                if let Some(pos) = s.labels.get("position").and_then(|p| p.parse().ok()) {
                    *c.accepted_per_pos.entry(pos).or_insert(0) += v;
                }
            } else if name.contains("num_accepted_tokens") {
                c.num_accepted_tokens += v;
            }
        }
        found.then_some(c)
    }
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

/// Spec-decode deltas between two scrapes; `None` unless both had the counters and draft
/// tokens moved.
pub fn spec_decode_stats(before: &Scrape, after: &Scrape) -> Option<SpecDecodeStats> {
    let (b, a) = (
        SpecDecodeCounters::read(before)?,
        SpecDecodeCounters::read(after)?,
    );
    let drafts = a.num_drafts - b.num_drafts;
    let draft_tokens = a.num_draft_tokens - b.num_draft_tokens;
    let accepted = a.num_accepted_tokens - b.num_accepted_tokens;
    if draft_tokens <= 0 {
        return None;
    }
    let mut per_pos = Vec::new();
    if drafts > 0 {
        let positions: BTreeSet<i64> = b
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_lenient;

    const BEFORE: &str = "# HELP x\nvllm:spec_decode_num_drafts_total{engine=\"0\"} 10.0\nvllm:spec_decode_num_draft_tokens_total{engine=\"0\"} 30.0\nvllm:spec_decode_num_accepted_tokens_total{engine=\"0\"} 12.0\nvllm:spec_decode_num_accepted_tokens_per_pos_total{engine=\"0\",position=\"0\"} 8.0\nvllm:spec_decode_num_accepted_tokens_per_pos_total{engine=\"0\",position=\"1\"} 4.0\n";
    const AFTER: &str = "vllm:spec_decode_num_drafts_total{engine=\"0\"} 110.0\nvllm:spec_decode_num_draft_tokens_total{engine=\"0\"} 330.0\nvllm:spec_decode_num_accepted_tokens_total{engine=\"0\"} 162.0\nvllm:spec_decode_num_accepted_tokens_per_pos_total{engine=\"0\",position=\"0\"} 88.0\nvllm:spec_decode_num_accepted_tokens_per_pos_total{engine=\"0\",position=\"1\"} 54.0\nvllm:spec_decode_num_drafts_created{engine=\"0\"} 5.0\n";

    fn read(text: &str) -> Scrape {
        parse_lenient(text).scrape
    }

    #[test]
    fn deltas_follow_vllm() {
        let s = spec_decode_stats(&read(BEFORE), &read(AFTER)).unwrap();
        assert_eq!(
            (s.num_drafts, s.draft_tokens, s.accepted_tokens),
            (100, 300, 150)
        );
        assert!((s.acceptance_rate - 50.0).abs() < 1e-12);
        assert!((s.acceptance_length - 2.5).abs() < 1e-12);
        assert_eq!(s.per_position_acceptance_rates, vec![0.8, 0.5]);
    }

    #[test]
    fn engines_sum_and_values_truncate_like_python_int() {
        let c = SpecDecodeCounters::read(&read(
            "vllm:spec_decode_num_drafts_total{engine=\"0\"} 2.9\nvllm:spec_decode_num_drafts_total{engine=\"1\"} 3.9\n",
        ))
        .unwrap();
        assert_eq!(c.num_drafts, 5);
    }

    #[test]
    fn no_counters_means_no_block() {
        let plain = read("vllm:num_preemptions_total 3\n");
        assert_eq!(SpecDecodeCounters::read(&plain), None);
        assert!(spec_decode_stats(&plain, &plain).is_none());
    }
}
