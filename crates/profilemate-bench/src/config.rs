//! Defines [`BenchConfig`], the validated, resolved settings of one `bench serve` run (its
//! [`EndpointConfig`] and [`WorkloadConfig`]), and the
//! parsers for vLLM's string-valued flags. The CLI fills it; the library never sees clap.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::error::BenchConfigError;
use crate::metrics::Goodput;
use crate::schedule::{Arrivals, RampUp};
use crate::server_metrics::GpuPeak;
use crate::workload::DatasetSpec;

/// `--backend`: which request function and payload shape (vLLM's `ASYNC_REQUEST_FUNCS` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `vllm`: `/v1/completions`.
    Vllm,
    /// `openai`: `/v1/completions`.
    Openai,
    /// `openai-chat`: `/v1/chat/completions`.
    OpenaiChat,
    /// `openai-embeddings`: `/v1/embeddings` (pooling).
    OpenaiEmbeddings,
}

impl Backend {
    /// The name as vLLM spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Vllm => "vllm",
            Self::Openai => "openai",
            Self::OpenaiChat => "openai-chat",
            Self::OpenaiEmbeddings => "openai-embeddings",
        }
    }

    /// Pooling backends switch the run to pooling metrics.
    pub fn is_pooling(self) -> bool {
        self == Self::OpenaiEmbeddings
    }

    /// Completions endpoints accept prompts as token-id lists.
    pub fn takes_token_ids(self) -> bool {
        matches!(self, Self::Vllm | Self::Openai)
    }

    /// The suffix the endpoint URL must end with (vLLM's `_validate_api_url`).
    pub fn url_suffix(self) -> &'static str {
        match self {
            Self::Vllm | Self::Openai => "completions",
            Self::OpenaiChat => "chat/completions",
            Self::OpenaiEmbeddings => "embeddings",
        }
    }
}

/// One `--percentile-metrics` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PercentileMetric {
    /// `ttft`.
    Ttft,
    /// `tpot`.
    Tpot,
    /// `itl`.
    Itl,
    /// `e2el`.
    E2el,
    /// `client_queue_time` (only reported with `--max-concurrency`).
    ClientQueueTime,
    /// `e2el_including_client_queue` (with `--max-concurrency` and a finite rate).
    E2elIncludingClientQueue,
}

impl PercentileMetric {
    /// All metrics in vLLM's print order.
    pub const ALL: [Self; 6] = [
        Self::Ttft,
        Self::Tpot,
        Self::Itl,
        Self::E2el,
        Self::ClientQueueTime,
        Self::E2elIncludingClientQueue,
    ];

    /// The key fragment (`mean_<key>_ms`).
    pub fn key(self) -> &'static str {
        match self {
            Self::Ttft => "ttft",
            Self::Tpot => "tpot",
            Self::Itl => "itl",
            Self::E2el => "e2el",
            Self::ClientQueueTime => "client_queue_time",
            Self::E2elIncludingClientQueue => "e2el_including_client_queue",
        }
    }

    /// Parses a comma-separated list; unknown names are an error (vLLM ignores them silently).
    pub fn parse_list(s: &str) -> Result<Vec<Self>, BenchConfigError> {
        s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(|name| {
            Self::ALL.into_iter().find(|m| m.key() == name).ok_or_else(|| BenchConfigError::Invalid {
                flag: "--percentile-metrics",
                value: name.to_string(),
                reason: "use a comma-separated list of ttft, tpot, itl, e2el, client_queue_time, e2el_including_client_queue".into(),
            })
        }).collect()
    }
}

/// Parses `--metric-percentiles` ("50,90,99.9"); each must lie in [0, 100].
pub fn parse_percentiles(s: &str) -> Result<Vec<f64>, BenchConfigError> {
    s.split(',')
        .map(|p| {
            let bad = |reason: &str| BenchConfigError::Invalid {
                flag: "--metric-percentiles",
                value: p.to_string(),
                reason: reason.into(),
            };
            let v: f64 = p
                .trim()
                .parse()
                .map_err(|_| bad("not a number; use e.g. 50,90,99"))?;
            if (0.0..=100.0).contains(&v) {
                Ok(v)
            } else {
                Err(bad("percentiles must lie in [0, 100]"))
            }
        })
        .collect()
}

