//! Converts the clap flags into the library's [`BenchConfig`] (and `sim run`'s flags into a
//! [`WorkloadConfig`] alone), applying vLLM's flag rules
//! (`main_async()` in vllm/benchmarks/serve.py, vLLM 0.32): generic length flags, forced
//! `ignore_eos`, timed-trace self-timing, sampling-parameter merging, ramp-up validation.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::ValueEnum;
use profilemate_bench::config::{
    Backend, BenchConfig, EndpointConfig, LoraAssignment, OutputConfig, PercentileMetric,
    RampUpStrategy, WorkloadConfig, arrivals_from_flags, parse_json_object, parse_key_values,
    parse_percentiles,
};
use profilemate_bench::metrics::Goodput;
use profilemate_bench::server_metrics::GpuPeak;
use profilemate_bench::workload::{
    BucketConfig, CustomMmSpec, DatasetSpec, HfClass, HfSpec, MediaKind, MultiTurnSpec,
    RandomMmSpec, RangeRatio, RerankSpec, TraceSpec, TurnsKind, TurnsSpec, class_id,
};
use serde_json::{Map, Value};

use super::args::{
    BackendArg, DatasetName, EndpointArgs, LoraArg, RampArg, ServeArgs, SpeedBenchSubset,
    WorkloadArgs,
};

impl ServeArgs {
    /// Validates and resolves the flags.
    pub(crate) fn to_config(&self) -> anyhow::Result<BenchConfig> {
        bench_config(&self.endpoint, &self.workload)
    }
}

/// The run's configuration from the endpoint and the workload flags.
fn bench_config(e: &EndpointArgs, w: &WorkloadArgs) -> anyhow::Result<BenchConfig> {
    e.refuse_unsupported()?;
    e.check_base_url()?;
    let mut workload = workload_config(w, e.backend)?;
    if workload.backend.takes_token_ids() {
        workload.prompt_vocab = e.model_vocab();
    }
    let endpoint = endpoint_config(e, &workload)?;
    let config = BenchConfig { endpoint, workload };
    config.validate()?;
    Ok(config)
}

/// The workload `sim run` (and each `sim sweep` combination) sends to the engine, which has no
/// endpoint: shaped for the chat API when the dataset sends images or audio, else for
/// `openai` (bench serve's default); pooling workloads are refused. Errors name the flag.
pub(crate) fn sim_workload_config(w: &WorkloadArgs) -> anyhow::Result<WorkloadConfig> {
    if w.dataset_name == DatasetName::RandomRerank {
        bail!(
            "sim run simulates generation and random-rerank is a pooling workload; benchmark it with bench serve --backend openai-embeddings"
        );
    }
    let backend = if w.sends_media() {
        BackendArg::OpenaiChat
    } else {
        BackendArg::Openai
    };
    let check = || -> anyhow::Result<WorkloadConfig> {
        let config = workload_config(w, backend)?;
        config.validate()?;
        Ok(config)
    };
    check().context("invalid sim run workload")
}

/// The workload flags, the requests shaped for `backend` (the dataset is checked against what
/// the backend can send).
fn workload_config(w: &WorkloadArgs, backend: BackendArg) -> anyhow::Result<WorkloadConfig> {
    let self_timed = w.self_timed_setting(backend)?;
    let ramp = w
        .ramp_up_strategy
        .map(|s| (strategy(s), w.ramp_up_start_rps, w.ramp_up_end_rps));
    Ok(WorkloadConfig {
        backend: backend.to_backend(),
        dataset: w.dataset(backend)?,
        num_prompts: w.num_prompts,
        seed: w.seed,
        no_oversample: w.no_oversample,
        disable_shuffle: w.disable_shuffle,
        arrivals: arrivals_from_flags(w.request_rate, w.burstiness, ramp, self_timed)?,
        max_concurrency: w.max_concurrency,
        percentile_metrics: w
            .percentile_metrics
            .as_deref()
            .map(PercentileMetric::parse_list)
            .transpose()?,
        percentiles: parse_percentiles(&w.metric_percentiles)?,
        goodput: Goodput::parse(&w.goodput)?,
        output: w.output()?,
        duration: seconds("--duration", w.duration)?,
        prompt_vocab: None,
    })
}

