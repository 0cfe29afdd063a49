//! Provides [`calculate_metrics`]: the vLLM-exact aggregate metrics of a generation run.
//!
//! Mirrors `calculate_metrics()` in vllm/benchmarks/serve.py, vLLM 0.32, line for line: output
//! length from `usage.completion_tokens` (else the tokenizer's count of the text, else 1), TPOT
//! `(latency - ttft) / (out - 1)` only for `out > 1`, pooled per-chunk ITLs, failures counted but
//! excluded from every distribution and throughput numerator.

use super::goodput::Goodput;
use super::peaks::{Peaks, peaks};
use super::summary::Summary;
use crate::record::{ClientRequestRecord, Seconds};
use crate::tokenizer::Tokenizer;

/// vLLM's `BenchmarkMetrics` dataclass, plus the actual output lengths it returns beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchmarkMetrics {
    /// Successful requests.
    pub completed: u64,
    /// Failed requests.
    pub failed: u64,
    /// Σ prompt tokens of successful requests.
    pub total_input: u64,
    /// Σ output tokens of successful requests.
    pub total_output: u64,
    /// completed / duration.
    pub request_throughput: f64,
    /// good requests / duration.
    pub request_goodput: f64,
    /// total_output / duration.
    pub output_throughput: f64,
    /// (total_input + total_output) / duration.
    pub total_token_throughput: f64,
    /// Time to first token.
    pub ttft: Summary,
    /// Time per output token, excluding the first.
    pub tpot: Summary,
    /// Inter-token latency, per chunk.
    pub itl: Summary,
    /// End-to-end latency.
    pub e2el: Summary,
    /// Peak output chunks per 1-second bucket.
    pub max_output_tokens_per_s: f64,
    /// Peak requests active in a 1-second bucket.
    pub max_concurrent_requests: u64,
    /// Inverse real-time factor (ASR only; always 0 here).
    pub rtfx: f64,
    /// Output length per record, 0 for failures (`output_lens` in the JSON).
    pub actual_output_lens: Vec<u64>,
}

/// The per-request samples vLLM pools before summarising.
#[derive(Debug, Default)]
struct Samples {
    out_lens: Vec<u64>,
    total_input: u64,
    completed: u64,
    itls: Vec<Seconds>,
    tpots: Vec<Seconds>,
    all_tpots: Vec<Seconds>,
    ttfts: Vec<Seconds>,
    e2els: Vec<Seconds>,
}

/// Computes vLLM's aggregate metrics from per-request records.
///
/// `duration` is the benchmark's wall time in seconds; `tokenizer` counts output tokens when the
/// server sent no usage (vLLM's fallback), and `None` means "no tokenizer": such records count 1.
pub fn calculate_metrics(
    records: &[ClientRequestRecord],
    duration: Seconds,
    tokenizer: Option<&dyn Tokenizer>,
    percentiles: &[f64],
    goodput: &Goodput,
) -> BenchmarkMetrics {
    let s = collect_samples(records, tokenizer);
    let good = count_good(&s, goodput);
    let Peaks {
        max_output_tokens_per_s,
        max_concurrent_requests,
    } = peaks(records);
    let total_output: u64 = s.out_lens.iter().sum();
    BenchmarkMetrics {
        completed: s.completed,
        failed: records.len() as u64 - s.completed,
        total_input: s.total_input,
        total_output,
        request_throughput: s.completed as f64 / duration,
        request_goodput: good as f64 / duration,
        output_throughput: total_output as f64 / duration,
        total_token_throughput: (s.total_input + total_output) as f64 / duration,
        ttft: Summary::from_samples(s.ttfts, percentiles),
        tpot: Summary::from_samples(s.tpots, percentiles),
        itl: Summary::from_samples(s.itls, percentiles),
        e2el: Summary::from_samples(s.e2els, percentiles),
        max_output_tokens_per_s,
        max_concurrent_requests,
        rtfx: 0.0,
        actual_output_lens: s.out_lens,
    }
}

/// Output length as vLLM takes it: usage count, else tokenizer count, else 1.
pub fn output_len(record: &ClientRequestRecord, tokenizer: Option<&dyn Tokenizer>) -> u64 {
    match (record.output_tokens, tokenizer) {
        (0, None) => 1,
        (0, Some(tok)) => tok.count(&record.generated_text) as u64,
        (n, _) => n,
    }
}

