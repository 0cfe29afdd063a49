//! Provides [`CorrectedMla`]: MLA with causal prefill, the absorbed form for decode and the
//! context up-projection of chunked prefill.
//!
//! vLLM runs MLA decode as MQA over the latent cache (vllm/model_executor/layers/attention/
//! mla_attention.py, vLLM 0.32): QK over `kv_lora_rank + qk_rope_head_dim` (576 for DeepSeek-V3)
//! and AV over `kv_lora_rank` (512) per head, after absorbing W_UK/W_UV into the query and
//! output (those BMMs cost what vLLM bills as `kv_b_proj`). Prefill up-projects K/V; a chunk
//! with a cached prefix up-projects the prefix latents too (model-anchors.md §5 #10).

use crate::components::{Metric, MlaAttentionMetrics, per_gpu_heads};
use crate::context::ExecutionContext;
use crate::corrected::causal::attention_pairs;
use crate::corrected::{Totals, add, is_decode_like};
use crate::model::StepTotals;

/// MLA, corrected.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrectedMla {
    /// vLLM's validated fields (weight width already corrected).
    pub exact: MlaAttentionMetrics,
    /// Speculative tokens per step (verify steps are decode-like).
    pub num_speculative_tokens: u64,
}

impl CorrectedMla {
    /// Per-GPU totals of one step.
    pub fn totals(&self, ctx: &ExecutionContext) -> StepTotals {
        let mut t = Totals::default();
        let [qk, av, up] = self.flops(ctx);
        for metric in Metric::ALL {
            self.exact
                .terms(metric, ctx, true, &mut |key: &'static str, v: u128| {
                    let v = match (metric, key) {
                        (Metric::Flops, "attn_qk") => qk,
                        (Metric::Flops, "attn_av") => av + up,
                        _ => v,
                    };
                    add(&mut t, metric, v);
                });
        }
        t.into()
    }

    /// `[attn_qk, attn_av, context up-projection]` per GPU.
    fn flops(&self, ctx: &ExecutionContext) -> [u128; 3] {
        let m = &self.exact;
        let q = per_gpu_heads(m.num_attention_heads, m.tp_size, true) as f64;
        let layers = m.num_hidden_layers as f64 / m.pp_size as f64;
        let (c, r, nope, v) = (
            m.kv_lora_rank as f64,
            m.qk_rope_head_dim as f64,
            m.qk_nope_head_dim as f64,
            m.v_head_dim as f64,
        );
        let (mut qk, mut av, mut up) = (0.0, 0.0, 0.0);
        for req in &ctx.requests {
            let pairs = attention_pairs(req, None) as f64;
            if is_decode_like(req, self.num_speculative_tokens) {
                qk += pairs * (c + r);
                av += pairs * c;
            } else {
                qk += pairs * (nope + r);
                av += pairs * v;
                up +=
                    (req.context_len - req.num_tokens.min(req.context_len)) as f64 * c * (nope + v);
            }
        }
        [qk, av, up].map(|x| (2.0 * q * x * layers) as u128)
    }
}
