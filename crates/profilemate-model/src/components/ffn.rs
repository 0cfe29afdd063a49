//! Provides [`FfnMetrics`]: dense SwiGLU FFN layers, routed MoE experts and shared experts.
//!
//! Mirrors `FfnMetrics` in `vllm/v1/metrics/perf.py` (vLLM 0.32): `ffn_tp = dp·tp` (or
//! `ffn_ep = dp·tp` with expert parallelism) for every FFN part alike, integer `L // pp`, the
//! floor division of activated tokens by `ffn_ep`, and perfect-balance expert weight reads.

use crate::components::base::{Deployment, quantized_weight_bytes, require_base_attrs};
use crate::components::{Metric, TermSink};
use crate::context::ExecutionContext;
use crate::error::InvalidComponent;
use crate::field::{invalid, non_negative, positive};
use crate::pynum::{Num, int};
use crate::spec::ModelSpec;

const COMPONENT: &str = "ffn";

/// Validated fields of the `ffn` component.
#[derive(Debug, Clone, PartialEq)]
pub struct FfnMetrics {
    /// Layers (L).
    pub num_hidden_layers: u64,
    /// Hidden size (D).
    pub hidden_size: u64,
    /// Bytes per activation element.
    pub activation_byte_size: u64,
    /// Pipeline-parallel size.
    pub pp_size: u64,
    /// Tensor-parallel degree of every FFN part (`dp·tp`, or 1 with EP).
    pub ffn_tp_size: u64,
    /// Expert-parallel degree (`dp·tp` with EP, else 1).
    pub ffn_ep_size: u64,
    /// Dense intermediate size (DI).
    pub intermediate_size: u64,
    /// Routed experts (N).
    pub num_experts: u64,
    /// Experts per token (E).
    pub num_experts_per_tok: u64,
    /// Expert intermediate size (MI).
    pub moe_intermediate_size: u64,
    /// Shared experts (S), each of size MI.
    pub num_shared_experts: u64,
    /// MoE layers (Lm).
    pub num_moe_layers: u64,
    /// Bytes per weight.
    pub weight_byte_size: Num,
}

impl FfnMetrics {
    /// Runs vLLM's FFN parser chain and validation.
    pub fn from_spec(spec: &ModelSpec, deployment: &Deployment) -> Result<Self, InvalidComponent> {
        require_base_attrs(COMPONENT, spec)?;
        let weight_byte_size = quantized_weight_bytes(COMPONENT, "FFN", spec, deployment)?;
        let p = &deployment.parallel;
        let (ffn_tp_size, ffn_ep_size) = if p.enable_ep {
            (1, p.dp * p.tp)
        } else {
            (p.dp * p.tp, 1)
        };
        let f = &spec.ffn;
        let metrics = Self {
            num_hidden_layers: positive(COMPONENT, "num_hidden_layers", &spec.num_hidden_layers)?,
            hidden_size: positive(COMPONENT, "hidden_size", &spec.hidden_size)?,
            activation_byte_size: deployment.activation_byte_size(),
            pp_size: p.pp,
            ffn_tp_size,
            ffn_ep_size,
            intermediate_size: positive(COMPONENT, "intermediate_size", &f.intermediate_size)?,
            num_experts: non_negative(COMPONENT, "num_experts", &f.num_experts)?,
            num_experts_per_tok: non_negative(
                COMPONENT,
                "num_experts_per_tok",
                &f.num_experts_per_tok,
            )?,
            moe_intermediate_size: non_negative(
                COMPONENT,
                "moe_intermediate_size",
                &f.moe_intermediate_size,
            )?,
            num_shared_experts: non_negative(
                COMPONENT,
                "num_shared_experts",
                &f.num_shared_experts,
            )?,
            num_moe_layers: non_negative(COMPONENT, "num_moe_layers", &f.num_moe_layers)?,
            weight_byte_size,
        };
        metrics.validate_moe_fields()?;
        Ok(metrics)
    }

    /// vLLM's `validate_moe_fields`: MoE layers need experts, experts per token and a size.
    fn validate_moe_fields(&self) -> Result<(), InvalidComponent> {
        if self.num_moe_layers == 0 {
            return Ok(());
        }
        for (name, value) in [
            ("num_experts", self.num_experts),
            ("num_experts_per_tok", self.num_experts_per_tok),
            ("moe_intermediate_size", self.moe_intermediate_size),
        ] {
            if value == 0 {
                return Err(invalid(
                    COMPONENT,
                    format!("`{name}` must be non-zero when the model has MoE layers"),
                ));
            }
        }
        Ok(())
    }

    /// Pushes the terms of `metric` into `sink`, in vLLM's key order.
    pub fn terms(
        &self,
        metric: Metric,
        ctx: &ExecutionContext,
        per_gpu: bool,
        sink: &mut impl TermSink,
    ) {
        let s = Shape::new(self, ctx, per_gpu);
        match metric {
            Metric::Flops => self.flops(&s, sink),
            Metric::ReadBytes => self.read_bytes(&s, sink),
            Metric::WriteBytes => self.write_bytes(&s, sink),
        }
    }

    fn flops(&self, s: &Shape, sink: &mut impl TermSink) {
        let six_d = int(2) * self.hidden_size * 3u64;
        if s.ld > 0 {
            sink.term("dense_ffn", (six_d * s.di * s.t * s.ld).trunc());
        }
        if s.lm > 0 && self.num_experts_per_tok > 0 {
            sink.term("routed_ffn", (six_d * s.mi * s.activated * s.lm).trunc());
        }
        if s.lm > 0 && self.num_shared_experts > 0 {
            let shared = six_d * s.mi * self.num_shared_experts * s.t * s.lm;
            sink.term("shared_ffn", shared.trunc());
        }
    }

