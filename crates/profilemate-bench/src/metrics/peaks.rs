//! Provides the peak output-token rate and peak concurrency over 1-second buckets.
//!
//! Mirrors the "max output tokens per second" block of `calculate_metrics()` in
//! vllm/benchmarks/serve.py, vLLM 0.32: buckets start at the earliest successful `start_time`;
//! a token time is `start + ttft + cumsum(itl)` (one per *chunk*); a request is active in every
//! bucket from its start's to its end's.

use crate::record::ClientRequestRecord;

/// Upper bound on the number of 1-second buckets.
const MAX_BUCKETS: usize = 1 << 24;

/// The two peak figures.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Peaks {
    /// `max_output_tokens_per_s`.
    pub max_output_tokens_per_s: f64,
    /// `max_concurrent_requests`.
    pub max_concurrent_requests: u64,
}

/// Computes the peaks over the successful records; zeros when none succeeded.
pub fn peaks(records: &[ClientRequestRecord]) -> Peaks {
    let ok: Vec<&ClientRequestRecord> = records.iter().filter(|r| r.success).collect();
    let Some(min_start) = ok.iter().map(|r| r.start_time).min_by(f64::total_cmp) else {
        return Peaks::default();
    };
    let max_end = ok
        .iter()
        .map(|r| r.start_time + r.latency)
        .fold(f64::MIN, f64::max);
    // At most ~194 days of 1-second buckets, so corrupt times cannot exhaust memory.
    let span = ((max_end - min_start).ceil() + 1.0).clamp(0.0, MAX_BUCKETS as f64);
    let buckets = span as usize;
    let mut tokens = vec![0u64; buckets];
    let mut active = vec![0u64; buckets];
    for r in ok {
        count_tokens(r, min_start, &mut tokens);
        let first = (r.start_time - min_start) as i64;
        let last = (r.start_time + r.latency - min_start) as i64;
        for b in first.max(0)..=last.min(buckets as i64 - 1) {
            active[b as usize] += 1;
        }
    }
    Peaks {
        max_output_tokens_per_s: tokens.iter().copied().max().unwrap_or(0) as f64,
        max_concurrent_requests: active.iter().copied().max().unwrap_or(0),
    }
}

fn count_tokens(r: &ClientRequestRecord, min_start: f64, tokens: &mut [u64]) {
    let mut t = r.start_time + r.ttft;
    let mut bump = |t: f64| {
        // Python's int() truncates toward zero; negative offsets cannot index a bucket.
        let b = (t - min_start) as i64;
        if (0..tokens.len() as i64).contains(&b) {
            tokens[b as usize] += 1;
        }
    };
    bump(t);
    for gap in &r.itl {
        t += gap;
        bump(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_count_chunks_and_active_requests() {
        let a = ClientRequestRecord {
            success: true,
            start_time: 10.0,
            ttft: 0.5,
            itl: vec![0.2, 0.2, 0.2],
            latency: 1.1,
            ..Default::default()
        };
        let b = ClientRequestRecord {
            success: true,
            start_time: 10.9,
            ttft: 0.05,
            itl: vec![],
            latency: 0.05,
            ..Default::default()
        };
        let p = peaks(&[a, b]);
        // a: tokens at 0.5, 0.7, 0.9 (bucket 0) and 1.1 (bucket 1); b: 0.95 (bucket 0).
        assert_eq!(p.max_output_tokens_per_s, 4.0);
        assert_eq!(p.max_concurrent_requests, 2);
    }

    #[test]
    fn no_successes_gives_zero() {
        assert_eq!(peaks(&[ClientRequestRecord::default()]), Peaks::default());
    }
}
