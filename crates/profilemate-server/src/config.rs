//! Defines [`ServerConfig`]: the engine, its timing, the time scale, the API key, the logs and
//! the limits that keep memory bounded, plus [`ServerConfigError`] for settings the server refuses.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use profilemate_sim::{AffineStepTimer, EngineConfig, FixedTokenTiming};

use crate::timer::EngineStepTimer;

/// Smallest non-zero `--time-scale` (a step of 1 ms takes 1 s).
pub const MIN_TIME_SCALE: f64 = 1e-3;
/// Largest `--time-scale`.
pub const MAX_TIME_SCALE: f64 = 1e6;
/// Default request-body budget: 128 MiB, eight bodies of the largest size at once.
pub const DEFAULT_BODY_BUDGET: usize = 128 << 20;
/// Longest fixed TTFT or ITL, and longest log interval.
const MAX_FIXED: Duration = Duration::from_secs(3600);

/// Everything `profilemate sim serve` needs to run.
#[derive(Debug)]
pub struct ServerConfig {
    /// `--served-model-name`: the only model name requests may ask for.
    pub served_model_name: String,
    /// The engine flags (`--max-num-seqs`, `--max-model-len`, KV blocks, …).
    pub engine: EngineConfig,
    /// How output-token times are decided.
    pub timing: TokenTiming,
    /// `--time-scale`: virtual (model) time = wall time × scale; 0 runs the engine as fast as
    /// it can (tokens stream as fast as clients read them). Ignored in fixed-timing mode.
    pub time_scale: f64,
    /// `--api-key`: when set, `/v1/*` needs `Authorization: Bearer KEY` (vLLM's
    /// `AuthenticationMiddleware`).
    pub api_key: Option<String>,
    /// The vLLM-format logs.
    pub logging: LogConfig,
    /// Limits on bodies and live requests.
    pub limits: Limits,
    /// `--profiler-config`'s profiler (`torch`, `cuda`), when one is named: the server then
    /// answers `/start_profile` and `/stop_profile` as vLLM does.
    pub profiler: Option<String>,
    /// `--data-parallel-size`: identical engines behind vLLM's data-parallel load balancer,
    /// each with `engine`'s settings and its own step timer; metrics carry each engine's
    /// `engine` label and the logs each engine's `Engine 00i:` prefix, as vLLM's do. Fixed
    /// timing has no engines and ignores it.
    pub data_parallel_size: usize,
}

/// Most data-parallel engines one simulated server runs.
pub const MAX_DATA_PARALLEL_SIZE: usize = 512;

impl ServerConfig {
    /// A server for `model` with vLLM's engine defaults, an affine step timer (5 ms + 20 µs
    /// per token), real time, no logs.
    pub fn new(model: impl Into<String>) -> Self {
        ServerConfig {
            served_model_name: model.into(),
            engine: EngineConfig::default(),
            timing: TokenTiming::Engine(EngineStepTimer::Affine(AffineStepTimer {
                fixed: Duration::from_millis(5),
                per_token: Duration::from_micros(20),
                per_context_token: Duration::ZERO,
            })),
            time_scale: 1.0,
            api_key: None,
            logging: LogConfig::default(),
            limits: Limits::default(),
            profiler: None,
            data_parallel_size: 1,
        }
    }

    /// Checks the settings the engine cannot check itself.
    pub fn validate(&self) -> Result<(), ServerConfigError> {
        let scale = self.time_scale;
        if !(scale == 0.0 || (MIN_TIME_SCALE..=MAX_TIME_SCALE).contains(&scale)) {
            return Err(ServerConfigError::TimeScale(scale));
        }
        if let TokenTiming::Fixed(f) = &self.timing
            && (f.ttft > MAX_FIXED || f.itl > MAX_FIXED)
        {
            return Err(ServerConfigError::FixedTooLong(f.ttft.max(f.itl)));
        }
        if self.logging.stats_interval.is_zero() || self.logging.stats_interval > MAX_FIXED {
            return Err(ServerConfigError::StatsInterval(
                self.logging.stats_interval,
            ));
        }
        if self.served_model_name.is_empty() {
            return Err(ServerConfigError::EmptyModelName);
        }
        if !(1..=MAX_DATA_PARALLEL_SIZE).contains(&self.data_parallel_size) {
            return Err(ServerConfigError::DataParallelSize(self.data_parallel_size));
        }
        if self.limits.max_live_requests == 0 {
            return Err(ServerConfigError::ZeroLiveRequests);
        }
        if self.limits.body_budget_bytes < self.limits.max_body_bytes {
            return Err(ServerConfigError::BodyBudget {
                budget: self.limits.body_budget_bytes,
                max_body: self.limits.max_body_bytes,
            });
        }
        self.engine.validate().map_err(ServerConfigError::Engine)
    }
}

/// Where token times come from.
#[derive(Debug)]
pub enum TokenTiming {
    /// The simulated engine decides: continuous batching, step times from a timer.
    Engine(EngineStepTimer),
    /// `--fixed-ttft-ms`/`--fixed-itl-ms`: first token exactly `ttft` after arrival, then one
    /// every `itl`, whatever the load; the scheduler is bypassed.
    Fixed(FixedTokenTiming),
}

/// The vLLM-format log lines the server writes, and where.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Where lines go; `None` writes nothing.
    pub target: Option<LogTarget>,
    /// Log interval of the periodic stats, CUDA-graph and MFU lines (vLLM's
    /// `VLLM_LOG_STATS_INTERVAL`, 10 s).
    pub stats_interval: Duration,
    /// `--enable-logging-iteration-details`: one `Iteration(N): …` line per step.
    pub iteration_details: bool,
    /// `--enable-mfu-metrics`: count the `estimated_*` counters and log the MFU line.
    pub mfu_metrics: bool,
    /// `--cudagraph-metrics`: log the CUDA-graph table each interval.
    pub cudagraph_metrics: bool,
    /// Device name in `GPU KV cache usage` (`GPU`, `CPU`).
    pub device: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            target: None,
            stats_interval: Duration::from_secs(10),
            iteration_details: false,
            mfu_metrics: false,
            cudagraph_metrics: false,
            device: "GPU".to_owned(),
        }
    }
}

