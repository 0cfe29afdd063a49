//! Defines the `bench serve` flags, spelled exactly as `vllm bench serve` (vLLM 0.32) spells them
//! (`add_cli_args()` in vllm/benchmarks/serve.py and `add_dataset_parser()` in
//! vllm/benchmarks/datasets/datasets.py), plus profilemate's own, marked "(profilemate)".
//!
//! Flags that vLLM accepts but that change nothing here are accepted for script compatibility and
//! say so in their help; flags for features not implemented are absent (see the parity test).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// `--backend` choices implemented here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BackendArg {
    /// vLLM completions (`/v1/completions`).
    Vllm,
    /// OpenAI completions (`/v1/completions`).
    Openai,
    /// OpenAI chat completions (`/v1/chat/completions`).
    OpenaiChat,
    /// OpenAI embeddings (`/v1/embeddings`).
    OpenaiEmbeddings,
}

/// `--dataset-name` choices: vLLM 0.32's thirteen, in its order, then profilemate's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DatasetName {
    /// A local ShareGPT JSON file.
    Sharegpt,
    /// A local BurstGPT CSV (GPT-4 rows; synthetic prompts of the logged lengths).
    Burstgpt,
    /// Synthetic prompts of exact token lengths.
    Random,
    /// Random prompts with synthetic images (openai-chat).
    #[value(name = "random-mm")]
    RandomMm,
    /// A random query and documents per request (openai-embeddings).
    #[value(name = "random-rerank")]
    RandomRerank,
    /// A Hugging Face dataset from local Parquet / JSON / JSONL / CSV files (--hf-name picks the format).
    Hf,
    /// JSONL with `prompt` and optional `output_tokens`.
    Custom,
    /// JSONL with `prompt` and `audio` (a WAV path), sent as input_audio (openai-chat).
    #[value(name = "custom_audio")]
    CustomAudio,
    /// JSONL with `prompt` and `image_files`, or `content` parts (openai-chat).
    #[value(name = "custom_image")]
    CustomImage,
    /// Shared prefixes with random suffixes.
    #[value(name = "prefix_repetition")]
    PrefixRepetition,
    /// Spec-Bench's question.jsonl (first turns).
    #[value(name = "spec_bench")]
    SpecBench,
    /// A SPEED-Bench directory of <subset>.jsonl files.
    #[value(name = "speed_bench")]
    SpeedBench,
    /// JSONL trace with timestamps and hash ids.
    #[value(name = "timed_trace")]
    TimedTrace,
    /// (profilemate) Closed-loop chat sessions resending the conversation so far (--num-prompts sessions).
    #[value(name = "multi_turn")]
    MultiTurn,
}

impl DatasetName {
    /// The name as typed on the command line (`sharegpt`, `random-mm`, `custom_image`).
    pub(crate) fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}

/// `--speed-bench-dataset-subset` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SpeedBenchSubset {
    /// qualitative.jsonl
    Qualitative,
    /// throughput_1k.jsonl
    #[value(name = "throughput_1k")]
    Throughput1k,
    /// throughput_2k.jsonl
    #[value(name = "throughput_2k")]
    Throughput2k,
    /// throughput_8k.jsonl
    #[value(name = "throughput_8k")]
    Throughput8k,
    /// throughput_16k.jsonl
    #[value(name = "throughput_16k")]
    Throughput16k,
    /// throughput_32k.jsonl
    #[value(name = "throughput_32k")]
    Throughput32k,
}

/// `--ramp-up-strategy` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RampArg {
    /// Rate grows linearly from start to end.
    Linear,
    /// Rate grows geometrically from start to end.
    Exponential,
}

/// `profilemate bench serve`: a drop-in for `vllm bench serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) endpoint: EndpointArgs,
    #[command(flatten)]
    pub(crate) workload: WorkloadArgs,
}

