//! Provides [`CorrectedModel`]: the analytic model with vLLM's known errors fixed, beside (never
//! instead of) the vLLM-exact [`PerfModel`](crate::PerfModel).
//!
//! Each correction is documented with a worked example and the size of its effect in
//! `docs/accuracy.md`: causal prefill attention, the K/V context read at the cache dtype, MLA
//! decode in the absorbed form, EP without flooring, dense FFN and shared experts over TP,
//! weight widths from `quantization_config`, expected distinct experts, and speculative verify
//! steps billed as decode with one logit row per token. Collective traffic is
//! [`Collectives`](crate::comm::Collectives), added by the roofline. All figures are per GPU.

mod attention;
pub mod causal;
mod ffn;
mod mla;
pub mod quant;

pub use attention::CorrectedAttention;
pub use ffn::{CorrectedFfn, expected_touched_share};
pub use mla::CorrectedMla;
pub use quant::WeightWidths;

use crate::components::{ComponentMetrics, Deployment, Metric, UnembedMetrics, build_components};
use crate::context::{ContextRequest, ExecutionContext};
use crate::error::{InvalidComponent, ModelError};
use crate::model::StepTotals;
use crate::pynum::Num;
use crate::roofline::CostModel;
use crate::spec::ModelSpec;

/// One corrected component.
#[derive(Debug, Clone, PartialEq)]
pub enum CorrectedComponent {
    /// Standard attention.
    Attention(CorrectedAttention),
    /// Multi-head latent attention.
    Mla(CorrectedMla),
    /// Dense FFN, shared and routed experts.
    Ffn(CorrectedFfn),
    /// The LM head, one logit row per sampled position.
    Unembed(UnembedMetrics),
}

/// The corrected model of one deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrectedModel {
    components: Vec<CorrectedComponent>,
    skipped: Vec<InvalidComponent>,
    num_speculative_tokens: u64,
}

impl CorrectedModel {
    /// Builds the components from vLLM's validated fields, with weight widths from `widths`
    /// (a quantization method outside vLLM's table no longer drops anything).
    pub fn new(
        spec: &ModelSpec,
        d: &Deployment,
        widths: &WeightWidths,
        num_speculative_tokens: u64,
    ) -> Result<Self, ModelError> {
        let plain = ModelSpec {
            quantization: None,
            ..spec.clone()
        };
        let (built, skipped) = build_components(&plain, d);
        if built.is_empty() {
            return Err(ModelError::NoComponents { skipped });
        }
        let components = built
            .into_iter()
            .map(|c| correct(c, spec, d, widths, num_speculative_tokens))
            .collect();
        Ok(Self {
            components,
            skipped,
            num_speculative_tokens,
        })
    }

    /// The components.
    pub fn components(&self) -> &[CorrectedComponent] {
        &self.components
    }

    /// The components that cannot be built for this config (missing fields, not quantization).
    pub fn skipped(&self) -> &[InvalidComponent] {
        &self.skipped
    }

    /// Per-GPU totals of one step.
    pub fn totals(&self, ctx: &ExecutionContext) -> StepTotals {
        let mut sum = Totals::default();
        self.visit_components(ctx, &mut |_, t| {
            add(&mut sum, Metric::Flops, t.flops);
            add(&mut sum, Metric::ReadBytes, t.read_bytes);
            add(&mut sum, Metric::WriteBytes, t.write_bytes);
        });
        sum.into()
    }

    fn unembed(&self, m: &UnembedMetrics, ctx: &ExecutionContext) -> StepTotals {
        let rows: u64 = ctx
            .requests
            .iter()
            .map(|r| {
                if is_decode_like(r, self.num_speculative_tokens) {
                    r.num_tokens
                } else {
                    1
                }
            })
            .sum();
        let (d, a, v) = (
            u128::from(m.hidden_size),
            u128::from(m.activation_byte_size),
            u128::from(m.vocab_size / m.tp_size),
        );
        let rows = u128::from(rows);
        StepTotals {
            flops: 2 * rows * d * v,
            read_bytes: rows * d * a + d * v * u128::from(m.weight_byte_size),
            write_bytes: rows * v * a,
        }
    }
}

impl CostModel for CorrectedModel {
    fn visit_components(
        &self,
        ctx: &ExecutionContext,
        sink: &mut dyn FnMut(&'static str, StepTotals),
    ) {
        for c in &self.components {
            match c {
                CorrectedComponent::Attention(a) => sink("attn", a.totals(ctx)),
                CorrectedComponent::Mla(m) => sink("mla_attn", m.totals(ctx)),
                CorrectedComponent::Ffn(f) => sink("ffn", f.totals(ctx)),
                CorrectedComponent::Unembed(u) => sink("unembed", self.unembed(u, ctx)),
            }
        }
    }
}

fn correct(
    c: ComponentMetrics,
    spec: &ModelSpec,
    d: &Deployment,
    w: &WeightWidths,
    k: u64,
) -> CorrectedComponent {
    match c {
        ComponentMetrics::Attention(mut a) => {
            a.weight_byte_size = Num::Float(w.attention);
            CorrectedComponent::Attention(CorrectedAttention {
                exact: a,
                by_layer_kind: spec.attention_by_layer_kind,
            })
        }
        ComponentMetrics::Mla(mut m) => {
            m.weight_byte_size = Num::Float(w.attention);
            CorrectedComponent::Mla(CorrectedMla {
                exact: m,
                num_speculative_tokens: k,
            })
        }
        ComponentMetrics::Ffn(f) => CorrectedComponent::Ffn(CorrectedFfn {
            exact: f,
            parallel: d.parallel,
            dense_width: w.dense_ffn,
            expert_width: w.experts,
            dense_intermediate_size: spec.dense_intermediate_size,
        }),
        ComponentMetrics::Unembed(u) => CorrectedComponent::Unembed(u),
    }
}

/// A decode request, or a speculative verify step (`num_tokens ≤ k + 1` on top of earlier
/// context), which vLLM bills as prefill.
pub fn is_decode_like(r: &ContextRequest, num_speculative_tokens: u64) -> bool {
    let verify = num_speculative_tokens > 0
        && r.num_tokens <= num_speculative_tokens + 1
        && r.context_len > r.num_tokens;
    !r.is_prefill || verify
}

/// Running sums of the three metrics.
#[derive(Debug, Default)]
pub(crate) struct Totals([u128; 3]);

pub(crate) fn add(t: &mut Totals, metric: Metric, value: u128) {
    let i = Metric::ALL.iter().position(|m| *m == metric).unwrap_or(0);
    t.0[i] += value;
}

impl From<Totals> for StepTotals {
    fn from(t: Totals) -> Self {
        let [flops, read_bytes, write_bytes] = t.0;
        StepTotals {
            flops,
            read_bytes,
            write_bytes,
        }
    }
}

#[cfg(test)]
mod tests;
