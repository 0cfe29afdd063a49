//! Provides the workload: dataset samples plus an arrival process, and the pure
//! [`Workload::schedule`] step that turns it into timed requests.
//!
//! The same [`ScheduledSend`] list drives the HTTP client here and can drive a virtual-time
//! engine (`sim run`): nothing in this module touches a clock or a socket.

mod burstgpt;
mod csv;
mod custom;
mod custom_mm;
mod hf;
mod jpeg;
mod media;
pub mod multi_turn;
mod prefix_repetition;
mod random;
mod random_mm;
mod rerank;
mod sharegpt;
mod table;
mod timed_trace;
mod turns;

use profilemate_model::counting_ids::CountingIds;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{DatasetError, ScheduleError};
use crate::schedule::{Arrivals, compute_schedule};
use crate::tokenizer::Tokenizer;

pub use custom_mm::{CustomMmSpec, MediaKind};
pub use hf::{HfClass, HfSpec, class_id};
pub use multi_turn::{Conversation, MultiTurnSpec, SessionPlan, SessionTurn};
pub use random::RangeRatio;
pub use random_mm::{BucketConfig, RandomMmSpec, Shape, default_limit_mm_per_prompt};
pub use rerank::RerankSpec;
pub use turns::{TurnsKind, TurnsSpec};

/// A prompt as sent: text, or token ids for endpoints that take them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientPrompt {
    /// A text prompt.
    Text(String),
    /// A pre-tokenized prompt (completions endpoints).
    TokenIds(Vec<u32>),
    /// The random dataset's token ids kept as their recipe, for a client that never sends
    /// them ([`crate::run::build_unsent_workload`]); sent, they are the same ids as
    /// [`ClientPrompt::TokenIds`].
    CountingIds(CountingIds),
    /// A batch of text inputs (embeddings with `--random-batch-size`; for `random-rerank` the
    /// query then the documents).
    Batch(Vec<String>),
    /// Chat content parts (`custom_image`'s interleaved `content` form): the chat backend sends
    /// them as the user message's content, as vLLM's `_get_chat_content` does.
    Parts(Vec<serde_json::Value>),
    /// Whole chat messages (`--enable-multimodal-chat`): the chat backend sends them as they are
    /// (vLLM's `_is_chat_messages` branch).
    Messages(Vec<serde_json::Value>),
}

/// One request of the workload (vLLM's `SampleRequest`).
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRequest {
    /// The prompt.
    pub prompt: ClientPrompt,
    /// Prompt length in tokens.
    pub prompt_len: u64,
    /// Requested output length (`max_tokens`).
    pub expected_output_len: u64,
    /// `x-request-id` value.
    pub request_id: String,
    /// Arrival timestamp in seconds (timed traces).
    pub timestamp: Option<f64>,
    /// Multimodal content parts (`image_url`, `video_url`, `input_audio`) the chat backend adds
    /// after the text part (vLLM's `multi_modal_data`).
    pub mm_content: Vec<serde_json::Value>,
}

impl SampleRequest {
    /// A request for the token ids `ids`: sent as ids when `opts.token_ids`, else decoded.
    pub fn from_ids(
        ids: Vec<u32>,
        output_len: u64,
        index: usize,
        opts: &SampleOptions,
        tok: &dyn Tokenizer,
    ) -> Self {
        let prompt_len = ids.len() as u64;
        let prompt = if opts.token_ids {
            ClientPrompt::TokenIds(ids)
        } else {
            ClientPrompt::Text(tok.decode(&ids))
        };
        let request_id = format!("{}{index}", opts.request_id_prefix);
        Self {
            prompt,
            prompt_len,
            expected_output_len: output_len,
            request_id,
            timestamp: None,
            mm_content: Vec::new(),
        }
    }

    /// A request for the ids of `ids`: kept as their recipe when `opts.counting_ids` (and
    /// ids are sent), else as [`from_ids`](Self::from_ids).
    pub fn from_counting_ids(
        ids: CountingIds,
        output_len: u64,
        index: usize,
        opts: &SampleOptions,
        tok: &dyn Tokenizer,
    ) -> Self {
        if !(opts.token_ids && opts.counting_ids) {
            return Self::from_ids(ids.to_vec(), output_len, index, opts, tok);
        }
        Self {
            prompt_len: u64::from(ids.len()),
            prompt: ClientPrompt::CountingIds(ids),
            expected_output_len: output_len,
            request_id: format!("{}{index}", opts.request_id_prefix),
            timestamp: None,
            mm_content: Vec::new(),
        }
    }

    /// A text request: sent as token ids when `opts.token_ids`, else as the text itself.
    pub(crate) fn from_text(
        text: String,
        output_len: u64,
        index: usize,
        opts: &SampleOptions,
        tok: &dyn Tokenizer,
    ) -> Self {
        let ids = tok.encode(&text);
        let prompt_len = ids.len() as u64;
        let prompt = if opts.token_ids {
            ClientPrompt::TokenIds(ids)
        } else {
            ClientPrompt::Text(text)
        };
        Self {
            prompt,
            prompt_len,
            expected_output_len: output_len,
            request_id: format!("{}{index}", opts.request_id_prefix),
            timestamp: None,
            mm_content: Vec::new(),
        }
    }