/// The endpoint flags; `--ignore-eos` is forced on for the workloads vLLM forces it for.
fn endpoint_config(e: &EndpointArgs, workload: &WorkloadConfig) -> anyhow::Result<EndpointConfig> {
    let backend = workload.backend;
    let forced_ignore_eos = match workload.dataset {
        DatasetSpec::TimedTrace(_) => true,
        DatasetSpec::Random { .. } | DatasetSpec::RandomMm(_) => !backend.is_pooling(),
        // Synthetic chat turns: each reply runs to its --multi-turn-output-len, as random's do.
        DatasetSpec::MultiTurn(_) => true,
        _ => false,
    };
    Ok(EndpointConfig {
        base_url: e.base_url(),
        endpoint: e.endpoint.clone(),
        model: e.model.clone(),
        served_model_name: e.served_model_name.clone(),
        tokenizer_id: e.tokenizer.clone(),
        skip_tokenizer_init: e.skip_tokenizer_init,
        headers: parse_key_values("--header", &e.header)?,
        api_key: std::env::var("OPENAI_API_KEY")
            .ok()
            .filter(|k| !k.is_empty()),
        extra_body: e.extra_body(backend)?,
        ignore_eos: e.ignore_eos || forced_ignore_eos,
        logprobs: e.logprobs,
        request_id_prefix: e
            .request_id_prefix
            .clone()
            .unwrap_or_else(default_request_id_prefix),
        num_warmups: e.num_warmups,
        ready_check_timeout: Duration::from_secs(e.ready_check_timeout_sec),
        request_timeout: seconds("--request-timeout", e.request_timeout)?,
        gpu: e.gpu.as_deref().map(gpu).transpose()?,
        interrupt_grace: Duration::try_from_secs_f64(e.interrupt_grace_sec)
            .ok()
            .with_context(|| {
                format!(
                    "--interrupt-grace-sec must be a number of seconds, 0 or more, got {}",
                    e.interrupt_grace_sec
                )
            })?,
        cold_connections: e.cold_connections,
        lora_modules: e.lora_modules.clone(),
        lora_assignment: match e.lora_assignment {
            LoraArg::Random => LoraAssignment::Random,
            LoraArg::RoundRobin => LoraAssignment::RoundRobin,
        },
        profile: e.profile,
        probe_request_rate: e.probe_request_rate,
        control_timeout: seconds("--control-timeout-sec", Some(e.control_timeout_sec))?
            .unwrap_or(profilemate_bench::config::DEFAULT_CONTROL_TIMEOUT),
    })
}

impl BackendArg {
    fn to_backend(self) -> Backend {
        match self {
            BackendArg::Vllm => Backend::Vllm,
            BackendArg::Openai => Backend::Openai,
            BackendArg::OpenaiChat => Backend::OpenaiChat,
            BackendArg::OpenaiEmbeddings => Backend::OpenaiEmbeddings,
        }
    }
}

impl EndpointArgs {
    /// vLLM flags that wait for profilemate's HTML report: one line naming the flag, what is
    /// missing and what to use instead.
    fn refuse_unsupported(&self) -> anyhow::Result<()> {
        let instead = "save the per-request data with --save-result --save-detailed and plot it from the JSON";
        if self.plot_timeline {
            bail!(
                "--plot-timeline is not supported yet (the request timeline comes with profilemate's HTML report); {instead}"
            );
        }
        if self.timeline_itl_thresholds.is_some() {
            bail!(
                "--timeline-itl-thresholds is not supported yet (it colours --plot-timeline, which comes with profilemate's HTML report); {instead}"
            );
        }
        if self.plot_dataset_stats {
            bail!(
                "--plot-dataset-stats is not supported yet (the dataset figure comes with profilemate's HTML report); {instead} (input_lens, output_lens)"
            );
        }
        Ok(())
    }

