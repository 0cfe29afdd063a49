//! Defines the per-component FLOPs / bytes models and how they are built from a config.
//!
//! Each component mirrors one `ComponentMetrics` class of `vllm/v1/metrics/perf.py` (vLLM 0.32):
//! [`AttentionMetrics`] (`attn`), [`MlaAttentionMetrics`] (`mla_attn`), [`FfnMetrics`] (`ffn`)
//! and [`UnembedMetrics`] (`unembed`). Components push their breakdown terms into a sink, so the
//! same formulas serve totals (summed on the fly, no allocation) and breakdowns.

mod attention;
mod base;
mod ffn;
mod mla;
mod unembed;

pub use attention::AttentionMetrics;
pub use base::Deployment;
pub(crate) use base::per_gpu_heads;
pub use ffn::FfnMetrics;
pub use mla::MlaAttentionMetrics;
pub use unembed::UnembedMetrics;

use crate::context::ExecutionContext;
use crate::error::InvalidComponent;
use crate::spec::ModelSpec;

/// Which quantity a breakdown counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Floating-point operations.
    Flops,
    /// Bytes read from device memory.
    ReadBytes,
    /// Bytes written to device memory.
    WriteBytes,
}

impl Metric {
    /// All three, in vLLM's order.
    pub const ALL: [Metric; 3] = [Metric::Flops, Metric::ReadBytes, Metric::WriteBytes];
}

/// A breakdown sink: receives `(term, value)` pairs in vLLM's key order.
pub trait TermSink {
    /// Receives one term.
    fn term(&mut self, key: &'static str, value: u128);
}

impl<F: FnMut(&'static str, u128)> TermSink for F {
    fn term(&mut self, key: &'static str, value: u128) {
        self(key, value)
    }
}

/// One component of the model.
#[derive(Debug, Clone, PartialEq)]
pub enum ComponentMetrics {
    /// Standard (MHA/GQA/MQA, optionally sliding-window) attention.
    Attention(AttentionMetrics),
    /// DeepSeek-style multi-head latent attention.
    Mla(MlaAttentionMetrics),
    /// Dense FFN and MoE experts.
    Ffn(FfnMetrics),
    /// The LM head.
    Unembed(UnembedMetrics),
}

impl ComponentMetrics {
    /// vLLM's registry key (`attn`, `mla_attn`, `ffn`, `unembed`), the breakdown key prefix.
    pub fn component_type(&self) -> &'static str {
        match self {
            ComponentMetrics::Attention(_) => "attn",
            ComponentMetrics::Mla(_) => "mla_attn",
            ComponentMetrics::Ffn(_) => "ffn",
            ComponentMetrics::Unembed(_) => "unembed",
        }
    }

    /// Pushes this component's terms of `metric` for `ctx` into `sink`.
    pub fn terms(
        &self,
        metric: Metric,
        ctx: &ExecutionContext,
        per_gpu: bool,
        sink: &mut impl TermSink,
    ) {
        match self {
            ComponentMetrics::Attention(c) => c.terms(metric, ctx, per_gpu, sink),
            ComponentMetrics::Mla(c) => c.terms(metric, ctx, per_gpu, sink),
            ComponentMetrics::Ffn(c) => c.terms(metric, ctx, per_gpu, sink),
            ComponentMetrics::Unembed(c) => c.terms(metric, ctx, per_gpu, sink),
        }
    }

    /// Σ of this component's terms of `metric`.
    pub fn total(&self, metric: Metric, ctx: &ExecutionContext, per_gpu: bool) -> u128 {
        let mut sum = 0u128;
        self.terms(metric, ctx, per_gpu, &mut |_: &'static str, v: u128| {
            sum = sum.saturating_add(v)
        });
        sum
    }
}

/// Builds every component vLLM 0.32 would instantiate, in registry order, and the reasons the
/// others were skipped.
pub fn build_components(
    spec: &ModelSpec,
    deployment: &Deployment,
) -> (Vec<ComponentMetrics>, Vec<InvalidComponent>) {
    let attempts = [
        AttentionMetrics::from_spec(spec, deployment).map(ComponentMetrics::Attention),
        MlaAttentionMetrics::from_spec(spec, deployment).map(ComponentMetrics::Mla),
        FfnMetrics::from_spec(spec, deployment).map(ComponentMetrics::Ffn),
        UnembedMetrics::from_spec(spec, deployment).map(ComponentMetrics::Unembed),
    ];
    let mut built = Vec::new();
    let mut skipped = Vec::new();
    for attempt in attempts {
        match attempt {
            Ok(component) => built.push(component),
            Err(reason) => skipped.push(reason),
        }
    }
    (built, skipped)
}
