//! Provides [`MlaAttentionMetrics`]: DeepSeek-style multi-head latent attention.
//!
//! Mirrors `MLAAttentionMetrics` in `vllm/v1/metrics/perf.py` (vLLM 0.32): the non-absorbed
//! form for every phase, integer `L // pp`, no sliding window.

use crate::components::base::{
    Deployment, per_gpu_heads, quantized_weight_bytes, require_base_attrs,
};
use crate::components::{Metric, TermSink};
use crate::context::ExecutionContext;
use crate::error::InvalidComponent;
use crate::field::{Field, FieldIssue, invalid, positive};
use crate::pynum::{Num, int};
use crate::spec::ModelSpec;

const COMPONENT: &str = "mla_attn";

/// Validated fields of the `mla_attn` component.
#[derive(Debug, Clone, PartialEq)]
pub struct MlaAttentionMetrics {
    /// Layers (L).
    pub num_hidden_layers: u64,
    /// Hidden size (D).
    pub hidden_size: u64,
    /// Query heads (q).
    pub num_attention_heads: u64,
    /// Bytes per activation element.
    pub activation_byte_size: u64,
    /// Tensor-parallel size.
    pub tp_size: u64,
    /// Pipeline-parallel size.
    pub pp_size: u64,
    /// Bytes per weight.
    pub weight_byte_size: Num,
    /// Compressed KV latent size (c).
    pub kv_lora_rank: u64,
    /// Non-rotary part of the QK head.
    pub qk_nope_head_dim: u64,
    /// Rotary part of the QK head (r).
    pub qk_rope_head_dim: u64,
    /// Value head size.
    pub v_head_dim: u64,
    /// Query compression rank; `None` for a single `q_proj`.
    pub q_lora_rank: Option<u64>,
    /// Bytes per KV-cache element.
    pub cache_byte_size: u64,
}

