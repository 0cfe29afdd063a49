//! Provides [`UnembedMetrics`]: the LM head, one logits row per prefill request and per decode
//! token.
//!
//! Mirrors `UnembedMetrics` in `vllm/v1/metrics/perf.py` (vLLM 0.32): vocabulary split over TP,
//! no pipeline scaling, always the model dtype (never quantized).

use crate::components::base::{Deployment, require_base_attrs};
use crate::components::{Metric, TermSink};
use crate::context::ExecutionContext;
use crate::error::InvalidComponent;
use crate::field::positive;
use crate::pynum::int;
use crate::spec::ModelSpec;

const COMPONENT: &str = "unembed";

/// Validated fields of the `unembed` component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnembedMetrics {
    /// Hidden size (D).
    pub hidden_size: u64,
    /// Vocabulary size (V).
    pub vocab_size: u64,
    /// Bytes per weight (the model dtype).
    pub weight_byte_size: u64,
    /// Bytes per activation element.
    pub activation_byte_size: u64,
    /// Tensor-parallel size.
    pub tp_size: u64,
}

impl UnembedMetrics {
    /// Runs vLLM's unembedding parser chain (base config only) and validation.
    pub fn from_spec(spec: &ModelSpec, deployment: &Deployment) -> Result<Self, InvalidComponent> {
        require_base_attrs(COMPONENT, spec)?;
        Ok(Self {
            hidden_size: positive(COMPONENT, "hidden_size", &spec.hidden_size)?,
            vocab_size: positive(COMPONENT, "vocab_size", &spec.vocab_size)?,
            weight_byte_size: deployment.dtype.size(),
            activation_byte_size: deployment.activation_byte_size(),
            tp_size: deployment.parallel.tp,
        })
    }

    /// Pushes the terms of `metric` into `sink`.
    pub fn terms(
        &self,
        metric: Metric,
        ctx: &ExecutionContext,
        per_gpu: bool,
        sink: &mut impl TermSink,
    ) {
        let t = ctx.num_logits_tokens();
        let (d, a) = (self.hidden_size, self.activation_byte_size);
        let v = if per_gpu {
            self.vocab_size / self.tp_size
        } else {
            self.vocab_size
        };
        match metric {
            Metric::Flops => sink.term("unembed", (int(2) * t * d * v).trunc()),
            Metric::ReadBytes => {
                sink.term("input", (int(t) * d * a).trunc());
                sink.term("weight", (int(d) * v * self.weight_byte_size).trunc());
            }
            Metric::WriteBytes => sink.term("output", (int(t) * v * a).trunc()),
        }
    }
}