/// Parses `KEY=VALUE` entries (`--header`, `--metadata`); keys and values are trimmed.
pub fn parse_key_values(
    flag: &'static str,
    items: &[String],
) -> Result<Vec<(String, String)>, BenchConfigError> {
    items
        .iter()
        .map(|item| {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| BenchConfigError::KeyValue {
                    flag,
                    value: item.clone(),
                })?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// Parses a JSON object flag (`--extra-body`).
pub fn parse_json_object(
    flag: &'static str,
    s: &str,
) -> Result<Map<String, Value>, BenchConfigError> {
    match serde_json::from_str::<Value>(s) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(BenchConfigError::Invalid {
            flag,
            value: s.to_string(),
            reason: "expected a JSON object, e.g. '{\"key\": 1}'".into(),
        }),
    }
}

/// Where results go and how they are labelled (`--save-result` and friends).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutputConfig {
    /// `--save-result`.
    pub save_result: bool,
    /// `--save-detailed`: keep the per-request arrays.
    pub save_detailed: bool,
    /// `--append-result`: append as JSON lines.
    pub append_result: bool,
    /// `--result-dir`.
    pub result_dir: Option<PathBuf>,
    /// `--result-filename`.
    pub result_filename: Option<String>,
    /// `--label`.
    pub label: Option<String>,
    /// `--metadata KEY=VALUE`, in order.
    pub metadata: Vec<(String, String)>,
}

/// Everything one `bench serve` run needs, resolved and validated: where and how the requests
/// are sent ([`EndpointConfig`]) and what is sent when, and how it is measured
/// ([`WorkloadConfig`]). `sim run` has no endpoint and takes only the workload.
#[derive(Debug, Clone, Default)]
pub struct BenchConfig {
    /// The server and the requests' bodies.
    pub endpoint: EndpointConfig,
    /// The dataset, arrivals, concurrency, metrics and result files.
    pub workload: WorkloadConfig,
}

/// The endpoint settings: the server, the model, the request bodies, the client's warmup,
/// readiness, timeouts, probes and interrupt handling. None of them has a meaning in virtual
/// time.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Server root, e.g. `http://127.0.0.1:8000` (from `--base-url`, or `--host`/`--port`).
    pub base_url: String,
    /// `--endpoint`, appended to `base_url`.
    pub endpoint: String,
    /// `--model`; `None` means "the first model of `/v1/models`".
    pub model: Option<String>,
    /// `--served-model-name`: the `model` field sent, when set.
    pub served_model_name: Option<String>,
    /// `--tokenizer` (recorded as `tokenizer_id`; the built-in tokenizer is used).
    pub tokenizer_id: Option<String>,
    /// `--skip-tokenizer-init`: no client tokenizer (token blocks are not printed, as in vLLM).
    pub skip_tokenizer_init: bool,
    /// `--header KEY=VALUE` (override defaults), plus `OPENAI_API_KEY` as bearer.
    pub headers: Vec<(String, String)>,
    /// `OPENAI_API_KEY`.
    pub api_key: Option<String>,
    /// Sampling flags and `--extra-body`, merged (`{**sampling, **extra_body}`).
    pub extra_body: Map<String, Value>,
    /// `--ignore-eos` (forced on for `random` and `timed_trace`, as in vLLM).
    pub ignore_eos: bool,
    /// `--logprobs`.
    pub logprobs: Option<i64>,
    /// `--request-id-prefix`, sent as `x-request-id: <prefix><index>`.
    pub request_id_prefix: String,
    /// `--num-warmups`.
    pub num_warmups: usize,
    /// `--ready-check-timeout-sec` (zero skips the check).
    pub ready_check_timeout: Duration,
    /// `--request-timeout` (beyond vLLM): fail a request that takes longer.
    pub request_timeout: Option<Duration>,
    /// `--gpu` peak (beyond vLLM) for MFU / MBU.
    pub gpu: Option<GpuPeak>,
    /// `--interrupt-grace-sec` (beyond vLLM): after the first Ctrl-C, how long requests in
    /// flight may still finish before they are cut and counted as interrupted.
    pub interrupt_grace: Duration,
    /// `--cold-connections` (beyond vLLM): open no connection before the timed run, so each
    /// slot's first request connects inside its TTFT, as vLLM's client does.
    pub cold_connections: bool,
    /// `--lora-modules`: model names sent instead of the model, one per request.
    pub lora_modules: Vec<String>,
    /// `--lora-assignment`: how a request's LoRA module is picked.
    pub lora_assignment: LoraAssignment,
    /// `--profile`: POST `/start_profile` before the timed run and `/stop_profile` after.
    pub profile: bool,
    /// `--probe-request-rate`: one-token probe requests per second beside the load (0 = off).
    pub probe_request_rate: f64,
    /// `--control-timeout-sec` (beyond vLLM): how long each untimed request to the server
    /// (`/v1/models`, the `/metrics` scrapes, `/start_profile`, `/stop_profile`) may take before
    /// it is given up. vLLM waits on them without end; a `/metrics` that hangs then stalls the
    /// run before its first request or loses its results after the last.
    pub control_timeout: Duration,
}

