//! Provides [`KvCapacity`]: how many tokens and full-length sequences fit in the KV cache.
//!
//! Mirrors the budget of vLLM's `determine_available_memory` (vllm/v1/worker/gpu_worker.py,
//! vLLM 0.32) in outline: `total memory × gpu_memory_utilization − weights − peak activation
//! and non-torch memory`; the activation part is estimated, not profiled.

use crate::components::Deployment;
use crate::error::ModelError;
use crate::kv::weights::{activation_reserve_bytes, weight_bytes};
use crate::kv::{DoesNotFit, KvLayout};
use crate::spec::ModelSpec;

/// The engine settings KV capacity depends on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KvSizingConfig {
    /// Device memory per GPU, as the driver reports it.
    pub gpu_memory_bytes: u64,
    /// `--gpu-memory-utilization` (vLLM's default is 0.9).
    pub gpu_memory_utilization: f64,
    /// `--max-model-len`.
    pub max_model_len: u64,
    /// `--max-num-seqs`.
    pub max_num_seqs: u64,
    /// `--max-num-batched-tokens`.
    pub max_num_batched_tokens: u64,
    /// Weight bytes per GPU, when known better than the parameter count gives.
    pub weight_bytes: Option<u64>,
    /// Activation and non-torch reserve per GPU, when known (vLLM's profiling log).
    pub activation_reserve_bytes: Option<u64>,
}

/// The KV budget of one GPU and what fits in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KvCapacity {
    /// `memory × utilization`.
    pub budget_bytes: u64,
    /// Weights per GPU.
    pub weight_bytes: u64,
    /// Activation and non-torch reserve per GPU.
    pub activation_reserve_bytes: u64,
    /// Left for the KV cache (0 when weights and reserve do not fit).
    pub kv_bytes: u64,
    /// Tokens of full-attention context that fit (vLLM's "GPU KV cache size").
    pub tokens: u64,
    /// Sequences of `max_model_len` tokens that fit at once (vLLM's "Maximum concurrency").
    pub max_len_sequences: f64,
}

impl KvSizingConfig {
    /// Checks the settings, naming the first bad one.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |setting, reason: &str| {
            Err(ModelError::InvalidSetting {
                setting,
                reason: reason.to_owned(),
            })
        };
        if !(self.gpu_memory_utilization > 0.0 && self.gpu_memory_utilization <= 1.0) {
            return bad("gpu-memory-utilization", "must be in (0, 1]");
        }
        let max = crate::limits::MAX_TOKENS;
        if !(1..=max).contains(&self.max_model_len) {
            return bad("max-model-len", &format!("must be between 1 and {max}"));
        }
        if !(1..=crate::limits::MAX_REQUESTS).contains(&self.max_num_seqs) {
            return bad(
                "max-num-seqs",
                &format!("must be between 1 and {}", crate::limits::MAX_REQUESTS),
            );
        }
        if self.max_num_batched_tokens > max {
            return bad("max-num-batched-tokens", &format!("must be at most {max}"));
        }
        Ok(())
    }
}

impl KvCapacity {
    /// The capacity of one GPU of the deployment, with `layout` being [`KvLayout::per_gpu`].
    /// Fails with [`ModelError::DoesNotFit`] when nothing is left for the KV cache.
    pub fn compute(
        spec: &ModelSpec,
        d: &Deployment,
        layout: &KvLayout,
        cfg: &KvSizingConfig,
    ) -> Result<Self, ModelError> {
        cfg.validate()?;
        let budget = (cfg.gpu_memory_bytes as f64 * cfg.gpu_memory_utilization) as u64;
        let weights = cfg.weight_bytes.unwrap_or_else(|| weight_bytes(spec, d).1);
        let reserve = cfg.activation_reserve_bytes.unwrap_or_else(|| {
            activation_reserve_bytes(spec, d, cfg.max_num_batched_tokens, cfg.max_num_seqs)
        });
        let kv = budget.saturating_sub(weights).saturating_sub(reserve);
        let per_seq = layout.bytes_for_sequence(cfg.max_model_len) as f64;
        let capacity = Self {
            budget_bytes: budget,
            weight_bytes: weights,
            activation_reserve_bytes: reserve,
            kv_bytes: kv,
            tokens: kv / layout.bytes_per_token().max(1),
            max_len_sequences: if per_seq > 0.0 {
                kv as f64 / per_seq
            } else {
                0.0
            },
        };
        DoesNotFit::check(spec, d, cfg, &capacity, 1)?;
        Ok(capacity)
    }

    /// Sequences of `len` tokens that fit at once.
    pub fn sequences_at(&self, layout: &KvLayout, len: u64) -> u64 {
        let per_seq = layout.bytes_for_sequence(len).max(1);
        (u128::from(self.kv_bytes) / per_seq) as u64
    }
}
