//! Provides the request bodies for each backend.
//!
//! Mirrors the `payload` dicts of vllm/benchmarks/lib/endpoint_request_func.py, vLLM 0.32:
//! completions send `prompt`, `repetition_penalty: 1.0`, `max_tokens`, `logprobs`; chat sends a
//! user message with one text part and `max_completion_tokens`; both stream with
//! `include_usage`; embeddings send `input` and `truncate_prompt_tokens: -1`. Then `ignore_eos`
//! (when set) and the merged sampling / `--extra-body` keys are applied on top.

use serde_json::{Map, Value, json};

use crate::config::{Backend, BenchConfig};
use crate::workload::{Prompt, SampleRequest};

/// The per-run part of every body.
#[derive(Debug, Clone)]
pub struct BodyTemplate {
    backend: Backend,
    model: String,
    logprobs: Option<i64>,
    ignore_eos: bool,
    extra_body: Map<String, Value>,
}

impl BodyTemplate {
    /// The template for a run sending `model` (the served name when set).
    pub fn new(config: &BenchConfig, model: &str) -> Self {
        Self {
            backend: config.backend,
            model: config
                .served_model_name
                .clone()
                .unwrap_or_else(|| model.to_string()),
            logprobs: config.logprobs,
            ignore_eos: config.ignore_eos,
            extra_body: config.extra_body.clone(),
        }
    }

    /// The JSON body for one request.
    pub fn render(&self, req: &SampleRequest) -> Vec<u8> {
        let mut body = match self.backend {
            Backend::Vllm | Backend::Openai => json!({
                "model": self.model, "prompt": prompt_json(&req.prompt), "repetition_penalty": 1.0,
                "max_tokens": req.expected_output_len, "logprobs": self.logprobs,
                "stream": true, "stream_options": {"include_usage": true},
            }),
            Backend::OpenaiChat => json!({
                "model": self.model,
                "messages": [{"role": "user", "content": [{"type": "text", "text": prompt_text(&req.prompt)}]}],
                "max_completion_tokens": req.expected_output_len,
                "stream": true, "stream_options": {"include_usage": true},
            }),
            Backend::OpenaiEmbeddings => json!({
                "model": self.model, "input": prompt_json(&req.prompt), "truncate_prompt_tokens": -1,
            }),
        };
        if let Value::Object(map) = &mut body {
            if self.ignore_eos {
                map.insert("ignore_eos".into(), Value::Bool(true));
            }
            map.extend(self.extra_body.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

fn prompt_json(p: &Prompt) -> Value {
    match p {
        Prompt::Text(t) => json!(t),
        Prompt::TokenIds(ids) => json!(ids),
        Prompt::Batch(items) => json!(items),
    }
}

fn prompt_text(p: &Prompt) -> String {
    match p {
        Prompt::Text(t) => t.clone(),
        Prompt::TokenIds(ids) => ids.iter().map(|i| format!(" {i}")).collect(),
        Prompt::Batch(items) => items.join(" "),
    }
}

/// vLLM's `_get_num_input_sequences`: a batch counts its items.
pub fn num_input_sequences(p: &Prompt) -> u64 {
    match p {
        Prompt::Batch(items) => items.len() as u64,
        _ => 1,
    }
}
