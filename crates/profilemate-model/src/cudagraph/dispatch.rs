//! Provides [`CudaGraphDispatcher`]: for one step, the runtime mode and the padded size.
//!
//! Mirrors `CudagraphDispatcher.dispatch` and `initialize_cudagraph_keys` in
//! vllm/v1/cudagraph_dispatcher.py, vLLM 0.32, without LoRA: a step larger than the largest
//! capture size runs eager and unpadded; otherwise it is padded to the next capture size and
//! runs FULL if a full-graph key exists for it, else PIECEWISE if a piecewise key does, else
//! eager.

use crate::cudagraph::mode::{CudaGraphMode, RuntimeMode};
use crate::cudagraph::sizes::{CaptureSizeSettings, capture_sizes};
use crate::error::ModelError;

/// One step's dispatch decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dispatch {
    /// The mode the step runs in.
    pub mode: RuntimeMode,
    /// Tokens scheduled.
    pub unpadded_tokens: u32,
    /// Tokens the forward pass runs on (equal to `unpadded_tokens` when eager).
    pub padded_tokens: u32,
}

impl Dispatch {
    /// Padding tokens added (`num_paddings`).
    pub fn num_paddings(&self) -> u32 {
        self.padded_tokens - self.unpadded_tokens
    }

    /// `unpadded / padded`: the share of the forward pass that is useful work (1 when eager).
    pub fn padding_efficiency(&self) -> f64 {
        if self.padded_tokens == 0 {
            return 1.0;
        }
        f64::from(self.unpadded_tokens) / f64::from(self.padded_tokens)
    }
}

/// The resolved dispatcher: the mode, the sorted capture sizes and the decode limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CudaGraphDispatcher {
    mode: CudaGraphMode,
    sizes: Vec<u32>,
    decode_query_len: u32,
    max_num_seqs: u32,
}

impl CudaGraphDispatcher {
    /// Resolves the capture sizes from the engine settings (see [`capture_sizes`]).
    pub fn new(settings: &CaptureSizeSettings) -> Result<Self, ModelError> {
        Ok(Self::from_sizes(
            settings.mode,
            capture_sizes(settings)?,
            settings.decode_query_len(),
            settings.max_num_seqs,
        ))
    }

    /// A dispatcher over already-resolved sizes (sorted and de-duplicated here).
    pub fn from_sizes(
        mode: CudaGraphMode,
        mut sizes: Vec<u32>,
        decode_query_len: u32,
        max_num_seqs: u32,
    ) -> Self {
        sizes.sort_unstable();
        sizes.dedup();
        sizes.retain(|&n| n > 0);
        Self {
            mode,
            sizes,
            decode_query_len: decode_query_len.max(1),
            max_num_seqs,
        }
    }

    /// The configured mode.
    pub fn mode(&self) -> CudaGraphMode {
        self.mode
    }

    /// The capture sizes, ascending.
    pub fn capture_sizes(&self) -> &[u32] {
        &self.sizes
    }

    /// `max_cudagraph_capture_size` (0 when nothing is captured).
    pub fn max_capture_size(&self) -> u32 {
        self.sizes.last().copied().unwrap_or(0)
    }

    /// The smallest capture size ≥ `num_tokens`, or `None` above the largest.
    pub fn padded_size(&self, num_tokens: u32) -> Option<u32> {
        let i = self.sizes.partition_point(|&n| n < num_tokens);
        self.sizes.get(i).copied()
    }

    /// Decides mode and padding for a step of `num_tokens` tokens. `uniform_decode`: every
    /// request has exactly `decode_query_len` tokens scheduled. Allocation-free.
    pub fn dispatch(&self, num_tokens: u32, uniform_decode: bool) -> Dispatch {
        let eager = Dispatch {
            mode: RuntimeMode::None,
            unpadded_tokens: num_tokens,
            padded_tokens: num_tokens,
        };
        let padded = match self.padded_size(num_tokens) {
            Some(p) if self.mode != CudaGraphMode::None && num_tokens > 0 => p,
            _ => return eager,
        };
        let mode = self.runtime_mode(padded, uniform_decode);
        if mode == RuntimeMode::None {
            return eager;
        }
        Dispatch {
            mode,
            unpadded_tokens: num_tokens,
            padded_tokens: padded,
        }
    }

