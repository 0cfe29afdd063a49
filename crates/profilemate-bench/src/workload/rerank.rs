//! Provides the `random-rerank` dataset: per request, one random query and a batch of random
//! documents, sent as one list `[query, doc, ...]`.
//!
//! Mirrors `RandomDatasetForReranking.sample()` in vllm/benchmarks/datasets/datasets.py,
//! vLLM 0.32: the query has about `input_len / 2 - 1` tokens (reranker; `--no-reranker`: the
//! whole `input_len`, and one request and one batch slot go to it), each document
//! `input_len - query_len - 1` (`--no-reranker`: `input_len`), lengths widened by
//! `--random-range-ratio`; documents are grouped `--random-batch-size` a request and the
//! prompt length counts the query once per document (once per request with `--no-reranker`).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::random::bounds;
use super::{ClientPrompt, RangeRatio, SampleOptions, SampleRequest};
use crate::error::DatasetError;
use crate::tokenizer::Tokenizer;

/// The `random-rerank` parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct RerankSpec {
    /// `--random-input-len`.
    pub input_len: u64,
    /// `--random-range-ratio` (the input ratio applies).
    pub range_ratio: RangeRatio,
    /// `--random-batch-size`: documents per request.
    pub batch_size: usize,
    /// Not `--no-reranker`.
    pub is_reranker: bool,
}

pub(super) fn sample(
    spec: &RerankSpec,
    opts: &SampleOptions,
    tok: &dyn Tokenizer,
) -> Result<Vec<SampleRequest>, DatasetError> {
    let sep = u64::from(spec.is_reranker);
    let (mut num, mut batch) = (opts.num_prompts, spec.batch_size.max(1));
    if !spec.is_reranker {
        if num <= 1 || batch <= 1 {
            return Err(DatasetError::Params(
                "random-rerank with --no-reranker needs --num-prompts > 1 and --random-batch-size > 1 (one of each goes to the query)".into(),
            ));
        }
        num -= 1;
        batch -= 1;
    }
    let special = u64::from(tok.num_special_tokens_to_add());
    let vocab = u64::from(tok.vocab_size().max(1));
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut draw = |len: u64| {
        let (lo, hi) = bounds(len.saturating_sub(special), spec.range_ratio.input);
        (rng.random_range(lo..=hi), rng.random_range(0..vocab))
    };
    let query_param = if spec.is_reranker {
        (spec.input_len / 2).saturating_sub(sep)
    } else {
        spec.input_len
    };
    let (query_len, query_offset) = draw(query_param);
    let doc_param = if spec.is_reranker {
        spec.input_len.saturating_sub(query_len + sep)
    } else {
        spec.input_len
    };
    let docs: Vec<(u64, u64)> = (0..num).map(|_| draw(doc_param)).collect();
    let text = |len: u64, offset: u64, index: u64| {
        let ids: Vec<u32> = (0..len)
            .map(|j| ((offset + index + j) % vocab) as u32)
            .collect();
        tok.decode(&ids)
    };
    let query = text(query_len, query_offset, 0);
    let docs: Vec<(String, u64)> = docs
        .iter()
        .enumerate()
        .map(|(i, &(len, offset))| (text(len, offset, i as u64 + 1), len))
        .collect();
    Ok(docs
        .chunks(batch)
        .enumerate()
        .map(|(i, chunk)| {
            let query_part = if spec.is_reranker {
                (query_len + sep) * chunk.len() as u64
            } else {
                query_len
            };
            let prompt = std::iter::once(query.clone())
                .chain(chunk.iter().map(|(d, _)| d.clone()))
                .collect();
            SampleRequest {
                prompt: ClientPrompt::Batch(prompt),
                prompt_len: query_part + chunk.iter().map(|(_, l)| l).sum::<u64>(),
                expected_output_len: 0,
                request_id: format!("{}{i}", opts.request_id_prefix),
                timestamp: None,
                mm_content: Vec::new(),
            }
        })
        .collect())
}
