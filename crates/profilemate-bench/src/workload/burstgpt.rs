//! Provides the `burstgpt` dataset from a local BurstGPT CSV.
//!
//! Mirrors `BurstGPTDataset` in vllm/benchmarks/datasets/datasets.py, vLLM 0.32: `load_data`
//! keeps the rows whose `Model` is `GPT-4` and whose `Response tokens` is positive;
//! `_sample_loaded_data` draws `--num-prompts` of them with the seed (without replacement when
//! there are enough, else with); `sample` builds each prompt from the logged `Request tokens`
//! as the token ids `(i + j) % vocab` and asks for the logged `Response tokens`. As in vLLM,
//! `--disable-shuffle` does not apply (pandas' `sample` always draws at random). The draw uses
//! our seeded RNG, so the rows picked differ from pandas' for the same seed.

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::table::read_rows;
use super::{SampleOptions, SampleRequest};
use crate::error::DatasetError;
use crate::tokenizer::Tokenizer;

const MODEL: &str = "Model";
const REQUEST_TOKENS: &str = "Request tokens";
const RESPONSE_TOKENS: &str = "Response tokens";

/// The (request tokens, response tokens) of the usable rows.
fn load(path: &Path) -> Result<Vec<(u64, u64)>, DatasetError> {
    let rows = read_rows(path)?;
    let mut out = Vec::new();
    for row in &rows {
        let int = |key: &str| {
            row.fields
                .get(key)
                .and_then(serde_json::Value::as_f64)
                .ok_or_else(|| {
                    row.error(format!(
                        "expected a number in column {key:?} (BurstGPT columns: Timestamp, Model, Request tokens, Response tokens, Total tokens, Log Type)"
                    ))
                })
        };
        if row.fields.get(MODEL).and_then(serde_json::Value::as_str) != Some("GPT-4") {
            if !row.fields.contains_key(MODEL) {
                return Err(row.error(format!("no {MODEL:?} column; is this a BurstGPT CSV?")));
            }
            continue;
        }
        let (request, response) = (int(REQUEST_TOKENS)?, int(RESPONSE_TOKENS)?);
        if response > 0.0 {
            out.push((request.max(0.0) as u64, response as u64));
        }
    }
    Ok(out)
}

pub(super) fn sample(
    path: &Path,
    opts: &SampleOptions,
    tok: &dyn Tokenizer,
) -> Result<Vec<SampleRequest>, DatasetError> {
    let rows = load(path)?;
    if rows.is_empty() {
        return Err(DatasetError::Params(format!(
            "{}: no GPT-4 rows with positive 'Response tokens' (the rows burstgpt uses)",
            path.display()
        )));
    }
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let picked: Vec<(u64, u64)> = if opts.num_prompts <= rows.len() {
        let mut rows = rows;
        super::shuffle(&mut rows, opts.seed);
        rows.truncate(opts.num_prompts);
        rows
    } else {
        (0..opts.num_prompts)
            .map(|_| rows[rng.random_range(0..rows.len())])
            .collect()
    };
    let vocab = u64::from(tok.vocab_size().max(1));
    Ok(picked
        .into_iter()
        .enumerate()
        .map(|(i, (input_len, output_len))| {
            let ids = (0..input_len)
                .map(|j| ((i as u64 + j) % vocab) as u32)
                .collect();
            SampleRequest::from_ids(ids, output_len, i, opts, tok)
        })
        .collect())
}
