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

/// The engine's log state, writing into `W`.
#[derive(Debug)]
pub struct EngineLogs<W> {
    logger: Logger<W>,
    iteration_details: bool,
    device: String,
    stats: Option<StatsLogger>,
    kv_transfer: Option<KvTransferLogger>,
    cudagraph: Option<CudaGraphLog>,
    mfu: Option<MfuLog>,
    last_interval: Duration,
    steps: u64,
}

impl<W: Write> EngineLogs<W> {
    /// Writes `settings`' lines through `logger`; the first interval starts at virtual time 0.
    pub fn new(logger: Logger<W>, settings: EngineLogSettings) -> Self {
        let stats = settings
            .stats
            .then(|| StatsLogger::new(0, &settings.device, Duration::ZERO));
        EngineLogs {
            logger,
            iteration_details: settings.iteration_details,
            device: settings.device,
            stats,
            kv_transfer: settings.kv_transfer.then(KvTransferLogger::new),
            cudagraph: settings.cudagraph,
            mfu: settings.mfu,
            last_interval: Duration::ZERO,
            steps: 0,
        }
    }

    /// One step: its `Iteration(N)` line (numbered across the engine's life, stamped at the
    /// step's end) and the interval's accumulators.
    pub fn on_step(&mut self, step: &StepRecord) {
        if self.iteration_details {
            let mut line = IterationLine::from_step(step, &self.device);
            line.index = self.steps;
            self.logger
                .info(step.end(), origin::ITERATION, &line.to_string());
        }
        self.steps += 1;
        if let Some(stats) = &mut self.stats {
            stats.on_step(step);
        }
        if let Some(cg) = &mut self.cudagraph {
            cg.stats.observe(step.cudagraph);
        }
    }

    /// One payload of the KV-offloading connector, for the interval's line.
    pub fn on_kv_connector_stats(&mut self, stats: &OffloadStats) {
        if let Some(kv) = &mut self.kv_transfer {
            kv.on_kv_connector_stats(stats, Duration::ZERO);
        }
    }

    /// Ends the interval at virtual time `now`: writes its lines and flushes. Mirrors
    /// `LoggingStatLogger.log`: the stats line (not when idle: vLLM's DEBUG level), then the
    /// KV-connector line, the CUDA-graph table and the MFU line.
    pub fn log_interval(&mut self, now: Duration) {
        self.log_stats(now);
        self.log_cudagraph(now);
        self.log_mfu(now);
        self.flush();
    }

    fn log_stats(&mut self, now: Duration) {
        let Some(stats) = &mut self.stats else {
            return;
        };
        let line = stats.log(now);
        if !line.idle {
            self.logger.info(now, origin::STATS, &line.to_string());
        }
        let kv_line = self.kv_transfer.as_mut().and_then(KvTransferLogger::log);
        if let Some(kv_line) = kv_line {
            self.logger.info(now, origin::KV_TRANSFER, &kv_line);
        }
    }

    fn log_cudagraph(&mut self, now: Duration) {
        let Some(cg) = &mut self.cudagraph else {
            return;
        };
        if cg.stats.is_empty() {
            return;
        }
        let table = cg.stats.render(cg.mode, &cg.capture_sizes);
        cg.stats = CudaGraphStats::new();
        self.logger.info(now, origin::CUDAGRAPH, &table);
    }

    fn log_mfu(&mut self, now: Duration) {
        let elapsed = now.saturating_sub(self.last_interval);
        self.last_interval = now;
        let line = self.mfu.as_ref().and_then(|mfu| mfu.log_line(elapsed));
        if let Some(line) = line {
            self.logger.info(now, origin::MFU, &line);
        }
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
