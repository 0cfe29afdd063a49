//! Provides optional KV offloading to CPU memory: vLLM 0.32's `OffloadingConnector` with the
//! CPU spec, in virtual time.
//!
//! - [`config`]: [`KvOffloadConfig`] and the chunk geometry.
//! - [`cpu_pool`]: the CPU chunk pool with LRU eviction (`CPUOffloadingManager`).
//! - [`connector`], [`lookup`], [`store`]: the scheduler-side connector
//!   (`OffloadingConnectorScheduler`): lookups at admission, load jobs, per-step store jobs,
//!   completions and the stats payload.
//! - [`transfer`]: the worker side, the host link timing each job.
//! - [`metrics`]: the payload's metric names; [`log_line`]: the `KV Transfer metrics:` line.
//!
//! See `docs/kv-offload.md` for what is modelled and what is not.

pub(crate) mod config;
pub(crate) mod connector;
pub(crate) mod cpu_pool;
pub(crate) mod log_line;
pub(crate) mod lookup;
pub mod metrics;
pub(crate) mod store;
pub(crate) mod transfer;

pub use config::{DEFAULT_HOST_LINK_BANDWIDTH, DEFAULT_TRANSFER_LATENCY, KvOffloadConfig};
pub use log_line::{KvTransferLogger, kv_transfer_metrics_line};