    /// Whether the request carries anything besides one text prompt (images, audio, video,
    /// content parts or whole messages).
    pub fn is_multimodal(&self) -> bool {
        !self.mm_content.is_empty()
            || matches!(
                self.prompt,
                ClientPrompt::Parts(_) | ClientPrompt::Messages(_)
            )
    }
}

/// Which dataset to sample and its parameters (`--dataset-name` and its flags).
#[derive(Debug, Clone, PartialEq)]
pub enum DatasetSpec {
    /// `random`: synthetic prompts of exact token lengths.
    Random {
        /// `--random-input-len`.
        input_len: u64,
        /// `--random-output-len`.
        output_len: u64,
        /// `--random-range-ratio`.
        range_ratio: RangeRatio,
        /// `--random-prefix-len`.
        prefix_len: u64,
        /// `--random-batch-size` (embeddings only).
        batch_size: usize,
    },
    /// `sharegpt`: a local ShareGPT JSON file (first two turns of each conversation).
    ShareGpt {
        /// `--dataset-path`.
        path: PathBuf,
        /// `--sharegpt-output-len` (else the completion's length).
        output_len: Option<u64>,
    },
    /// `custom`: JSONL with `prompt` and optional `output_tokens`.
    Custom {
        /// `--dataset-path`.
        path: PathBuf,
        /// `--custom-output-len`; `None` (or -1 on the CLI) means "from the file".
        output_len: Option<u64>,
    },
    /// `prefix_repetition`: groups of prompts sharing a prefix.
    PrefixRepetition {
        /// `--prefix-repetition-prefix-len`.
        prefix_len: u64,
        /// `--prefix-repetition-suffix-len`.
        suffix_len: u64,
        /// `--prefix-repetition-num-prefixes`.
        num_prefixes: u64,
        /// `--prefix-repetition-output-len`.
        output_len: u64,
    },
    /// `timed_trace`: JSONL with timestamps, lengths and hash ids.
    TimedTrace(timed_trace::TraceSpec),
    /// `burstgpt`: a local BurstGPT CSV (GPT-4 rows with a response; synthetic prompts of the
    /// logged lengths).
    BurstGpt {
        /// `--dataset-path`.
        path: PathBuf,
    },
    /// `hf`: a Hugging Face dataset read from local Parquet / JSON / JSONL / CSV files.
    Hf(HfSpec),
    /// `random-mm`: random prompts with synthetic images.
    RandomMm(RandomMmSpec),
    /// `random-rerank`: a random query and documents per request.
    RandomRerank(RerankSpec),
    /// `custom_image` / `custom_audio`: JSONL naming local media files.
    CustomMm(CustomMmSpec),
    /// `spec_bench` / `speed_bench`: first turns of local JSONL question files.
    Turns(TurnsSpec),
    /// `multi_turn` (beyond vLLM): closed-loop chat sessions that resend the conversation so
    /// far at every turn; `--num-prompts` is the number of sessions.
    MultiTurn(MultiTurnSpec),
}

pub use timed_trace::TraceSpec;

/// Options common to every dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleOptions {
    /// `--num-prompts`.
    pub num_prompts: usize,
    /// `--seed`.
    pub seed: u64,
    /// `--request-id-prefix`.
    pub request_id_prefix: String,
    /// `--no-oversample`.
    pub no_oversample: bool,
    /// `--disable-shuffle`.
    pub disable_shuffle: bool,
    /// Send token-id prompts (completions backends) instead of text.
    pub token_ids: bool,
    /// Keep the random dataset's token ids as [`ClientPrompt::CountingIds`] (with
    /// `token_ids`): for a client that never sends them.
    pub counting_ids: bool,
}

