//! Defines [`SimServeArgs`], the `sim serve` flags (vLLM's `vllm serve` spellings), and
//! resolves them into a [`ServerConfig`]: the engine flags shared with `sim run`
//! ([`EngineArgs`]: model, GPU, vLLM's per-GPU batch defaults, KV cache in blocks, roofline
//! step timer) plus what only a server has (address, API key, time scale, fixed timing,
//! speculative decoding, KV offloading, log lines).

use std::io::BufWriter;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use profilemate_server::{
    EngineStepTimer, LogConfig, LogTarget, MfuMetricsStepTimer, ServerConfig, TokenTiming,
};
use profilemate_sim::FixedTokenTiming;

use super::engine_args::{Engine, EngineArgs};

/// The engine's vLLM log lines, as `vllm serve` spells their flags (`sim serve` and `sim run`).
#[derive(Debug, Clone, Args)]
pub(crate) struct LogArgs {
    /// Log one `Iteration(N): …` line per engine step.
    #[arg(long)]
    pub(crate) enable_logging_iteration_details: bool,
    /// Count the `vllm:estimated_*` MFU counters and log the MFU line.
    #[arg(long)]
    pub(crate) enable_mfu_metrics: bool,
    /// Log the CUDA-graph table each interval.
    #[arg(long)]
    pub(crate) cudagraph_metrics: bool,
    /// Seconds between periodic stats lines (vLLM's VLLM_LOG_STATS_INTERVAL).
    #[arg(long, default_value_t = 10.0)]
    pub(crate) log_stats_interval: f64,
}

impl LogArgs {
    /// `--log-stats-interval` as a duration (> 0).
    pub(crate) fn interval(&self) -> anyhow::Result<Duration> {
        Duration::try_from_secs_f64(self.log_stats_interval)
            .ok()
            .filter(|d| !d.is_zero())
            .with_context(|| {
                format!(
                    "--log-stats-interval must be > 0 s, got {}",
                    self.log_stats_interval
                )
            })
    }

    /// The boolean flags given, spelled as vLLM's `non-default args` line spells them.
    pub(crate) fn flags_given(&self) -> Vec<&'static str> {
        [
            (self.enable_mfu_metrics, "enable_mfu_metrics"),
            (
                self.enable_logging_iteration_details,
                "enable_logging_iteration_details",
            ),
            (self.cudagraph_metrics, "cudagraph_metrics"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }

    /// The first boolean flag given, as typed (`--enable-mfu-metrics`).
    pub(crate) fn first_flag_given(&self) -> Option<String> {
        let name = *self.flags_given().first()?;
        Some(format!("--{}", name.replace('_', "-")))
    }
}

/// `profilemate sim serve` flags.
#[derive(Debug, Args)]
pub(crate) struct SimServeArgs {
    /// The model, as `vllm serve MODEL` takes it (the same as --model).
    #[arg(value_name = "MODEL", conflicts_with_all = ["model", "config"])]
    pub(crate) model_tag: Option<String>,
    #[command(flatten)]
    pub(crate) engine: EngineArgs,
    /// Model name clients must use (default: the --model preset or --config path).
    #[arg(long)]
    pub(crate) served_model_name: Option<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: String,
    /// Port to listen on.
    #[arg(long, default_value_t = 8000)]
    pub(crate) port: u16,
    /// Require `Authorization: Bearer KEY` on /v1 routes.
    #[arg(long, env = "VLLM_API_KEY")]
    pub(crate) api_key: Option<String>,
    /// Virtual time = wall time × this; 0 streams as fast as possible.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) time_scale: f64,
    /// Fixed timing: first token exactly this long after arrival (needs --fixed-itl-ms).
    #[arg(long, requires = "fixed_itl_ms")]
    pub(crate) fixed_ttft_ms: Option<f64>,
    /// Fixed timing: then one token every this many ms (needs --fixed-ttft-ms).
    #[arg(long, requires = "fixed_ttft_ms")]
    pub(crate) fixed_itl_ms: Option<f64>,
    #[command(flatten)]
    pub(crate) log: LogArgs,
    /// Don't write vLLM-format log lines to stderr.
    #[arg(long)]
    pub(crate) disable_log_stats: bool,
    /// vLLM's profiler config as JSON, e.g. '{"profiler": "torch"}': naming a profiler serves
    /// POST /start_profile and /stop_profile (200, as vLLM; nothing is traced), else they 404.
    #[arg(long)]
    pub(crate) profiler_config: Option<String>,
    /// Seconds a connection may take to send a request's head (request line and headers),
    /// counted from when it is ready for one (new, or kept alive after a response); it is
    /// then closed.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub(crate) timeout_request_head_s: f64,
    /// Seconds a kept-alive connection may sit idle after a response before it is closed
    /// (uvicorn's flag; vLLM's default, VLLM_HTTP_TIMEOUT_KEEP_ALIVE, is 5).
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub(crate) timeout_keep_alive: f64,
    /// MiB of request bodies the server reads or parses at once; a body that does not fit
    /// now (its Content-Length, or 16 MiB without one) gets 503 before it is read.
    #[arg(long, value_name = "MIB", default_value_t = 128)]
    pub(crate) body_budget_mib: u32,
    /// Seconds to wait for the next piece of a request's body before failing the request.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub(crate) timeout_request_body_s: f64,
}

/// A server serving `engine` as `name`, timed by the engine's roofline step timer, with the
/// server's defaults otherwise (`sim serve`'s flag defaults, and the embedded engine of
/// `bench serve`).
pub(crate) fn server_config(name: String, engine: Engine) -> ServerConfig {
    let mut config = ServerConfig::new(name);
    config.engine = engine.config;
    let timer = MfuMetricsStepTimer::new(engine.timer);
    let timer = match &engine.calibration {
        Some(c) => timer.with_calibration(c.model),
        None => timer,
    };
    config.timing = TokenTiming::Engine(EngineStepTimer::Roofline(Box::new(timer)));
    config
}

/// A positive, finite number of seconds given to `flag`.
fn timeout(flag: &str, seconds: f64) -> anyhow::Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| anyhow::anyhow!("{flag} {seconds}: give a positive number of seconds"))
}