/// The workload settings, shared by `bench serve` and `sim run`: the requests (dataset, the API
/// they are shaped for), when they are sent, how many at once, and how the run is measured and
/// saved.
#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    /// `--backend`: the API the requests are shaped for (token ids or text, chat messages,
    /// pooling batches: vLLM's `get_samples()` reads it too) and reported as `backend`. A
    /// workload setting for that reason; the endpoint must serve it ([`BenchConfig::validate`]).
    /// `sim run` picks it from the dataset.
    pub backend: Backend,
    /// The dataset and its parameters.
    pub dataset: DatasetSpec,
    /// `--num-prompts`.
    pub num_prompts: usize,
    /// `--seed`.
    pub seed: u64,
    /// `--no-oversample`.
    pub no_oversample: bool,
    /// `--disable-shuffle`.
    pub disable_shuffle: bool,
    /// Arrival process.
    pub arrivals: Arrivals,
    /// `--max-concurrency`.
    pub max_concurrency: Option<usize>,
    /// `--percentile-metrics` (`None`: the default for the task).
    pub percentile_metrics: Option<Vec<PercentileMetric>>,
    /// `--metric-percentiles`.
    pub percentiles: Vec<f64>,
    /// `--goodput`.
    pub goodput: Goodput,
    /// Result files.
    pub output: OutputConfig,
    /// `--duration` (beyond vLLM): stop sending after this long.
    pub duration: Option<Duration>,
    /// The vocabulary size (token ids `0..n`) synthetic prompts (`random`, `multi_turn`, …) are
    /// drawn from, as vLLM's client draws them from its tokenizer's vocabulary: the model's
    /// `vocab_size` where the tool knows the model (`sim run`, `sim sweep`); `None` keeps the
    /// built-in word tokenizer's 2048. It decides how often two random prompts coincide, hence
    /// the prefix-cache hit rate of a long run.
    pub prompt_vocab: Option<u32>,
}

/// `--lora-assignment` (vLLM 0.32, `benchmark()` in vllm/benchmarks/serve.py).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoraAssignment {
    /// `random.choice` of the modules for each request.
    #[default]
    Random,
    /// Request i gets module i mod len.
    RoundRobin,
}

/// The default [`EndpointConfig::interrupt_grace`]: 5 s.
pub const DEFAULT_INTERRUPT_GRACE: Duration = Duration::from_secs(5);

/// The default [`EndpointConfig::control_timeout`]: 5 s (a `/metrics` scrape of a busy vLLM
/// answers in milliseconds).
pub const DEFAULT_CONTROL_TIMEOUT: Duration = Duration::from_secs(5);

impl Default for EndpointConfig {
    /// `vllm bench serve`'s defaults (vLLM 0.32): `http://127.0.0.1:8000/v1/completions`; the
    /// request-id prefix is fixed (`bench-`).
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8000".into(),
            endpoint: "/v1/completions".into(),
            model: None,
            served_model_name: None,
            tokenizer_id: None,
            skip_tokenizer_init: false,
            headers: Vec::new(),
            api_key: None,
            extra_body: Map::new(),
            ignore_eos: true,
            logprobs: None,
            request_id_prefix: "bench-".into(),
            num_warmups: 0,
            ready_check_timeout: Duration::ZERO,
            request_timeout: None,
            gpu: None,
            interrupt_grace: DEFAULT_INTERRUPT_GRACE,
            cold_connections: false,
            lora_modules: Vec::new(),
            lora_assignment: LoraAssignment::Random,
            profile: false,
            probe_request_rate: 0.0,
            control_timeout: DEFAULT_CONTROL_TIMEOUT,
        }
    }
}

