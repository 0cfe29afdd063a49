//! Provides the `hf` dataset from local files: the Hugging Face dataset classes of vLLM read
//! from Parquet / JSON / JSON Lines / CSV files or a directory of them instead of the hub.
//!
//! Mirrors `get_samples()`'s `hf` branch and the `HuggingFaceDataset` subclasses in
//! vllm/benchmarks/datasets/datasets.py, vLLM 0.32: the class is chosen by `--hf-name` (or a
//! `--dataset-path` spelled as the hub id), each with its default split and output length and
//! its columns. Rows are shuffled by `--seed` unless `--disable-shuffle` (`load_data`). Prompts
//! are not chat-templated (no client-side template, as with `--skip-chat-template`).
//! Classes whose data or backend cannot come from local files here are refused by name:
//! ASR (audio transcription backend), MMVU (videos from a hub snapshot), BFCL (hub files).

use std::path::PathBuf;

use serde_json::Value;

use super::media::{image_bytes_part, image_ref, unbase64};
use super::sharegpt::is_valid_sequence;
use super::table::{Row, data_files, read_rows};
use super::{ClientPrompt, SampleOptions, SampleRequest, into_chat_messages, shuffle};
use crate::error::DatasetError;
use crate::tokenizer::Tokenizer;

/// The `hf` parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct HfSpec {
    /// `--dataset-path`: a local file or directory.
    pub path: PathBuf,
    /// `--hf-name`: the hub id naming the dataset class (else `--dataset-path` itself).
    pub hf_name: Option<String>,
    /// `--hf-subset`: a subdirectory of `path` (the dataset config).
    pub subset: Option<String>,
    /// `--hf-split` (else the class's default).
    pub split: Option<String>,
    /// `--hf-output-len` (else the class's rule).
    pub output_len: Option<u64>,
    /// `--enable-multimodal-chat`.
    pub multimodal_chat: bool,
    /// `--blazedit-min-distance`, `--blazedit-max-distance`.
    pub blazedit_distance: (f64, f64),
}

/// The dataset classes readable from local files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HfClass {
    /// `ConversationDataset` (ShareGPT-style `conversations`).
    Conversation,
    /// `MultiModalConversationDataset` (`conversations` plus `image`).
    MultiModalConversation,
    /// `VisionArenaDataset`.
    VisionArena,
    /// `InstructCoderDataset`.
    InstructCoder,
    /// `MTBenchDataset`.
    MtBench,
    /// `HumanEvalDataset`.
    HumanEval,
    /// `GSM8KDataset`.
    Gsm8k,
    /// `BlazeditDataset`.
    Blazedit,
    /// `AIMODataset`.
    Aimo,
    /// `NextEditPredictionDataset`.
    NextEdit,
    /// `MLPerfDataset`.
    MlPerf,
    /// `MMStarDataset`.
    MmStar,
}

/// Hub id -> class, default split, default subset (vLLM's `SUPPORTED_DATASET_PATHS` and the
/// split defaults `get_samples` sets).
const CLASSES: &[(&str, HfClass, Option<&str>, Option<&str>)] = &[
    (
        "Aeala/ShareGPT_Vicuna_unfiltered",
        HfClass::Conversation,
        None,
        None,
    ),
    (
        "lmms-lab/LLaVA-OneVision-Data",
        HfClass::MultiModalConversation,
        None,
        None,
    ),
    (
        "lmarena-ai/VisionArena-Chat",
        HfClass::VisionArena,
        Some("train"),
        None,
    ),
    (
        "lmarena-ai/vision-arena-bench-v0.1",
        HfClass::VisionArena,
        Some("train"),
        None,
    ),
    (
        "likaixin/InstructCoder",
        HfClass::InstructCoder,
        Some("train"),
        None,
    ),
    ("philschmid/mt-bench", HfClass::MtBench, Some("train"), None),
    (
        "openai/openai_humaneval",
        HfClass::HumanEval,
        Some("test"),
        None,
    ),
    ("openai/gsm8k", HfClass::Gsm8k, Some("test"), Some("main")),
    (
        "vdaita/edit_5k_char",
        HfClass::Blazedit,
        Some("train"),
        None,
    ),
    (
        "vdaita/edit_10k_char",
        HfClass::Blazedit,
        Some("train"),
        None,
    ),
    (
        "AI-MO/aimo-validation-aime",
        HfClass::Aimo,
        Some("train"),
        None,
    ),
    ("AI-MO/NuminaMath-1.5", HfClass::Aimo, Some("train"), None),
    ("AI-MO/NuminaMath-CoT", HfClass::Aimo, Some("train"), None),
    (
        "zed-industries/zeta",
        HfClass::NextEdit,
        Some("train"),
        None,
    ),
    (
        "mgoin/mlperf-inference-llama2-data",
        HfClass::MlPerf,
        Some("train"),
        None,
    ),
    (
        "mgoin/mlperf-inference-llama3.1-data",
        HfClass::MlPerf,
        Some("train"),
        None,
    ),
    ("Lin-Chen/MMStar", HfClass::MmStar, Some("val"), None),
];

