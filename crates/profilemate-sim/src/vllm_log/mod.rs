//! Provides the vLLM 0.32 server log as the engine writes it, for any clock and any writer:
//! the line envelope ([`Logger`]), the engine's lines ([`EngineLogs`]: `Iteration(N)` per step,
//! then each interval the stats, KV-transfer, CUDA-graph and MFU lines), the startup lines that
//! state the deployment ([`StartupInfo`]), and [`VirtualLog`], which ticks the interval in
//! virtual time.
//!
//! `sim serve` stamps lines with the wall clock and ticks the interval on a timer;
//! `sim run` stamps them with virtual time ([`LogClock::Virtual`]) through a [`VirtualLog`].

mod engine_logs;
mod envelope;
mod mfu;
mod startup;
mod virtual_log;

pub use engine_logs::{CudaGraphLog, EngineLogSettings, EngineLogs};
pub use envelope::{LogClock, Logger, Process, VIRTUAL_START_UNIX_SECS, origin};
pub use mfu::{MfuLog, MfuLogStepTimer};
pub use startup::StartupInfo;
pub use virtual_log::VirtualLog;
