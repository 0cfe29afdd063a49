//! Provides [`capture_sizes`]: the batch sizes (in tokens) vLLM captures CUDA graphs for.
//!
//! Mirrors `_set_cudagraph_sizes` in vllm/config/vllm.py and
//! `CompilationConfig.adjust_cudagraph_sizes_for_spec_decode` in vllm/config/compilation.py,
//! vLLM 0.32 (model runner v1; dynamic speculative-decoding tiers are not modelled).

use crate::cudagraph::mode::{CudaGraphMode, RuntimeMode};
use crate::error::ModelError;

/// The engine settings the capture sizes depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureSizeSettings {
    /// `cudagraph_mode` (`NONE` or `--enforce-eager` captures nothing).
    pub mode: CudaGraphMode,
    /// `--max-num-seqs`.
    pub max_num_seqs: u32,
    /// `--max-num-batched-tokens`.
    pub max_num_batched_tokens: u32,
    /// Speculative tokens per step (`uniform_decode_query_len = 1 + this`).
    pub num_speculative_tokens: u32,
    /// A data-centre Blackwell GPU (device capability family 100): the default ceiling is
    /// 1024 instead of 512.
    pub data_center_blackwell: bool,
    /// `--performance-mode interactivity`: every size 1..=32 instead of 1, 2, 4.
    pub interactivity: bool,
    /// `compilation_config.cudagraph_capture_sizes`, when the user gives them.
    pub capture_sizes: Option<Vec<u32>>,
    /// `compilation_config.max_cudagraph_capture_size`, when the user gives it.
    pub max_capture_size: Option<u32>,
}

impl CaptureSizeSettings {
    /// vLLM's defaults for the given mode and scheduler limits.
    pub fn new(mode: CudaGraphMode, max_num_seqs: u32, max_num_batched_tokens: u32) -> Self {
        Self {
            mode,
            max_num_seqs,
            max_num_batched_tokens,
            num_speculative_tokens: 0,
            data_center_blackwell: false,
            interactivity: false,
            capture_sizes: None,
            max_capture_size: None,
        }
    }

    /// `uniform_decode_query_len`: tokens per request in a uniform decode step.
    pub fn decode_query_len(&self) -> u32 {
        1 + self.num_speculative_tokens
    }
}

/// The sorted capture sizes vLLM ends up with (empty for mode `NONE`). Errors where vLLM
/// raises: no usable size, or an explicit list and maximum that disagree.
pub fn capture_sizes(s: &CaptureSizeSettings) -> Result<Vec<u32>, ModelError> {
    if s.mode == CudaGraphMode::None {
        return Ok(Vec::new());
    }
    let (ceiling, decode_sizes) = match s.max_capture_size {
        Some(max) => (u64::from(max), Vec::new()),
        None => default_ceiling(s),
    };
    let max_tokens = u64::from(s.max_num_batched_tokens);
    let max = ceiling.min(max_tokens);
    if max < 1 {
        return Err(invalid(
            "the largest capture size must be at least 1".to_owned(),
        ));
    }
    let sizes = match &s.capture_sizes {
        Some(explicit) => explicit_sizes(explicit, max_tokens)?,
        None => default_sizes(s, max, &decode_sizes),
    };
    check_user_max(s, &sizes)?;
    let qlen = s.decode_query_len();
    if s.mode.decode_mode() == RuntimeMode::Full && qlen > 1 {
        return round_for_spec_decode(&sizes, qlen);
    }
    Ok(sizes)
}

/// The default ceiling `min(max_num_seqs × qlen × 2, 512 or 1024)` and the uniform-decode
/// sizes appended to the grid.
fn default_ceiling(s: &CaptureSizeSettings) -> (u64, Vec<u64>) {
    let platform_max: u64 = if s.data_center_blackwell { 1024 } else { 512 };
    let (seqs, qlen) = (u64::from(s.max_num_seqs), u64::from(s.decode_query_len()));
    let ceiling = (seqs * qlen * 2).min(platform_max);
    let decode = if qlen > 1 {
        stride_grid(seqs.min(platform_max), true)
            .into_iter()
            .map(|n| n * qlen)
            .filter(|&size| size <= ceiling)
            .collect()
    } else if seqs <= ceiling {
        vec![seqs]
    } else {
        Vec::new()
    };
    (ceiling, decode)
}

/// `[1, 2, 4] + range(8, min(max + 1, 256), 8) + range(256, max + 1, 16)`, capped at `max`,
/// plus `max` itself when `with_max` (the request-count grid of speculative decoding).
fn stride_grid(max: u64, with_max: bool) -> Vec<u64> {
    let mut grid: Vec<u64> = [1, 2, 4].into_iter().filter(|&n| n <= max).collect();
    grid.extend((8..(max + 1).min(256)).step_by(8));
    grid.extend((256..=max).step_by(16));
    if with_max {
        grid.push(max);
    }
    grid
}

fn default_sizes(s: &CaptureSizeSettings, max: u64, decode_sizes: &[u64]) -> Vec<u32> {
    let max_tokens = u64::from(s.max_num_batched_tokens);
    let mut sizes = if s.interactivity {
        let mut small: Vec<u64> = (1..=max.min(32)).collect();
        small.extend(stride_grid(max, false).into_iter().filter(|&n| n >= 8));
        small
    } else {
        stride_grid(max, false)
    };
    if max_tokens <= max {
        sizes.push(max_tokens);
    }
    sizes.extend(decode_sizes.iter().filter(|&&n| n <= max_tokens));
    to_sorted_u32(sizes)
}

