//! Defines [`ParallelConfig`], the TP/PP/DP/EP layout of a deployment.

use crate::error::ModelError;
use crate::spec::ModelSpec;

/// How the model is spread over GPUs (`--tensor-parallel-size` and friends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParallelConfig {
    /// Tensor-parallel size.
    pub tp: u64,
    /// Pipeline-parallel size.
    pub pp: u64,
    /// Data-parallel size.
    pub dp: u64,
    /// Whether MoE experts are spread with expert parallelism (`--enable-expert-parallel`).
    pub enable_ep: bool,
}

impl Default for ParallelConfig {
    fn default() -> Self {
        Self {
            tp: 1,
            pp: 1,
            dp: 1,
            enable_ep: false,
        }
    }
}

impl ParallelConfig {
    /// A layout, checked: every size must be at least 1.
    pub fn new(tp: u64, pp: u64, dp: u64, enable_ep: bool) -> Result<Self, ModelError> {
        for (name, value) in [
            ("tensor-parallel-size", tp),
            ("pipeline-parallel-size", pp),
            ("data-parallel-size", dp),
        ] {
            if value == 0 {
                return Err(ModelError::InvalidSetting {
                    setting: name,
                    reason: "must be at least 1".to_owned(),
                });
            }
        }
        Ok(Self {
            tp,
            pp,
            dp,
            enable_ep,
        })
    }

    /// vLLM 0.32's check of this layout against the model (`ModelConfig.verify_with_parallel_config`
    /// in `vllm/config/model.py`): the total attention heads must be divisible by the
    /// tensor-parallel size. KV heads are not checked there (vLLM replicates them when TP exceeds
    /// them). A config without a usable head count is left to the components, which skip it.
    pub fn verify_for(&self, spec: &ModelSpec) -> Result<(), ModelError> {
        match spec.num_attention_heads {
            Ok(heads) if heads > 0 && !(heads as u64).is_multiple_of(self.tp) => {
                Err(ModelError::HeadsNotDivisibleByTp {
                    field: "num_attention_heads",
                    heads: heads as u64,
                    tp: self.tp,
                })
            }
            _ => Ok(()),
        }
    }

    /// GPUs in the whole deployment (`tp × pp × dp`).
    pub fn world_size(&self) -> u64 {
        self.tp * self.pp * self.dp
    }

    /// A short label such as `TP4+PP2` or `DP2+TP4+EP`.
    pub fn label(&self) -> String {
        let mut parts = Vec::new();
        if self.dp > 1 {
            parts.push(format!("DP{}", self.dp));
        }
        parts.push(format!("TP{}", self.tp));
        if self.pp > 1 {
            parts.push(format!("PP{}", self.pp));
        }
        if self.enable_ep {
            parts.push("EP".to_owned());
        }
        parts.join("+")
    }
}
