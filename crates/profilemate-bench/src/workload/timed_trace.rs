//! Provides the `timed_trace` dataset: JSONL rows with a timestamp, input and output lengths and
//! prefix hash ids; each hash id expands to a cached block of random tokens, so rows sharing hash
//! ids share prompt prefixes.
//!
//! Mirrors `TimedTrace` in vllm/benchmarks/datasets/datasets.py, vLLM 0.32. vLLM seeds each block
//! from Python's per-process salted `hash()`; profilemate uses a stable FNV-1a hash of the same
//! `"<hash>:<size>"` key, so a trace expands identically on every run.

use std::collections::HashMap;
use std::path::PathBuf;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::{ClientPrompt, SampleOptions, SampleRequest, format_error, jsonl_rows, read_file};
use crate::error::DatasetError;
use crate::tokenizer::Tokenizer;

/// `--dataset-path` and the `--timed-trace-*` flags.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSpec {
    /// `--dataset-path`.
    pub path: PathBuf,
    /// `--timed-trace-chunk-hash-size` (tokens per hash block).
    pub chunk_hash_size: u64,
    /// `--timed-trace-sec-multiplier` (timestamp units to seconds).
    pub sec_multiplier: f64,
    /// `--timed-trace-label-timestamp`.
    pub label_timestamp: String,
    /// `--timed-trace-label-input-length`.
    pub label_input_length: String,
    /// `--timed-trace-label-output-length`.
    pub label_output_length: String,
    /// `--timed-trace-label-hash-ids`.
    pub label_hash_ids: String,
}

pub(super) fn sample(
    spec: &TraceSpec,
    opts: &SampleOptions,
    tok: &dyn Tokenizer,
) -> Result<Vec<SampleRequest>, DatasetError> {
    let text = read_file(&spec.path)?;
    let mut blocks: HashMap<String, Vec<u32>> = HashMap::new();
    let mut out = Vec::new();
    for (line_no, raw) in jsonl_rows(&text) {
        if out.len() >= opts.num_prompts {
            break;
        }
        let row: Value = serde_json::from_str(raw)
            .map_err(|e| format_error(&spec.path, line_no, format!("not JSON: {e}")))?;
        let field = |label: &str| {
            row.get(label).and_then(Value::as_f64).ok_or_else(|| format_error(&spec.path, line_no, format!("field '{label}' missing or not a number; set it with the matching --timed-trace-label-* flag")))
        };
        let input_len = field(&spec.label_input_length)? as u64;
        let output_len = field(&spec.label_output_length)? as u64;
        let ts = field(&spec.label_timestamp)? * spec.sec_multiplier;
        let hashes: Vec<u64> = row
            .get(&spec.label_hash_ids)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        let ids = expand(
            &hashes,
            input_len,
            spec.chunk_hash_size.max(1),
            tok.vocab_size(),
            &mut blocks,
        );
        out.push(SampleRequest {
            prompt_len: ids.len() as u64,
            prompt: ClientPrompt::TokenIds(ids),
            expected_output_len: output_len,
            request_id: format!("{}{}", opts.request_id_prefix, line_no - 1),
            timestamp: Some(ts),
            mm_content: Vec::new(),
        });
    }
    Ok(out)
}

/// vLLM's `_expand_prompt`: one cached block per hash id until `target` tokens are placed.
fn expand(
    hashes: &[u64],
    mut target: u64,
    chunk: u64,
    vocab: u32,
    blocks: &mut HashMap<String, Vec<u32>>,
) -> Vec<u32> {
    let mut ids = Vec::with_capacity(target as usize);
    for h in hashes {
        if target == 0 {
            break;
        }
        let size = chunk.min(target);
        let key = format!("{h}:{size}");
        let block = blocks.entry(key).or_insert_with_key(|k| {
            let mut rng = StdRng::seed_from_u64(fnv1a(k.as_bytes()) & 0xFFFF_FFFF);
            (0..size).map(|_| rng.random_range(0..vocab)).collect()
        });
        ids.extend_from_slice(block);
        target -= size;
    }
    ids
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_hash_ids_share_prefix_blocks() {
        let mut blocks = HashMap::new();
        let a = expand(&[7, 8, 9], 40, 16, 1000, &mut blocks);
        let b = expand(&[7, 8, 10], 40, 16, 1000, &mut blocks);
        assert_eq!((a.len(), b.len()), (40, 40));
        assert_eq!(a[..32], b[..32]);
        assert_ne!(a[32..], b[32..]);
    }

    #[test]
    fn too_few_hash_ids_give_a_shorter_prompt() {
        // As in vLLM, the prompt is only as long as its hash blocks cover.
        assert_eq!(expand(&[1], 40, 16, 1000, &mut HashMap::new()).len(), 16);
    }
}
