//! Provides the `random` dataset: synthetic prompts of exact token lengths.
//!
//! Mirrors `RandomDataset.sample()` and `get_sampling_params()` in
//! vllm/benchmarks/datasets/{datasets,utils}.py, vLLM 0.32: lengths are integer-uniform on
//! `[floor(L(1-r)), ceil(L(1+r))]` (output at least 1), and each prompt is
//! `prefix + vocab[(offset + i + 0..n) % |vocab|]`. With the built-in tokenizer the decode /
//! re-encode round trip is exact, so no length adjustment is needed.

use std::sync::Arc;

use profilemate_model::counting_ids::CountingIds;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{ClientPrompt, DatasetSpec, SampleOptions, SampleRequest};
use crate::error::{BenchConfigError, DatasetError};
use crate::tokenizer::Tokenizer;

/// `--random-range-ratio`: one ratio for both lengths or separate ones, each in [0, 1).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RangeRatio {
    /// Input-length ratio.
    pub input: f64,
    /// Output-length ratio.
    pub output: f64,
}

impl RangeRatio {
    /// Parses `--random-range-ratio`: `"0.3"` or `'{"input": 0.3, "output": 0.5}'`.
    pub fn parse(s: &str) -> Result<Self, BenchConfigError> {
        Self::parse_flag("--random-range-ratio", s)
    }

    /// Parses a range ratio given as `flag` (errors name it).
    pub fn parse_flag(flag: &'static str, s: &str) -> Result<Self, BenchConfigError> {
        let bad = |reason: &str| BenchConfigError::Invalid {
            flag,
            value: s.to_string(),
            reason: reason.into(),
        };
        let r = if let Ok(x) = s.trim().parse::<f64>() {
            Self {
                input: x,
                output: x,
            }
        } else {
            let v: serde_json::Value = serde_json::from_str(s)
                .map_err(|_| bad("use a number or {\"input\": r, \"output\": r}"))?;
            let get = |k: &str| {
                v.get(k)
                    .and_then(serde_json::Value::as_f64)
                    .ok_or_else(|| bad("the JSON form needs numeric \"input\" and \"output\" keys"))
            };
            Self {
                input: get("input")?,
                output: get("output")?,
            }
        };
        for x in [r.input, r.output] {
            if !(0.0..1.0).contains(&x) {
                return Err(bad("ratios must lie in [0, 1)"));
            }
        }
        Ok(r)
    }
}

/// Samples `--num-prompts` random requests.
pub(super) fn sample(
    spec: &DatasetSpec,
    opts: &SampleOptions,
    tok: &dyn Tokenizer,
) -> Result<Vec<SampleRequest>, DatasetError> {
    let DatasetSpec::Random {
        input_len,
        output_len,
        range_ratio,
        prefix_len,
        batch_size,
    } = *spec
    else {
        return Ok(Vec::new());
    };
    let real_input = input_len.saturating_sub(u64::from(tok.num_special_tokens_to_add()));
    let input = bounds(real_input, range_ratio.input);
    let (out_lo, out_hi) = bounds(output_len, range_ratio.output);
    if prefix_len + input.0 < 1 {
        return Err(DatasetError::Params(format!(
            "--random-input-len is too small: the minimum possible total input tokens (prefix + sampled) is {}; increase --random-input-len and/or --random-prefix-len, or decrease the input range ratio",
            prefix_len + input.0
        )));
    }
    let vocab = tok.vocab_size();
    if vocab == 0 {
        return Err(DatasetError::Params(
            "the tokenizer has an empty vocabulary: the random dataset draws token ids from it; pass a --tokenizer with tokens".into(),
        ));
    }
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let prefix: Arc<[u32]> = (0..prefix_len)
        .map(|_| rng.random_range(0..u64::from(vocab)) as u32)
        .collect();
    let draws = Draws::new(
        &mut rng,
        opts.num_prompts,
        input,
        (out_lo.max(1), out_hi.max(1)),
        u64::from(vocab),
    );
    let requests = (0..opts.num_prompts).map(|i| {
        let len = u32::try_from(draws.input[i]).unwrap_or(u32::MAX);
        let start = draws.offset[i] + i as u64;
        let ids = CountingIds::new(prefix.clone(), start, len, vocab)
            .expect("the vocabulary is not empty (checked above)");
        SampleRequest::from_counting_ids(ids, draws.output[i], i, opts, tok)
    });
    Ok(batch(requests.collect(), batch_size, opts))
}

/// Per-request lengths and vocabulary offsets, drawn in vLLM's order (`get_sampling_params`).
struct Draws {
    input: Vec<u64>,
    output: Vec<u64>,
    offset: Vec<u64>,
}

impl Draws {
    fn new(
        rng: &mut StdRng,
        n: usize,
        (in_lo, in_hi): (u64, u64),
        (out_lo, out_hi): (u64, u64),
        vocab: u64,
    ) -> Self {
        Self {
            input: (0..n).map(|_| rng.random_range(in_lo..=in_hi)).collect(),
            output: (0..n).map(|_| rng.random_range(out_lo..=out_hi)).collect(),
            offset: (0..n).map(|_| rng.random_range(0..vocab)).collect(),
        }
    }
}

/// `[floor(L(1-r)), ceil(L(1+r))]`.
pub(super) fn bounds(len: u64, ratio: f64) -> (u64, u64) {
    let l = len as f64;
    (
        (l * (1.0 - ratio)).floor() as u64,
        (l * (1.0 + ratio)).ceil() as u64,
    )
}

/// Groups requests into embedding batches (vLLM's `batchsize > 1` branch).
fn batch(requests: Vec<SampleRequest>, size: usize, opts: &SampleOptions) -> Vec<SampleRequest> {
    if size <= 1 {
        return requests;
    }
    requests
        .chunks(size)
        .enumerate()
        .map(|(i, chunk)| SampleRequest {
            prompt: ClientPrompt::Batch(
                chunk
                    .iter()
                    .map(|r| match &r.prompt {
                        ClientPrompt::Text(t) => t.clone(),
                        other => format!("{other:?}"),
                    })
                    .collect(),
            ),
            prompt_len: chunk.iter().map(|r| r.prompt_len).sum(),
            expected_output_len: 0,
            request_id: format!("{}{i}", opts.request_id_prefix),
            timestamp: None,
            mm_content: Vec::new(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_ratio_parses_both_forms() {
        assert_eq!(
            RangeRatio::parse("0.25").unwrap(),
            RangeRatio {
                input: 0.25,
                output: 0.25
            }
        );
        assert_eq!(
            RangeRatio::parse(r#"{"input": 0.1, "output": 0.5}"#).unwrap(),
            RangeRatio {
                input: 0.1,
                output: 0.5
            }
        );
        assert!(RangeRatio::parse("1.0").is_err());
        assert!(RangeRatio::parse(r#"{"input": 0.1}"#).is_err());
    }

    #[test]
    fn bounds_follow_floor_ceil() {
        assert_eq!(bounds(100, 0.25), (75, 125));
        assert_eq!(bounds(7, 0.5), (3, 11));
    }
}
