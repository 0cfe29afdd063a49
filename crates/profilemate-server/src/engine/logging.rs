//! Provides [`EngineLogs`]: the engine's vLLM log lines — `Iteration(N): …` per step, and each
//! interval the periodic stats line, the CUDA-graph table and the MFU line, in the order
//! vLLM's `LoggingStatLogger.log` writes them (vllm/v1/metrics/loggers.py, vLLM 0.32).

use std::time::{Duration, Instant};

use profilemate_model::cudagraph::{CudaGraphMode, CudaGraphStats};
use profilemate_sim::{
    EngineSink, IterationLine, KvTransferLogger, OffloadStats, StatsLogger, StepRecord,
};

use crate::logs::{Logger, origin};
use crate::timer::MfuTap;

/// The CUDA-graph table's settings and the interval's observations.
#[derive(Debug)]
pub(crate) struct CudaGraphLog {
    pub(crate) mode: CudaGraphMode,
    pub(crate) capture_sizes: Vec<u32>,
    pub(crate) stats: CudaGraphStats,
}

/// The engine's log state.
#[derive(Debug)]
pub(crate) struct EngineLogs {
    pub(crate) logger: Logger,
    pub(crate) iteration_details: bool,
    pub(crate) device: String,
    pub(crate) stats: Option<StatsLogger>,
    /// The `KV Transfer metrics: …` line, with KV offloading on.
    pub(crate) kv_transfer: Option<KvTransferLogger>,
    pub(crate) cudagraph: Option<CudaGraphLog>,
    pub(crate) mfu: Option<MfuTap>,
    pub(crate) interval: Duration,
    pub(crate) next_due: Instant,
    pub(crate) last_virtual: Duration,
    pub(crate) steps: u64,
}

impl EngineLogs {
    /// One step: its `Iteration(N)` line (numbered across the server's life) and the
    /// interval's accumulators.
    pub(crate) fn on_step(&mut self, step: &StepRecord) {
        if self.iteration_details {
            let mut line = IterationLine::from_step(step, &self.device);
            line.index = self.steps;
            self.logger.info(origin::ITERATION, &line.to_string());
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
    pub(crate) fn on_kv_connector_stats(&mut self, stats: &OffloadStats) {
        if let Some(kv) = &mut self.kv_transfer {
            kv.on_kv_connector_stats(stats, Duration::ZERO);
        }
    }

    pub(crate) fn next_due(&self) -> Instant {
        self.next_due
    }

    /// Writes the interval's lines when due.
    pub(crate) fn maybe_log(&mut self, now: Instant, virtual_now: Duration) {
        if now < self.next_due {
            return;
        }
        self.next_due = later(now, self.interval);
        self.log_stats(virtual_now);
        self.log_cudagraph();
        self.log_mfu(virtual_now);
        self.flush();
    }

    /// The periodic stats line; idle intervals are vLLM's DEBUG level, so not written.
    fn log_stats(&mut self, virtual_now: Duration) {
        let Some(stats) = &mut self.stats else {
            return;
        };
        let line = stats.log(virtual_now);
        if !line.idle {
            self.logger.info(origin::STATS, &line.to_string());
        }
        let kv_line = self.kv_transfer.as_mut().and_then(KvTransferLogger::log);
        if let Some(kv_line) = kv_line {
            self.logger.info(origin::KV_TRANSFER, &kv_line);
        }
    }

    fn log_cudagraph(&mut self) {
        let Some(cg) = &mut self.cudagraph else {
            return;
        };
        if cg.stats.is_empty() {
            return;
        }
        let table = cg.stats.render(cg.mode, &cg.capture_sizes);
        cg.stats = CudaGraphStats::new();
        self.logger.info(origin::CUDAGRAPH, &table);
    }

    fn log_mfu(&mut self, virtual_now: Duration) {
        let elapsed = virtual_now.saturating_sub(self.last_virtual);
        self.last_virtual = virtual_now;
        let line = self.mfu.as_ref().and_then(|tap| tap.log_line(elapsed));
        if let Some(line) = line {
            self.logger.info(origin::MFU, &line);
        }
    }

    pub(crate) fn flush(&self) {
        self.logger.flush();
    }
}

/// `now + d`, or a day from now if that overflows the clock.
pub(crate) fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(now)
}