    /// `--base-url` must name its scheme (reqwest would say only "builder error for url").
    /// The vocabulary size of the model `--tokenizer` (else `--model`) names, when it names
    /// one this tool can read (a preset, a model directory, a Hugging Face id in the local
    /// cache): token-id prompts are then drawn over it, as vLLM's client draws them over its
    /// tokenizer's. `None` keeps the built-in word tokenizer's 2048 ids.
    fn model_vocab(&self) -> Option<u32> {
        let name = self.tokenizer.as_deref().or(self.model.as_deref())?;
        let config = crate::commands::model_source::load_model(name).ok()?;
        let spec = profilemate_model::ModelSpec::from_config(&config);
        let vocab = spec.vocab_size.ok()?;
        u32::try_from(vocab).ok().filter(|&v| v > 0)
    }

    fn check_base_url(&self) -> anyhow::Result<()> {
        match &self.base_url {
            Some(url) if !url.contains("://") => bail!(
                "--base-url {url}: no scheme; add http:// (e.g. http://{})",
                url.trim_end_matches('/')
            ),
            _ => Ok(()),
        }
    }

    /// `--base-url`, else `http://host:port` (IPv6 hosts bracketed, as `join_host_port` does),
    /// vLLM's defaults filling in a missing host or port.
    fn base_url(&self) -> String {
        let host = self.host.as_deref().unwrap_or("127.0.0.1");
        let port = self.port.unwrap_or(8000);
        match &self.base_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None if host.contains(':') => format!("http://[{host}]:{port}"),
            None => format!("http://{host}:{port}"),
        }
    }

    /// `{**sampling_params, **extra_body}`; sampling flags need an OpenAI-compatible backend.
    fn extra_body(&self, backend: Backend) -> anyhow::Result<Map<String, Value>> {
        let sampling = [
            ("top_p", self.top_p),
            ("top_k", self.top_k.map(|k| k as f64)),
            ("min_p", self.min_p),
            ("temperature", self.temperature),
            ("frequency_penalty", self.frequency_penalty),
            ("presence_penalty", self.presence_penalty),
            ("repetition_penalty", self.repetition_penalty),
        ];
        let mut body = Map::new();
        for (k, v) in sampling.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))) {
            let v = if k == "top_k" {
                Value::from(v as i64)
            } else {
                Value::from(v)
            };
            body.insert(k.into(), v);
        }
        if !body.is_empty() && backend.is_pooling() {
            bail!("Sampling parameters are only supported by openai-compatible backends.");
        }
        if let Some(extra) = &self.extra_body {
            body.extend(parse_json_object("--extra-body", extra)?);
        }
        Ok(body)
    }
}

impl WorkloadArgs {
    fn self_timed_setting(&self, backend: BackendArg) -> anyhow::Result<bool> {
        let flag = match (self.self_timed, self.no_self_timed) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        if matches!(self.dataset_name, DatasetName::TimedTrace) {
            if !matches!(backend, BackendArg::Vllm | BackendArg::Openai) {
                bail!(
                    "timed_trace dataset passes pre-tokenized prompts (list[int]) and requires a completions backend ('vllm' or 'openai')."
                );
            }
            return Ok(flag.unwrap_or(true));
        }
        if flag.is_some() {
            bail!("--self-timed/--no-self-timed is only supported with --dataset-name=timed_trace");
        }
        Ok(false)
    }

