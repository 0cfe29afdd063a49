//! Provides KV-cache sizing: bytes per token for MHA/GQA/MQA/MLA, sliding-window and FP8
//! caches ([`KvLayout`]), capacity from GPU memory ([`KvCapacity`]) and the table of what
//! `max_model_len` costs ([`sweep`]).
//!
//! Mirrors the per-layer page sizes of `AttentionSpec` / `MLAAttentionSpec` in
//! vllm/v1/kv_cache_interface.py and mla_attention.py, vLLM 0.32: `2 × kv_heads × head_dim ×
//! bytes` per token for standard attention, one shared latent of `kv_lora_rank +
//! qk_rope_head_dim` elements for MLA (656 B for `fp8_ds_mla`, 352 B for `nvfp4_ds_mla`),
//! KV heads split over TP but never below one per GPU, the MLA latent replicated on every TP
//! rank. Sliding-window layers keep only the window.

mod capacity;
mod fit;
mod sweep;
mod weights;

pub use capacity::{KvCapacity, KvSizingConfig};
pub use fit::{DoesNotFit, MAX_TP_TRIED, smallest_fitting_tp};
pub use sweep::{KvRow, sweep};
pub use weights::{activation_reserve_bytes, weight_bytes};

use crate::components::Deployment;
use crate::error::ModelError;
use crate::spec::ModelSpec;

/// How one token's KV is laid out across the layers (of the whole model, or of one GPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvLayout {
    /// `MHA`, `GQA`, `MQA` or `MLA`.
    pub kind: &'static str,
    /// Bytes one token occupies in one layer.
    pub bytes_per_token_per_layer: u64,
    /// Layers that keep the whole context.
    pub full_layers: u64,
    /// Layers that keep only the last `sliding_window` tokens.
    pub sliding_layers: u64,
    /// The window of the sliding layers.
    pub sliding_window: Option<u64>,
}

impl KvLayout {
    /// The layout of the whole model (every layer, every KV head).
    pub fn whole_model(spec: &ModelSpec, deployment: &Deployment) -> Result<Self, ModelError> {
        Self::build(spec, deployment, false)
    }

    /// The layout on one GPU: KV heads `max(1, kv // tp)`, layers `⌈L / pp⌉`.
    pub fn per_gpu(spec: &ModelSpec, deployment: &Deployment) -> Result<Self, ModelError> {
        Self::build(spec, deployment, true)
    }

    fn build(spec: &ModelSpec, d: &Deployment, per_gpu: bool) -> Result<Self, ModelError> {
        spec.check_limits()?;
        let layers = positive(&spec.num_hidden_layers, "num_hidden_layers")?;
        let (tp, pp) = if per_gpu {
            (d.parallel.tp, d.parallel.pp)
        } else {
            (1, 1)
        };
        let (kind, per_layer) = token_bytes(spec, d, tp)?;
        let swa = if d.disable_sliding_window {
            0
        } else {
            spec.num_swa_layers(layers)
        };
        let window = spec
            .sliding_window
            .filter(|w| *w > 0 && swa > 0)
            .map(|w| w as u64);
        let stage = |n: u64| n.div_ceil(pp);
        Ok(Self {
            kind,
            bytes_per_token_per_layer: per_layer,
            full_layers: stage(layers - swa),
            sliding_layers: stage(swa),
            sliding_window: window,
        })
    }

    /// Bytes of one token of full-attention context over all layers.
    pub fn bytes_per_token(&self) -> u64 {
        self.bytes_per_token_per_layer * (self.full_layers + self.sliding_layers)
    }

    /// Bytes of one sequence of `len` tokens: sliding layers keep at most the window.
    pub fn bytes_for_sequence(&self, len: u64) -> u128 {
        let kept_swa = self.sliding_window.map_or(len, |w| len.min(w));
        let tokens = u128::from(self.full_layers) * u128::from(len)
            + u128::from(self.sliding_layers) * u128::from(kept_swa);
        tokens * u128::from(self.bytes_per_token_per_layer)
    }
}

/// `(kind, bytes per token per layer)` with KV heads split over `tp`.
fn token_bytes(
    spec: &ModelSpec,
    d: &Deployment,
    tp: u64,
) -> Result<(&'static str, u64), ModelError> {
    let c = d.cache_byte_size();
    if spec.is_mla {
        let latent = positive(&spec.mla.kv_lora_rank, "kv_lora_rank")?
            + positive(&spec.mla.qk_rope_head_dim, "qk_rope_head_dim")?;
        let bytes = match d.kv_cache_dtype.name() {
            "fp8_ds_mla" => 656,
            "nvfp4_ds_mla" => 352,
            _ => latent * c,
        };
        return Ok(("MLA", bytes));
    }
    let heads = positive(&spec.num_attention_heads, "num_attention_heads")?;
    let kv = positive(&spec.num_key_value_heads, "num_key_value_heads")?;
    let head_dim = positive(&spec.head_dim, "head_dim")?;
    let kind = match kv {
        1 => "MQA",
        k if k == heads => "MHA",
        _ => "GQA",
    };
    Ok((kind, 2 * (kv / tp).max(1) * head_dim * c))
}

fn positive(field: &crate::field::Field, name: &str) -> Result<u64, ModelError> {
    match field {
        Ok(v) if *v > 0 => Ok(*v as u64),
        other => Err(ModelError::InvalidConfig {
            field: name.to_owned(),
            reason: match other {
                Ok(v) => format!("must be positive for KV sizing (got {v})"),
                Err(issue) => issue.to_string(),
            },
        }),
    }
}

#[cfg(test)]
mod tests;