    fn read_bytes(&self, s: &Shape, sink: &mut impl TermSink) {
        let (d, a, w) = (
            self.hidden_size,
            self.activation_byte_size,
            self.weight_byte_size,
        );
        if s.ld > 0 {
            sink.term("dense_up_gate_input", (int(s.t) * d * a * s.ld).trunc());
            sink.term(
                "dense_up_gate_weights",
                (int(2) * d * s.di * w * s.ld).trunc(),
            );
            sink.term("dense_silu_input", (int(2) * s.t * s.di * a * s.ld).trunc());
            sink.term("dense_down_input", (int(s.t) * s.di * a * s.ld).trunc());
            sink.term("dense_down_weights", (int(d) * s.di * w * s.ld).trunc());
        }
        if s.lm == 0 {
            return;
        }
        if self.num_experts_per_tok > 0 {
            // vLLM: "Assume perfect load balancing" — at most one read per local expert.
            let experts = s.activated.min(u128::from(s.local_experts));
            sink.term(
                "routed_up_gate_input",
                (Num::Int(s.activated) * d * a * s.lm).trunc(),
            );
            sink.term(
                "routed_up_gate_weights",
                (int(2) * d * s.mi * experts * w * s.lm).trunc(),
            );
            sink.term(
                "routed_silu_input",
                (int(2) * s.activated * s.mi * a * s.lm).trunc(),
            );
            sink.term(
                "routed_down_input",
                (Num::Int(s.activated) * s.mi * a * s.lm).trunc(),
            );
            sink.term(
                "routed_down_weights",
                (int(d) * s.mi * experts * w * s.lm).trunc(),
            );
        }
        let shared = self.num_shared_experts;
        if shared > 0 {
            sink.term("shared_up_gate_input", (int(s.t) * d * a * s.lm).trunc());
            sink.term(
                "shared_up_gate_weights",
                (int(2) * d * s.mi * shared * w * s.lm).trunc(),
            );
            sink.term(
                "shared_silu_input",
                (int(2) * s.t * s.mi * shared * a * s.lm).trunc(),
            );
            sink.term("shared_down_input", (int(s.t) * s.mi * a * s.lm).trunc());
            sink.term(
                "shared_down_weights",
                (int(d) * s.mi * shared * w * s.lm).trunc(),
            );
        }
    }

    fn write_bytes(&self, s: &Shape, sink: &mut impl TermSink) {
        let (d, a) = (self.hidden_size, self.activation_byte_size);
        if s.ld > 0 {
            sink.term(
                "dense_up_gate_output",
                (int(2) * s.t * s.di * a * s.ld).trunc(),
            );
            sink.term("dense_silu_output", (int(s.t) * s.di * a * s.ld).trunc());
            sink.term("dense_down_output", (int(s.t) * d * a * s.ld).trunc());
        }
        if s.lm == 0 {
            return;
        }
        if self.num_experts_per_tok > 0 {
            sink.term(
                "routed_up_gate_output",
                (int(2) * s.activated * s.mi * a * s.lm).trunc(),
            );
            sink.term(
                "routed_silu_output",
                (Num::Int(s.activated) * s.mi * a * s.lm).trunc(),
            );
            sink.term(
                "routed_down_output",
                (Num::Int(s.activated) * d * a * s.lm).trunc(),
            );
        }
        let shared = self.num_shared_experts;
        if shared > 0 {
            sink.term(
                "shared_up_gate_output",
                (int(2) * s.t * shared * s.mi * a * s.lm).trunc(),
            );
            sink.term(
                "shared_silu_output",
                (int(s.t) * shared * s.mi * a * s.lm).trunc(),
            );
            sink.term(
                "shared_down_output",
                (int(s.t) * shared * d * a * s.lm).trunc(),
            );
        }
    }
}

/// The per-step quantities of the FFN formulas (already divided per GPU when asked).
struct Shape {
    t: u64,
    ld: u64,
    lm: u64,
    di: u64,
    mi: u64,
    /// Token-expert assignments `T·E` (floor-divided by `ffn_ep` per GPU).
    activated: u128,
    /// Routed experts on this GPU (`N // ffn_ep` per GPU).
    local_experts: u64,
}

impl Shape {
    fn new(m: &FfnMetrics, ctx: &ExecutionContext, per_gpu: bool) -> Self {
        let t = ctx.total_num_tokens();
        let ld = m.num_hidden_layers - m.num_moe_layers;
        let activated = u128::from(t) * u128::from(m.num_experts_per_tok);
        if !per_gpu {
            return Self {
                t,
                ld,
                lm: m.num_moe_layers,
                di: m.intermediate_size,
                mi: m.moe_intermediate_size,
                activated,
                local_experts: m.num_experts,
            };
        }
        Self {
            t,
            ld: ld / m.pp_size,
            lm: m.num_moe_layers / m.pp_size,
            di: m.intermediate_size / m.ffn_tp_size,
            mi: m.moe_intermediate_size / m.ffn_tp_size,
            activated: activated / u128::from(m.ffn_ep_size),
            local_experts: m.num_experts / m.ffn_ep_size,
        }
    }
}
