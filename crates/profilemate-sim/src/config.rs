//! Provides [`EngineConfig`], the engine flags that shape scheduling, and its validation.

use std::time::Duration;

use profilemate_model::cudagraph::CudaGraphDispatcher;

use crate::cudagraph::CudaGraphConfig;
use crate::error::EngineConfigError;
use crate::offload::KvOffloadConfig;
use crate::spec_decode::SpecDecodeConfig;

/// The scheduling-relevant settings of a vLLM V1 engine.
///
/// Field names follow vLLM's CLI flags (`--max-num-seqs` → `max_num_seqs`). The KV cache size
/// is given in blocks ([`num_gpu_blocks`](Self::num_gpu_blocks)), as `--num-gpu-blocks-override`
/// does; deriving it from a GPU preset and `--gpu-memory-utilization` is the model crate's job.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// `--max-num-seqs`: most requests in the running queue.
    pub max_num_seqs: u32,
    /// `--max-num-batched-tokens`: the per-step token budget.
    pub max_num_batched_tokens: u32,
    /// `--block-size`: tokens per KV-cache block (16 on GPUs, 128 on vLLM's CPU backend).
    pub block_size: u32,
    /// KV-cache blocks in total, vLLM's null block included (`--num-gpu-blocks-override`).
    pub num_gpu_blocks: u32,
    /// `--enable-prefix-caching`: reuse cached full blocks by chained block hashes.
    pub enable_prefix_caching: bool,
    /// `--enable-chunked-prefill`: split prompts across steps to fit the token budget.
    pub enable_chunked_prefill: bool,
    /// `--max-model-len`: most tokens (prompt + output) in one sequence.
    pub max_model_len: u32,
    /// `--long-prefill-token-threshold`: cap on one request's prefill chunk when more than one
    /// request is eligible; 0 disables it (vLLM's default).
    pub long_prefill_token_threshold: u32,
    /// `--scheduler-reserve-full-isl` (vLLM default on): admit a waiting request only if its
    /// whole prompt fits in the free KV blocks, not just its first chunk.
    pub reserve_full_isl: bool,
    /// `--async-scheduling` (vLLM 0.32's default on GPUs; the CPU backend runs without it):
    /// step N+1 is scheduled while step N runs, so arrivals and freed slots are seen one
    /// step later and decodes are scheduled before their previous token is known.
    pub async_scheduling: bool,
    /// `--watermark`: fraction of KV blocks kept free when admitting waiting requests.
    pub watermark: f64,
    /// Per-step CPU overhead: scheduling, input preparation, sampling and output processing,
    /// added to the [`StepTimer`](crate::StepTimer)'s model time. Simulator authors report
    /// this as the largest single source of error, so it is explicit; calibrate it from
    /// `iteration elapsed time` minus the model's estimate on a small-batch trace.
    pub cpu_overhead_per_step: Duration,
    /// CUDA-graph mode and capture sizes, which decide each step's padding.
    pub cudagraph: CudaGraphConfig,
    /// Speculative decoding (draft length and acceptance), off when `None`.
    pub spec_decode: Option<SpecDecodeConfig>,
    /// KV offloading to CPU memory (`--kv-transfer-config` with vLLM's
    /// `OffloadingConnector` and the CPU spec), off when `None`. See `docs/kv-offload.md`.
    pub kv_offload: Option<KvOffloadConfig>,
    /// Seed for every random choice (draft acceptance); equal seeds give equal runs.
    pub seed: u64,
}

impl Default for EngineConfig {
    /// vLLM's API-server defaults for GPUs under 70 GiB (async scheduling, prefix caching and
    /// chunked prefill on), block size 16, 8192 blocks.
    fn default() -> Self {
        EngineConfig {
            max_num_seqs: 256,
            max_num_batched_tokens: 2048,
            block_size: 16,
            num_gpu_blocks: 8192,
            enable_prefix_caching: true,
            enable_chunked_prefill: true,
            max_model_len: 8192,
            long_prefill_token_threshold: 0,
            reserve_full_isl: true,
            async_scheduling: true,
            watermark: 0.0,
            cpu_overhead_per_step: Duration::ZERO,
            cudagraph: CudaGraphConfig::default(),
            spec_decode: None,
            kv_offload: None,
            seed: 0,
        }
    }
}