impl SimServeArgs {
    /// `--profiler-config`'s `profiler` (`None` when absent or null).
    fn profiler(&self) -> anyhow::Result<Option<String>> {
        let Some(text) = &self.profiler_config else {
            return Ok(None);
        };
        let bad = || {
            anyhow::anyhow!(
                "--profiler-config {text}: expected a JSON object such as '{{\"profiler\": \"torch\"}}'"
            )
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|_| bad())?;
        match value.as_object().ok_or_else(bad)?.get("profiler") {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(p)) => Ok(Some(p.clone())),
            Some(_) => Err(bad()),
        }
    }

    /// The server configuration these flags describe.
    pub(crate) fn to_config(&self) -> anyhow::Result<ServerConfig> {
        let mut engine_args = self.engine.clone();
        if let Some(model) = &self.model_tag {
            engine_args.deployment.model = Some(model.clone());
        }
        let flags = engine_args.flags(0);
        let engine = engine_args.resolve_with(&flags)?;
        let name = self
            .served_model_name
            .clone()
            .unwrap_or(engine.setup.label.clone());
        let mut config = server_config(name, engine);
        if let Some(timing) = self.fixed_timing()? {
            config.timing = timing;
        }
        config.time_scale = self.time_scale;
        config.data_parallel_size =
            usize::try_from(engine_args.deployment.dp).unwrap_or(usize::MAX);
        config.api_key = self.api_key.clone();
        config.logging = self.logging()?;
        config.profiler = self.profiler()?;
        config.limits.head_timeout =
            timeout("--timeout-request-head-s", self.timeout_request_head_s)?;
        config.limits.body_timeout =
            timeout("--timeout-request-body-s", self.timeout_request_body_s)?;
        config.limits.keep_alive_timeout =
            timeout("--timeout-keep-alive", self.timeout_keep_alive)?;
        config.limits.body_budget_bytes = (self.body_budget_mib as usize) << 20;
        config.validate()?;
        Ok(config)
    }

    /// Fixed timing when asked.
    fn fixed_timing(&self) -> anyhow::Result<Option<TokenTiming>> {
        let (Some(ttft), Some(itl)) = (self.fixed_ttft_ms, self.fixed_itl_ms) else {
            return Ok(None);
        };
        let ms = |v: f64, flag: &str| {
            Duration::try_from_secs_f64(v / 1e3)
                .with_context(|| format!("{flag} must be a non-negative number of ms, got {v}"))
        };
        let ttft = ms(ttft, "--fixed-ttft-ms")?;
        let itl = ms(itl, "--fixed-itl-ms")?;
        Ok(Some(TokenTiming::Fixed(FixedTokenTiming { ttft, itl })))
    }

    fn logging(&self) -> anyhow::Result<LogConfig> {
        let target =
            (!self.disable_log_stats).then(|| LogTarget::new(BufWriter::new(std::io::stderr())));
        Ok(LogConfig {
            target,
            stats_interval: self.log.interval()?,
            iteration_details: self.log.enable_logging_iteration_details,
            mfu_metrics: self.log.enable_mfu_metrics,
            cudagraph_metrics: self.log.cudagraph_metrics,
            ..LogConfig::default()
        })
    }
}
