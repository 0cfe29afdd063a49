//! Provides [`sweep`]: what each `max_model_len` costs — the profiling guide's rule-of-thumb
//! table, computed for the actual model and GPU.

use std::time::Duration;

use crate::components::{ComponentMetrics, Metric};
use crate::context::ExecutionContext;
use crate::kv::{KvCapacity, KvLayout};
use crate::model::PerfModel;
use crate::roofline::Roofline;

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KvRow {
    /// The `max_model_len`.
    pub max_model_len: u64,
    /// KV bytes of one full-length sequence, whole model.
    pub kv_bytes_per_sequence: u128,
    /// KV bytes of `max_num_seqs` full-length sequences, whole model.
    pub kv_bytes_for_max_num_seqs: u128,
    /// Full-length sequences that fit at once on the deployment.
    pub max_concurrent_sequences: u64,
    /// KV bytes one decode step reads for one request at this context, whole model.
    pub decode_kv_read_per_request: u128,
    /// Attention FLOPs (QKᵀ and AV) of one fresh prompt of this length, as vLLM counts them
    /// (no causal halving), whole model.
    pub prefill_attention_flops: u128,
    /// Predicted time of a decode step of `min(max_num_seqs, max_concurrent_sequences)`
    /// requests all at this context (`None` without a GPU or when nothing fits).
    pub decode_step_time: Option<Duration>,
    /// Requests in that decode step.
    pub decode_batch: u64,
}

/// The table over `lens`. `whole` and `per_gpu` are the two [`KvLayout`]s; `roofline`, when
/// given, predicts the decode step time on one GPU.
#[allow(clippy::too_many_arguments)]
pub fn sweep(
    model: &PerfModel,
    whole: &KvLayout,
    per_gpu: &KvLayout,
    capacity: &KvCapacity,
    roofline: Option<&Roofline>,
    max_num_seqs: u64,
    lens: &[u64],
) -> Vec<KvRow> {
    let mut ctx = ExecutionContext::new();
    lens.iter()
        .map(|&len| {
            let fits = capacity.sequences_at(per_gpu, len);
            let batch = fits.min(max_num_seqs);
            let per_seq = whole.bytes_for_sequence(len);
            KvRow {
                max_model_len: len,
                kv_bytes_per_sequence: per_seq,
                kv_bytes_for_max_num_seqs: per_seq * u128::from(max_num_seqs),
                max_concurrent_sequences: fits,
                decode_kv_read_per_request: per_seq,
                prefill_attention_flops: prefill_attention_flops(model, &mut ctx, len),
                decode_step_time: roofline
                    .filter(|_| batch > 0)
                    .map(|r| decode_time(r, model, &mut ctx, batch, len)),
                decode_batch: batch,
            }
        })
        .collect()
}

/// `attn_qk + attn_av` of the attention component for one fresh prompt of `len` tokens.
fn prefill_attention_flops(model: &PerfModel, ctx: &mut ExecutionContext, len: u64) -> u128 {
    ctx.clear();
    ctx.add(len, len, true);
    let mut sum = 0;
    for c in model.components() {
        if matches!(c, ComponentMetrics::Attention(_) | ComponentMetrics::Mla(_)) {
            c.terms(
                Metric::Flops,
                ctx,
                false,
                &mut |key: &'static str, v: u128| {
                    if key == "attn_qk" || key == "attn_av" {
                        sum += v;
                    }
                },
            );
        }
    }
    sum
}

fn decode_time(
    r: &Roofline,
    model: &PerfModel,
    ctx: &mut ExecutionContext,
    batch: u64,
    len: u64,
) -> Duration {
    ctx.clear();
    for _ in 0..batch {
        ctx.add(1, len, false);
    }
    r.step_time(model, ctx)
}