    /// The dataset spec; `--input-len` / `--output-len` override the per-dataset lengths (as
    /// `main_async()` maps them: not onto speed_bench's). `backend` is checked against what the
    /// dataset sends (`get_samples()`'s multimodal-backend check).
    fn dataset(&self, backend: BackendArg) -> anyhow::Result<DatasetSpec> {
        let custom_len = self.output_len.map_or(self.custom_output_len, |o| o as i64);
        Ok(match self.dataset_name {
            DatasetName::Random => {
                self.no_path("random")?;
                DatasetSpec::Random {
                    input_len: self.input_len.unwrap_or(self.random_input_len),
                    output_len: self.output_len.unwrap_or(self.random_output_len),
                    range_ratio: RangeRatio::parse(&self.random_range_ratio)?,
                    prefix_len: self.random_prefix_len,
                    batch_size: self.random_batch_size,
                }
            }
            DatasetName::Sharegpt => DatasetSpec::ShareGpt {
                path: self.path()?,
                output_len: self.output_len.or(self.sharegpt_output_len),
            },
            DatasetName::Custom => DatasetSpec::Custom {
                path: self.path()?,
                output_len: u64::try_from(custom_len).ok(),
            },
            DatasetName::PrefixRepetition => {
                self.no_path("prefix_repetition")?;
                DatasetSpec::PrefixRepetition {
                    prefix_len: self.prefix_repetition_prefix_len,
                    suffix_len: self.prefix_repetition_suffix_len,
                    num_prefixes: self.prefix_repetition_num_prefixes,
                    output_len: self.output_len.unwrap_or(self.prefix_repetition_output_len),
                }
            }
            DatasetName::TimedTrace => DatasetSpec::TimedTrace(self.trace()?),
            DatasetName::Burstgpt => DatasetSpec::BurstGpt { path: self.path()? },
            DatasetName::RandomMm => {
                self.no_path("random-mm")?;
                self.needs_chat(backend, "Multi-modal content (images)")?;
                DatasetSpec::RandomMm(self.random_mm()?)
            }
            DatasetName::RandomRerank => {
                self.no_path("random-rerank")?;
                if backend != BackendArg::OpenaiEmbeddings {
                    bail!(
                        "random-rerank sends [query, documents...] batches to a pooling endpoint: pass --backend openai-embeddings --endpoint /v1/embeddings (vLLM's vllm-rerank backend is not implemented)"
                    );
                }
                DatasetSpec::RandomRerank(RerankSpec {
                    input_len: self.input_len.unwrap_or(self.random_input_len),
                    range_ratio: RangeRatio::parse(&self.random_range_ratio)?,
                    batch_size: self.random_batch_size,
                    is_reranker: !self.no_reranker,
                })
            }
            DatasetName::Hf => DatasetSpec::Hf(self.hf(backend)?),
            DatasetName::CustomImage | DatasetName::CustomAudio => {
                let kind = if self.dataset_name == DatasetName::CustomImage {
                    self.needs_chat(backend, "Multi-modal content (images)")?;
                    MediaKind::Image
                } else {
                    self.needs_chat(backend, "Audio content")?;
                    if !self.enable_multimodal_chat {
                        bail!(
                            "custom_audio sends audio as chat input_audio parts: add --enable-multimodal-chat (vLLM's openai-audio transcription backend is not implemented)"
                        );
                    }
                    MediaKind::Audio
                };
                DatasetSpec::CustomMm(CustomMmSpec {
                    kind,
                    path: self.path()?,
                    output_len: u64::try_from(custom_len).ok(),
                    multimodal_chat: self.enable_multimodal_chat,
                    ensure_client_side_data: self.custom_ensure_client_side_data,
                })
            }
            DatasetName::SpecBench => DatasetSpec::Turns(TurnsSpec {
                kind: TurnsKind::SpecBench,
                path: self.path()?,
                subset: String::new(),
                category: self.spec_bench_category.clone(),
                output_len: self.output_len.unwrap_or(self.spec_bench_output_len),
            }),
            DatasetName::MultiTurn => {
                self.no_path("multi_turn")?;
                DatasetSpec::MultiTurn(self.multi_turn()?)
            }
            DatasetName::SpeedBench => DatasetSpec::Turns(TurnsSpec {
                kind: TurnsKind::SpeedBench,
                path: self.path()?,
                subset: speed_bench_subset(self.speed_bench_dataset_subset),
                category: self.speed_bench_category.clone(),
                output_len: self.speed_bench_output_len,
            }),
        })
    }

