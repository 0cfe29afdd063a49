//! Provides the weight bytes and the activation reserve that KV sizing subtracts from GPU
//! memory.

use crate::components::Deployment;
use crate::quant::vllm_weight_byte_size;
use crate::spec::ModelSpec;

/// `(whole model, one GPU)` weight bytes: attention and FFN at the quantized width (vLLM's
/// table, else the model dtype), embedding and LM head at the model dtype (the LM head is
/// assumed untied). Per GPU: layers split over `tp × pp` (experts over `dp × tp` with EP),
/// vocabulary over `tp`. Norms and biases are ignored.
pub fn weight_bytes(spec: &ModelSpec, d: &Deployment) -> (u64, u64) {
    let f = |x: &crate::field::Field| x.clone().unwrap_or(0).max(0) as f64;
    let w = spec
        .quantization
        .as_deref()
        .and_then(vllm_weight_byte_size)
        .map_or(d.dtype.size() as f64, |n| n.to_f64());
    let a = d.dtype.size() as f64;
    let p = &d.parallel;
    let (layers, moe_layers) = (f(&spec.num_hidden_layers), f(&spec.ffn.num_moe_layers));
    let attention = attention_params(spec) * layers;
    let dense = 3.0 * f(&spec.hidden_size) * f(&spec.ffn.intermediate_size) * (layers - moe_layers);
    let experts = expert_params(spec) * moe_layers;
    let vocab = 2.0 * f(&spec.vocab_size) * f(&spec.hidden_size);
    let whole = (attention + dense + experts) * w + vocab * a;
    let (tp, pp) = (p.tp as f64, p.pp as f64);
    let expert_split = if p.enable_ep {
        (p.dp * p.tp) as f64
    } else {
        tp
    };
    let per_gpu = ((attention + dense) / tp + experts / expert_split) / pp * w + vocab / tp * a;
    (whole as u64, per_gpu as u64)
}

/// Parameters of one attention layer (standard or MLA).
fn attention_params(spec: &ModelSpec) -> f64 {
    let f = |x: &crate::field::Field| x.clone().unwrap_or(0).max(0) as f64;
    let (d_model, q) = (f(&spec.hidden_size), f(&spec.num_attention_heads));
    if spec.is_mla {
        let m = &spec.mla;
        let (c, r, nope, v) = (
            f(&m.kv_lora_rank),
            f(&m.qk_rope_head_dim),
            f(&m.qk_nope_head_dim),
            f(&m.v_head_dim),
        );
        let q_proj = match &m.q_lora_rank {
            Some(rank) => d_model * f(rank) + f(rank) * q * (nope + r),
            None => d_model * q * (nope + r),
        };
        return q_proj + d_model * (c + r) + c * q * (nope + v) + q * v * d_model;
    }
    let (kv, head) = (f(&spec.num_key_value_heads), f(&spec.head_dim));
    d_model * (q + 2.0 * kv) * head + q * head * d_model
}

/// Parameters of one MoE layer: routed and shared experts (SwiGLU) and the router.
fn expert_params(spec: &ModelSpec) -> f64 {
    let f = |x: &crate::field::Field| x.clone().unwrap_or(0).max(0) as f64;
    let (d_model, n, mi) = (
        f(&spec.hidden_size),
        f(&spec.ffn.num_experts),
        f(&spec.ffn.moe_intermediate_size),
    );
    3.0 * d_model * mi * (n + f(&spec.ffn.num_shared_experts)) + d_model * n
}

/// A heuristic for what vLLM's memory profiling reserves besides weights and KV, per GPU:
/// the widest FFN activation of a `max_num_batched_tokens` step (gate and up outputs plus four
/// hidden-size buffers), FP32 logits for `max_num_seqs` rows, and 1 GiB for CUDA graphs, NCCL
/// buffers and allocator slack. Replace it with the figure from vLLM's "Memory profiling
/// takes" log line when you have one.
pub fn activation_reserve_bytes(
    spec: &ModelSpec,
    d: &Deployment,
    max_num_batched_tokens: u64,
    max_num_seqs: u64,
) -> u64 {
    let f = |x: &crate::field::Field| x.clone().unwrap_or(0).max(0) as u64;
    let tp = d.parallel.tp;
    let routed = f(&spec.ffn.moe_intermediate_size) * f(&spec.ffn.num_experts_per_tok);
    let ffn_width = f(&spec.ffn.intermediate_size).max(routed) / tp;
    let a = d.activation_byte_size();
    let per_token = (2 * ffn_width + 4 * f(&spec.hidden_size)) * a;
    let logits = max_num_seqs * (f(&spec.vocab_size) / tp) * 4;
    max_num_batched_tokens * per_token + logits + (1 << 30)
}
