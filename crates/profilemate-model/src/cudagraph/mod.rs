//! Provides vLLM's CUDA-graph rules: the modes, the default capture sizes, the per-step dispatch
//! (padding and runtime mode) and the `--cudagraph-metrics` stats table.
//!
//! This module is the single source of truth for capture sizes and padding; the simulator and
//! the roofline both ask it how a batch is padded. Mirrors vLLM 0.32:
//! `CUDAGraphMode` (vllm/config/compilation.py), `_set_cudagraph_sizes` (vllm/config/vllm.py),
//! `CudagraphDispatcher` (vllm/v1/cudagraph_dispatcher.py) and `CUDAGraphLogging`
//! (vllm/compilation/cuda_graph.py).

mod dispatch;
mod mode;
mod sizes;
mod stats;

pub use dispatch::{CudaGraphDispatcher, Dispatch};
pub use mode::{CudaGraphMode, RuntimeMode};
pub use sizes::{CaptureSizeSettings, capture_sizes};
pub use stats::{CudaGraphStat, CudaGraphStats, log_record};
