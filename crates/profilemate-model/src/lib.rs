/*!
The analytic performance model of LLM inference steps.

This crate reproduces, bit for bit, the FLOPs / read-bytes / write-bytes model that vLLM 0.32
uses for its MFU metrics (`vllm/v1/metrics/perf.py`), from a Hugging Face `config.json`, the
model and KV-cache dtypes, quantization and the TP/PP/DP/EP layout.

# Overview

- [`HfConfig`] loads a `config.json` (or model directory) and applies the transformers class
  behaviour vLLM sees; [`ModelSpec`] derives every architecture field from it the way vLLM does.
- A [`Deployment`] says how the model runs (dtype, KV-cache dtype, [`ParallelConfig`]).
- [`PerfModel::vllm_exact`] builds the components vLLM would build (`attn`, `mla_attn`, `ffn`,
  `unembed`) and remembers why it would skip the others.
- An [`ExecutionContext`] describes one step's batch; the model returns totals
  ([`PerfModel::totals`], allocation-free) or `component.term` [`Breakdown`]s.
- [`PerfModel::step_perf_stats`] turns a scheduler decision ([`StepInput`]) into [`PerfStats`],
  and [`logging`] renders vLLM's MFU log lines.
- Beside it, [`corrected::CorrectedModel`] fixes vLLM's known errors (docs/accuracy.md).
  Both are [`roofline::CostModel`]s: a [`roofline::Roofline`] on a [`hardware::Gpu`] turns
  their FLOPs and bytes into step time, MFU, MBU and a compute- or memory-bound verdict.
- [`kv`] sizes the KV cache and what `max_model_len` costs; [`cudagraph`] holds vLLM's
  capture sizes, padding and dispatch.

# Example

```
use profilemate_model::{Deployment, Dtype, ExecutionContext, ModelSpec, PerfModel, presets};

let spec = presets::spec("llama-3.1-8b")?;
let model = PerfModel::vllm_exact(&spec, &Deployment::new(Dtype::Bfloat16))?;
let mut ctx = ExecutionContext::new();
ctx.add(2048, 2048, true); // one fresh prefill of 2048 tokens
let totals = model.totals(&ctx, true);
assert!(totals.flops > 30_000_000_000_000);
# Ok::<(), Box<dyn std::error::Error>>(())
```
*/
#![deny(missing_docs)]

pub mod breakdown;
pub mod cases;
mod class_defaults;
pub mod comm;
pub mod components;
pub mod context;
pub mod corrected;
pub mod counting_ids;
pub mod cudagraph;
pub mod dtype;
pub mod error;
pub mod field;
pub mod hardware;
pub mod hf_cache;
pub mod hf_config;
pub mod kv;
pub mod limits;
pub mod logging;
pub mod model;
pub mod model_name;
pub mod parallel;
mod per_layer;
pub mod presets;
pub mod pynum;
pub mod quant;
pub mod roofline;
pub mod spec;
pub mod step;
pub mod words;

pub use breakdown::Breakdown;
pub use components::{ComponentMetrics, Deployment, Metric};
pub use context::{ContextRequest, ExecutionContext};
pub use dtype::{Dtype, KvCacheDtype};
pub use error::{InvalidComponent, ModelError};
pub use hf_config::HfConfig;
pub use model::{PerfModel, StepTotals};
pub use parallel::ParallelConfig;
pub use spec::{LayerKindAttention, ModelSpec};
pub use step::{DebugPerfStats, PerfStats, StepInput, StepRequest};
