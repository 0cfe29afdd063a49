//! Provides CUDA-graph modes, vLLM's default capture sizes and the per-step dispatch that
//! decides a step's padding.
//!
//! Mirrors `CudagraphDispatcher.dispatch()` (vllm/v1/cudagraph_dispatcher.py) and
//! `VllmConfig._set_cudagraph_sizes()` (vllm/config/vllm.py), vLLM 0.32, as summarised in
//! observability-anchors.md §3.

use crate::error::ConfigError;

/// `compilation_config.cudagraph_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CudaGraphMode {
    /// No graphs: every step runs eager (`--enforce-eager`, or the CPU backend).
    None,
    /// Piecewise graphs for every batch up to the largest capture size.
    Piecewise,
    /// Full graphs for every batch up to the largest capture size.
    Full,
    /// Full graphs for uniform-decode batches; everything else eager.
    FullDecodeOnly,
    /// Full graphs for uniform decode, piecewise for the rest (vLLM V1's default).
    FullAndPiecewise,
}

/// The mode a step actually ran in, as vLLM's CUDA-graph stats record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeMode {
    /// Eager, unpadded.
    None,
    /// A piecewise graph.
    Piecewise,
    /// A full graph.
    Full,
}

impl RuntimeMode {
    /// The name vLLM prints (`str(CUDAGraphMode)`).
    pub fn name(self) -> &'static str {
        match self {
            RuntimeMode::None => "NONE",
            RuntimeMode::Piecewise => "PIECEWISE",
            RuntimeMode::Full => "FULL",
        }
    }
}

/// CUDA-graph settings: the mode and, optionally, explicit capture sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CudaGraphConfig {
    /// `cudagraph_mode`.
    pub mode: CudaGraphMode,
    /// `cudagraph_capture_sizes`; `None` derives vLLM's defaults from the engine limits.
    pub capture_sizes: Option<Vec<u32>>,
}

impl Default for CudaGraphConfig {
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

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        match &self.capture_sizes {
            Some(sizes) if sizes.contains(&0) => Err(ConfigError::ZeroCaptureSize),
            _ => Ok(()),
        }
    }
}

/// vLLM's default capture sizes (`_set_cudagraph_sizes`, non-Blackwell, default mode).
pub fn default_capture_sizes(
    max_num_seqs: u32,
    max_num_batched_tokens: u32,
    qlen: u32,
) -> Vec<u32> {
    let max = (max_num_seqs * qlen * 2)
        .min(512)
        .min(max_num_batched_tokens);
    let mut sizes: Vec<u32> = [1, 2, 4].into_iter().filter(|&s| s <= max).collect();
    sizes.extend((8..(max + 1).min(256)).step_by(8));
    sizes.extend((256..=max).step_by(16));
    if max_num_batched_tokens <= max {
        sizes.push(max_num_batched_tokens);
    }
    if qlen == 1 && max_num_seqs <= max {
        sizes.push(max_num_seqs);
    }
    if qlen > 1 {
        sizes.extend(
            decode_grid(max_num_seqs)
                .map(|n| n * qlen)
                .filter(|&s| s <= max),
        );
    }
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

/// The request-count grid for multi-token decode sizes: 1, 2, 4, 8, then steps of 16.
fn decode_grid(max_num_seqs: u32) -> impl Iterator<Item = u32> {
    [1, 2, 4, 8]
        .into_iter()
        .chain((16..=max_num_seqs).step_by(16))
}

/// A step's dispatch decision: the runtime mode and the padded token count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dispatch {
    /// Mode the step runs in.
    pub mode: RuntimeMode,
    /// Tokens after padding to a capture size (equal to the unpadded count when eager).
    pub padded_tokens: u32,
}

/// Resolved dispatcher: the mode plus the sorted capture sizes.
#[derive(Debug, Clone)]
pub(crate) struct Dispatcher {
    mode: CudaGraphMode,
    sizes: Vec<u32>,
    qlen: u32,
    max_num_seqs: u32,
}

impl Dispatcher {
    pub(crate) fn new(config: &CudaGraphConfig, max_num_seqs: u32, budget: u32, qlen: u32) -> Self {
        let mut sizes = match &config.capture_sizes {
            Some(sizes) => sizes.iter().copied().filter(|&s| s <= budget).collect(),
            None => default_capture_sizes(max_num_seqs, budget, qlen),
        };
        sizes.sort_unstable();
        sizes.dedup();
        Dispatcher {
            mode: config.mode,
            sizes,
            qlen,
            max_num_seqs,
        }
    }

    /// Decides mode and padding for a step of `num_tokens` tokens; `uniform_decode` when every
    /// request has exactly `qlen` tokens scheduled.
    pub(crate) fn dispatch(&self, num_tokens: u32, uniform_decode: bool) -> Dispatch {
        let eager = Dispatch {
            mode: RuntimeMode::None,
            padded_tokens: num_tokens,
        };
        let Some(&padded) = self.sizes.iter().find(|&&s| s >= num_tokens) else {
            return eager;
        };
        let full_decode = uniform_decode && padded <= self.qlen * self.max_num_seqs;
        let mode = match self.mode {
            CudaGraphMode::None => return eager,
            CudaGraphMode::Piecewise => RuntimeMode::Piecewise,
            CudaGraphMode::Full => RuntimeMode::Full,
            CudaGraphMode::FullDecodeOnly if full_decode => RuntimeMode::Full,
            CudaGraphMode::FullDecodeOnly => return eager,
            CudaGraphMode::FullAndPiecewise if full_decode => RuntimeMode::Full,
            CudaGraphMode::FullAndPiecewise => RuntimeMode::Piecewise,
        };
        Dispatch {
            mode,
            padded_tokens: padded,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_sizes_for_h100_api_server_have_51_entries() {
        let sizes = default_capture_sizes(1024, 8192, 1);
        assert_eq!(sizes.len(), 51);
        assert_eq!(&sizes[..5], &[1, 2, 4, 8, 16]);
        assert_eq!(sizes.last(), Some(&512));
    }

    #[test]
    fn sixty_four_seqs_give_19_sizes() {
        assert_eq!(default_capture_sizes(64, 8192, 1).len(), 19);
    }

    #[test]
    fn padding_table_matches_vllm() {
        let config = CudaGraphConfig::default();
        let d = Dispatcher::new(&config, 1024, 8192, 1);
        let padded = |n| d.dispatch(n, false).padded_tokens;
        assert_eq!(
            [3, 5, 9, 17, 100, 250, 257, 300, 511].map(padded),
            [4, 8, 16, 24, 104, 256, 272, 304, 512]
        );
        assert_eq!(
            d.dispatch(513, false),
            Dispatch {
                mode: RuntimeMode::None,
                padded_tokens: 513
            }
        );
    }

    #[test]
    fn full_and_piecewise_uses_full_for_uniform_decode_only() {
        let d = Dispatcher::new(&CudaGraphConfig::default(), 256, 2048, 1);
        assert_eq!(
            d.dispatch(30, true),
            Dispatch {
                mode: RuntimeMode::Full,
                padded_tokens: 32
            }
        );
        assert_eq!(
            d.dispatch(30, false),
            Dispatch {
                mode: RuntimeMode::Piecewise,
                padded_tokens: 32
            }
        );
    }
}
