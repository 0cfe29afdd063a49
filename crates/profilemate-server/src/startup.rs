//! Provides [`start`]: builds the metrics, the logs and the engine driver from a
//! [`ServerConfig`], starts the engine thread, and returns the [`AppState`] for the router.

use std::sync::Arc;
use std::sync::mpsc::{Sender, channel};
use std::thread::JoinHandle;
use std::time::Instant;

use profilemate_metrics::Registry;
use profilemate_metrics::mfu::MfuExporter;
use profilemate_metrics::offload::{OffloadExporter, OffloadSpec};
use profilemate_metrics::registry::EngineLabels;
use profilemate_sim::EngineConfig;
use profilemate_sim::vllm_log::{self, CudaGraphLog, EngineLogSettings, LogClock, Logger};

use crate::config::{LogConfig, ServerConfig, TokenTiming};
use crate::engine::logging::{EngineLogs, later};
use crate::engine::status::EngineStatus;
use crate::engine::{self, Command, EngineHandle, FixedDriver, Hub, SimDriver};
use crate::error::ServeError;
use crate::metrics::ServerMetrics;
use crate::state::{Admission, AppState, ServerInfo};
use crate::timer::{EngineStepTimer, MfuTap};

/// The running engine thread; [`stop`](Self::stop) ends it (open requests are aborted).
#[derive(Debug)]
pub struct EngineThread {
    tx: Sender<Command>,
    join: Option<JoinHandle<()>>,
}