/// Hub ids vLLM knows whose data or backend profilemate cannot use, with why.
const REFUSED: &[(&str, &str)] = &[
    ("yale-nlp/MMVU", "MMVU reads its videos from a hub snapshot"),
    (
        "gorilla-llm/Berkeley-Function-Calling-Leaderboard",
        "BFCL downloads its category files from the hub",
    ),
    (
        "openslr/librispeech_asr",
        "ASR datasets need the openai-audio transcription backend, not implemented here",
    ),
    (
        "facebook/voxpopuli",
        "ASR datasets need the openai-audio transcription backend, not implemented here",
    ),
    (
        "LIUM/tedlium",
        "ASR datasets need the openai-audio transcription backend, not implemented here",
    ),
    (
        "edinburghcstr/ami",
        "ASR datasets need the openai-audio transcription backend, not implemented here",
    ),
    (
        "speechcolab/gigaspeech",
        "ASR datasets need the openai-audio transcription backend, not implemented here",
    ),
    (
        "kensho/spgispeech",
        "ASR datasets need the openai-audio transcription backend, not implemented here",
    ),
    (
        "ArtificialAnalysis/Earnings22-Cleaned-AA",
        "ASR datasets need the openai-audio transcription backend, not implemented here",
    ),
    (
        "D4nt3/esb-datasets-earnings22-validation-tiny-filtered",
        "ASR datasets need the openai-audio transcription backend, not implemented here",
    ),
];

impl HfClass {
    /// The class for a hub id, with its default split and subset.
    pub fn resolve(id: &str) -> Result<(Self, Option<&'static str>, Option<&'static str>), String> {
        if let Some((_, c, split, subset)) = CLASSES.iter().find(|(n, ..)| *n == id) {
            return Ok((*c, *split, *subset));
        }
        if let Some((_, why)) = REFUSED.iter().find(|(n, _)| *n == id) {
            return Err(format!("--hf-name {id}: {why}"));
        }
        let known: Vec<&str> = CLASSES.iter().map(|(n, ..)| *n).collect();
        Err(format!(
            "--hf-name {id:?} is not a dataset vLLM's hf loader knows; pass one of: {}",
            known.join(", ")
        ))
    }

    /// Whether the class sends images (vLLM's `IS_MULTIMODAL`), needing the chat backend.
    pub fn is_multimodal(self) -> bool {
        matches!(
            self,
            Self::MultiModalConversation | Self::VisionArena | Self::MmStar
        )
    }
}

/// The hub id naming the class: `--hf-name`, else `--dataset-path` as written.
pub fn class_id(spec: &HfSpec) -> String {
    spec.hf_name
        .clone()
        .unwrap_or_else(|| spec.path.to_string_lossy().into_owned())
}

/// One prompt before tokenization: text, output length (`None`: the reference's), the
/// reference completion, an image, and the validity limits (`is_valid_sequence`'s
/// max prompt and total lengths) when the row may be skipped.
struct Item {
    prompt: String,
    output_len: Option<u64>,
    reference: Option<String>,
    image: Option<Value>,
    limits: Option<(u64, u64)>,
}

