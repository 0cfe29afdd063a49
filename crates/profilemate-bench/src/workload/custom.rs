//! Provides the `custom` dataset: JSONL lines with `prompt` and optional `output_tokens`.
//!
//! Mirrors `CustomDataset` in vllm/benchmarks/datasets/datasets.py, vLLM 0.32 (without chat
//! templating: the built-in tokenizer has no template, as with `--skip-chat-template`).

use std::path::Path;

use serde::Deserialize;

use super::{SampleOptions, SampleRequest, format_error, jsonl_rows, read_file, shuffle};
use crate::error::DatasetError;
use crate::tokenizer::Tokenizer;

#[derive(Deserialize)]
struct Line {
    prompt: String,
    output_tokens: Option<u64>,
}

pub(super) fn sample(
    path: &Path,
    output_len: Option<u64>,
    opts: &SampleOptions,
    tok: &dyn Tokenizer,
) -> Result<Vec<SampleRequest>, DatasetError> {
    let text = read_file(path)?;
    let mut lines = Vec::new();
    for (line_no, raw) in jsonl_rows(&text) {
        let fmt = |reason: String| format_error(path, line_no, reason);
        let line: Line = serde_json::from_str(raw).map_err(|e| {
            fmt(format!(
                "expected {{\"prompt\": ..., \"output_tokens\": ...}}: {e}"
            ))
        })?;
        let out = match (output_len, line.output_tokens) {
            (Some(n), _) | (None, Some(n)) => n,
            (None, None) => {
                return Err(fmt(
                    "no 'output_tokens' field; add it or pass --custom-output-len".into(),
                ));
            }
        };
        lines.push((line.prompt, out));
    }
    if !opts.disable_shuffle {
        shuffle(&mut lines, opts.seed);
    }
    let limit = if opts.num_prompts == 0 {
        lines.len()
    } else {
        opts.num_prompts
    };
    Ok(lines
        .into_iter()
        .take(limit)
        .enumerate()
        .map(|(i, (prompt, out))| SampleRequest::from_text(prompt, out, i, opts, tok))
        .collect())
}
