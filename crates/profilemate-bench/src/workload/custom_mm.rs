//! Provides the `custom_image` and `custom_audio` datasets: JSONL lines naming local media.
//!
//! Mirrors `CustomImageDataset` and `CustomAudioDataset` in vllm/benchmarks/datasets/datasets.py,
//! vLLM 0.32. `custom_image` lines hold `prompt` + `image_files` (each image a `process_image`
//! reference) or an interleaved `content` list of `text` / `image` / `image_url` parts; the
//! prompt length counts the text only. `custom_audio` lines hold `prompt` + `audio` (a WAV path,
//! or `{"array": [...], "sampling_rate": N}`), sent as an `input_audio` part with
//! `--enable-multimodal-chat` (vLLM's chat-audio path; its `openai-audio` transcription backend
//! is not implemented here). Lines are shuffled by `--seed` unless `--disable-shuffle`.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::media::{audio_part, base64, image_ref, wav_pcm16};
use super::table::{Row, read_rows};
use super::{ClientPrompt, SampleOptions, SampleRequest, into_chat_messages, shuffle};
use crate::error::DatasetError;
use crate::tokenizer::Tokenizer;

/// Which media the lines name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// `custom_image`.
    Image,
    /// `custom_audio`.
    Audio,
}

/// The `custom_image` / `custom_audio` parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomMmSpec {
    /// The media.
    pub kind: MediaKind,
    /// `--dataset-path` (a `.jsonl` file).
    pub path: PathBuf,
    /// `--custom-output-len`; `None` (-1) means the line's `output_tokens`.
    pub output_len: Option<u64>,
    /// `--enable-multimodal-chat`.
    pub multimodal_chat: bool,
    /// `--custom-ensure-client-side-data`: send local images as base64 data URLs.
    pub ensure_client_side_data: bool,
}

fn load(spec: &CustomMmSpec, opts: &SampleOptions) -> Result<Vec<Row>, DatasetError> {
    let is_jsonl = spec.path.extension().and_then(|e| e.to_str()) == Some("jsonl");
    if !is_jsonl {
        return Err(DatasetError::Params(format!(
            "{}: only JSONL (.jsonl) is supported for custom_image / custom_audio, as in vLLM",
            spec.path.display()
        )));
    }
    let mut rows = read_rows(&spec.path)?;
    for row in &rows {
        let ok = match spec.kind {
            MediaKind::Image => {
                row.fields.contains_key("content")
                    || (row.fields.contains_key("prompt") && row.fields.contains_key("image_files"))
            }
            MediaKind::Audio => row.fields.contains_key("prompt"),
        };
        if !ok {
            let need = match spec.kind {
                MediaKind::Image => {
                    "either 'prompt' and 'image_files' fields, or a 'content' field"
                }
                MediaKind::Audio => "a 'prompt' field",
            };
            return Err(row.error(format!("each line must contain {need}")));
        }
    }
    if !opts.disable_shuffle {
        shuffle(&mut rows, opts.seed);
    }
    Ok(rows)
}

pub(super) fn sample(
    spec: &CustomMmSpec,
    opts: &SampleOptions,
    tok: &dyn Tokenizer,
) -> Result<Vec<SampleRequest>, DatasetError> {
    let rows = load(spec, opts)?;
    let limit = if opts.num_prompts == 0 {
        rows.len()
    } else {
        opts.num_prompts
    };
    rows.iter()
        .take(limit)
        .enumerate()
        .map(|(i, row)| {
            let mut req = match spec.kind {
                MediaKind::Image => image_request(spec, row, tok)?,
                MediaKind::Audio => audio_request(spec, row, tok)?,
            };
            req.request_id = format!("{}{i}", opts.request_id_prefix);
            if spec.multimodal_chat && spec.kind == MediaKind::Image {
                into_chat_messages(&mut req);
            }
            Ok(req)
        })
        .collect()
}

fn request(
    prompt: ClientPrompt,
    prompt_len: u64,
    output_len: u64,
    mm: Vec<Value>,
) -> SampleRequest {
    SampleRequest {
        prompt,
        prompt_len,
        expected_output_len: output_len,
        request_id: String::new(),
        timestamp: None,
        mm_content: mm,
    }
}

