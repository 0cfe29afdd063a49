//! Provides the request bodies for each backend.
//!
//! Mirrors the `payload` dicts of vllm/benchmarks/lib/endpoint_request_func.py, vLLM 0.32:
//! completions send `prompt`, `repetition_penalty: 1.0`, `max_tokens`, `logprobs`; chat sends a
//! user message with one text part (then any image / audio / video parts, or the dataset's own
//! content parts or messages, as `_get_chat_messages` builds them) and `max_completion_tokens`;
//! both stream with
//! `include_usage`; embeddings send `input` and `truncate_prompt_tokens: -1`. Then `ignore_eos`
//! (when set) and the merged sampling / `--extra-body` keys are applied on top. The body is
//! rendered once per run with marks in place of the prompt and output length, and each request
//! splices its values into those bytes (no JSON tree per request).

use serde_json::{Map, Value, json};

use crate::config::{Backend, BenchConfig};
use crate::workload::{ClientPrompt, SampleRequest};

/// Stands in for the prompt while the template is rendered (a JSON string no real body holds).
const PROMPT_MARK: &str = "\u{1}profilemate-prompt\u{1}";
/// Stands in for the output length while the template is rendered.
const MAX_TOKENS_MARK: &str = "\u{1}profilemate-max-tokens\u{1}";

/// The per-run part of every body.
#[derive(Debug, Clone)]
pub struct BodyTemplate {
    fields: Fields,
    /// The body pre-rendered once, `None` when a mark could not be placed exactly once.
    spliced: Option<Spliced>,
}

/// What a body is built from, besides the request.
#[derive(Debug, Clone)]
struct Fields {
    backend: Backend,
    model: String,
    logprobs: Option<i64>,
    ignore_eos: bool,
    extra_body: Map<String, Value>,
}

/// A per-request value spliced into the pre-rendered body.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Prompt,
    MaxTokens,
}

/// A pre-rendered body: `literals[0]`, `slots[0]`, `literals[1]`, ... `literals[n]`.
#[derive(Debug, Clone)]
struct Spliced {
    literals: Vec<Vec<u8>>,
    slots: Vec<Slot>,
}

impl BodyTemplate {
    /// The template for a run sending `model` (the served name when set).
    pub fn new(config: &BenchConfig, model: &str) -> Self {
        Self::from_fields(Fields {
            backend: config.workload.backend,
            model: config
                .endpoint
                .served_model_name
                .clone()
                .unwrap_or_else(|| model.to_string()),
            logprobs: config.endpoint.logprobs,
            ignore_eos: config.endpoint.ignore_eos,
            extra_body: config.endpoint.extra_body.clone(),
        })
    }

    /// The template for a run sending exactly `model`, whatever `--served-model-name` says
    /// (a LoRA module's name).
    pub fn for_model(config: &BenchConfig, model: &str) -> Self {
        let mut t = Self::new(config, model);
        if t.fields.model != model {
            t.fields.model = model.to_string();
            t = Self::from_fields(t.fields);
        }
        t
    }

    fn from_fields(fields: Fields) -> Self {
        let spliced = Spliced::new(&fields);
        Self { fields, spliced }
    }

    /// The JSON body for one request: the pre-rendered bytes with the prompt and output length
    /// spliced in, byte for byte what rendering the whole body would give.
    pub fn render(&self, req: &SampleRequest) -> Vec<u8> {
        match &self.spliced {
            Some(spliced) if !req.is_multimodal() => spliced.render(self.fields.backend, req),
            _ => self.render_value(req),
        }
    }

