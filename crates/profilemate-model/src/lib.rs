/*!
The analytic performance model of LLM inference steps.

This crate reproduces, bit for bit, the FLOPs / read-bytes / write-bytes model that vLLM 0.32
uses for its MFU metrics (`vllm/v1/metrics/perf.py`), from a Hugging Face `config.json`, the
model and KV-cache dtypes, quantization and the TP/PP/DP/EP layout.
*/
#![deny(missing_docs)]

pub mod breakdown;
pub mod context;
pub mod step;

pub use breakdown::Breakdown;
pub use context::{ExecutionContext, RequestRecord};
pub use step::{DebugPerfStats, PerfStats, ScheduledRequest, StepInput};