/// `CustomImageDataset.sample()` for one line.
fn image_request(
    spec: &CustomMmSpec,
    row: &Row,
    tok: &dyn Tokenizer,
) -> Result<SampleRequest, DatasetError> {
    let output_len = spec.output_len.ok_or_else(|| {
        DatasetError::Params("custom_image takes its output length from --custom-output-len (vLLM ignores 'output_tokens' here); pass a positive value".into())
    })?;
    let image = |r: &str| image_ref(r, spec.ensure_client_side_data).map_err(|e| row.error(e));
    if let Some(content) = row.fields.get("content") {
        let parts = content
            .as_array()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| {
                row.error(
                    "'content' must be a non-empty list of text and image content dictionaries"
                        .into(),
                )
            })?;
        let parts: Vec<Value> = parts
            .iter()
            .map(|p| content_part(p, &image, row))
            .collect::<Result<_, _>>()?;
        let text: String = parts
            .iter()
            .filter(|p| p["type"] == "text")
            .filter_map(|p| p["text"].as_str())
            .collect();
        return Ok(request(
            ClientPrompt::Parts(parts),
            tok.count(&text) as u64,
            output_len,
            Vec::new(),
        ));
    }
    let prompt = row.str("prompt")?.to_string();
    let files = row
        .fields
        .get("image_files")
        .and_then(Value::as_array)
        .filter(|f| !f.is_empty())
        .ok_or_else(|| row.error("'image_files' must be a non-empty list".into()))?;
    let mm = files
        .iter()
        .map(|f| {
            f.as_str()
                .ok_or_else(|| row.error("'image_files' entries must be strings".into()))
                .and_then(&image)
        })
        .collect::<Result<_, _>>()?;
    let len = tok.count(&prompt) as u64;
    Ok(request(ClientPrompt::Text(prompt), len, output_len, mm))
}

/// `_process_content_part`: text stays; `image` / `image_url` go through `process_image`,
/// keeping `image_url`'s other keys (e.g. `detail`).
fn content_part(
    part: &Value,
    image: &dyn Fn(&str) -> Result<Value, DatasetError>,
    row: &Row,
) -> Result<Value, DatasetError> {
    let bad = |m: &str| row.error(m.to_string());
    match part.get("type").and_then(Value::as_str) {
        Some("text") => {
            let text = part
                .get("text")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("Text content parts must contain a string 'text'."))?;
            Ok(json!({"type": "text", "text": text}))
        }
        Some("image") => {
            let r = part.get("image").and_then(Value::as_str).ok_or_else(|| {
                bad("Image content parts must contain an 'image' field (a path or URL).")
            })?;
            image(r)
        }
        Some("image_url") => match part.get("image_url") {
            Some(Value::String(url)) => image(url),
            Some(Value::Object(obj)) => {
                let url = obj.get("url").and_then(Value::as_str).ok_or_else(|| {
                    bad("Image URL content parts must contain a string 'image_url.url'.")
                })?;
                let mut processed = image(url)?;
                let mut merged: Map<String, Value> = processed["image_url"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                merged.extend(
                    obj.iter()
                        .filter(|(k, _)| *k != "url")
                        .map(|(k, v)| (k.clone(), v.clone())),
                );
                processed["image_url"] = Value::Object(merged);
                Ok(processed)
            }
            _ => Err(bad(
                "Image URL content parts must contain an 'image_url' string or dictionary.",
            )),
        },
        other => Err(row.error(format!(
            "Content parts must have type 'text', 'image', or 'image_url'. Found: {other:?}."
        ))),
    }
}

/// `CustomAudioDataset.sample()` for one line (the `--enable-multimodal-chat` path).
fn audio_request(
    spec: &CustomMmSpec,
    row: &Row,
    tok: &dyn Tokenizer,
) -> Result<SampleRequest, DatasetError> {
    if !spec.multimodal_chat {
        return Err(DatasetError::Params(
            "custom_audio sends audio as chat input_audio parts here: pass --enable-multimodal-chat with --backend openai-chat (vLLM's openai-audio transcription backend is not implemented)".into(),
        ));
    }
    let prompt = row
        .fields
        .get("prompt")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let audio = match row.fields.get("audio") {
        Some(Value::String(path)) => audio_part(Path::new(path))?,
        Some(Value::Object(obj)) => array_audio(obj).map_err(|e| row.error(e.into()))?,
        _ => {
            return Err(row.error(
                "'audio' must be a WAV file path or {\"array\": [...], \"sampling_rate\": N}"
                    .into(),
            ));
        }
    };
    let output_len = match spec.output_len {
        Some(n) => n,
        None => row
            .fields
            .get("output_tokens")
            .and_then(Value::as_u64)
            .ok_or_else(|| row.error("If no output length is provided the custom dataset must contain an 'output_tokens' field.".into()))?,
    };
    let len = tok.count(&prompt) as u64;
    Ok(request(
        ClientPrompt::Text(prompt),
        len,
        output_len,
        vec![audio],
    ))
}

/// `{"array": [floats], "sampling_rate": N}` as a mono 16-bit WAV `input_audio` part.
fn array_audio(obj: &Map<String, Value>) -> Result<Value, &'static str> {
    let rate = obj
        .get("sampling_rate")
        .and_then(Value::as_u64)
        .filter(|r| *r > 0 && *r <= u64::from(u32::MAX))
        .ok_or("'audio.sampling_rate' must be a positive integer")?;
    let samples = obj
        .get("array")
        .and_then(Value::as_array)
        .ok_or("'audio.array' must be a list of samples in [-1, 1]")?;
    let mut pcm = Vec::with_capacity(samples.len() * 2);
    for s in samples {
        let x = s.as_f64().ok_or("'audio.array' must hold numbers")?;
        let v = (x.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        pcm.extend_from_slice(&v.to_le_bytes());
    }
    let wav = wav_pcm16(1, rate as u32, &pcm);
    Ok(json!({"type": "input_audio", "input_audio": {"data": base64(&wav), "format": "wav"}}))
}
