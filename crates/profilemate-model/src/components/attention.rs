//! Provides [`AttentionMetrics`]: standard attention with full and sliding-window layers.
//!
//! Mirrors `AttentionMetrics` in `vllm/v1/metrics/perf.py` (vLLM 0.32), including its float
//! layer counts (`L / pp`, per sublayer) and the activation-dtype read of prefill K/V.

use crate::components::base::{
    Deployment, per_gpu_heads, quantized_weight_bytes, require_base_attrs,
};
use crate::components::{Metric, TermSink};
use crate::context::ExecutionContext;
use crate::error::InvalidComponent;
use crate::field::{invalid, positive};
use crate::pynum::{Num, int};
use crate::spec::ModelSpec;

const COMPONENT: &str = "attn";

/// Validated fields of the `attn` component.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionMetrics {
    /// Layers (L).
    pub num_hidden_layers: u64,
    /// Hidden size (D).
    pub hidden_size: u64,
    /// Query heads (q).
    pub num_attention_heads: u64,
    /// Bytes per activation element (a).
    pub activation_byte_size: u64,
    /// Tensor-parallel size.
    pub tp_size: u64,
    /// Pipeline-parallel size.
    pub pp_size: u64,
    /// KV heads (kv).
    pub num_key_value_heads: u64,
    /// Head size (d).
    pub head_dim: u64,
    /// Bytes per KV-cache element (c).
    pub cache_byte_size: u64,
    /// Bytes per weight (w): an int, or 0.5 as a float for 4-bit methods.
    pub weight_byte_size: Num,
    /// The sliding window, when some layers use one.
    pub sliding_window: Option<u64>,
    /// Layers with sliding-window attention.
    pub num_swa_layers: u64,
}

impl AttentionMetrics {
    /// Runs vLLM's attention parser chain and validation.
    pub fn from_spec(spec: &ModelSpec, deployment: &Deployment) -> Result<Self, InvalidComponent> {
        if spec.is_mla {
            return Err(invalid(
                COMPONENT,
                "Model uses MLA attention; use MLAAttentionMetrics instead".to_owned(),
            ));
        }
        require_base_attrs(COMPONENT, spec)?;
        let weight_byte_size = quantized_weight_bytes(COMPONENT, "attention", spec, deployment)?;
        let layers = positive(COMPONENT, "num_hidden_layers", &spec.num_hidden_layers)?;
        let (sliding_window, num_swa_layers) = window(spec, deployment, layers);
        let p = &deployment.parallel;
        Ok(Self {
            num_hidden_layers: layers,
            hidden_size: positive(COMPONENT, "hidden_size", &spec.hidden_size)?,
            num_attention_heads: positive(
                COMPONENT,
                "num_attention_heads",
                &spec.num_attention_heads,
            )?,
            activation_byte_size: deployment.activation_byte_size(),
            tp_size: p.tp,
            pp_size: p.pp,
            num_key_value_heads: positive(
                COMPONENT,
                "num_key_value_heads",
                &spec.num_key_value_heads,
            )?,
            head_dim: positive(COMPONENT, "head_dim", &spec.head_dim)?,
            cache_byte_size: deployment.cache_byte_size(),
            weight_byte_size,
            sliding_window,
            num_swa_layers,
        })
    }

    /// `(L, L_full, L_swa)` as floats, each divided by `pp` per GPU (`_layer_counts`).
    fn layer_counts(&self, per_gpu: bool) -> (f64, f64, f64) {
        let l = self.num_hidden_layers as f64;
        let l_swa = self.num_swa_layers as f64;
        let l_full = l - l_swa;
        if per_gpu {
            let pp = self.pp_size as f64;
            (l / pp, l_full / pp, l_swa / pp)
        } else {
            (l, l_full, l_swa)
        }
    }

    /// Pushes the terms of `metric` into `sink`, in vLLM's key order.
    pub fn terms(
        &self,
        metric: Metric,
        ctx: &ExecutionContext,
        per_gpu: bool,
        sink: &mut impl TermSink,
    ) {
        let shape = Shape::new(self, ctx, per_gpu);
        match metric {
            Metric::Flops => self.flops(&shape, ctx, sink),
            Metric::ReadBytes => self.read_bytes(&shape, ctx, sink),
            Metric::WriteBytes => self.write_bytes(&shape, sink),
        }
    }

