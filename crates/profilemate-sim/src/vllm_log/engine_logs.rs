//! Provides [`EngineLogs`]: the engine's vLLM log lines — `Iteration(N): …` per step, and each
//! interval the periodic stats line, the KV-transfer line, the CUDA-graph table and the MFU
//! line, in the order vLLM's `LoggingStatLogger.log` writes them (vllm/v1/metrics/loggers.py,
//! vLLM 0.32). When an interval ends is the caller's choice (a wall-clock timer in `sim serve`,
//! [`VirtualLog`](super::VirtualLog) in virtual time).

use std::io::Write;
use std::time::Duration;

use profilemate_metrics::offload::OffloadStats;
use profilemate_model::cudagraph::{
    CaptureSizeSettings, CudaGraphMode, CudaGraphStats, capture_sizes,
};

use super::envelope::{Logger, origin};
use super::mfu::MfuLog;
use crate::config::EngineConfig;
use crate::iteration_log::IterationLine;
use crate::offload::KvTransferLogger;
use crate::records::StepRecord;
use crate::sink::EngineSink;
use crate::stats_log::StatsLogger;

/// The CUDA-graph table's settings and the interval's observations.
#[derive(Debug, Clone)]
pub struct CudaGraphLog {
    /// vLLM's `cudagraph_mode`.
    pub mode: CudaGraphMode,
    /// The capture sizes vLLM resolves.
    pub capture_sizes: Vec<u32>,
    /// What the interval's steps dispatched.
    pub stats: CudaGraphStats,
}

impl CudaGraphLog {
    /// The table's header for `engine`: its mode and the capture sizes vLLM resolves.
    pub fn for_engine(engine: &EngineConfig) -> Self {
        let mode = engine.cudagraph.mode;
        let settings = CaptureSizeSettings {
            num_speculative_tokens: engine.decode_query_len() - 1,
            capture_sizes: engine.cudagraph.capture_sizes.clone(),
            ..CaptureSizeSettings::new(mode, engine.max_num_seqs, engine.max_num_batched_tokens)
        };
        CudaGraphLog {
            mode,
            capture_sizes: capture_sizes(&settings).unwrap_or_default(),
            stats: CudaGraphStats::default(),
        }
    }
}

/// Which lines [`EngineLogs`] writes.
#[derive(Debug, Clone)]
pub struct EngineLogSettings {
    /// `--enable-logging-iteration-details`: one `Iteration(N): …` line per step.
    pub iteration_details: bool,
    /// Device name in `… KV cache usage` (`GPU`, `CPU`).
    pub device: String,
    /// The periodic stats line (needs an engine that steps).
    pub stats: bool,
    /// The `KV Transfer metrics: …` line (with KV offloading on).
    pub kv_transfer: bool,
    /// `--cudagraph-metrics`: the CUDA-graph table.
    pub cudagraph: Option<CudaGraphLog>,
    /// `--enable-mfu-metrics`: the MFU line, from what the step timer counted.
    pub mfu: Option<MfuLog>,
}

/// One engine's interval state: vLLM keeps one `LoggingStatLogger` per engine index, and
/// with `--data-parallel-size N` the API server writes each engine's lines under its own
/// `Engine 00i:` prefix.
#[derive(Debug)]
struct PerEngine {
    engine: u32,
    stats: Option<StatsLogger>,
    kv_transfer: Option<KvTransferLogger>,
    cudagraph: Option<CudaGraphLog>,
    mfu: Option<MfuLog>,
    steps: u64,
}

/// The engines' log state, writing into `W`.
#[derive(Debug)]
pub struct EngineLogs<W> {
    logger: Logger<W>,
    iteration_details: bool,
    device: String,
    /// Engine 0's settings, for [`add_engine`](Self::add_engine).
    settings: EngineLogSettings,
    engines: Vec<PerEngine>,
    last_interval: Duration,
}

impl<W: Write> EngineLogs<W> {
    /// Writes `settings`' lines for one engine (engine 0) through `logger`; the first interval
    /// starts at virtual time 0.
    pub fn new(logger: Logger<W>, settings: EngineLogSettings) -> Self {
        let mut logs = EngineLogs {
            logger,
            iteration_details: settings.iteration_details,
            device: settings.device.clone(),
            settings,
            engines: Vec::new(),
            last_interval: Duration::ZERO,
        };
        let mfu = logs.settings.mfu.clone();
        logs.add_engine(mfu);
        logs
    }