/// The flags about the server and the requests' bodies: where to send, what model, sampling,
/// warmup and readiness, timeouts, Ctrl-C. `sim run` has none of them (no endpoint in virtual
/// time).
#[derive(Debug, Args)]
pub(crate) struct EndpointArgs {
    /// Backend / endpoint type.
    #[arg(long, value_enum, default_value = "openai")]
    pub(crate) backend: BackendArg,
    /// Server or API base URL, e.g. http://127.0.0.1:8000 (else --host/--port; with none of
    /// the three, the embedded simulated engine is started and benchmarked).
    #[arg(long)]
    pub(crate) base_url: Option<String>,
    /// Server host [default: 127.0.0.1].
    #[arg(long)]
    pub(crate) host: Option<String>,
    /// Server port [default: 8000].
    #[arg(long)]
    pub(crate) port: Option<u16>,
    /// API endpoint path.
    #[arg(long, default_value = "/v1/completions")]
    pub(crate) endpoint: String,
    /// Extra headers, KEY=VALUE (override the defaults).
    #[arg(long, num_args = 1..)]
    pub(crate) header: Vec<String>,
    /// Accepted for compatibility; TLS is not compiled in (http:// only).
    #[arg(long)]
    pub(crate) insecure: bool,
    /// Model name (default: the first model of /v1/models); with the embedded engine, its
    /// model preset.
    #[arg(long)]
    pub(crate) model: Option<String>,
    /// Model name sent in the request body, if different from --model.
    #[arg(long)]
    pub(crate) served_model_name: Option<String>,
    /// Recorded as tokenizer_id; the built-in word tokenizer is used (no hub access).
    #[arg(long)]
    pub(crate) tokenizer: Option<String>,
    /// Accepted for compatibility; no effect.
    #[arg(long, default_value = "auto")]
    pub(crate) tokenizer_mode: String,
    /// Accepted for compatibility; no effect.
    #[arg(long)]
    pub(crate) trust_remote_code: bool,
    /// Run without a client tokenizer (token figures are not printed, as in vLLM).
    #[arg(long)]
    pub(crate) skip_tokenizer_init: bool,
    /// Number of logprobs per token to request.
    #[arg(long)]
    pub(crate) logprobs: Option<i64>,
    /// Prefix of the x-request-id header (default bench-<8 hex>-).
    #[arg(long)]
    pub(crate) request_id_prefix: Option<String>,
    /// top_p sampling parameter.
    #[arg(long)]
    pub(crate) top_p: Option<f64>,
    /// top_k sampling parameter.
    #[arg(long)]
    pub(crate) top_k: Option<i64>,
    /// min_p sampling parameter.
    #[arg(long)]
    pub(crate) min_p: Option<f64>,
    /// temperature sampling parameter.
    #[arg(long)]
    pub(crate) temperature: Option<f64>,
    /// frequency_penalty sampling parameter.
    #[arg(long)]
    pub(crate) frequency_penalty: Option<f64>,
    /// presence_penalty sampling parameter.
    #[arg(long)]
    pub(crate) presence_penalty: Option<f64>,
    /// repetition_penalty sampling parameter.
    #[arg(long)]
    pub(crate) repetition_penalty: Option<f64>,
    /// JSON object merged into every request body.
    #[arg(long)]
    pub(crate) extra_body: Option<String>,
    /// Accepted for compatibility; prompts are not chat-templated client-side.
    #[arg(long)]
    pub(crate) chat_template_kwargs: Option<String>,
    /// Send ignore_eos (forced on for random and timed_trace).
    #[arg(long)]
    pub(crate) ignore_eos: bool,
    /// Copies of request 0 to send (and discard) before the run.
    #[arg(long, default_value_t = 0)]
    pub(crate) num_warmups: usize,
    /// Resend request 0 every 5 s until it succeeds, up to this many seconds (0 skips).
    #[arg(long, default_value_t = 0)]
    pub(crate) ready_check_timeout_sec: u64,
    /// (profilemate) Fail a request that takes longer than this many seconds.
    #[arg(long)]
    pub(crate) request_timeout: Option<f64>,
    /// (profilemate) GPU preset for MFU / MBU from /metrics (see `profilemate hardware list`);
    /// with the embedded engine, also its GPU.
    #[arg(long)]
    pub(crate) gpu: Option<String>,
    /// Accepted for compatibility; vLLM 0.32's bench serve parses it and sends nothing for it
    /// either (beam search is not a request field of its serving client).
    #[arg(long)]
    pub(crate) use_beam_search: bool,
    /// LoRA module names the server was started with; each timed request is sent with one of
    /// them as its model (see --lora-assignment).
    #[arg(long, num_args = 1..)]
    pub(crate) lora_modules: Vec<String>,
    /// How each request's LoRA module is picked.
    #[arg(long, value_enum, default_value = "random")]
    pub(crate) lora_assignment: LoraArg,
    /// POST the server's /start_profile before the timed run and /stop_profile after it (vLLM
    /// needs --profiler-config; `profilemate sim serve` answers them as vLLM does).
    #[arg(long)]
    pub(crate) profile: bool,
    /// If positive, send one-token probe requests at this rate (req/s) beside the load,
    /// outside --max-concurrency, and report their latency apart.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) probe_request_rate: f64,
    /// Not supported yet: vLLM's HTML request timeline (use --save-result --save-detailed and
    /// plot the per-request arrays).
    #[arg(long)]
    pub(crate) plot_timeline: bool,
    /// Not supported yet: the ITL thresholds of --plot-timeline.
    #[arg(long)]
    pub(crate) timeline_itl_thresholds: Option<String>,
    /// Not supported yet: vLLM's dataset statistics figure (use --save-result --save-detailed
    /// and plot input_lens / output_lens).
    #[arg(long)]
    pub(crate) plot_dataset_stats: bool,
    /// (profilemate) Open no connection before the timed run: each slot's first request
    /// connects inside its TTFT, as vLLM's client does (default: the run's connections are
    /// opened first and the connect time is reported apart).
    #[arg(long)]
    pub(crate) cold_connections: bool,
    /// (profilemate) Seconds each untimed request to the server (/v1/models, the /metrics
    /// scrapes, /start_profile, /stop_profile) may take; a scrape past it is a warning and the
    /// run goes on without the server's view, a model lookup past it an error.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) control_timeout_sec: f64,
    /// (profilemate) After the first Ctrl-C, seconds requests in flight may still finish before
    /// they are cut and counted as interrupted (a second Ctrl-C cuts them at once).
    #[arg(long, default_value_t = 5.0)]
    pub(crate) interrupt_grace_sec: f64,
}

