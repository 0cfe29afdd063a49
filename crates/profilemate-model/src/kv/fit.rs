//! Provides [`DoesNotFit`]: why a model leaves no room for the KV cache on one GPU, with the
//! bytes, and the smallest tensor-parallel size that would fit it.
//!
//! Mirrors the first check of `check_enough_kv_cache_memory` (vllm/v1/core/kv_cache_utils.py,
//! vLLM 0.32), "No available memory for the cache blocks", and adds what vLLM does not say:
//! how far off the weights are and which `--tensor-parallel-size` fits.

use std::fmt;

use crate::components::Deployment;
use crate::error::ModelError;
use crate::kv::weights::{activation_reserve_bytes, weight_bytes};
use crate::kv::{KvCapacity, KvLayout, KvSizingConfig};
use crate::parallel::ParallelConfig;
use crate::spec::ModelSpec;

/// The largest tensor-parallel size [`smallest_fitting_tp`] tries.
pub const MAX_TP_TRIED: u64 = 64;

const GIB: f64 = (1u64 << 30) as f64;

/// A deployment whose weights and activation reserve leave too little memory for the KV cache.
#[derive(Debug, Clone, PartialEq)]
pub struct DoesNotFit {
    /// Weights per GPU.
    pub weight_bytes: u64,
    /// Activation and non-torch reserve per GPU.
    pub reserve_bytes: u64,
    /// What vLLM may use: memory × utilization.
    pub usable_bytes: u64,
    /// Device memory per GPU.
    pub gpu_memory_bytes: u64,
    /// `--gpu-memory-utilization`.
    pub gpu_memory_utilization: f64,
    /// What is left for the KV cache (0 when nothing is).
    pub kv_bytes: u64,
    /// The least KV cache the engine can run with.
    pub min_kv_bytes: u64,
    /// The deployment's tensor-parallel size.
    pub tp: u64,
    /// The smallest larger tensor-parallel size that fits the weights, the reserve and one
    /// `max_model_len` sequence of KV (`None`: none up to [`MAX_TP_TRIED`], or the weights were
    /// given as a figure that TP cannot change).
    pub smallest_tp: Option<u64>,
    /// Whether the weights figure was given (`--weights-gib`) rather than estimated.
    pub weights_given: bool,
    /// `--max-model-len`.
    pub max_model_len: u64,
}

impl DoesNotFit {
    /// `Err(DoesNotFit)` when `capacity` leaves less than `min_kv_bytes` (at least 1) for the
    /// KV cache.
    pub fn check(
        spec: &ModelSpec,
        d: &Deployment,
        cfg: &KvSizingConfig,
        capacity: &KvCapacity,
        min_kv_bytes: u64,
    ) -> Result<(), ModelError> {
        let min_kv_bytes = min_kv_bytes.max(1);
        if capacity.kv_bytes >= min_kv_bytes {
            return Ok(());
        }
        let weights_given = cfg.weight_bytes.is_some();
        Err(ModelError::DoesNotFit(Box::new(DoesNotFit {
            weight_bytes: capacity.weight_bytes,
            reserve_bytes: capacity.activation_reserve_bytes,
            usable_bytes: capacity.budget_bytes,
            gpu_memory_bytes: cfg.gpu_memory_bytes,
            gpu_memory_utilization: cfg.gpu_memory_utilization,
            kv_bytes: capacity.kv_bytes,
            min_kv_bytes,
            tp: d.parallel.tp,
            smallest_tp: (!weights_given)
                .then(|| smallest_fitting_tp(spec, d, cfg))
                .flatten(),
            weights_given,
            max_model_len: cfg.max_model_len,
        })))
    }
}

/// The smallest tensor-parallel size above the deployment's (dividing the attention heads, as
/// vLLM requires) at which one GPU holds the weights, the activation reserve and the KV of one
/// `max_model_len` sequence; `None` if none up to [`MAX_TP_TRIED`] does.
pub fn smallest_fitting_tp(spec: &ModelSpec, d: &Deployment, cfg: &KvSizingConfig) -> Option<u64> {
    let heads = spec.num_attention_heads.clone().unwrap_or(0).max(0) as u64;
    let budget = (cfg.gpu_memory_bytes as f64 * cfg.gpu_memory_utilization) as u64;
    (d.parallel.tp + 1..=MAX_TP_TRIED)
        .filter(|tp| heads == 0 || heads.is_multiple_of(*tp))
        .find(|&tp| {
            let p = &d.parallel;
            let Ok(parallel) = ParallelConfig::new(tp, p.pp, p.dp, p.enable_ep) else {
                return false;
            };
            let wider = Deployment {
                parallel,
                ..d.clone()
            };
            let Ok(layout) = KvLayout::per_gpu(spec, &wider) else {
                return false;
            };
            let weights = weight_bytes(spec, &wider).1;
            let reserve = cfg.activation_reserve_bytes.unwrap_or_else(|| {
                activation_reserve_bytes(spec, &wider, cfg.max_num_batched_tokens, cfg.max_num_seqs)
            });
            let sequence =
                u64::try_from(layout.bytes_for_sequence(cfg.max_model_len)).unwrap_or(u64::MAX);
            weights.saturating_add(reserve).saturating_add(sequence) <= budget
        })
}

impl fmt::Display for DoesNotFit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gib = |b: u64| b as f64 / GIB;
        write!(
            f,
            "the weights need {:.1} GiB per GPU ({} B) at tensor-parallel size {}, but {:.1} GiB \
             is usable ({} B = {} × {:.1} GiB) and the activation reserve takes {:.1} GiB of it, \
             ",
            gib(self.weight_bytes),
            self.weight_bytes,
            self.tp,
            gib(self.usable_bytes),
            self.usable_bytes,
            self.gpu_memory_utilization,
            gib(self.gpu_memory_bytes),
            gib(self.reserve_bytes),
        )?;
        if self.kv_bytes == 0 {
            write!(f, "leaving nothing for the KV cache")?;
        } else {
            write!(
                f,
                "leaving {} B for the KV cache, under the {} B it needs at least",
                self.kv_bytes, self.min_kv_bytes
            )?;
        }
        match (self.smallest_tp, self.weights_given) {
            (Some(tp), _) => write!(
                f,
                "; use --tensor-parallel-size {tp}, the smallest that fits (weights, reserve and \
                 the KV of one {}-token sequence per GPU)",
                self.max_model_len
            ),
            (None, true) => write!(
                f,
                "; lower --weights-gib, or raise --gpu-memory-utilization"
            ),
            (None, false) => write!(
                f,
                "; no --tensor-parallel-size up to {MAX_TP_TRIED} fits: add \
                 --pipeline-parallel-size or use a GPU with more memory"
            ),
        }
    }
}