impl EngineConfig {
    /// Checks the settings the way vLLM's config validation does.
    ///
    /// Mirrors `SchedulerConfig._verify_args` (vllm/config/scheduler.py) and the KV-capacity
    /// check of `check_enough_kv_cache_memory` (vllm/v1/core/kv_cache_utils.py), vLLM 0.32.
    pub fn validate(&self) -> Result<(), EngineConfigError> {
        self.validate_limits()?;
        self.validate_nonzero()?;
        self.validate_budget()?;
        self.validate_kv_capacity()?;
        if !(0.0..1.0).contains(&self.watermark) {
            return Err(EngineConfigError::WatermarkOutOfRange(self.watermark));
        }
        if let Some(spec) = &self.spec_decode {
            spec.validate()?;
        }
        if let Some(offload) = &self.kv_offload {
            offload.validate(self.block_size)?;
        }
        self.cudagraph_dispatcher().map(|_| ())
    }

    /// The CUDA-graph dispatcher these settings resolve to.
    pub(crate) fn cudagraph_dispatcher(&self) -> Result<CudaGraphDispatcher, EngineConfigError> {
        let num_drafts = self.decode_query_len() - 1;
        self.cudagraph
            .dispatcher(self.max_num_seqs, self.max_num_batched_tokens, num_drafts)
    }

    /// Token counts up to 2^28 keep every sum the scheduler forms within `u32`; 2^26 blocks
    /// keep the block pool's arrays within a few GB.
    fn validate_limits(&self) -> Result<(), EngineConfigError> {
        const MAX_TOKENS: u32 = 1 << 28;
        let drafts = self
            .spec_decode
            .as_ref()
            .map_or(0, |s| s.num_speculative_tokens.max(s.num_lookahead_tokens));
        let checks = [
            ("--max-model-len", self.max_model_len, MAX_TOKENS),
            (
                "--max-num-batched-tokens",
                self.max_num_batched_tokens,
                MAX_TOKENS,
            ),
            ("--max-num-seqs", self.max_num_seqs, MAX_TOKENS),
            ("--block-size", self.block_size, MAX_TOKENS),
            (
                "--long-prefill-token-threshold",
                self.long_prefill_token_threshold,
                MAX_TOKENS,
            ),
            ("num_speculative_tokens", drafts, 1 << 10),
            ("--num-gpu-blocks-override", self.num_gpu_blocks, 1 << 26),
        ];
        match checks.into_iter().find(|&(_, value, max)| value > max) {
            Some((flag, value, max)) => Err(EngineConfigError::TooLarge {
                flag,
                value: value.into(),
                max: max.into(),
            }),
            None => Ok(()),
        }
    }

    fn validate_nonzero(&self) -> Result<(), EngineConfigError> {
        match () {
            _ if self.max_num_seqs == 0 => Err(EngineConfigError::ZeroMaxNumSeqs),
            _ if self.max_num_batched_tokens == 0 => {
                Err(EngineConfigError::ZeroMaxNumBatchedTokens)
            }
            _ if self.block_size == 0 => Err(EngineConfigError::ZeroBlockSize),
            _ if self.max_model_len == 0 => Err(EngineConfigError::ZeroMaxModelLen),
            _ if self.num_gpu_blocks < 2 => {
                Err(EngineConfigError::TooFewBlocks(self.num_gpu_blocks))
            }
            _ => Ok(()),
        }
    }

    fn validate_budget(&self) -> Result<(), EngineConfigError> {
        let (batched, seqs) = (self.max_num_batched_tokens, self.max_num_seqs);
        if batched < seqs {
            return Err(EngineConfigError::BudgetBelowMaxNumSeqs { batched, seqs });
        }
        if !self.enable_chunked_prefill && batched < self.max_model_len {
            let max_model_len = self.max_model_len;
            return Err(EngineConfigError::BudgetBelowMaxModelLen {
                batched,
                max_model_len,
            });
        }
        let threshold = self.long_prefill_token_threshold;
        if threshold > self.max_model_len {
            let max_model_len = self.max_model_len;
            return Err(EngineConfigError::LongPrefillThresholdTooLarge {
                threshold,
                max_model_len,
            });
        }
        Ok(())
    }

    fn validate_kv_capacity(&self) -> Result<(), EngineConfigError> {
        let needed = self.max_model_len.div_ceil(self.block_size);
        let usable = self.num_gpu_blocks - 1;
        if needed > usable {
            return Err(EngineConfigError::KvCacheTooSmall {
                max_model_len: self.max_model_len,
                block_size: self.block_size,
                needed,
                usable,
            });
        }
        if let (Some(spec), Some(_)) = (&self.spec_decode, &self.kv_offload) {
            let draft_tokens = 1 + spec.num_speculative_tokens + spec.num_lookahead_tokens;
            let draft = draft_tokens.div_ceil(self.block_size);
            if needed + draft > usable {
                return Err(EngineConfigError::KvCacheTooSmallForDraftsBesideLoads {
                    max_model_len: self.max_model_len,
                    needed: needed + draft,
                    draft,
                    usable,
                });
            }
        }
        Ok(())
    }