impl EngineThread {
    /// Stops the engine and waits for its thread (blocking; call it from `spawn_blocking` in
    /// async code).
    pub fn stop(mut self) {
        let _ = self.tx.send(Command::Shutdown);
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

impl Drop for EngineThread {
    fn drop(&mut self) {
        let _ = self.tx.send(Command::Shutdown);
    }
}

/// Validates `config`, starts the engine thread and returns the handlers' state.
pub fn start(config: ServerConfig) -> Result<(AppState, EngineThread), ServeError> {
    config.validate()?;
    let registry = Registry::new();
    let engine_mode = matches!(config.timing, TokenTiming::Engine(_));
    let engines = if engine_mode {
        config.data_parallel_size
    } else {
        1
    };
    let (metrics, mfu) = register_metrics(&config, engines, &registry)?;
    let status = Arc::new(EngineStatus::default());
    let logs = engine_logs(
        &config.logging,
        &config.engine,
        engine_mode,
        engines,
        mfu.as_deref(),
    );
    let offload = register_offload(&config, engines, &registry)?;
    let hub = Hub::new(metrics, status.clone(), logs).with_offload(offload);
    let info = server_info(&config);
    let (tx, rx) = channel();
    let spawn = EngineSpawn {
        timing: config.timing,
        engine: config.engine,
        engines,
        scale: config.time_scale,
        mfu,
    };
    let join = spawn.spawn(hub, rx)?;
    let state = AppState {
        info: Arc::new(info),
        engine: EngineHandle::new(tx.clone(), status),
        registry,
        admission: Arc::new(Admission::new(&config.limits)),
    };
    let join = Some(join);
    Ok((state, EngineThread { tx, join }))
}

/// vLLM's metrics for `engines` engines, spec-decode ones when the engine drafts, and the MFU
/// counters (always registered, as vLLM does; counted only with `--enable-mfu-metrics`, then
/// one tap per engine).
fn register_metrics(
    config: &ServerConfig,
    engines: usize,
    registry: &Registry,
) -> Result<(Vec<ServerMetrics>, Option<Vec<MfuTap>>), ServeError> {
    let model = config.served_model_name.as_str();
    let num_spec = match &config.timing {
        TokenTiming::Engine(_) => config
            .engine
            .spec_decode
            .as_ref()
            .map(|s| s.num_speculative_tokens),
        TokenTiming::Fixed(_) => None,
    };
    let max_model_len = config.engine.max_model_len;
    let metrics =
        ServerMetrics::register_engines(registry, model, engines, max_model_len, num_spec)?;
    let exporter = MfuExporter::new(registry, &EngineLabels::new(model, 0..engines))?;
    let mfu = config.logging.mfu_metrics.then(|| {
        let first = MfuTap::new(exporter);
        let others = (1..engines)
            .map(|e| first.for_engine(e))
            .collect::<Vec<_>>();
        std::iter::once(first).chain(others).collect()
    });
    Ok((metrics, mfu))
}

/// The KV-offload metrics of vLLM's CPU offloading spec, when the engine offloads.
fn register_offload(
    config: &ServerConfig,
    engines: usize,
    registry: &Registry,
) -> Result<Option<OffloadExporter>, ServeError> {
    if !matches!(config.timing, TokenTiming::Engine(_)) || config.engine.kv_offload.is_none() {
        return Ok(None);
    }
    let engines = EngineLabels::new(config.served_model_name.as_str(), 0..engines);
    Ok(Some(OffloadExporter::new(
        registry,
        engines,
        OffloadSpec::Cpu,
    )?))
}

fn server_info(config: &ServerConfig) -> ServerInfo {
    let fixed = match config.timing {
        TokenTiming::Fixed(f) => Some(f),
        TokenTiming::Engine(_) => None,
    };
    let (model, api_key) = (config.served_model_name.clone(), config.api_key.clone());
    let mut info = ServerInfo::new(
        model,
        config.engine.max_model_len,
        api_key,
        fixed,
        config.limits,
    );
    info.profiler = config.profiler.is_some();
    info
}

/// What the engine thread is started with.
struct EngineSpawn {
    timing: TokenTiming,
    engine: EngineConfig,
    /// Data-parallel engines (1 in fixed-timing mode).
    engines: usize,
    scale: f64,
    /// One MFU tap per engine, with `--enable-mfu-metrics`.
    mfu: Option<Vec<MfuTap>>,
}

impl EngineSpawn {
    fn spawn(
        self,
        hub: Hub,
        rx: std::sync::mpsc::Receiver<Command>,
    ) -> Result<JoinHandle<()>, ServeError> {
        let builder = std::thread::Builder::new().name("profilemate-engine".to_owned());
        let spawned = match self.timing {
            TokenTiming::Engine(timer) => {
                let timers = engine_timers(&timer, self.engines, self.mfu);
                let driver = SimDriver::new(self.engine, timers, self.scale)
                    .map_err(|e| ServeError::Config(crate::ServerConfigError::Engine(e)))?;
                builder.spawn(move || engine::run(driver, hub, rx))
            }
            TokenTiming::Fixed(timing) => {
                let driver = FixedDriver::new(timing, Instant::now());
                builder.spawn(move || engine::run(driver, hub, rx))
            }
        };
        spawned.map_err(ServeError::EngineThread)
    }
}

/// One step timer per engine, each a clone of `timer` counting into its engine's MFU tap.
fn engine_timers(
    timer: &EngineStepTimer,
    engines: usize,
    mfu: Option<Vec<MfuTap>>,
) -> Vec<EngineStepTimer> {
    let mut taps = mfu.map(Vec::into_iter);
    (0..engines.max(1))
        .map(|_| {
            let mut timer = timer.clone();
            let tap = taps.as_mut().and_then(Iterator::next);
            if let (EngineStepTimer::Roofline(t), Some(tap)) = (&mut timer, tap) {
                t.set_mfu(tap);
            }
            timer
        })
        .collect()
}

/// The log state, when a target is set, with the lines of `engines` engines (each with its own
/// MFU tap's line when there are taps).
fn engine_logs(
    logging: &LogConfig,
    engine: &EngineConfig,
    engine_mode: bool,
    engines: usize,
    mfu: Option<&[MfuTap]>,
) -> Option<EngineLogs> {
    let target = logging.target.clone()?;
    let cudagraph = engine_mode && logging.cudagraph_metrics;
    let settings = EngineLogSettings {
        iteration_details: logging.iteration_details,
        device: logging.device.clone(),
        stats: engine_mode,
        kv_transfer: engine_mode && engine.kv_offload.is_some(),
        cudagraph: cudagraph.then(|| CudaGraphLog::for_engine(engine)),
        mfu: mfu.and_then(<[MfuTap]>::first).map(MfuTap::log),
    };
    let logger = Logger::new(target, LogClock::Wall, std::process::id());
    let mut lines = vllm_log::EngineLogs::new(logger, settings);
    for e in 1..engines {
        lines.add_engine(mfu.and_then(|taps| taps.get(e)).map(MfuTap::log));
    }
    Some(EngineLogs {
        lines,
        interval: logging.stats_interval,
        next_due: later(Instant::now(), logging.stats_interval),
    })
}