    /// `multi_turn`'s flags; `--input-len` / `--output-len` override the per-turn lengths (the
    /// workload's validation checks the rest).
    fn multi_turn(&self) -> anyhow::Result<MultiTurnSpec> {
        let think = self.multi_turn_think_time;
        let think_time = Duration::try_from_secs_f64(think).ok().with_context(|| {
            format!("--multi-turn-think-time must be a number of seconds, 0 or more, got {think}")
        })?;
        Ok(MultiTurnSpec {
            turns: self.multi_turn_turns,
            input_len: self.input_len.unwrap_or(self.multi_turn_input_len),
            output_len: self.output_len.unwrap_or(self.multi_turn_output_len),
            range_ratio: RangeRatio::parse_flag(
                "--multi-turn-range-ratio",
                &self.multi_turn_range_ratio,
            )?,
            think_time,
            system_prompt_len: self.multi_turn_system_prompt_len,
        })
    }

    /// vLLM's "Multi-modal content is not supported on backend" check.
    fn needs_chat(&self, backend: BackendArg, what: &str) -> anyhow::Result<()> {
        if backend != BackendArg::OpenaiChat {
            bail!(
                "{what} is not supported on backend {:?}: --dataset-name {} needs --backend openai-chat --endpoint /v1/chat/completions",
                BackendArg::to_possible_value(&backend)
                    .map_or_else(String::new, |v| v.get_name().to_string()),
                self.dataset_name.name()
            );
        }
        Ok(())
    }

    fn random_mm(&self) -> anyhow::Result<RandomMmSpec> {
        let limits: std::collections::BTreeMap<String, u64> =
            serde_json::from_str(&self.random_mm_limit_mm_per_prompt).map_err(|_| {
                anyhow::anyhow!(
                    "invalid --random-mm-limit-mm-per-prompt value {:?}: use a JSON object of counts, e.g. '{{\"image\": 3, \"video\": 0}}'",
                    self.random_mm_limit_mm_per_prompt
                )
            })?;
        Ok(RandomMmSpec {
            input_len: self.input_len.unwrap_or(self.random_input_len),
            output_len: self.output_len.unwrap_or(self.random_output_len),
            range_ratio: RangeRatio::parse(&self.random_range_ratio)?,
            prefix_len: self.random_prefix_len,
            base_items_per_request: self.random_mm_base_items_per_request,
            num_mm_items_range_ratio: self.random_mm_num_mm_items_range_ratio,
            limit_mm_per_prompt: limits,
            bucket_config: BucketConfig::parse(&self.random_mm_bucket_config)?,
            multimodal_chat: self.enable_multimodal_chat,
        })
    }

    /// `hf` from local files: `--dataset-path` must exist here (a hub id alone would need a
    /// download); the class comes from `--hf-name`, else from the path spelled as a hub id.
    fn hf(&self, backend: BackendArg) -> anyhow::Result<HfSpec> {
        let Some(path) = self.dataset_path.clone() else {
            match &self.hf_name {
                Some(id) => bail!(
                    "--dataset-name hf reads local files and --hf-name {id} alone needs a Hugging Face hub download, which profilemate does not do: download it (huggingface-cli download --repo-type dataset {id} --local-dir DIR) and pass --dataset-path DIR --hf-name {id}"
                ),
                None => bail!(
                    "--dataset-name hf needs --dataset-path (a local Parquet / JSON / JSONL / CSV file or directory) and --hf-name (the Hugging Face id whose format it holds)"
                ),
            }
        };
        if !path.exists() {
            let id = path.display();
            bail!(
                "--dataset-path {id} is not a local file or directory, and fetching a Hugging Face dataset needs the hub, which profilemate does not use: download it (huggingface-cli download --repo-type dataset {id} --local-dir DIR) and pass --dataset-path DIR --hf-name {id}"
            );
        }
        let spec = HfSpec {
            path,
            hf_name: self.hf_name.clone(),
            subset: self.hf_subset.clone(),
            split: self.hf_split.clone(),
            output_len: self.output_len.or(self.hf_output_len),
            multimodal_chat: self.enable_multimodal_chat,
            blazedit_distance: (self.blazedit_min_distance, self.blazedit_max_distance),
        };
        let id = class_id(&spec);
        let (class, ..) = HfClass::resolve(&id).map_err(|e| {
            if self.hf_name.is_none() {
                anyhow::anyhow!(
                    "--dataset-name hf with a local --dataset-path needs --hf-name naming its format (e.g. --hf-name likaixin/InstructCoder); {e}"
                )
            } else {
                anyhow::anyhow!(e)
            }
        })?;
        if class.is_multimodal() {
            self.needs_chat(backend, "Multi-modal content")?;
        }
        Ok(spec)
    }

