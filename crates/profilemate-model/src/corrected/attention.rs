//! Provides [`CorrectedAttention`]: standard attention with causal prefill FLOPs and the
//! whole context's K/V read at the cache dtype.
//!
//! Every other term is vLLM's (`AttentionMetrics`); only `attn_qk`, `attn_av` and
//! `attn_input` are replaced (model-anchors.md §5 #8, #9). A model whose full-attention layers
//! differ in head size or KV heads from its sliding ones (Gemma 4) is billed kind by kind, where
//! vLLM bills every layer with the largest.

use crate::components::{AttentionMetrics, Metric, per_gpu_heads};
use crate::context::ExecutionContext;
use crate::corrected::causal::attention_pairs;
use crate::corrected::{Totals, add};
use crate::model::StepTotals;
use crate::spec::LayerKindAttention;

/// Standard attention, corrected.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrectedAttention {
    /// vLLM's validated fields (weight width already corrected).
    pub exact: AttentionMetrics,
    /// Per-kind geometry, when the full and sliding layers differ
    /// ([`crate::ModelSpec::attention_by_layer_kind`]).
    pub by_layer_kind: Option<LayerKindAttention>,
}

impl CorrectedAttention {
    /// Per-GPU totals of one step: the full-attention and the sliding layers each with their own
    /// head size and KV heads when they differ (and both kinds are present), else uniformly.
    pub fn totals(&self, ctx: &ExecutionContext) -> StepTotals {
        let m = &self.exact;
        let split = self
            .by_layer_kind
            .filter(|_| m.num_swa_layers > 0 && m.num_swa_layers < m.num_hidden_layers);
        let Some(kinds) = split else {
            return self.uniform_totals(ctx);
        };
        let part = |layers: u64, swa: u64, (d, kv): (i64, i64)| CorrectedAttention {
            exact: AttentionMetrics {
                num_hidden_layers: layers,
                num_swa_layers: swa,
                head_dim: d.max(0) as u64,
                num_key_value_heads: kv.max(0) as u64,
                ..m.clone()
            },
            by_layer_kind: None,
        };
        let full = part(m.num_hidden_layers - m.num_swa_layers, 0, kinds.full);
        let sliding = part(m.num_swa_layers, m.num_swa_layers, kinds.sliding);
        let (a, b) = (full.uniform_totals(ctx), sliding.uniform_totals(ctx));
        StepTotals {
            flops: a.flops + b.flops,
            read_bytes: a.read_bytes + b.read_bytes,
            write_bytes: a.write_bytes + b.write_bytes,
        }
    }

    /// Totals with one geometry for every layer.
    fn uniform_totals(&self, ctx: &ExecutionContext) -> StepTotals {
        let mut t = Totals::default();
        for metric in Metric::ALL {
            self.exact
                .terms(metric, ctx, true, &mut |key: &'static str, v: u128| {
                    let v = match (metric, key) {
                        (Metric::Flops, "attn_qk" | "attn_av") => self.score_flops(ctx),
                        (Metric::ReadBytes, "attn_input") => self.attn_input(ctx),
                        _ => v,
                    };
                    add(&mut t, metric, v);
                });
        }
        t.into()
    }

    /// `(q, kv, L_full, L_swa)` per GPU.
    fn shape(&self) -> (f64, f64, f64, f64) {
        let m = &self.exact;
        let heads = |n: u64| per_gpu_heads(n, m.tp_size, true) as f64;
        let pp = m.pp_size as f64;
        let swa = m.num_swa_layers as f64 / pp;
        let full = (m.num_hidden_layers - m.num_swa_layers) as f64 / pp;
        (
            heads(m.num_attention_heads),
            heads(m.num_key_value_heads),
            full,
            swa,
        )
    }

    /// `2 · q · d · Σ pairs` over full and sliding layers (one of QKᵀ or AV).
    fn score_flops(&self, ctx: &ExecutionContext) -> u128 {
        let (q, _, full, swa) = self.shape();
        let window = self.exact.sliding_window;
        let (mut pairs_full, mut pairs_swa) = (0u128, 0u128);
        for r in &ctx.requests {
            pairs_full += attention_pairs(r, None);
            pairs_swa += attention_pairs(r, window);
        }
        let per_pair = 2.0 * q * self.exact.head_dim as f64;
        (per_pair * (pairs_full as f64 * full + pairs_swa as f64 * swa)) as u128
    }

    /// Q at the activation dtype; every request's (windowed) K/V context at the cache dtype.
    fn attn_input(&self, ctx: &ExecutionContext) -> u128 {
        let (q, kv, full, swa) = self.shape();
        let m = &self.exact;
        let d = m.head_dim as f64;
        let q_bytes =
            ctx.total_num_tokens() as f64 * q * d * m.activation_byte_size as f64 * (full + swa);
        let window = m.sliding_window.unwrap_or(u64::MAX);
        let kv_tokens: f64 = ctx
            .requests
            .iter()
            .map(|r| r.context_len as f64 * full + r.context_len.min(window) as f64 * swa)
            .sum();
        (q_bytes + 2.0 * kv * d * m.cache_byte_size as f64 * kv_tokens) as u128
    }
}
