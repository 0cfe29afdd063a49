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

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn template(backend: Backend, extra: Value, ignore_eos: bool) -> BodyTemplate {
        let Value::Object(extra_body) = extra else {
            panic!("object")
        };
        BodyTemplate {
            backend,
            model: "m".into(),
            logprobs: None,
            ignore_eos,
            extra_body,
        }
    }

    fn req(prompt: Prompt) -> SampleRequest {
        SampleRequest {
            prompt,
            prompt_len: 3,
            expected_output_len: 7,
            request_id: "r-0".into(),
            timestamp: None,
        }
    }

    fn body(t: &BodyTemplate, r: &SampleRequest) -> Value {
        serde_json::from_slice(&t.render(r)).unwrap()
    }

    #[test]
    fn completions_body_matches_vllm_and_takes_token_ids() {
        let t = template(
            Backend::Vllm,
            json!({"temperature": 0.0, "max_tokens": 9}),
            true,
        );
        let b = body(&t, &req(Prompt::TokenIds(vec![5, 6, 7])));
        assert_eq!(b["prompt"], json!([5, 6, 7]));
        assert_eq!(b["repetition_penalty"], 1.0);
        assert_eq!(b["logprobs"], Value::Null);
        assert_eq!(b["stream_options"], json!({"include_usage": true}));
        assert_eq!(
            (b["ignore_eos"].clone(), b["temperature"].clone()),
            (json!(true), json!(0.0))
        );
        assert_eq!(
            b["max_tokens"], 9,
            "--extra-body is applied last, as in vLLM"
        );
    }

    #[test]
    fn chat_body_sends_one_text_part_and_max_completion_tokens() {
        let t = template(Backend::OpenaiChat, json!({}), false);
        let b = body(&t, &req(Prompt::Text(" a b".into())));
        assert_eq!(
            b["messages"],
            json!([{"role": "user", "content": [{"type": "text", "text": " a b"}]}])
        );
        assert_eq!(b["max_completion_tokens"], 7);
        assert!(b.get("ignore_eos").is_none() && b.get("max_tokens").is_none());
    }

    #[test]
    fn embeddings_body_batches_inputs() {
        let t = template(Backend::OpenaiEmbeddings, json!({}), false);
        let r = req(Prompt::Batch(vec!["x".into(), "y".into()]));
        let b = body(&t, &r);
        assert_eq!(
            (b["input"].clone(), b["truncate_prompt_tokens"].clone()),
            (json!(["x", "y"]), json!(-1))
        );
        assert!(b.get("stream").is_none());
        assert_eq!(num_input_sequences(&r.prompt), 2);
    }
}
