//! Provides the deployment settings and the fields every parser chain starts from
//! (`BaseConfigParser` and the quantization parsers of vLLM 0.32's perf model).

use crate::dtype::{Dtype, KvCacheDtype};
use crate::error::InvalidComponent;
use crate::field::{FieldIssue, invalid};
use crate::parallel::ParallelConfig;
use crate::pynum::Num;
use crate::quant::vllm_weight_byte_size;
use crate::spec::ModelSpec;

/// How the model is run: dtypes, parallel layout, sliding-window switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// The model (compute) dtype.
    pub dtype: Dtype,
    /// The KV-cache dtype.
    pub kv_cache_dtype: KvCacheDtype,
    /// TP/PP/DP/EP.
    pub parallel: ParallelConfig,
    /// `--disable-sliding-window`.
    pub disable_sliding_window: bool,
}

impl Deployment {
    /// A single-GPU deployment in `dtype` with an `auto` KV cache.
    pub fn new(dtype: Dtype) -> Self {
        Self {
            dtype,
            kv_cache_dtype: KvCacheDtype::Auto,
            parallel: ParallelConfig::default(),
            disable_sliding_window: false,
        }
    }

    /// Bytes per activation element (the model dtype; never quantized).
    pub fn activation_byte_size(&self) -> u64 {
        self.dtype.size()
    }

    /// The deployment as vLLM 0.32 builds it for `spec`: `--kv-cache-dtype auto` becomes the
    /// cache dtype the checkpoint declares, if any (`resolve_kv_cache_dtype_string` in
    /// `EngineArgs.create_engine_config`, vllm/engine/arg_utils.py).
    pub fn resolved_for(&self, spec: &ModelSpec) -> Deployment {
        let mut resolved = self.clone();
        if let (KvCacheDtype::Auto, Some(declared)) =
            (&self.kv_cache_dtype, &spec.checkpoint_kv_cache_dtype)
        {
            resolved.kv_cache_dtype = declared.clone();
        }
        resolved
    }

    /// Bytes per KV-cache element.
    pub fn cache_byte_size(&self) -> u64 {
        self.kv_cache_dtype.size(self.dtype)
    }
}

/// `get_required(hf_text_config, "num_attention_heads")` and `"num_hidden_layers"`: an absent
/// attribute skips the component; a present but invalid one fails validation later.
pub(crate) fn require_base_attrs(
    component: &'static str,
    spec: &ModelSpec,
) -> Result<(), InvalidComponent> {
    for (name, field) in [
        ("num_attention_heads", &spec.num_attention_heads),
        ("num_hidden_layers", &spec.num_hidden_layers),
    ] {
        if field == &Err(FieldIssue::Missing) {
            return Err(invalid(
                component,
                format!("Missing required attr {name} in config"),
            ));
        }
    }
    Ok(())
}

/// The weight byte size after the attention / FFN quantization parser: the model dtype's size,
/// or the table entry for the checkpoint's method; a method outside the table skips the
/// component, as vLLM does.
pub(crate) fn quantized_weight_bytes(
    component: &'static str,
    label: &str,
    spec: &ModelSpec,
    deployment: &Deployment,
) -> Result<Num, InvalidComponent> {
    match spec.quantization.as_deref() {
        None => Ok(Num::from(deployment.dtype.size())),
        Some(method) => vllm_weight_byte_size(method).ok_or_else(|| {
            invalid(
                component,
                format!("Unsupported quantization method for {label} metrics: {method}"),
            )
        }),
    }
}

/// Heads per GPU under tensor parallelism: `max(1, n // tp)`.
pub(crate) fn per_gpu_heads(heads: u64, tp: u64, per_gpu: bool) -> u64 {
    if per_gpu { (heads / tp).max(1) } else { heads }
}