    /// Tokens one decode step schedules per request: 1 plus the draft length.
    pub fn decode_query_len(&self) -> u32 {
        1 + self
            .spec_decode
            .as_ref()
            .map_or(0, |s| s.num_speculative_tokens)
    }

    /// Blocks held back by the watermark (`int(watermark * num_blocks)` in vLLM).
    pub(crate) fn watermark_blocks(&self) -> u32 {
        (self.watermark * f64::from(self.num_gpu_blocks)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        assert_eq!(EngineConfig::default().validate(), Ok(()));
    }

    #[test]
    fn budget_below_seqs_is_rejected() {
        let config = EngineConfig {
            max_num_seqs: 512,
            max_num_batched_tokens: 256,
            ..Default::default()
        };
        assert_eq!(
            config.validate(),
            Err(EngineConfigError::BudgetBelowMaxNumSeqs {
                batched: 256,
                seqs: 512
            })
        );
    }

    #[test]
    fn kv_cache_must_hold_one_full_sequence() {
        let config = EngineConfig {
            num_gpu_blocks: 16,
            max_model_len: 256,
            ..Default::default()
        };
        let err = config.validate().unwrap_err();
        assert_eq!(
            err,
            EngineConfigError::KvCacheTooSmall {
                max_model_len: 256,
                block_size: 16,
                needed: 16,
                usable: 15
            }
        );
    }

    /// Found by the `wild_settings…` property (seed in invariants.proptest-regressions): a
    /// 3-token prompt hitting the CPU tier waited forever, as the load kept 9 blocks free for
    /// drafts out of 11, and the run ended with that request never finished.
    #[test]
    fn offloaded_loads_must_fit_beside_the_draft_reservation() {
        let config = EngineConfig {
            block_size: 1,
            num_gpu_blocks: 12,
            max_model_len: 8,
            spec_decode: Some(crate::SpecDecodeConfig {
                num_speculative_tokens: 4,
                acceptance_probability: 0.0,
                num_lookahead_tokens: 4,
            }),
            kv_offload: Some(crate::KvOffloadConfig::new(86016, 1)),
            ..Default::default()
        };
        assert_eq!(
            config.validate(),
            Err(EngineConfigError::KvCacheTooSmallForDraftsBesideLoads {
                max_model_len: 8,
                needed: 17,
                draft: 9,
                usable: 11
            })
        );
        let roomy = EngineConfig {
            num_gpu_blocks: 18,
            ..config
        };
        assert_eq!(roomy.validate(), Ok(()));
    }

    #[test]
    fn no_chunking_needs_budget_for_a_whole_prompt() {
        let config = EngineConfig {
            enable_chunked_prefill: false,
            ..Default::default()
        };
        assert_eq!(
            config.validate(),
            Err(EngineConfigError::BudgetBelowMaxModelLen {
                batched: 2048,
                max_model_len: 8192
            })
        );
    }

    #[test]
    fn absurd_sizes_are_errors_not_panics() {
        let config = EngineConfig {
            num_gpu_blocks: u32::MAX,
            ..Default::default()
        };
        let err = config.validate().unwrap_err();
        let max = 1 << 26;
        assert_eq!(
            err,
            EngineConfigError::TooLarge {
                flag: "--num-gpu-blocks-override",
                value: u64::from(u32::MAX),
                max
            }
        );
        let spec = SpecDecodeConfig {
            num_speculative_tokens: u32::MAX,
            acceptance_probability: 0.5,
            num_lookahead_tokens: 0,
        };
        let config = EngineConfig {
            spec_decode: Some(spec),
            ..Default::default()
        };
        assert!(matches!(
            config.validate(),
            Err(EngineConfigError::TooLarge {
                flag: "num_speculative_tokens",
                ..
            })
        ));
    }

    #[test]
    fn watermark_must_be_a_fraction() {
        let config = EngineConfig {
            watermark: 1.0,
            ..Default::default()
        };
        assert_eq!(
            config.validate(),
            Err(EngineConfigError::WatermarkOutOfRange(1.0))
        );
    }
}