    /// Adds the next engine (index = the number of engines so far), logged with engine 0's
    /// settings but its own interval counts, and its own MFU accumulator `mfu` (with
    /// `--enable-mfu-metrics`).
    pub fn add_engine(&mut self, mfu: Option<MfuLog>) {
        let engine = u32::try_from(self.engines.len()).unwrap_or(u32::MAX);
        let settings = &self.settings;
        self.engines.push(PerEngine {
            engine,
            stats: settings
                .stats
                .then(|| StatsLogger::new(engine, &settings.device, Duration::ZERO)),
            kv_transfer: settings.kv_transfer.then(KvTransferLogger::new),
            cudagraph: settings.cudagraph.as_ref().map(|cg| CudaGraphLog {
                stats: CudaGraphStats::default(),
                ..cg.clone()
            }),
            mfu: mfu.filter(|_| settings.mfu.is_some()),
            steps: 0,
        });
    }

    /// The number of engines logged.
    pub fn engines(&self) -> usize {
        self.engines.len()
    }

    /// One step of engine 0 ([`on_engine_step`](Self::on_engine_step)).
    pub fn on_step(&mut self, step: &StepRecord) {
        self.on_engine_step(0, step);
    }

    /// One step of `engine`: its `Iteration(N)` line (numbered across that engine's life,
    /// stamped at the step's end) and the interval's accumulators. An engine not added is
    /// ignored.
    pub fn on_engine_step(&mut self, engine: usize, step: &StepRecord) {
        let Some(e) = self.engines.get_mut(engine) else {
            return;
        };
        if self.iteration_details {
            let mut line = IterationLine::from_step(step, &self.device);
            line.engine = e.engine;
            line.index = e.steps;
            self.logger
                .info(step.end(), origin::ITERATION, &line.to_string());
        }
        e.steps += 1;
        if let Some(stats) = &mut e.stats {
            stats.on_step(step);
        }
        if let Some(cg) = &mut e.cudagraph {
            cg.stats.observe(step.cudagraph);
        }
    }

    /// One payload of engine 0's KV-offloading connector, for the interval's line.
    pub fn on_kv_connector_stats(&mut self, stats: &OffloadStats) {
        self.on_engine_kv_connector_stats(0, stats);
    }

    /// One payload of `engine`'s KV-offloading connector, for the interval's line.
    pub fn on_engine_kv_connector_stats(&mut self, engine: usize, stats: &OffloadStats) {
        if let Some(kv) = self
            .engines
            .get_mut(engine)
            .and_then(|e| e.kv_transfer.as_mut())
        {
            kv.on_kv_connector_stats(stats, Duration::ZERO);
        }
    }

    /// Ends the interval at virtual time `now`: writes its lines and flushes. Mirrors
    /// `LoggingStatLogger.log`, engine after engine as vLLM's `StatLoggerManager` calls them:
    /// the stats line (not when idle: vLLM's DEBUG level), then the KV-connector line, the
    /// CUDA-graph table and the MFU line.
    pub fn log_interval(&mut self, now: Duration) {
        let elapsed = now.saturating_sub(self.last_interval);
        self.last_interval = now;
        for e in &mut self.engines {
            e.log_stats(&mut self.logger, now);
            e.log_cudagraph(&mut self.logger, now);
            e.log_mfu(&mut self.logger, now, elapsed);
        }
        self.flush();
    }

    /// Flushes the writer.
    pub fn flush(&mut self) {
        self.logger.flush();
    }

    /// The logger, for other lines (startup) and its write error.
    pub fn logger(&mut self) -> &mut Logger<W> {
        &mut self.logger
    }
}

impl PerEngine {
    fn log_stats<W: Write>(&mut self, logger: &mut Logger<W>, now: Duration) {
        let Some(stats) = &mut self.stats else {
            return;
        };
        let line = stats.log(now);
        if !line.idle {
            logger.info(now, origin::STATS, &line.to_string());
        }
        let kv_line = self.kv_transfer.as_mut().and_then(KvTransferLogger::log);
        if let Some(kv_line) = kv_line {
            logger.info(now, origin::KV_TRANSFER, &kv_line);
        }
    }

    fn log_cudagraph<W: Write>(&mut self, logger: &mut Logger<W>, now: Duration) {
        let Some(cg) = &mut self.cudagraph else {
            return;
        };
        if cg.stats.is_empty() {
            return;
        }
        let table = cg.stats.render(cg.mode, &cg.capture_sizes);
        cg.stats = CudaGraphStats::new();
        logger.info(now, origin::CUDAGRAPH, &table);
    }

    fn log_mfu<W: Write>(&mut self, logger: &mut Logger<W>, now: Duration, elapsed: Duration) {
        let line = self
            .mfu
            .as_ref()
            .and_then(|mfu| mfu.log_line(self.engine, elapsed));
        if let Some(line) = line {
            logger.info(now, origin::MFU, &line);
        }
    }
}