/// Samples the dataset's requests.
pub fn load_samples(
    spec: &DatasetSpec,
    opts: &SampleOptions,
    tok: &dyn Tokenizer,
) -> Result<Vec<SampleRequest>, DatasetError> {
    let mut samples = match spec {
        DatasetSpec::Random { .. } => random::sample(spec, opts, tok)?,
        DatasetSpec::ShareGpt { path, output_len } => {
            sharegpt::sample(path, *output_len, opts, tok)?
        }
        DatasetSpec::Custom { path, output_len } => custom::sample(path, *output_len, opts, tok)?,
        DatasetSpec::PrefixRepetition { .. } => prefix_repetition::sample(spec, opts, tok)?,
        DatasetSpec::TimedTrace(trace) => timed_trace::sample(trace, opts, tok)?,
        DatasetSpec::BurstGpt { path } => burstgpt::sample(path, opts, tok)?,
        DatasetSpec::Hf(hf) => hf::sample(hf, opts, tok)?,
        DatasetSpec::RandomMm(mm) => random_mm::sample(mm, opts, tok)?,
        DatasetSpec::RandomRerank(rr) => rerank::sample(rr, opts, tok)?,
        DatasetSpec::CustomMm(c) => custom_mm::sample(c, opts, tok)?,
        DatasetSpec::Turns(t) => turns::sample(t, opts, tok)?,
        DatasetSpec::MultiTurn(m) => multi_turn::sample(m, opts, tok)?,
    };
    if samples.is_empty() {
        return Err(DatasetError::Params(
            "the dataset produced no requests".into(),
        ));
    }
    // vLLM's RandomDatasetForReranking.sample never oversamples (its requests are batches);
    // multi_turn has one first turn per session already.
    if !matches!(
        spec,
        DatasetSpec::RandomRerank(_) | DatasetSpec::MultiTurn(_)
    ) {
        oversample(&mut samples, opts);
    }
    Ok(samples)
}

/// vLLM's `maybe_oversample_requests`: repeat random samples up to `--num-prompts`.
fn oversample(samples: &mut Vec<SampleRequest>, opts: &SampleOptions) {
    use rand::{Rng, SeedableRng};
    if opts.no_oversample || samples.len() >= opts.num_prompts {
        return;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed);
    let have = samples.len();
    for i in have..opts.num_prompts {
        let mut extra = samples[rng.random_range(0..have)].clone();
        extra.request_id = format!("{}{i}", opts.request_id_prefix);
        samples.push(extra);
    }
}

/// Shuffles in place with a seeded RNG (vLLM's `random.shuffle` after `random.seed(seed)`).
pub(crate) fn shuffle<T>(items: &mut [T], seed: u64) {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    items.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
}

/// A workload: the requests and when they arrive.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// The requests, in dispatch order.
    pub requests: Vec<SampleRequest>,
    /// The arrival process.
    pub arrivals: Arrivals,
    /// Seed for the arrival draws.
    pub seed: u64,
    /// `multi_turn`: the sessions. [`Workload::requests`] then holds each session's first
    /// turn, the schedule places session starts, and each later turn is sent when the previous
    /// one has finished and its think time has passed.
    pub sessions: Option<std::sync::Arc<SessionPlan>>,
}

/// One request placed on the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScheduledSend {
    /// Index into [`Workload::requests`].
    pub index: usize,
    /// Send time, from the start of the run.
    pub send_at: Duration,
    /// The request rate in force (for ramp-up events); 0 when self-timed.
    pub rate: f64,
}

impl Workload {
    /// Places every request on the timeline. Pure: same workload, same schedule.
    pub fn schedule(&self) -> Result<Vec<ScheduledSend>, ScheduleError> {
        let stamps: Vec<Option<f64>> = self.requests.iter().map(|r| r.timestamp).collect();
        let s = compute_schedule(self.arrivals, self.requests.len(), &stamps, self.seed)?;
        Ok(s.offsets
            .into_iter()
            .zip(s.rates)
            .enumerate()
            .map(|(index, (send_at, rate))| ScheduledSend {
                index,
                send_at,
                rate,
            })
            .collect())
    }
}

/// Non-blank JSONL rows with their 1-based line numbers.
pub(crate) fn jsonl_rows(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l))
}

/// A [`DatasetError::Format`] at `line` of `path`.
pub(crate) fn format_error(path: &std::path::Path, line: usize, reason: String) -> DatasetError {
    DatasetError::Format {
        path: path.to_path_buf(),
        line,
        reason,
    }
}

/// Reads a dataset file, mapping I/O errors to [`DatasetError::Read`].
pub(crate) fn read_file(path: &std::path::Path) -> Result<String, DatasetError> {
    std::fs::read_to_string(path).map_err(|source| DatasetError::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod dataset_tests;
#[cfg(test)]
mod tests;

/// `--enable-multimodal-chat`: the prompt becomes one user message whose content is the text
/// part then the multimodal parts (vLLM's `apply_multimodal_chat_transformation`); content
/// parts become that message's content. The chat body is the same either way.
pub(crate) fn into_chat_messages(req: &mut SampleRequest) {
    let mm = std::mem::take(&mut req.mm_content);
    let content = match std::mem::replace(&mut req.prompt, ClientPrompt::Batch(Vec::new())) {
        ClientPrompt::Parts(parts) => parts,
        ClientPrompt::Messages(messages) => {
            req.prompt = ClientPrompt::Messages(messages);
            req.mm_content = mm;
            return;
        }
        ClientPrompt::Text(text) => {
            std::iter::once(serde_json::json!({"type": "text", "text": text}))
                .chain(mm)
                .collect()
        }
        other => {
            req.prompt = other;
            req.mm_content = mm;
            return;
        }
    };
    req.prompt = ClientPrompt::Messages(vec![
        serde_json::json!({"role": "user", "content": content}),
    ]);
}
