//! Provides the engine's CUDA-graph settings and resolves them into the model crate's
//! dispatcher, the single source of truth for capture sizes and per-step padding.

use profilemate_model::cudagraph::{CaptureSizeSettings, CudaGraphDispatcher, CudaGraphMode};

use crate::error::EngineConfigError;

/// CUDA-graph flags: the mode and, optionally, explicit capture sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CudaGraphConfig {
    /// `compilation_config.cudagraph_mode`.
    pub mode: CudaGraphMode,
    /// `compilation_config.cudagraph_capture_sizes`; `None` derives vLLM's defaults from the
    /// engine limits.
    pub capture_sizes: Option<Vec<u32>>,
}

impl Default for CudaGraphConfig {
    /// vLLM V1's default: `FULL_AND_PIECEWISE` with the default capture sizes.
    fn default() -> Self {
        CudaGraphConfig {
            mode: CudaGraphMode::FullAndPiecewise,
            capture_sizes: None,
        }
    }
}

impl CudaGraphConfig {
    /// No CUDA graphs (`--enforce-eager`, or vLLM's CPU backend).
    pub fn eager() -> Self {
        CudaGraphConfig {
            mode: CudaGraphMode::None,
            capture_sizes: None,
        }
    }

    /// The dispatcher for an engine with these limits (`_set_cudagraph_sizes`).
    pub(crate) fn dispatcher(
        &self,
        max_num_seqs: u32,
        max_num_batched_tokens: u32,
        num_speculative_tokens: u32,
    ) -> Result<CudaGraphDispatcher, EngineConfigError> {
        let settings = CaptureSizeSettings {
            num_speculative_tokens,
            capture_sizes: self.capture_sizes.clone(),
            ..CaptureSizeSettings::new(self.mode, max_num_seqs, max_num_batched_tokens)
        };
        CudaGraphDispatcher::new(&settings).map_err(|e| EngineConfigError::CudaGraph(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use profilemate_model::cudagraph::RuntimeMode;

    use super::*;

    #[test]
    fn default_mode_pads_decodes_into_full_graphs() {
        let d = CudaGraphConfig::default().dispatcher(256, 2048, 0).unwrap();
        let step = d.dispatch(30, true);
        assert_eq!((step.mode, step.padded_tokens), (RuntimeMode::Full, 32));
        assert_eq!(d.dispatch(30, false).mode, RuntimeMode::Piecewise);
    }

    #[test]
    fn eager_never_pads() {
        let d = CudaGraphConfig::eager().dispatcher(256, 2048, 0).unwrap();
        let step = d.dispatch(30, true);
        assert_eq!((step.mode, step.padded_tokens), (RuntimeMode::None, 30));
    }
}