fn item(class: HfClass, row: &Row, spec: &HfSpec) -> Result<Option<Item>, DatasetError> {
    let out = spec.output_len;
    let fixed = |prompt: String, default: u64| Item {
        prompt,
        output_len: Some(out.unwrap_or(default)),
        reference: None,
        image: None,
        limits: None,
    };
    let image = |v: Option<&Value>| -> Result<Option<Value>, DatasetError> {
        let Some(v) = v else { return Ok(None) };
        let bad = || {
            row.error("an image must be a path, a URL or {\"bytes\": base64, \"path\": ...}".into())
        };
        let reference = match v {
            Value::String(s) => s.clone(),
            Value::Object(o) => match (o.get("bytes"), o.get("path").and_then(Value::as_str)) {
                (Some(Value::String(b64)), _) => {
                    let bytes = unbase64(b64)
                        .ok_or_else(|| row.error("image 'bytes' is not base64".into()))?;
                    return image_bytes_part(&bytes).map(Some).map_err(|e| row.error(e));
                }
                (_, Some(p)) => p.to_string(),
                _ => return Err(bad()),
            },
            Value::Null => return Ok(None),
            _ => return Err(bad()),
        };
        image_ref(&reference, false)
            .map(Some)
            .map_err(|e| row.error(e))
    };
    Ok(Some(match class {
        HfClass::Conversation | HfClass::MultiModalConversation => {
            let conv = row.fields.get("conversations").and_then(Value::as_array);
            let Some(conv) = conv.filter(|c| c.len() >= 2) else {
                return Ok(None); // vLLM filters out rows with fewer than 2 turns
            };
            let turn = |i: usize| {
                conv[i]
                    .get("value")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| row.error(format!("conversations[{i}].value must be a string")))
            };
            Item {
                prompt: turn(0)?,
                output_len: out,
                reference: Some(turn(1)?),
                image: image(row.fields.get("image"))?,
                limits: Some((1024, 2048)),
            }
        }
        HfClass::VisionArena => {
            let path = if row.fields.contains_key("conversation") {
                "conversation"
            } else {
                "turns"
            };
            let prompt = row
                .fields
                .get(path)
                .and_then(|c| c.get(0))
                .and_then(|c| c.get(0))
                .and_then(|m| m.get("content"))
                .and_then(Value::as_str)
                .ok_or_else(|| row.error(format!("expected {path}[0][0].content (a string)")))?;
            let img = image(row.fields.get("images").and_then(|i| i.get(0)))?
                .ok_or_else(|| row.error("expected images[0]".into()))?;
            Item {
                image: Some(img),
                ..fixed(prompt.to_string(), 128)
            }
        }
        HfClass::InstructCoder => fixed(
            format!(
                "{}\n\n{} Just output the code, do not include any explanation.",
                row.str("input")?,
                row.str("instruction")?
            ),
            200,
        ),
        HfClass::MtBench => {
            let t = row
                .fields
                .get("turns")
                .and_then(|t| t.get(0))
                .and_then(Value::as_str)
                .ok_or_else(|| row.error("expected turns[0] (a string)".into()))?;
            fixed(t.to_string(), 256)
        }
        HfClass::HumanEval => fixed(row.str("prompt")?.to_string(), 256),
        HfClass::Gsm8k => fixed(row.str("question")?.to_string(), 256),
        HfClass::Blazedit => {
            let d = row
                .fields
                .get("norm_distance")
                .and_then(Value::as_f64)
                .ok_or_else(|| row.error("expected a number in column \"norm_distance\"".into()))?;
            let (lo, hi) = spec.blazedit_distance;
            if d < lo || d > hi {
                return Ok(None);
            }
            fixed(
                blazedit_prompt(row.str("code")?, row.str("change_request")?),
                4000,
            )
        }
        HfClass::Aimo => Item {
            prompt: row.str("problem")?.to_string(),
            output_len: out,
            reference: Some(row.str("solution")?.to_string()),
            image: None,
            limits: Some((2048, 32000)),
        },
        HfClass::NextEdit => {
            let output = row.str("output")?;
            let start = output
                .find("<|editable_region_start|>")
                .unwrap_or(output.len().saturating_sub(1));
            Item {
                prompt: zeta_prompt(row.str("events")?, row.str("input")?),
                output_len: None,
                reference: Some(output[start..].to_string()),
                image: None,
                limits: None,
            }
        }
        HfClass::MlPerf => Item {
            // The chat template is not applied: system prompt then question, one per line.
            prompt: format!("{}\n{}", row.str("system_prompt")?, row.str("question")?),
            output_len: out,
            reference: Some(row.str("output")?.to_string()),
            image: None,
            limits: Some((1024, 2048)),
        },
        HfClass::MmStar => {
            let q = row
                .fields
                .get("question")
                .and_then(Value::as_str)
                .unwrap_or("");
            let q = q
                .split_once("Options:")
                .map_or(q, |(a, _)| a)
                .trim()
                .to_string();
            let img = image(row.fields.get("image"))?
                .ok_or_else(|| row.error("expected an 'image'".into()))?;
            Item {
                image: Some(img),
                ..fixed(q, 128)
            }
        }
    }))
}