fn explicit_sizes(explicit: &[u32], max_tokens: u64) -> Result<Vec<u32>, ModelError> {
    if explicit.is_empty() || explicit.contains(&0) {
        return Err(invalid(
            "cudagraph_capture_sizes must be a non-empty list of sizes ≥ 1".to_owned(),
        ));
    }
    let kept = explicit
        .iter()
        .map(|&n| u64::from(n))
        .filter(|&n| n <= max_tokens);
    Ok(to_sorted_u32(kept.collect()))
}

/// vLLM raises when both the list and the maximum are given and disagree (a lone maximum is
/// only truncated, with a warning).
fn check_user_max(s: &CaptureSizeSettings, sizes: &[u32]) -> Result<(), ModelError> {
    let valid_max = sizes.last().copied().unwrap_or(0);
    match (s.max_capture_size, &s.capture_sizes) {
        (Some(max), Some(_)) if max != valid_max => Err(invalid(format!(
            "max_cudagraph_capture_size ({max}) must equal the largest capture size \
             ({valid_max})"
        ))),
        _ => Ok(()),
    }
}

/// `adjust_cudagraph_sizes_for_spec_decode`: round every size up to a multiple of `qlen`,
/// dropping those that pass the largest size.
fn round_for_spec_decode(sizes: &[u32], qlen: u32) -> Result<Vec<u32>, ModelError> {
    let max = sizes.last().copied().unwrap_or(0);
    let mut rounded: Vec<u32> = sizes
        .iter()
        .map(|&n| n.div_ceil(qlen) * qlen)
        .filter(|&n| n <= max)
        .collect();
    rounded.dedup();
    if rounded.is_empty() && qlen <= max {
        rounded.push(qlen);
    }
    if rounded.is_empty() {
        return Err(invalid(format!(
            "no capture size is left after rounding to a multiple of {qlen} \
             (num_speculative_tokens + 1)"
        )));
    }
    Ok(rounded)
}

fn to_sorted_u32(mut sizes: Vec<u64>) -> Vec<u32> {
    sizes.sort_unstable();
    sizes.dedup();
    sizes
        .into_iter()
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
        .collect()
}

fn invalid(reason: String) -> ModelError {
    ModelError::InvalidSetting {
        setting: "cudagraph-capture-sizes",
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(seqs: u32, tokens: u32) -> CaptureSizeSettings {
        CaptureSizeSettings::new(CudaGraphMode::FullAndPiecewise, seqs, tokens)
    }

    #[test]
    fn h100_api_server_defaults_give_51_sizes_up_to_512() {
        let sizes = capture_sizes(&settings(1024, 8192)).unwrap();
        assert_eq!(sizes.len(), 51);
        assert_eq!(&sizes[..6], &[1, 2, 4, 8, 16, 24]);
        assert_eq!(&sizes[33..37], &[248, 256, 272, 288]);
        assert_eq!(sizes.last(), Some(&512));
    }

    #[test]
    fn ceiling_is_twice_max_num_seqs_and_max_num_seqs_is_captured() {
        // max = min(64 × 1 × 2, 512) = 128: 1, 2, 4, 8..=128 step 8 → 3 + 16 = 19 sizes.
        let sizes = capture_sizes(&settings(64, 8192)).unwrap();
        assert_eq!(sizes.len(), 19);
        // 100 seqs: max 200, and 100 itself is off-stride, so it is appended.
        let sizes = capture_sizes(&settings(100, 8192)).unwrap();
        assert!(sizes.contains(&100) && sizes.last() == Some(&200));
    }

    #[test]
    fn max_num_batched_tokens_caps_and_is_captured_off_stride() {
        let sizes = capture_sizes(&settings(256, 300)).unwrap();
        assert_eq!(sizes.last(), Some(&300));
        assert_eq!(&sizes[sizes.len() - 3..], &[272, 288, 300]);
    }

    #[test]
    fn blackwell_ceiling_is_1024() {
        let mut s = settings(1024, 16384);
        s.data_center_blackwell = true;
        let sizes = capture_sizes(&s).unwrap();
        assert_eq!(sizes.last(), Some(&1024));
        assert_eq!(sizes.len(), 3 + 31 + 49);
    }

    #[test]
    fn speculative_decoding_rounds_to_multiples_of_the_query_len() {
        // qlen 4, 256 seqs: max = min(256·4·2, 512) = 512; every size rounded up to ×4.
        let mut s = settings(256, 8192);
        s.num_speculative_tokens = 3;
        let sizes = capture_sizes(&s).unwrap();
        assert_eq!(&sizes[..4], &[4, 8, 16, 24]);
        assert!(sizes.iter().all(|n| n % 4 == 0), "{sizes:?}");
        assert_eq!(sizes.last(), Some(&512));
    }

    #[test]
    fn none_mode_captures_nothing_and_explicit_lists_are_filtered() {
        let none = CaptureSizeSettings::new(CudaGraphMode::None, 256, 8192);
        assert!(capture_sizes(&none).unwrap().is_empty());
        let mut s = settings(256, 64);
        s.capture_sizes = Some(vec![32, 1, 128, 32, 8]);
        assert_eq!(capture_sizes(&s).unwrap(), vec![1, 8, 32]);
        s.max_capture_size = Some(128);
        assert!(capture_sizes(&s).is_err(), "disagreeing max is an error");
        s.max_capture_size = None;
        s.capture_sizes = Some(vec![0, 8]);
        assert!(capture_sizes(&s).is_err(), "a zero size is an error");
    }

    #[test]
    fn interactivity_captures_every_size_up_to_32() {
        let mut s = settings(256, 8192);
        s.interactivity = true;
        let sizes = capture_sizes(&s).unwrap();
        assert_eq!(&sizes[..33], &(1..=32).chain([40]).collect::<Vec<_>>()[..]);
    }
}