impl Default for WorkloadConfig {
    /// `vllm bench serve`'s defaults (vLLM 0.32): the `openai` backend, 1000 random prompts of
    /// 1024 tokens with 128 output tokens, all sent at once, p99.
    fn default() -> Self {
        Self {
            backend: Backend::Openai,
            dataset: DatasetSpec::Random {
                input_len: 1024,
                output_len: 128,
                range_ratio: crate::workload::RangeRatio::default(),
                prefix_len: 0,
                batch_size: 1,
            },
            num_prompts: 1000,
            seed: 0,
            no_oversample: false,
            disable_shuffle: false,
            arrivals: Arrivals::Rate {
                request_rate: f64::INFINITY,
                burstiness: 1.0,
                ramp_up: None,
            },
            max_concurrency: None,
            percentile_metrics: None,
            percentiles: vec![99.0],
            goodput: Goodput::default(),
            output: OutputConfig::default(),
            duration: None,
            prompt_vocab: None,
        }
    }
}

impl BenchConfig {
    /// The full request URL.
    pub fn api_url(&self) -> String {
        format!("{}{}", self.endpoint.base_url, self.endpoint.endpoint)
    }

    /// Cross-flag checks vLLM makes in `main_async()` and the request functions: the endpoint
    /// serves the workload's backend, over http, and the workload's own checks.
    pub fn validate(&self) -> Result<(), BenchConfigError> {
        let backend = self.workload.backend;
        if !self.api_url().ends_with(backend.url_suffix()) {
            return Err(BenchConfigError::Conflict(format!(
                "--backend {} needs an endpoint ending in {:?}, got {:?}; pass --endpoint",
                backend.name(),
                backend.url_suffix(),
                self.endpoint.endpoint
            )));
        }
        if self.endpoint.base_url.starts_with("https://") {
            return Err(BenchConfigError::Conflict(format!(
                "{}: TLS is not compiled into profilemate; benchmark over http:// (e.g. behind a local proxy)",
                self.endpoint.base_url
            )));
        }
        self.workload.validate()
    }
}

impl WorkloadConfig {
    /// The selected percentile metrics, defaulting as vLLM does by task type.
    pub fn selected_metrics(&self) -> Vec<PercentileMetric> {
        self.percentile_metrics.clone().unwrap_or_else(|| {
            if self.backend.is_pooling() {
                vec![PercentileMetric::E2el]
            } else {
                vec![
                    PercentileMetric::Ttft,
                    PercentileMetric::Tpot,
                    PercentileMetric::Itl,
                ]
            }
        })
    }

