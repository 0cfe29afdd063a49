//! Provides [`EngineLog`], `sim run --log-file`: the simulated engine's vLLM 0.32 server log,
//! stamped in virtual time, for `profilemate analyze log`.
//!
//! Lines are dated 2026-01-01 00:00:00 UTC plus virtual time and written as pids 1 (API server)
//! and 2 (engine core), so the same flags and `--seed` give the same file byte for byte.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::Context;
use profilemate_sim::vllm_log::{
    CudaGraphLog, EngineLogSettings, EngineLogs, LogClock, Logger, MfuLog, StartupInfo,
    VIRTUAL_START_UNIX_SECS, VirtualLog,
};

use super::args::LogArgs;
use super::engine_args::Engine;

/// The open log of a `sim run` and the MFU counter its step timer feeds.
#[derive(Debug)]
pub(crate) struct EngineLog {
    /// Where it is written.
    pub(crate) path: PathBuf,
    /// The sink that writes it as the engine runs.
    pub(crate) sink: VirtualLog<BufWriter<File>>,
}

impl EngineLog {
    /// Checks the logging flags and creates `--log-file` (before anything runs); `None` without
    /// one. Logging flags without `--log-file` are an error: they would have nowhere to write.
    pub(crate) fn open(
        args: &LogArgs,
        path: Option<&Path>,
        engine: &Engine,
    ) -> anyhow::Result<(Option<EngineLog>, Option<MfuLog>)> {
        let interval = args.interval()?;
        let Some(path) = path else {
            if let Some(flag) = args.first_flag_given() {
                anyhow::bail!("{flag} writes to the engine's log: add --log-file PATH");
            }
            return Ok((None, None));
        };
        let file = File::create(path)
            .with_context(|| format!("cannot create --log-file {}", path.display()))?;
        let mfu = args.enable_mfu_metrics.then(MfuLog::new);
        let clock = LogClock::Virtual {
            start_unix_secs: VIRTUAL_START_UNIX_SECS,
        };
        let mut logger = Logger::new(BufWriter::new(file), clock, 1);
        startup(engine, &args.flags_given()).write(&mut logger);
        let logs = EngineLogs::new(logger, settings(args, engine, mfu.clone()));
        let log = EngineLog {
            path: path.to_owned(),
            sink: VirtualLog::new(logs, interval),
        };
        Ok((Some(log), mfu))
    }

    /// Writes the last interval and flushes.
    pub(crate) fn finish(self) -> anyhow::Result<PathBuf> {
        let path = self.path;
        self.sink
            .finish()
            .with_context(|| format!("cannot write --log-file {}", path.display()))?;
        Ok(path)
    }
}

fn settings(args: &LogArgs, engine: &Engine, mfu: Option<MfuLog>) -> EngineLogSettings {
    EngineLogSettings {
        iteration_details: args.enable_logging_iteration_details,
        device: "GPU".to_owned(),
        stats: true,
        kv_transfer: engine.config.kv_offload.is_some(),
        cudagraph: args
            .cudagraph_metrics
            .then(|| CudaGraphLog::for_engine(&engine.config)),
        mfu,
    }
}

fn startup<'a>(engine: &'a Engine, flags: &'a [&'a str]) -> StartupInfo<'a> {
    StartupInfo {
        model: &engine.setup.label,
        quantization: engine.setup.spec.quantization.as_deref(),
        deployment: &engine.setup.deployment,
        engine: &engine.config,
        num_gpu_blocks_override: engine.kv.is_none(),
        device: "cuda",
        flags,
    }
}