/// Limits that bound memory whatever the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body in bytes; bigger ones get 413.
    pub max_body_bytes: usize,
    /// Most requests admitted at once (streaming or not); more get 503.
    pub max_live_requests: usize,
    /// Most bytes of request bodies being read or parsed at once (`--body-budget-mib`):
    /// a body reserves its `Content-Length` (or `max_body_bytes` without one) before it is
    /// read; one the budget cannot take now gets 503 at once. At least `max_body_bytes`.
    pub body_budget_bytes: usize,
    /// On shutdown, how long open requests may run before the engine ends them.
    pub shutdown_grace: Duration,
    /// Longest wait for a request's head (request line and headers), from when the
    /// connection is ready for one: a new connection, or a kept-alive one after a response
    /// (hyper's `header_read_timeout`); the connection is then closed.
    pub head_timeout: Duration,
    /// How long a kept-alive connection may sit idle after a response before it is closed
    /// (`--timeout-keep-alive`, uvicorn's name; vLLM 0.32 sets uvicorn's from
    /// `VLLM_HTTP_TIMEOUT_KEEP_ALIVE`, 5 s). The shorter of this and `head_timeout` wins.
    pub keep_alive_timeout: Duration,
    /// Longest wait for the next piece of a request's body; the request then fails.
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 << 20,
            max_live_requests: 16_384,
            body_budget_bytes: DEFAULT_BODY_BUDGET,
            shutdown_grace: Duration::from_secs(5),
            head_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(60),
        }
    }
}

/// A shared line writer for the logs (stderr, a file, or memory in tests).
#[derive(Clone)]
pub struct LogTarget(Arc<Mutex<Box<dyn Write + Send>>>);

impl LogTarget {
    /// Logs into `writer` (wrap files and stderr in a `BufWriter`; the server flushes after
    /// each interval and on shutdown).
    pub fn new(writer: impl Write + Send + 'static) -> Self {
        LogTarget(Arc::new(Mutex::new(Box::new(writer))))
    }
}

/// Writes through to the shared writer. The engine's logger drops lines after a write error
/// (logging never stops the server).
impl Write for LogTarget {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut w = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        w.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let mut w = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        w.write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let mut w = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        w.flush()
    }
}

impl fmt::Debug for LogTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogTarget")
    }
}

/// A log target that keeps lines in memory, for tests and embedding.
#[derive(Debug, Clone, Default)]
pub struct MemoryLog(Arc<Mutex<Vec<u8>>>);

impl MemoryLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// A [`LogTarget`] writing here.
    pub fn target(&self) -> LogTarget {
        LogTarget::new(self.clone())
    }

    /// Everything written so far.
    pub fn contents(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for MemoryLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Settings the server refuses to start with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerConfigError {
    /// `--time-scale` outside 0 or [0.001, 1e6].
    #[error("--time-scale must be 0 (as fast as possible) or between 0.001 and 1000000, got {0}")]
    TimeScale(f64),
    /// A fixed TTFT or ITL over an hour.
    #[error("--fixed-ttft-ms and --fixed-itl-ms must be at most one hour, got {0:?}")]
    FixedTooLong(Duration),
    /// A log interval of zero or over an hour.
    #[error("the stats log interval must be more than 0 and at most one hour, got {0:?}")]
    StatsInterval(Duration),
    /// `--served-model-name` empty.
    #[error("--served-model-name must not be empty")]
    EmptyModelName,
    /// A data-parallel size of 0 or over [`MAX_DATA_PARALLEL_SIZE`].
    #[error("--data-parallel-size must be between 1 and {MAX_DATA_PARALLEL_SIZE}, got {0}")]
    DataParallelSize(usize),
    /// No request could ever be admitted.
    #[error("the live-request limit must be at least 1")]
    ZeroLiveRequests,
    /// A body budget that could not take one body of the largest size.
    #[error(
        "--body-budget-mib ({budget} bytes) must be at least the largest body allowed \
         ({max_body} bytes)"
    )]
    BodyBudget {
        /// The budget.
        budget: usize,
        /// The largest body.
        max_body: usize,
    },
    /// Engine flags vLLM would refuse.
    #[error(transparent)]
    Engine(profilemate_sim::EngineConfigError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_scale_must_be_zero_or_in_range() {
        for (scale, ok) in [
            (0.0, true),
            (1.0, true),
            (1e6, true),
            (1e-9, false),
            (-1.0, false),
            (f64::NAN, false),
            (1e300, false),
        ] {
            let mut config = ServerConfig::new("m");
            config.time_scale = scale;
            assert_eq!(config.validate().is_ok(), ok, "{scale}");
        }
    }

    #[test]
    fn absurd_fixed_timings_and_intervals_are_refused() {
        let mut config = ServerConfig::new("m");
        let hours = Duration::from_secs(1 << 40);
        config.timing = TokenTiming::Fixed(FixedTokenTiming {
            ttft: hours,
            itl: Duration::ZERO,
        });
        assert_eq!(
            config.validate(),
            Err(ServerConfigError::FixedTooLong(hours))
        );
        let mut config = ServerConfig::new("m");
        config.logging.stats_interval = Duration::ZERO;
        assert!(matches!(
            config.validate(),
            Err(ServerConfigError::StatsInterval(_))
        ));
    }
}