    /// The workload's own checks (vLLM's `main_async()`): a positive `--max-concurrency`, and
    /// at least one prompt unless `--duration` bounds the run; `multi_turn`'s parameters and a
    /// generation backend for it.
    pub fn validate(&self) -> Result<(), BenchConfigError> {
        if self.max_concurrency == Some(0) {
            return Err(BenchConfigError::Conflict(
                "--max-concurrency must be greater than 0".into(),
            ));
        }
        if let DatasetSpec::MultiTurn(spec) = &self.dataset {
            spec.validate()?;
            if self.backend.is_pooling() {
                return Err(BenchConfigError::Conflict(format!(
                    "--dataset-name multi_turn sends chat turns and needs a generation backend, not {}; use --backend openai or openai-chat",
                    self.backend.name()
                )));
            }
        }
        if self.num_prompts == 0 && self.duration.is_none() {
            return Err(BenchConfigError::Conflict(
                "--num-prompts must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// `--ramp-up-strategy` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RampUpStrategy {
    /// `linear`.
    Linear,
    /// `exponential`.
    Exponential,
}

/// Builds the arrival process from vLLM's load flags, with vLLM's validation.
///
/// Mirrors the ramp-up checks of `main_async()` in vllm/benchmarks/serve.py, vLLM 0.32.
pub fn arrivals_from_flags(
    request_rate: f64,
    burstiness: f64,
    ramp: Option<(RampUpStrategy, Option<u32>, Option<u32>)>,
    self_timed: bool,
) -> Result<Arrivals, BenchConfigError> {
    if self_timed {
        return Ok(Arrivals::SelfTimed);
    }
    positive("--burstiness", burstiness, "must be positive")?;
    positive(
        "--request-rate",
        request_rate,
        "must be positive (inf sends everything at once)",
    )?;
    let ramp_up = ramp
        .map(|(strategy, start, end)| ramp_up(strategy, start, end, request_rate))
        .transpose()?;
    Ok(Arrivals::Rate {
        request_rate,
        burstiness,
        ramp_up,
    })
}

fn positive(flag: &'static str, v: f64, reason: &str) -> Result<(), BenchConfigError> {
    if v.is_nan() || v <= 0.0 {
        return Err(BenchConfigError::Invalid {
            flag,
            value: v.to_string(),
            reason: reason.into(),
        });
    }
    Ok(())
}

fn ramp_up(
    strategy: RampUpStrategy,
    start: Option<u32>,
    end: Option<u32>,
    request_rate: f64,
) -> Result<RampUp, BenchConfigError> {
    let conflict = |m: &str| Err(BenchConfigError::Conflict(m.into()));
    if request_rate.is_finite() {
        return conflict(
            "When using ramp-up, do not specify --request-rate. The request rate will be controlled by ramp-up parameters. Please remove the --request-rate argument.",
        );
    }
    let (Some(start), Some(end)) = (start, end) else {
        return conflict(
            "When using --ramp-up-strategy, both --ramp-up-start-rps and --ramp-up-end-rps must be specified",
        );
    };
    match strategy {
        _ if start > end => conflict("Ramp-up start RPS must be less than end RPS"),
        RampUpStrategy::Linear => Ok(RampUp::Linear { start, end }),
        RampUpStrategy::Exponential if start == 0 => {
            conflict("For exponential ramp-up, the start RPS cannot be 0.")
        }
        RampUpStrategy::Exponential => Ok(RampUp::Exponential { start, end }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_flags_parse_and_reject_with_the_flag_named() {
        assert_eq!(
            parse_percentiles("50,90,99.9").unwrap(),
            vec![50.0, 90.0, 99.9]
        );
        assert!(
            parse_percentiles("101")
                .unwrap_err()
                .to_string()
                .contains("--metric-percentiles")
        );
        assert_eq!(
            PercentileMetric::parse_list("ttft,e2el").unwrap(),
            vec![PercentileMetric::Ttft, PercentileMetric::E2el]
        );
        assert!(PercentileMetric::parse_list("ttft,bogus").is_err());
        let kv = parse_key_values("--header", &["A = b=c".to_string()]).unwrap();
        assert_eq!(kv, vec![("A".to_string(), "b=c".to_string())]);
        assert!(parse_key_values("--metadata", &["nokey".to_string()]).is_err());
    }

    #[test]
    fn ramp_up_rules_follow_vllm() {
        let lin = Some((RampUpStrategy::Linear, Some(1), Some(5)));
        assert!(arrivals_from_flags(f64::INFINITY, 1.0, lin, false).is_ok());
        assert!(arrivals_from_flags(3.0, 1.0, lin, false).is_err());
        assert!(
            arrivals_from_flags(
                f64::INFINITY,
                1.0,
                Some((RampUpStrategy::Linear, Some(5), Some(1))),
                false
            )
            .is_err()
        );
        assert!(
            arrivals_from_flags(
                f64::INFINITY,
                1.0,
                Some((RampUpStrategy::Exponential, Some(0), Some(4))),
                false
            )
            .is_err()
        );
        assert!(
            arrivals_from_flags(
                f64::INFINITY,
                1.0,
                Some((RampUpStrategy::Linear, None, Some(4))),
                false
            )
            .is_err()
        );
        assert_eq!(
            arrivals_from_flags(2.0, 1.0, None, true).unwrap(),
            Arrivals::SelfTimed
        );
    }
}