    fn flops(&self, s: &Shape, ctx: &ExecutionContext, sink: &mut impl TermSink) {
        let (d_model, d) = (self.hidden_size, self.head_dim);
        sink.term(
            "qkv_proj",
            (int(2) * s.t * d_model * (s.q + 2 * s.kv) * d * s.l).trunc(),
        );
        sink.term("out_proj", (int(2) * s.t * d_model * s.q * d * s.l).trunc());
        let mut attn = Num::Float(0.0);
        if s.l_full.is_positive() {
            let tc_full = ctx.total_token_context_product(None);
            attn = attn + int(2) * s.q * tc_full * d * s.l_full;
        }
        if let (true, Some(w)) = (s.l_swa.is_positive(), self.sliding_window) {
            let tc_swa = ctx.total_token_context_product(Some(w));
            attn = attn + int(2) * s.q * tc_swa * d * s.l_swa;
        }
        sink.term("attn_qk", attn.trunc());
        sink.term("attn_av", attn.trunc());
    }

    fn read_bytes(&self, s: &Shape, ctx: &ExecutionContext, sink: &mut impl TermSink) {
        let (d_model, d, a, w) = (
            self.hidden_size,
            self.head_dim,
            self.activation_byte_size,
            self.weight_byte_size,
        );
        sink.term("qkv_input", (int(s.t) * d_model * a * s.l).trunc());
        sink.term(
            "qkv_weight",
            (int(d_model) * (s.q + 2 * s.kv) * d * w * s.l).trunc(),
        );
        let mut attn_input = Num::Float(0.0);
        if s.l_full.is_positive() {
            attn_input = self.add_attn_input(attn_input, s, ctx, None, s.l_full);
        }
        if s.l_swa.is_positive() {
            attn_input = self.add_attn_input(attn_input, s, ctx, self.sliding_window, s.l_swa);
        }
        if ctx.prefill_num_tokens > 0 || ctx.decode_num_tokens > 0 {
            sink.term("attn_input", attn_input.trunc());
        }
        sink.term("out_input", (int(s.t) * s.q * d * a * s.l).trunc());
        sink.term("out_weight", (int(s.q) * d * d_model * w * s.l).trunc());
    }

    /// Adds one sublayer kind's attention-input reads to `acc`, term by term in vLLM's order:
    /// Q plus K/V of the (windowed) context. vLLM bills prefill K/V at the activation dtype and
    /// decode K/V at the cache dtype.
    fn add_attn_input(
        &self,
        acc: Num,
        s: &Shape,
        ctx: &ExecutionContext,
        window: Option<u64>,
        layers: Num,
    ) -> Num {
        let (d, a, c) = (
            self.head_dim,
            self.activation_byte_size,
            self.cache_byte_size,
        );
        let mut part = acc;
        if ctx.prefill_num_tokens > 0 {
            let ctx_len = ctx.prefill_context_len_for_window(window);
            let elements = u128::from(ctx.prefill_num_tokens) * u128::from(s.q)
                + 2 * u128::from(ctx_len) * u128::from(s.kv);
            part = part + Num::Int(elements) * d * a * layers;
        }
        if ctx.decode_num_tokens > 0 {
            let ctx_len = ctx.decode_context_len_for_window(window);
            let q_read = int(ctx.decode_num_tokens) * s.q * d * a * layers;
            let kv_read = int(2) * ctx_len * s.kv * d * c * layers;
            part = part + (q_read + kv_read);
        }
        part
    }

    fn write_bytes(&self, s: &Shape, sink: &mut impl TermSink) {
        let (d_model, d, a, c) = (
            self.hidden_size,
            self.head_dim,
            self.activation_byte_size,
            self.cache_byte_size,
        );
        sink.term(
            "qkv_output",
            (int(s.t) * (s.q + 2 * s.kv) * d * a * s.l).trunc(),
        );
        sink.term("kv_cache", (int(2) * s.t * s.kv * d * c * s.l).trunc());
        sink.term("out_output", (int(s.t) * d_model * a * s.l).trunc());
    }
}

/// The per-step quantities every formula of the component uses.
struct Shape {
    t: u64,
    q: u64,
    kv: u64,
    l: Num,
    l_full: Num,
    l_swa: Num,
}

impl Shape {
    fn new(m: &AttentionMetrics, ctx: &ExecutionContext, per_gpu: bool) -> Self {
        let (l, l_full, l_swa) = m.layer_counts(per_gpu);
        Self {
            t: ctx.total_num_tokens(),
            q: per_gpu_heads(m.num_attention_heads, m.tp_size, per_gpu),
            kv: per_gpu_heads(m.num_key_value_heads, m.tp_size, per_gpu),
            l: Num::Float(l),
            l_full: Num::Float(l_full),
            l_swa: Num::Float(l_swa),
        }
    }
}

/// The effective window and sliding-layer count, unless `--disable-sliding-window`.
fn window(spec: &ModelSpec, deployment: &Deployment, layers: u64) -> (Option<u64>, u64) {
    if deployment.disable_sliding_window {
        return (None, 0);
    }
    let swa_layers = spec.num_swa_layers(layers);
    let window = spec.sliding_window.filter(|w| *w > 0).map(|w| w as u64);
    (window, swa_layers)
}
