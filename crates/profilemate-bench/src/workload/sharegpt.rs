//! Provides the `sharegpt` dataset from a local JSON file.
//!
//! Mirrors `ShareGPTDataset` in vllm/benchmarks/datasets/datasets.py, vLLM 0.32: entries with at
//! least two turns, shuffled by seed; prompt = turn 0, reference completion = turn 1; sequences
//! failing `is_valid_sequence` (prompt < 4 or > 1024 tokens, output < 4 unless fixed, total > 2048)
//! are skipped.

use std::path::Path;

use serde::Deserialize;

use super::{ClientPrompt, SampleOptions, SampleRequest, read_file, shuffle};
use crate::error::DatasetError;
use crate::tokenizer::Tokenizer;

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    conversations: Vec<Turn>,
}

#[derive(Deserialize)]
struct Turn {
    #[serde(default)]
    value: String,
}

/// vLLM's `is_valid_sequence` with its default limits.
pub(super) fn is_valid_sequence(prompt_len: u64, output_len: u64, skip_min_output: bool) -> bool {
    let too_short = prompt_len < 4 || (!skip_min_output && output_len < 4);
    !(too_short || prompt_len > 1024 || prompt_len + output_len > 2048)
}

pub(super) fn sample(
    path: &Path,
    output_len: Option<u64>,
    opts: &SampleOptions,
    tok: &dyn Tokenizer,
) -> Result<Vec<SampleRequest>, DatasetError> {
    let text = read_file(path)?;
    let entries: Vec<Entry> = serde_json::from_str(&text).map_err(|e| DatasetError::Format {
        path: path.to_path_buf(),
        line: e.line(),
        reason: format!("not a ShareGPT JSON list: {e}"),
    })?;
    let mut entries: Vec<Entry> = entries
        .into_iter()
        .filter(|e| e.conversations.len() >= 2)
        .collect();
    if !opts.disable_shuffle {
        shuffle(&mut entries, opts.seed);
    }
    let mut out = Vec::new();
    for e in entries {
        if out.len() >= opts.num_prompts {
            break;
        }
        let prompt = &e.conversations[0].value;
        let prompt_ids = tok.encode(prompt);
        let new_out = output_len.unwrap_or_else(|| tok.count(&e.conversations[1].value) as u64);
        if !is_valid_sequence(prompt_ids.len() as u64, new_out, output_len.is_some()) {
            continue;
        }
        let prompt = if opts.token_ids {
            ClientPrompt::TokenIds(prompt_ids.clone())
        } else {
            ClientPrompt::Text(prompt.clone())
        };
        let request_id = format!("{}{}", opts.request_id_prefix, out.len());
        out.push(SampleRequest {
            prompt,
            prompt_len: prompt_ids.len() as u64,
            expected_output_len: new_out,
            request_id,
            timestamp: None,
            mm_content: Vec::new(),
        });
    }
    Ok(out)
}