/// `--lora-assignment` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LoraArg {
    /// A random module per request.
    Random,
    /// Module i mod n for the i-th request.
    RoundRobin,
}

/// The workload and result flags, shared by `bench serve` and `sim run`: the dataset, the
/// arrival process and concurrency, the metrics and the result file.
#[derive(Debug, Args)]
pub(crate) struct WorkloadArgs {
    /// Label (prefix) of the result file (default: the backend).
    #[arg(long)]
    pub(crate) label: Option<String>,
    /// Dataset to sample.
    #[arg(long, value_enum, default_value = "random")]
    pub(crate) dataset_name: DatasetName,
    /// Dataset file or directory (every dataset but random, random-mm, random-rerank and
    /// prefix_repetition); for hf, a local copy of the Hugging Face dataset.
    #[arg(long)]
    pub(crate) dataset_path: Option<PathBuf>,
    /// Number of prompts.
    #[arg(long, default_value_t = 1000)]
    pub(crate) num_prompts: usize,
    /// Random seed (datasets and arrivals).
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Accepted for compatibility (HF streaming); no effect.
    #[arg(long)]
    pub(crate) no_stream: bool,
    /// Do not repeat samples to reach --num-prompts.
    #[arg(long)]
    pub(crate) no_oversample: bool,
    /// Accepted for compatibility; prompts are never chat-templated client-side.
    #[arg(long)]
    pub(crate) skip_chat_template: bool,
    /// Keep the dataset's order.
    #[arg(long)]
    pub(crate) disable_shuffle: bool,
    /// Multimodal datasets build whole chat messages (the chat request body is the same).
    #[arg(long)]
    pub(crate) enable_multimodal_chat: bool,
    /// Input length for any dataset that takes one (maps to --random-input-len).
    #[arg(long)]
    pub(crate) input_len: Option<u64>,
    /// Output length for any dataset that takes one.
    #[arg(long)]
    pub(crate) output_len: Option<u64>,
    /// random: input tokens per request.
    #[arg(long, default_value_t = 1024)]
    pub(crate) random_input_len: u64,
    /// random: output tokens per request.
    #[arg(long, default_value_t = 128)]
    pub(crate) random_output_len: u64,
    /// random: length range ratio, a number or {"input": r, "output": r}, each in [0, 1).
    #[arg(long, default_value = "0.0")]
    pub(crate) random_range_ratio: String,
    /// random: fixed prefix tokens before the random part.
    #[arg(long, default_value_t = 0)]
    pub(crate) random_prefix_len: u64,
    /// random: inputs per request (embeddings only); random-rerank: documents per request.
    #[arg(long, default_value_t = 1)]
    pub(crate) random_batch_size: usize,
    /// random-rerank: the model embeds (no native reranking): the query is one more input.
    #[arg(long)]
    pub(crate) no_reranker: bool,
    /// random-mm: base number of images per request.
    #[arg(long, default_value_t = 1)]
    pub(crate) random_mm_base_items_per_request: u64,
    /// random-mm: images per request are uniform on [floor(n(1-r)), ceil(n(1+r))], r in [0, 1].
    #[arg(long, default_value_t = 0.0)]
    pub(crate) random_mm_num_mm_items_range_ratio: f64,
    /// random-mm: per-modality caps per request, JSON.
    #[arg(long, default_value = r#"{"image": 255, "video": 1}"#)]
    pub(crate) random_mm_limit_mm_per_prompt: String,
    /// random-mm: {(height, width, frames): probability, ...}; frames > 1 (video) is not supported.
    #[arg(
        long,
        default_value = "{(256, 256, 1): 0.5, (720, 1280, 1): 0.5, (720, 1280, 16): 0.0}"
    )]
    pub(crate) random_mm_bucket_config: String,
    /// sharegpt: fixed output length (else the reference completion's).
    #[arg(long)]
    pub(crate) sharegpt_output_len: Option<u64>,
    /// custom, custom_image, custom_audio: output length; -1 uses the file's output_tokens.
    #[arg(long, default_value_t = 256, allow_hyphen_values = true)]
    pub(crate) custom_output_len: i64,
    /// custom_image: read local images here and send them as base64 data URLs.
    #[arg(long)]
    pub(crate) custom_ensure_client_side_data: bool,
    /// spec_bench: output tokens per request.
    #[arg(long, default_value_t = 256)]
    pub(crate) spec_bench_output_len: u64,
    /// spec_bench: only this category (default all).
    #[arg(long)]
    pub(crate) spec_bench_category: Option<String>,
    /// speed_bench: the <subset>.jsonl file of the --dataset-path directory.
    #[arg(long, value_enum, default_value = "qualitative")]
    pub(crate) speed_bench_dataset_subset: SpeedBenchSubset,
    /// speed_bench: output tokens per request.
    #[arg(long, default_value_t = 4096)]
    pub(crate) speed_bench_output_len: u64,
    /// speed_bench: only this category (default all).
    #[arg(long)]
    pub(crate) speed_bench_category: Option<String>,
    /// hf (vdaita/edit_*): lowest norm_distance kept.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) blazedit_min_distance: f64,
    /// hf (vdaita/edit_*): highest norm_distance kept.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) blazedit_max_distance: f64,
    /// Accepted for compatibility; the hf ASR datasets are not supported (no openai-audio backend).
    #[arg(long, default_value_t = f64::INFINITY)]
    pub(crate) asr_max_audio_len_sec: f64,
    /// Accepted for compatibility; the hf ASR datasets are not supported (no openai-audio backend).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) asr_min_audio_len_sec: f64,
    /// hf: the dataset config, a subdirectory of --dataset-path.
    #[arg(long)]
    pub(crate) hf_subset: Option<String>,
    /// hf: the split, picked by file or directory name (train.jsonl, test-00000-of-00001.json).
    #[arg(long)]
    pub(crate) hf_split: Option<String>,
    /// hf: the Hugging Face id whose format --dataset-path holds (e.g. likaixin/InstructCoder).
    #[arg(long)]
    pub(crate) hf_name: Option<String>,
    /// hf: output length (else the dataset's rule).
    #[arg(long)]
    pub(crate) hf_output_len: Option<u64>,
    /// Accepted for compatibility; the hf BFCL dataset is not supported (its files come from the hub).
    #[arg(long)]
    pub(crate) bfcl_categories: Option<String>,
    /// prefix_repetition: prefix tokens.
    #[arg(long, default_value_t = 256)]
    pub(crate) prefix_repetition_prefix_len: u64,
    /// prefix_repetition: suffix tokens.
    #[arg(long, default_value_t = 256)]
    pub(crate) prefix_repetition_suffix_len: u64,
    /// prefix_repetition: number of distinct prefixes.
    #[arg(long, default_value_t = 10)]
    pub(crate) prefix_repetition_num_prefixes: u64,
    /// prefix_repetition: output tokens.
    #[arg(long, default_value_t = 128)]
    pub(crate) prefix_repetition_output_len: u64,
    /// (profilemate) multi_turn: turns (requests) per session.
    #[arg(long, default_value_t = profilemate_bench::workload::multi_turn::DEFAULT_TURNS)]
    pub(crate) multi_turn_turns: usize,
    /// (profilemate) multi_turn: new user tokens per turn.
    #[arg(long, default_value_t = 128)]
    pub(crate) multi_turn_input_len: u64,
    /// (profilemate) multi_turn: output tokens per turn.
    #[arg(long, default_value_t = 128)]
    pub(crate) multi_turn_output_len: u64,
    /// (profilemate) multi_turn: length range ratio, as --random-range-ratio.
    #[arg(long, default_value = "0.0")]
    pub(crate) multi_turn_range_ratio: String,
    /// (profilemate) multi_turn: mean seconds between a reply and the next turn (exponential,
    /// seeded by --seed; 0 sends the next turn at once).
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub(crate) multi_turn_think_time: f64,
    /// (profilemate) multi_turn: tokens of a system prompt every session starts with.
    #[arg(long, default_value_t = 0)]
    pub(crate) multi_turn_system_prompt_len: u64,
    /// timed_trace: tokens per hash block.
    #[arg(long, default_value_t = 16)]
    pub(crate) timed_trace_chunk_hash_size: u64,
    /// timed_trace: multiplier from trace timestamps to seconds.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) timed_trace_sec_multiplier: f64,
    /// timed_trace: timestamp field.
    #[arg(long, default_value = "timestamp")]
    pub(crate) timed_trace_label_timestamp: String,
    /// timed_trace: input length field.
    #[arg(long, default_value = "input_length")]
    pub(crate) timed_trace_label_input_length: String,
    /// timed_trace: output length field.
    #[arg(long, default_value = "output_length")]
    pub(crate) timed_trace_label_output_length: String,
    /// timed_trace: hash ids field.
    #[arg(long, default_value = "hash_ids")]
    pub(crate) timed_trace_label_hash_ids: String,
    /// timed_trace: schedule by the trace's timestamps (default on).
    #[arg(long, overrides_with = "no_self_timed")]
    pub(crate) self_timed: bool,
    /// timed_trace: schedule by --request-rate instead.
    #[arg(long, overrides_with = "self_timed")]
    pub(crate) no_self_timed: bool,
    /// Requests per second (inf sends all at once).
    #[arg(long, default_value_t = f64::INFINITY)]
    pub(crate) request_rate: f64,
    /// Gamma shape of inter-arrival gaps (1 = Poisson, inf = constant).
    #[arg(long, default_value_t = 1.0)]
    pub(crate) burstiness: f64,
    /// Ramp the rate from --ramp-up-start-rps to --ramp-up-end-rps.
    #[arg(long, value_enum)]
    pub(crate) ramp_up_strategy: Option<RampArg>,
    /// Ramp-up start rate.
    #[arg(long)]
    pub(crate) ramp_up_start_rps: Option<u32>,
    /// Ramp-up end rate.
    #[arg(long)]
    pub(crate) ramp_up_end_rps: Option<u32>,
    /// Most requests in flight at once.
    #[arg(long)]
    pub(crate) max_concurrency: Option<usize>,
    /// Metrics to report percentiles for (ttft,tpot,itl,e2el,client_queue_time,e2el_including_client_queue).
    #[arg(long)]
    pub(crate) percentile_metrics: Option<String>,
    /// Percentiles to report, e.g. 50,90,99.
    #[arg(long, default_value = "99")]
    pub(crate) metric_percentiles: String,
    /// SLOs for goodput, KEY:VALUE in ms (ttft, tpot, e2el).
    #[arg(long, num_args = 1..)]
    pub(crate) goodput: Vec<String>,
    /// Hide the progress bar (and, without a terminal, the progress lines on stderr).
    #[arg(long)]
    pub(crate) disable_tqdm: bool,
    /// Save the result JSON.
    #[arg(long)]
    pub(crate) save_result: bool,
    /// Keep per-request arrays in the saved JSON.
    #[arg(long)]
    pub(crate) save_detailed: bool,
    /// Append to the result file as JSON lines.
    #[arg(long)]
    pub(crate) append_result: bool,
    /// KEY=VALUE pairs added to the result JSON.
    #[arg(long, num_args = 1..)]
    pub(crate) metadata: Vec<String>,
    /// Directory for the result file.
    #[arg(long)]
    pub(crate) result_dir: Option<PathBuf>,
    /// Result file name (replaces the generated one).
    #[arg(long)]
    pub(crate) result_filename: Option<String>,
    /// (profilemate) Stop sending new requests after this many seconds; in-flight ones finish.
    #[arg(long)]
    pub(crate) duration: Option<f64>,
}

impl WorkloadArgs {
    /// Whether the dataset sends images or audio (and so needs the chat backend).
    pub(crate) fn sends_media(&self) -> bool {
        match self.dataset_name {
            DatasetName::RandomMm | DatasetName::CustomImage | DatasetName::CustomAudio => true,
            DatasetName::Hf => {
                let id = self.hf_name.clone().or_else(|| {
                    self.dataset_path
                        .as_ref()
                        .map(|p| p.to_string_lossy().into_owned())
                });
                id.and_then(|id| profilemate_bench::workload::HfClass::resolve(&id).ok())
                    .is_some_and(|(class, ..)| class.is_multimodal())
            }
            _ => false,
        }
    }
}

impl EndpointArgs {
    /// Whether no server was named (no `--base-url`, `--host` or `--port`): `bench serve` then
    /// benchmarks the embedded simulated engine.
    pub(crate) fn embedded(&self) -> bool {
        self.base_url.is_none() && self.host.is_none() && self.port.is_none()
    }
}