/// The prompt template vLLM copies from blazedit's `create_refined_dataset.py`.
fn blazedit_prompt(code: &str, change_request: &str) -> String {
    format!(
        "Given a code file, please apply the change requests and generate the new file.\n\nOriginal file:\n```python\n{code}\n```\n\nChange request:\n{change_request}\n\nPlease generate the new code file in the \"New file\" section below."
    )
}

/// vLLM's `zeta_prompt` for `zed-industries/zeta`.
fn zeta_prompt(events: &str, input: &str) -> String {
    format!(
        "### Instruction:\nYou are a code completion assistant and your task is to analyze user edits and then rewrite an excerpt that the user provides, suggesting the appropriate edits within the excerpt, taking into account the cursor location.\n\n### User Edits:\n\n{events}\n\n### User Excerpt:\n\n{input}\n\n### Response:\n\n"
    )
}

pub(super) fn sample(
    spec: &HfSpec,
    opts: &SampleOptions,
    tok: &dyn Tokenizer,
) -> Result<Vec<SampleRequest>, DatasetError> {
    let id = class_id(spec);
    let (class, default_split, default_subset) =
        HfClass::resolve(&id).map_err(DatasetError::Params)?;
    let split = spec.split.as_deref().or(default_split).unwrap_or("train");
    let subset = spec.subset.as_deref().or(default_subset);
    let mut rows = Vec::new();
    for file in data_files(&spec.path, subset, split)? {
        rows.extend(read_rows(&file)?);
    }
    if !opts.disable_shuffle {
        shuffle(&mut rows, opts.seed);
    }
    let mut out = Vec::new();
    for row in &rows {
        if out.len() >= opts.num_prompts {
            break;
        }
        let Some(item) = item(class, row, spec)? else {
            continue;
        };
        let prompt_len = tok.count(&item.prompt) as u64;
        let reference_len = item.reference.as_deref().map(|r| tok.count(r) as u64);
        let output_len = match (item.output_len, reference_len) {
            (Some(n), _) | (None, Some(n)) => n,
            (None, None) => return Err(row.error("no output length: pass --hf-output-len".into())),
        };
        if let (Some((max_prompt, max_total)), None) = (item.limits, item.output_len) {
            let ok = prompt_len >= 4
                && output_len >= 4
                && prompt_len <= max_prompt
                && prompt_len + output_len <= max_total;
            if !ok {
                continue;
            }
        } else if class == HfClass::MlPerf && !is_valid_sequence(prompt_len, output_len, false) {
            continue;
        }
        let index = out.len();
        let mut req = if class.is_multimodal() {
            SampleRequest {
                prompt: ClientPrompt::Text(item.prompt),
                prompt_len,
                expected_output_len: output_len,
                request_id: format!("{}{index}", opts.request_id_prefix),
                timestamp: None,
                mm_content: item.image.into_iter().collect(),
            }
        } else {
            let mut r = SampleRequest::from_text(item.prompt, output_len, index, opts, tok);
            r.mm_content = item.image.into_iter().collect();
            r
        };
        if spec.multimodal_chat && req.is_multimodal() {
            into_chat_messages(&mut req);
        }
        out.push(req);
    }
    Ok(out)
}
