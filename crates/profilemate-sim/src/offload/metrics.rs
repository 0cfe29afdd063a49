//! Provides the offloading connector's metric names and the helpers that fill its stats
//! payload.
//!
//! Mirrors `_TransferMetricName` / `_ConnectorMetricName`
//! (vllm/distributed/kv_transfer/kv_connector/v1/offloading/metrics.py) and
//! `CPUOffloadingMetrics` (vllm/v1/kv_offload/cpu/common.py), vLLM 0.32.

use profilemate_metrics::offload::{Number, OffloadStats};

/// Bytes loaded CPU→GPU (counter).
pub const LOAD_BYTES: &str = "vllm:kv_offload_load_bytes";
/// Seconds spent loading (counter).
pub const LOAD_TIME: &str = "vllm:kv_offload_load_time";
/// Bytes per load job (histogram).
pub const LOAD_SIZE: &str = "vllm:kv_offload_load_size";
/// Bytes stored GPU→CPU (counter).
pub const STORE_BYTES: &str = "vllm:kv_offload_store_bytes";
/// Seconds spent storing (counter).
pub const STORE_TIME: &str = "vllm:kv_offload_store_time";
/// Bytes per store job (histogram).
pub const STORE_SIZE: &str = "vllm:kv_offload_store_size";
/// Seconds one lookup call took (histogram; 0 in virtual time).
pub const LOOKUP_SYNC_DELAY: &str = "vllm:kv_offload_lookup_sync_delay_seconds";
/// Seconds from a deferred lookup to its resolution or the request's finish (histogram).
pub const LOOKUP_ASYNC_DELAY: &str = "vllm:kv_offload_lookup_async_delay_seconds";
/// Store allocations that failed (counter).
pub const ALLOCATION_FAILURE: &str = "vllm:kv_offload_allocation_failure";
/// CPU chunks not idle, as a fraction (gauge).
pub const CPU_CACHE_USAGE_PERC: &str = "vllm:kv_offload_cpu_cache_usage_perc";
/// CPU chunks being written, as a fraction (gauge).
pub const CPU_CACHE_WRITE_USAGE_PERC: &str = "vllm:kv_offload_cpu_cache_write_usage_perc";
/// CPU chunks pinned by loads, as a fraction (gauge).
pub const CPU_CACHE_READ_USAGE_PERC: &str = "vllm:kv_offload_cpu_cache_read_usage_perc";
/// Chunks allocated per store (histogram).
pub const CPU_ALLOCATION_SIZE: &str = "vllm:kv_offload_cpu_allocation_size";

// Each name is used with one type only, so the payload never reports a type conflict.

/// `increase_counter(name, value)` on an unlabelled counter.
pub(crate) fn increase(stats: &mut OffloadStats, name: &str, value: impl Into<Number>) {
    let _ = stats.increase_counter(name, value, &[]);
}

/// `set_gauge(name, value)` on an unlabelled gauge.
pub(crate) fn set_gauge(stats: &mut OffloadStats, name: &str, value: f64) {
    let _ = stats.set_gauge(name, value, &[]);
}

/// `observe_histogram(name, value)` on an unlabelled histogram.
pub(crate) fn observe(stats: &mut OffloadStats, name: &str, value: impl Into<Number>) {
    let _ = stats.observe_histogram(name, value, &[]);
}
