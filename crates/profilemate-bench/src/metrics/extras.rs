//! Provides the figures profilemate reports beyond vLLM: per-token ITL, time to first content
//! token, client lag and the error taxonomy. None of them changes a vLLM figure.

use std::collections::BTreeMap;

use super::calculate::BenchmarkMetrics;
use super::summary::Summary;
use crate::record::{ClientRequestRecord, Seconds};

/// Client lag above which the report warns that the client fell behind its schedule.
pub const CLIENT_LAG_WARN: Seconds = 0.010;

/// Beyond-vLLM aggregates.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraMetrics {
    /// ITL with each chunk gap split over the chunk's tokens (successful requests).
    pub per_token_itl: Summary,
    /// Time to first content token (successful requests that produced content).
    pub ttfc: Summary,
    /// Dispatch time minus scheduled time, over every sent request.
    pub client_lag: Summary,
    /// The largest client lag (ms).
    pub max_client_lag_ms: f64,
    /// Failures per error class (`http_500`, `timeout`, …).
    pub error_counts: BTreeMap<String, u64>,
    /// Output tokens per token-bearing chunk, averaged over successful requests' chunks.
    pub mean_tokens_per_chunk: f64,
}

impl ExtraMetrics {
    /// Whether the client fell behind its schedule by more than [`CLIENT_LAG_WARN`].
    pub fn client_fell_behind(&self) -> bool {
        self.max_client_lag_ms > CLIENT_LAG_WARN * 1000.0
    }
}

/// Computes the beyond-vLLM aggregates. With `vllm`, the generation metrics of the same
/// records, a summary whose samples are exactly vLLM's is taken from it instead of being
/// recomputed: per-token ITL when every chunk after the first carries one token (the usual
/// stream, millions of samples), TTFC when every successful request's first token was content.
pub fn calculate_extras(
    records: &[ClientRequestRecord],
    percentiles: &[f64],
    vllm: Option<&BenchmarkMetrics>,
) -> ExtraMetrics {
    let ok = || records.iter().filter(|r| r.success);
    let one_token_chunks = || {
        ok().all(|r| {
            let later = r.chunk_tokens.iter().skip(1).take(r.itl.len());
            later.copied().all(|t| t <= 1)
        })
    };
    let per_token_itl = match vllm {
        Some(m) if one_token_chunks() => m.itl.clone(),
        _ => {
            let mut per_token = Vec::new();
            ok().for_each(|r| r.per_token_itl(&mut per_token));
            Summary::from_samples(per_token, percentiles)
        }
    };
    let ttfc = match vllm {
        Some(m) if ok().all(|r| r.ttfc == Some(r.ttft)) => m.ttft.clone(),
        _ => {
            let ttfcs: Vec<Seconds> = ok().filter_map(|r| r.ttfc).collect();
            Summary::from_samples(ttfcs, percentiles)
        }
    };
    let lags: Vec<Seconds> = records.iter().map(|r| r.client_lag).collect();
    let (chunks, tokens) = ok().fold((0u64, 0u64), |(c, t), r| {
        (
            c + r.chunk_tokens.len() as u64,
            t + r.chunk_tokens.iter().map(|&x| u64::from(x)).sum::<u64>(),
        )
    });
    ExtraMetrics {
        per_token_itl,
        ttfc,
        client_lag: Summary::from_seconds(&lags, percentiles),
        max_client_lag_ms: lags.iter().copied().fold(0.0, f64::max) * 1000.0,
        error_counts: error_counts(records),
        mean_tokens_per_chunk: if chunks == 0 {
            0.0
        } else {
            tokens as f64 / chunks as f64
        },
    }
}

fn error_counts(records: &[ClientRequestRecord]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for kind in records.iter().filter_map(|r| r.error_kind) {
        *counts.entry(kind.to_string()).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ErrorKind;

    #[test]
    fn extras_split_chunks_and_count_errors() {
        let good = ClientRequestRecord {
            success: true,
            itl: vec![0.03],
            chunk_tokens: vec![1, 3],
            ttfc: Some(0.2),
            client_lag: 0.02,
            ..Default::default()
        };
        let bad =
            ClientRequestRecord::failed(ErrorKind::HttpStatus(500), "Internal Server Error".into());
        let x = calculate_extras(&[good, bad.clone(), bad], &[50.0], None);
        assert!((x.per_token_itl.mean_ms - 10.0).abs() < 1e-9);
        assert!((x.ttfc.mean_ms - 200.0).abs() < 1e-9);
        assert_eq!(x.error_counts.get("http_500"), Some(&2));
        assert_eq!(x.mean_tokens_per_chunk, 2.0);
        assert!(x.client_fell_behind());
    }

    /// Reusing vLLM's summaries never changes a figure: with one-token chunks and content
    /// from the first token they are the same samples; otherwise they are recomputed.
    #[test]
    fn reusing_vllms_summaries_gives_the_figures_computed_afresh() {
        use crate::metrics::{Goodput, calculate_metrics};
        let rec =
            |ttft: f64, itl: Vec<f64>, chunks: Vec<u32>, ttfc: Option<f64>| ClientRequestRecord {
                success: true,
                ttft,
                latency: ttft + itl.iter().sum::<f64>(),
                output_tokens: chunks.iter().map(|&c| u64::from(c)).sum(),
                itl,
                chunk_tokens: chunks,
                ttfc,
                ..Default::default()
            };
        let plain = vec![
            rec(0.1, vec![0.02, 0.03, 0.05], vec![1, 1, 1, 1], Some(0.1)),
            rec(0.3, vec![0.01, 0.07], vec![1, 1, 1], Some(0.3)),
            ClientRequestRecord::failed(ErrorKind::Timeout, "timeout".into()),
        ];
        let mut multi = plain.clone();
        multi.push(rec(0.2, vec![0.04], vec![1, 4], Some(0.2)));
        let mut reasoning = plain.clone();
        reasoning.push(rec(0.2, vec![0.04], vec![1, 1], Some(0.25)));
        for records in [plain, multi, reasoning] {
            let percentiles = [50.0, 90.0, 99.0];
            let m = calculate_metrics(&records, 1.0, None, &percentiles, &Goodput::default());
            let reused = calculate_extras(&records, &percentiles, Some(&m));
            assert_eq!(reused, calculate_extras(&records, &percentiles, None));
        }
    }
}