fn collect_samples(records: &[ClientRequestRecord], tokenizer: Option<&dyn Tokenizer>) -> Samples {
    let mut s = Samples::default();
    s.itls.reserve_exact(
        records
            .iter()
            .filter(|r| r.success)
            .map(|r| r.itl.len())
            .sum(),
    );
    for r in records {
        if !r.success {
            s.out_lens.push(0);
            continue;
        }
        let out = output_len(r, tokenizer);
        s.out_lens.push(out);
        s.total_input += r.prompt_len;
        let tpot = if out > 1 {
            (r.latency - r.ttft) / (out - 1) as f64
        } else {
            0.0
        };
        if out > 1 {
            s.tpots.push(tpot);
        }
        s.all_tpots.push(tpot);
        s.itls.extend_from_slice(&r.itl);
        s.ttfts.push(r.ttft);
        s.e2els.push(r.latency);
        s.completed += 1;
    }
    s
}

fn count_good(s: &Samples, goodput: &Goodput) -> u64 {
    if !goodput.is_set() {
        return 0;
    }
    let per_request = s.ttfts.iter().zip(&s.all_tpots).zip(&s.e2els);
    per_request
        .filter(|((t, p), e)| goodput.is_good(**t, **p, **e))
        .count() as u64
}

/// vLLM's `EmbedBenchmarkMetrics` for pooling backends.
///
/// Mirrors `calculate_metrics_for_embeddings()` in vllm/benchmarks/serve.py, vLLM 0.32.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedBenchmarkMetrics {
    /// Successful requests.
    pub completed: u64,
    /// Failed requests.
    pub failed: u64,
    /// Σ prompt tokens of successful requests.
    pub total_input: u64,
    /// Σ inputs (a batched request carries several).
    pub total_input_sequences: u64,
    /// completed / duration.
    pub request_throughput: f64,
    /// total_input_sequences / duration.
    pub input_sequence_throughput: f64,
    /// total_input / duration.
    pub total_token_throughput: f64,
    /// End-to-end latency.
    pub e2el: Summary,
}

/// Computes vLLM's pooling metrics from per-request records.
pub fn calculate_embedding_metrics(
    records: &[ClientRequestRecord],
    duration: Seconds,
    percentiles: &[f64],
) -> EmbedBenchmarkMetrics {
    let ok: Vec<&ClientRequestRecord> = records.iter().filter(|r| r.success).collect();
    let total_input: u64 = ok.iter().map(|r| r.prompt_len).sum();
    let total_input_sequences: u64 = ok.iter().map(|r| r.num_input_sequences).sum();
    let e2els: Vec<Seconds> = ok.iter().map(|r| r.latency).collect();
    EmbedBenchmarkMetrics {
        completed: ok.len() as u64,
        failed: (records.len() - ok.len()) as u64,
        total_input,
        total_input_sequences,
        request_throughput: ok.len() as f64 / duration,
        input_sequence_throughput: total_input_sequences as f64 / duration,
        total_token_throughput: total_input as f64 / duration,
        e2el: Summary::from_samples(e2els, percentiles),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::WordTokenizer;

    fn ok(ttft: f64, itl: Vec<f64>, out: u64) -> ClientRequestRecord {
        let latency = ttft + itl.iter().sum::<f64>();
        ClientRequestRecord {
            success: true,
            prompt_len: 10,
            output_tokens: out,
            ttft,
            itl,
            latency,
            ..Default::default()
        }
    }

    #[test]
    fn failures_count_but_stay_out_of_distributions() {
        let recs = vec![
            ok(0.1, vec![0.02, 0.02], 3),
            ClientRequestRecord::failed(crate::ErrorKind::Timeout, "t".into()),
        ];
        let m = calculate_metrics(&recs, 2.0, None, &[99.0], &Goodput::default());
        assert_eq!(
            (m.completed, m.failed, m.total_input, m.total_output),
            (1, 1, 10, 3)
        );
        assert_eq!(m.actual_output_lens, vec![3, 0]);
        assert!((m.tpot.mean_ms - 20.0).abs() < 1e-9);
        assert_eq!(m.request_throughput, 0.5);
        assert_eq!(m.request_goodput, 0.0);
    }

    #[test]
    fn output_len_falls_back_to_tokenizer_then_one() {
        let mut r = ok(0.1, vec![], 0);
        r.generated_text = " a b c".into();
        assert_eq!(output_len(&r, None), 1);
        assert_eq!(output_len(&r, Some(&WordTokenizer::default())), 3);
    }

    #[test]
    fn single_token_requests_have_tpot_zero_for_goodput_only() {
        let recs = vec![ok(0.1, vec![], 1)];
        let g = Goodput::parse(&["tpot:1"]).unwrap();
        let m = calculate_metrics(&recs, 1.0, None, &[50.0], &g);
        assert_eq!(m.tpot.mean_ms, 0.0);
        assert_eq!(m.request_goodput, 1.0);
    }
}