impl MlaAttentionMetrics {
    /// Runs vLLM's MLA parser chain and validation.
    pub fn from_spec(spec: &ModelSpec, deployment: &Deployment) -> Result<Self, InvalidComponent> {
        if !spec.is_mla {
            return Err(invalid(
                COMPONENT,
                "Model does not use MLA attention".to_owned(),
            ));
        }
        require_base_attrs(COMPONENT, spec)?;
        let mla = &spec.mla;
        for (name, field) in [
            ("kv_lora_rank", &mla.kv_lora_rank),
            ("qk_nope_head_dim", &mla.qk_nope_head_dim),
            ("qk_rope_head_dim", &mla.qk_rope_head_dim),
            ("v_head_dim", &mla.v_head_dim),
        ] {
            if field == &Err(FieldIssue::Missing) {
                return Err(invalid(
                    COMPONENT,
                    format!("Missing required attr {name} in config"),
                ));
            }
        }
        let weight_byte_size = quantized_weight_bytes(COMPONENT, "attention", spec, deployment)?;
        let q_lora_rank = match &mla.q_lora_rank {
            None => None,
            Some(Ok(rank)) if *rank >= 0 => Some(*rank as u64),
            Some(other) => {
                return Err(invalid(
                    COMPONENT,
                    format!("`q_lora_rank` {}", describe(other)),
                ));
            }
        };
        Ok(Self {
            num_hidden_layers: positive(COMPONENT, "num_hidden_layers", &spec.num_hidden_layers)?,
            hidden_size: positive(COMPONENT, "hidden_size", &spec.hidden_size)?,
            num_attention_heads: positive(
                COMPONENT,
                "num_attention_heads",
                &spec.num_attention_heads,
            )?,
            activation_byte_size: deployment.activation_byte_size(),
            tp_size: deployment.parallel.tp,
            pp_size: deployment.parallel.pp,
            weight_byte_size,
            kv_lora_rank: positive(COMPONENT, "kv_lora_rank", &mla.kv_lora_rank)?,
            qk_nope_head_dim: positive(COMPONENT, "qk_nope_head_dim", &mla.qk_nope_head_dim)?,
            qk_rope_head_dim: positive(COMPONENT, "qk_rope_head_dim", &mla.qk_rope_head_dim)?,
            v_head_dim: positive(COMPONENT, "v_head_dim", &mla.v_head_dim)?,
            q_lora_rank,
            cache_byte_size: deployment.cache_byte_size(),
        })
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
            Metric::Flops => self.flops(&s, ctx, sink),
            Metric::ReadBytes => self.read_bytes(&s, ctx, sink),
            Metric::WriteBytes => self.write_bytes(&s, sink),
        }
    }

    fn flops(&self, s: &Shape, ctx: &ExecutionContext, sink: &mut impl TermSink) {
        let (d_model, c, r, v) = (
            self.hidden_size,
            self.kv_lora_rank,
            self.qk_rope_head_dim,
            self.v_head_dim,
        );
        let two_t = int(2) * s.t;
        match self.q_lora_rank {
            Some(rank) => {
                sink.term("q_a_proj", (two_t * d_model * rank * s.l).trunc());
                sink.term("q_b_proj", (two_t * rank * s.q * s.qk * s.l).trunc());
            }
            None => sink.term("q_proj", (two_t * d_model * s.q * s.qk * s.l).trunc()),
        }
        sink.term("kv_a_proj", (two_t * d_model * (c + r) * s.l).trunc());
        sink.term(
            "kv_b_proj",
            (two_t * c * s.q * (self.qk_nope_head_dim + v) * s.l).trunc(),
        );
        let tc = ctx.total_token_context_product(None);
        sink.term("attn_qk", (int(2) * s.q * tc * s.qk * s.l).trunc());
        sink.term("attn_av", (int(2) * s.q * tc * v * s.l).trunc());
        sink.term("out_proj", (two_t * s.q * v * d_model * s.l).trunc());
    }

    fn read_bytes(&self, s: &Shape, ctx: &ExecutionContext, sink: &mut impl TermSink) {
        let (d_model, c, v, a, w) = (
            self.hidden_size,
            self.kv_lora_rank,
            self.v_head_dim,
            self.activation_byte_size,
            self.weight_byte_size,
        );
        let input = |width: u64| (int(s.t) * width * a * s.l).trunc();
        match self.q_lora_rank {
            Some(rank) => {
                sink.term("q_a_input", input(d_model));
                sink.term("q_a_weight", (int(d_model) * rank * w * s.l).trunc());
                sink.term("q_b_input", input(rank));
                sink.term("q_b_weight", (int(rank) * s.q * s.qk * w * s.l).trunc());
            }
            None => {
                sink.term("q_input", input(d_model));
                sink.term("q_weight", (int(d_model) * s.q * s.qk * w * s.l).trunc());
            }
        }
        sink.term("kv_a_input", input(d_model));
        sink.term("kv_a_weight", (int(d_model) * s.latent * w * s.l).trunc());
        sink.term("kv_b_input", input(c));
        sink.term(
            "kv_b_weight",
            (int(c) * s.q * (self.qk_nope_head_dim + v) * w * s.l).trunc(),
        );
        if let Some(bytes) = self.attn_input(s, ctx) {
            sink.term("attn_input", bytes);
        }
        sink.term("out_input", (int(s.t) * s.q * v * a * s.l).trunc());
        sink.term("out_weight", (int(s.q) * v * d_model * w * s.l).trunc());
    }

    /// Prefill reads Q and the up-projected K/V; decode reads Q and the compressed latent cache.
    fn attn_input(&self, s: &Shape, ctx: &ExecutionContext) -> Option<u128> {
        let a = self.activation_byte_size;
        let prefill = (ctx.prefill_num_tokens > 0).then(|| {
            (int(ctx.prefill_num_tokens) * s.q * s.qk * a * s.l
                + int(ctx.prefill_context_len) * s.q * (s.qk + self.v_head_dim) * a * s.l)
                .trunc()
        });
        let decode = (ctx.decode_num_tokens > 0).then(|| {
            (int(ctx.decode_num_tokens) * s.q * s.qk * a * s.l
                + int(ctx.decode_context_len) * s.latent * self.cache_byte_size * s.l)
                .trunc()
        });
        match (prefill, decode) {
            (None, None) => None,
            (p, d) => Some(p.unwrap_or(0) + d.unwrap_or(0)),
        }
    }

    fn write_bytes(&self, s: &Shape, sink: &mut impl TermSink) {
        let (d_model, a) = (self.hidden_size, self.activation_byte_size);
        let out = |width: u64, bytes: u64| (int(s.t) * width * bytes * s.l).trunc();
        match self.q_lora_rank {
            Some(rank) => {
                sink.term("q_a_output", out(rank, a));
                sink.term("q_b_output", (int(s.t) * s.q * s.qk * a * s.l).trunc());
            }
            None => sink.term("q_output", (int(s.t) * s.q * s.qk * a * s.l).trunc()),
        }
        sink.term("kv_a_output", out(s.latent, a));
        let kv_b_width = self.qk_nope_head_dim + self.v_head_dim;
        sink.term(
            "kv_b_output",
            (int(s.t) * s.q * kv_b_width * a * s.l).trunc(),
        );
        sink.term("kv_cache", out(s.latent, self.cache_byte_size));
        sink.term("out_output", out(d_model, a));
    }
}

/// The per-step quantities of the MLA formulas.
struct Shape {
    t: u64,
    q: u64,
    l: u64,
    qk: u64,
    latent: u64,
}

impl Shape {
    fn new(m: &MlaAttentionMetrics, ctx: &ExecutionContext, per_gpu: bool) -> Self {
        Self {
            t: ctx.total_num_tokens(),
            q: per_gpu_heads(m.num_attention_heads, m.tp_size, per_gpu),
            l: if per_gpu {
                m.num_hidden_layers / m.pp_size
            } else {
                m.num_hidden_layers
            },
            qk: m.qk_nope_head_dim + m.qk_rope_head_dim,
            latent: m.kv_lora_rank + m.qk_rope_head_dim,
        }
    }
}

fn describe(field: &Field) -> String {
    match field {
        Ok(v) => format!("must be >= 0 (got {v})"),
        Err(issue) => issue.to_string(),
    }
}