    /// The FULL key set holds every size in the mixed FULL mode, and the uniform-decode sizes
    /// in `[qlen, qlen × max_num_seqs]` in a separate-routine mode; the PIECEWISE set holds
    /// every size when the mixed mode is PIECEWISE.
    fn runtime_mode(&self, padded: u32, uniform_decode: bool) -> RuntimeMode {
        let qlen = self.decode_query_len;
        let uniform = uniform_decode && self.mode.separate_routine();
        let decode_ceiling = u64::from(qlen) * u64::from(self.max_num_seqs);
        let full_hit = if uniform {
            padded >= qlen && u64::from(padded) <= decode_ceiling && padded.is_multiple_of(qlen)
        } else {
            self.mode.mixed_mode() == RuntimeMode::Full
        };
        if full_hit {
            RuntimeMode::Full
        } else if self.mode.mixed_mode() == RuntimeMode::Piecewise {
            RuntimeMode::Piecewise
        } else {
            RuntimeMode::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dispatcher(mode: CudaGraphMode, seqs: u32) -> CudaGraphDispatcher {
        CudaGraphDispatcher::new(&CaptureSizeSettings::new(mode, seqs, 8192)).unwrap()
    }

    #[test]
    fn padding_goes_to_the_next_capture_size() {
        let d = dispatcher(CudaGraphMode::FullAndPiecewise, 1024);
        let padded = |n| d.dispatch(n, false).padded_tokens;
        assert_eq!(
            [1, 3, 5, 9, 17, 100, 250, 256, 257, 300, 511, 512].map(padded),
            [1, 4, 8, 16, 24, 104, 256, 256, 272, 304, 512, 512]
        );
        let d5 = d.dispatch(5, false);
        assert_eq!(d5.num_paddings(), 3);
        assert!((d5.padding_efficiency() - 0.625).abs() < 1e-12);
    }

    #[test]
    fn above_the_largest_size_runs_eager_unpadded() {
        let d = dispatcher(CudaGraphMode::FullAndPiecewise, 1024);
        let eager = Dispatch {
            mode: RuntimeMode::None,
            unpadded_tokens: 513,
            padded_tokens: 513,
        };
        assert_eq!(d.dispatch(513, false), eager);
        assert_eq!(d.dispatch(513, true).mode, RuntimeMode::None);
        assert_eq!(d.dispatch(513, false).padding_efficiency(), 1.0);
    }

    #[test]
    fn each_mode_dispatches_as_vllm() {
        use CudaGraphMode as M;
        use RuntimeMode as R;
        let cases = [
            (M::None, [R::None, R::None]),
            (M::Piecewise, [R::Piecewise, R::Piecewise]),
            (M::Full, [R::Full, R::Full]),
            (M::FullDecodeOnly, [R::Full, R::None]),
            (M::FullAndPiecewise, [R::Full, R::Piecewise]),
        ];
        for (mode, [decode, mixed]) in cases {
            let d = dispatcher(mode, 256);
            assert_eq!(d.dispatch(30, true).mode, decode, "{mode} uniform decode");
            assert_eq!(d.dispatch(30, false).mode, mixed, "{mode} mixed");
        }
    }

    #[test]
    fn uniform_decode_beyond_max_num_seqs_falls_back_to_piecewise() {
        // 128 seqs: sizes up to 256; a uniform batch padded to 136 > 1 × 128 has no FULL key.
        let d = dispatcher(CudaGraphMode::FullAndPiecewise, 128);
        assert_eq!(d.dispatch(128, true).mode, RuntimeMode::Full);
        assert_eq!(d.dispatch(130, true).mode, RuntimeMode::Piecewise);
        let fdo = dispatcher(CudaGraphMode::FullDecodeOnly, 128);
        assert_eq!(fdo.dispatch(130, true).mode, RuntimeMode::None);
    }

    #[test]
    fn spec_decode_uniform_batches_use_full_graphs_of_multiples() {
        let mut s = CaptureSizeSettings::new(CudaGraphMode::FullAndPiecewise, 64, 8192);
        s.num_speculative_tokens = 1;
        let d = CudaGraphDispatcher::new(&s).unwrap();
        // 5 requests × 2 tokens = 10 → padded to 16 (a multiple of 2), FULL.
        let step = d.dispatch(10, true);
        assert_eq!((step.mode, step.padded_tokens), (RuntimeMode::Full, 16));
    }
}