    fn trace(&self) -> anyhow::Result<TraceSpec> {
        Ok(TraceSpec {
            path: self.path()?,
            chunk_hash_size: self.timed_trace_chunk_hash_size,
            sec_multiplier: self.timed_trace_sec_multiplier,
            label_timestamp: self.timed_trace_label_timestamp.clone(),
            label_input_length: self.timed_trace_label_input_length.clone(),
            label_output_length: self.timed_trace_label_output_length.clone(),
            label_hash_ids: self.timed_trace_label_hash_ids.clone(),
        })
    }

    fn path(&self) -> anyhow::Result<std::path::PathBuf> {
        self.dataset_path.clone().with_context(|| {
            format!(
                "--dataset-name {} needs --dataset-path",
                self.dataset_name.name()
            )
        })
    }

    /// vLLM refuses `--dataset-path` with the synthetic datasets.
    fn no_path(&self, name: &str) -> anyhow::Result<()> {
        if let Some(p) = &self.dataset_path {
            bail!(
                "Cannot use '{name}' dataset with --dataset-path. Please specify the appropriate --dataset-name (e.g., 'sharegpt', 'custom') for your dataset file: {}",
                p.display()
            );
        }
        Ok(())
    }

    fn output(&self) -> anyhow::Result<OutputConfig> {
        Ok(OutputConfig {
            save_result: self.save_result,
            save_detailed: self.save_detailed,
            append_result: self.append_result,
            result_dir: self.result_dir.clone(),
            result_filename: self.result_filename.clone(),
            label: self.label.clone(),
            metadata: parse_key_values("--metadata", &self.metadata)?,
        })
    }
}

fn speed_bench_subset(s: SpeedBenchSubset) -> String {
    s.to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

fn strategy(s: RampArg) -> RampUpStrategy {
    match s {
        RampArg::Linear => RampUpStrategy::Linear,
        RampArg::Exponential => RampUpStrategy::Exponential,
    }
}

fn seconds(flag: &str, v: Option<f64>) -> anyhow::Result<Option<Duration>> {
    v.map(|s| {
        Duration::try_from_secs_f64(s)
            .ok()
            .filter(|d| !d.is_zero())
            .with_context(|| format!("{flag} must be a positive number of seconds, got {s}"))
    })
    .transpose()
}

/// `--gpu`: a profilemate-model hardware preset or GPU JSON file (dense BF16 peak and memory
/// bandwidth).
pub(super) fn gpu(name: &str) -> anyhow::Result<GpuPeak> {
    let gpu = profilemate_model::hardware::resolve(name)
        .with_context(|| format!("invalid --gpu {name:?}"))?;
    Ok(GpuPeak::of(&gpu))
}

/// vLLM's default `bench-<8 hex>-` prefix (random per run).
fn default_request_id_prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let mixed = (u64::from(nanos) ^ u64::from(std::process::id()) << 32)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!("bench-{:08x}-", (mixed >> 32) as u32)
}