    /// Renders the whole body as a JSON value (the fallback, and what the template is cut from).
    fn render_value(&self, req: &SampleRequest) -> Vec<u8> {
        let prompt = match self.fields.backend {
            Backend::OpenaiChat => chat_messages(req),
            _ => prompt_json(&req.prompt),
        };
        let body = self.fields.body(prompt, json!(req.expected_output_len));
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

impl Fields {
    /// The body with `prompt` (already in the backend's form: the messages for chat) and
    /// `max_tokens`.
    fn body(&self, prompt: Value, max_tokens: Value) -> Value {
        let mut body = match self.backend {
            Backend::Vllm | Backend::Openai => json!({
                "model": self.model, "prompt": prompt, "repetition_penalty": 1.0,
                "max_tokens": max_tokens, "logprobs": self.logprobs,
                "stream": true, "stream_options": {"include_usage": true},
            }),
            Backend::OpenaiChat => json!({
                "model": self.model,
                "messages": prompt,
                "max_completion_tokens": max_tokens,
                "stream": true, "stream_options": {"include_usage": true},
            }),
            Backend::OpenaiEmbeddings => json!({
                "model": self.model, "input": prompt, "truncate_prompt_tokens": -1,
            }),
        };
        if let Value::Object(map) = &mut body {
            if self.ignore_eos {
                map.insert("ignore_eos".into(), Value::Bool(true));
            }
            map.extend(self.extra_body.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        body
    }
}

impl Spliced {
    /// Renders `fields` once with marks for the slots and cuts the bytes at them; `None` when
    /// the prompt mark is not there exactly once or the length mark more than once.
    fn new(fields: &Fields) -> Option<Self> {
        let prompt = match fields.backend {
            Backend::OpenaiChat => text_message(json!(PROMPT_MARK), Vec::new()),
            _ => json!(PROMPT_MARK),
        };
        let body = fields.body(prompt, json!(MAX_TOKENS_MARK));
        let bytes = serde_json::to_vec(&body).ok()?;
        let mut marks = Vec::new();
        for (slot, mark) in [
            (Slot::Prompt, PROMPT_MARK),
            (Slot::MaxTokens, MAX_TOKENS_MARK),
        ] {
            let quoted = serde_json::to_vec(mark).ok()?;
            let found: Vec<usize> = memchr::memmem::find_iter(&bytes, &quoted).collect();
            match (slot, found.as_slice()) {
                (_, [at]) => marks.push((*at, quoted.len(), slot)),
                (Slot::MaxTokens, []) => {} // --extra-body replaced it
                _ => return None,
            }
        }
        marks.sort_unstable_by_key(|&(at, _, _)| at);
        let (mut literals, mut slots, mut from) = (Vec::new(), Vec::new(), 0);
        for (at, len, slot) in marks {
            literals.push(bytes[from..at].to_vec());
            slots.push(slot);
            from = at + len;
        }
        literals.push(bytes[from..].to_vec());
        Some(Self { literals, slots })
    }

    fn render(&self, backend: Backend, req: &SampleRequest) -> Vec<u8> {
        let size: usize = self.literals.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(size + prompt_size_hint(&req.prompt));
        for (literal, slot) in self.literals.iter().zip(&self.slots) {
            out.extend_from_slice(literal);
            match slot {
                Slot::Prompt => write_prompt(&mut out, backend, &req.prompt),
                Slot::MaxTokens => write_json(&mut out, &req.expected_output_len),
            }
        }
        out.extend_from_slice(self.literals.last().map_or(&[][..], Vec::as_slice));
        out
    }
}

/// Writes the prompt as [`BodyTemplate::render_value`] would: text for chat, else its JSON.
fn write_prompt(out: &mut Vec<u8>, backend: Backend, p: &ClientPrompt) {
    match (backend, p) {
        (_, ClientPrompt::Text(t)) => write_json(out, t),
        (Backend::OpenaiChat, _) => write_json(out, &prompt_text(p)),
        (_, ClientPrompt::TokenIds(ids)) => write_json(out, ids),
        (_, ClientPrompt::CountingIds(ids)) => write_json(out, &ids.to_vec()),
        (_, ClientPrompt::Batch(items)) => write_json(out, items),
        (_, ClientPrompt::Parts(items) | ClientPrompt::Messages(items)) => write_json(out, items),
    }
}

/// vLLM's `_get_chat_messages` (multimodal parts last): whole messages as they are; content
/// parts, or the text as one text part, followed by the request's multimodal parts.
fn chat_messages(req: &SampleRequest) -> Value {
    match &req.prompt {
        ClientPrompt::Messages(messages) => json!(messages),
        ClientPrompt::Parts(parts) => {
            let content = parts.iter().chain(&req.mm_content).cloned().collect();
            json!([{"role": "user", "content": Value::Array(content)}])
        }
        p => text_message(json!(prompt_text(p)), req.mm_content.clone()),
    }
}

/// One user message: a text part then `mm`.
fn text_message(text: Value, mm: Vec<Value>) -> Value {
    let content: Vec<Value> = std::iter::once(json!({"type": "text", "text": text}))
        .chain(mm)
        .collect();
    json!([{"role": "user", "content": content}])
}

/// Appends `v` as JSON; writing strings, numbers and lists of them to a `Vec` cannot fail.
fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    if serde_json::to_writer(&mut *out, v).is_err() {
        debug_assert!(false, "serializing a prompt to memory failed");
    }
}

/// Roughly how many bytes the prompt takes as JSON, to size the body once.
fn prompt_size_hint(p: &ClientPrompt) -> usize {
    match p {
        ClientPrompt::Text(t) => t.len() + 16,
        ClientPrompt::TokenIds(ids) => ids.len() * 8 + 2,
        ClientPrompt::CountingIds(ids) => ids.len() as usize * 8 + 2,
        ClientPrompt::Batch(items) => items.iter().map(|s| s.len() + 3).sum::<usize>() + 2,
        ClientPrompt::Parts(_) | ClientPrompt::Messages(_) => 256,
    }
}

fn prompt_json(p: &ClientPrompt) -> Value {
    match p {
        ClientPrompt::Text(t) => json!(t),
        ClientPrompt::TokenIds(ids) => json!(ids),
        ClientPrompt::CountingIds(ids) => json!(ids.to_vec()),
        ClientPrompt::Batch(items) => json!(items),
        ClientPrompt::Parts(items) | ClientPrompt::Messages(items) => json!(items),
    }
}

fn prompt_text(p: &ClientPrompt) -> String {
    match p {
        ClientPrompt::Text(t) => t.clone(),
        ClientPrompt::TokenIds(ids) => ids.iter().map(|i| format!(" {i}")).collect(),
        ClientPrompt::CountingIds(ids) => ids.to_vec().iter().map(|i| format!(" {i}")).collect(),
        ClientPrompt::Batch(items) => items.join(" "),
        ClientPrompt::Parts(items) | ClientPrompt::Messages(items) => items
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
    }
}

/// vLLM's `_get_num_input_sequences`: a batch counts its items.
pub fn num_input_sequences(p: &ClientPrompt) -> u64 {
    match p {
        ClientPrompt::Batch(items) => items.len() as u64,
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
        BodyTemplate::from_fields(Fields {
            backend,
            model: "m".into(),
            logprobs: None,
            ignore_eos,
            extra_body,
        })
    }

    fn req(prompt: ClientPrompt) -> SampleRequest {
        SampleRequest {
            prompt,
            prompt_len: 3,
            expected_output_len: 7,
            request_id: "r-0".into(),
            timestamp: None,
            mm_content: Vec::new(),
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
        let b = body(&t, &req(ClientPrompt::TokenIds(vec![5, 6, 7])));
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
        let b = body(&t, &req(ClientPrompt::Text(" a b".into())));
        assert_eq!(
            b["messages"],
            json!([{"role": "user", "content": [{"type": "text", "text": " a b"}]}])
        );
        assert_eq!(b["max_completion_tokens"], 7);
        assert!(b.get("ignore_eos").is_none() && b.get("max_tokens").is_none());
    }

    #[test]
    fn chat_body_carries_multimodal_parts_as_vllm_builds_them() {
        let t = template(Backend::OpenaiChat, json!({"temperature": 0.5}), false);
        let image = json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}});
        let audio =
            json!({"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}});
        let mut r = req(ClientPrompt::Text("look".into()));
        r.mm_content = vec![image.clone(), audio.clone()];
        let b = body(&t, &r);
        assert_eq!(
            b["messages"],
            json!([{"role": "user", "content": [{"type": "text", "text": "look"}, image, audio]}]),
            "text first, then the multimodal parts (mm_position last)"
        );
        assert_eq!(
            (b["max_completion_tokens"].clone(), b["temperature"].clone()),
            (json!(7), json!(0.5))
        );
        let text = json!({"type": "text", "text": "a"});
        let mut parts = req(ClientPrompt::Parts(vec![text.clone(), image.clone()]));
        parts.mm_content = vec![audio.clone()];
        assert_eq!(
            body(&t, &parts)["messages"],
            json!([{"role": "user", "content": [text, image, audio]}])
        );
        let messages = vec![
            json!({"role": "system", "content": "s"}),
            json!({"role": "user", "content": "u"}),
        ];
        let b = body(&t, &req(ClientPrompt::Messages(messages.clone())));
        assert_eq!(
            b["messages"],
            Value::Array(messages),
            "whole messages are sent as they are"
        );
    }

    #[test]
    fn completions_send_content_parts_as_the_prompt_value() {
        let t = template(Backend::Openai, json!({}), false);
        let parts = vec![json!({"type": "text", "text": "a"})];
        let b = body(&t, &req(ClientPrompt::Parts(parts.clone())));
        assert_eq!(b["prompt"], Value::Array(parts));
    }

    #[test]
    fn embeddings_body_batches_inputs() {
        let t = template(Backend::OpenaiEmbeddings, json!({}), false);
        let r = req(ClientPrompt::Batch(vec!["x".into(), "y".into()]));
        let b = body(&t, &r);
        assert_eq!(
            (b["input"].clone(), b["truncate_prompt_tokens"].clone()),
            (json!(["x", "y"]), json!(-1))
        );
        assert!(b.get("stream").is_none());
        assert_eq!(num_input_sequences(&r.prompt), 2);
    }

    #[test]
    fn spliced_body_is_byte_for_byte_the_rendered_one() {
        let prompts = [
            ClientPrompt::Text(" a \"quoted\"\n\u{1}profilemate-prompt\u{1} é".into()),
            ClientPrompt::TokenIds(vec![5, 6, 4_000_000_000]),
            ClientPrompt::Batch(vec!["x".into(), "y\\".into()]),
        ];
        let backends = [
            Backend::Vllm,
            Backend::Openai,
            Backend::OpenaiChat,
            Backend::OpenaiEmbeddings,
        ];
        let extras = [
            json!({}),
            json!({"max_tokens": 9, "temperature": 0.5}),
            json!({"z": [1.5, null]}),
        ];
        for backend in backends {
            for extra in &extras {
                for eos in [false, true] {
                    let t = template(backend, extra.clone(), eos);
                    assert!(t.spliced.is_some(), "{backend:?} {extra}");
                    for p in &prompts {
                        let r = req(p.clone());
                        assert_eq!(
                            t.render(&r),
                            t.render_value(&r),
                            "{backend:?} {extra} {p:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_mark_in_extra_body_falls_back_to_rendering_the_value() {
        let t = template(Backend::Openai, json!({"note": PROMPT_MARK}), false);
        assert!(t.spliced.is_none());
        assert_eq!(
            body(&t, &req(ClientPrompt::Text("p".into())))["prompt"],
            "p"
        );
    }
}
