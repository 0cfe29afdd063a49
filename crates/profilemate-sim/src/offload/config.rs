//! Provides [`KvOffloadConfig`], the CPU-offloading settings, its validation, and the chunk
//! geometry it resolves to.
//!
//! Mirrors `CPUOffloadingSpec.__init__` (vllm/v1/kv_offload/cpu/spec.py) and
//! `build_offloading_config` (vllm/distributed/kv_transfer/kv_connector/v1/offloading/config.py),
//! vLLM 0.32, for one full-attention KV-cache group on one worker.

use std::time::Duration;

use crate::error::EngineConfigError;

/// `mmap.PAGESIZE`: each CPU chunk is rounded up to it (`SharedOffloadRegion.BLOCK_SIZE_ALIGNMENT`).
const CHUNK_ALIGNMENT: u64 = 4096;

/// Effective PCIe Gen5 x16 bandwidth per direction (64 GB/s raw), in bytes per second.
pub const DEFAULT_HOST_LINK_BANDWIDTH: f64 = 50e9;

/// Fixed cost of one transfer job: the copy launch and its CUDA events.
pub const DEFAULT_TRANSFER_LATENCY: Duration = Duration::from_micros(10);

/// Limits that keep every transfer within the virtual clock's range.
const MIN_BANDWIDTH: f64 = 1e6;
const MAX_LATENCY: Duration = Duration::from_secs(1);
const MAX_BLOCK_BYTES: u64 = 1 << 40;

/// vLLM's `OffloadingConnector` with the CPU spec:
/// `--kv-transfer-config '{"kv_connector": "OffloadingConnector", "kv_role": "kv_both",
/// "kv_connector_extra_config": {"cpu_bytes_to_use": …, "block_size": …}}'`.
///
/// The host link is not a vLLM setting: it times transfers in virtual time.
#[derive(Debug, Clone, PartialEq)]
pub struct KvOffloadConfig {
    /// `cpu_bytes_to_use`: host memory for offloaded KV.
    pub cpu_bytes_to_use: u64,
    /// Bytes of one GPU KV block on the worker (the model crate's KV bytes per token times
    /// `--block-size`), vLLM's `worker_kv_bytes_per_block`.
    pub kv_bytes_per_block: u64,
    /// `block_size`: tokens per offloaded chunk, a multiple of `--block-size`; `None` keeps
    /// one GPU block per chunk (vLLM's default `blocks_per_chunk = 1`).
    pub block_size: Option<u32>,
    /// GPU↔CPU bandwidth per direction, bytes per second.
    pub host_link_bandwidth: f64,
    /// Fixed time added to every transfer job.
    pub transfer_latency: Duration,
}

impl KvOffloadConfig {
    /// `cpu_bytes_to_use` of host memory for blocks of `kv_bytes_per_block` bytes, one GPU
    /// block per chunk, over PCIe Gen5 x16 ([`DEFAULT_HOST_LINK_BANDWIDTH`],
    /// [`DEFAULT_TRANSFER_LATENCY`]).
    pub fn new(cpu_bytes_to_use: u64, kv_bytes_per_block: u64) -> Self {
        KvOffloadConfig {
            cpu_bytes_to_use,
            kv_bytes_per_block,
            block_size: None,
            host_link_bandwidth: DEFAULT_HOST_LINK_BANDWIDTH,
            transfer_latency: DEFAULT_TRANSFER_LATENCY,
        }
    }

    /// Checks the settings against the engine's `--block-size`, as vLLM does at startup.
    pub fn validate(&self, gpu_block_size: u32) -> Result<(), EngineConfigError> {
        self.geometry(gpu_block_size).map(|_| ())
    }

    /// The chunk geometry these settings resolve to.
    pub(crate) fn geometry(&self, gpu_block_size: u32) -> Result<Geometry, EngineConfigError> {
        self.validate_link()?;
        let blocks_per_chunk = self.blocks_per_chunk(gpu_block_size)?;
        let chunk_bytes = self
            .kv_bytes_per_block
            .saturating_mul(blocks_per_chunk.into());
        let aligned = chunk_bytes
            .div_ceil(CHUNK_ALIGNMENT)
            .saturating_mul(CHUNK_ALIGNMENT);
        let num_chunks = self.cpu_bytes_to_use / aligned;
        if num_chunks == 0 {
            return Err(EngineConfigError::OffloadNoChunks {
                cpu_bytes: self.cpu_bytes_to_use,
                chunk_bytes: aligned,
            });
        }
        Ok(Geometry {
            blocks_per_chunk,
            gpu_block_size,
            num_chunks,
            block_bytes: self.kv_bytes_per_block,
        })
    }

    /// Byte counts and link settings: present, and small enough that transfers stay
    /// within the virtual clock's range.
    fn validate_link(&self) -> Result<(), EngineConfigError> {
        let bw = self.host_link_bandwidth;
        match () {
            _ if self.cpu_bytes_to_use == 0 => Err(EngineConfigError::OffloadNoCpuBytes),
            _ if self.kv_bytes_per_block == 0 => Err(EngineConfigError::OffloadZeroBlockBytes),
            _ if self.kv_bytes_per_block > MAX_BLOCK_BYTES => Err(EngineConfigError::TooLarge {
                flag: "kv_bytes_per_block",
                value: self.kv_bytes_per_block,
                max: MAX_BLOCK_BYTES,
            }),
            _ if !(bw.is_finite() && bw >= MIN_BANDWIDTH) => {
                Err(EngineConfigError::OffloadBandwidth(bw))
            }
            _ if self.transfer_latency > MAX_LATENCY => {
                Err(EngineConfigError::OffloadLatency(self.transfer_latency))
            }
            _ => Ok(()),
        }
    }

    /// `blocks_per_chunk` from `block_size` (`build_offloading_config`).
    fn blocks_per_chunk(&self, gpu_block_size: u32) -> Result<u32, EngineConfigError> {
        let Some(tokens) = self.block_size else {
            return Ok(1);
        };
        if tokens == 0 || gpu_block_size == 0 || tokens % gpu_block_size != 0 {
            return Err(EngineConfigError::OffloadBlockSize {
                block_size: tokens,
                gpu_block_size,
            });
        }
        Ok(tokens / gpu_block_size)
    }
}

/// The resolved chunk layout of the CPU tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    /// GPU blocks per offloaded chunk.
    pub(crate) blocks_per_chunk: u32,
    /// `--block-size`.
    pub(crate) gpu_block_size: u32,
    /// CPU chunks (`cpu_bytes_to_use // aligned chunk bytes`).
    pub(crate) num_chunks: u64,
    /// Bytes of one GPU block.
    pub(crate) block_bytes: u64,
}

impl Geometry {
    /// Tokens per offloaded chunk.
    pub(crate) fn tokens_per_chunk(&self) -> u32 {
        self.blocks_per_chunk * self.gpu_block_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_page_aligned_and_counted_from_cpu_bytes() {
        let mut c = KvOffloadConfig::new(10 * 8192, 5000);
        let g = c.geometry(16).unwrap();
        assert_eq!((g.blocks_per_chunk, g.num_chunks), (1, 10));
        c.block_size = Some(32);
        let g = c.geometry(16).unwrap();
        assert_eq!(
            (g.blocks_per_chunk, g.num_chunks, g.tokens_per_chunk()),
            (2, 6, 32)
        );
    }

    #[test]
    fn bad_settings_are_typed_errors() {
        let base = KvOffloadConfig::new(1 << 20, 4096);
        let cases = [
            (
                KvOffloadConfig {
                    cpu_bytes_to_use: 0,
                    ..base.clone()
                },
                EngineConfigError::OffloadNoCpuBytes,
            ),
            (
                KvOffloadConfig {
                    block_size: Some(24),
                    ..base.clone()
                },
                EngineConfigError::OffloadBlockSize {
                    block_size: 24,
                    gpu_block_size: 16,
                },
            ),
            (
                KvOffloadConfig {
                    host_link_bandwidth: f64::NAN,
                    ..base.clone()
                },
                EngineConfigError::OffloadBandwidth(f64::NAN),
            ),
            (
                KvOffloadConfig {
                    cpu_bytes_to_use: 4095,
                    ..base.clone()
                },
                EngineConfigError::OffloadNoChunks {
                    cpu_bytes: 4095,
                    chunk_bytes: 4096,
                },
            ),
        ];
        for (config, want) in cases {
            let got = config.validate(16).unwrap_err();
            assert_eq!(got.to_string(), want.to_string());
        }
        let zero = KvOffloadConfig::new(1 << 20, 0);
        assert_eq!(
            zero.validate(16),
            Err(EngineConfigError::OffloadZeroBlockBytes)
        );
        let slow = KvOffloadConfig {
            transfer_latency: Duration::from_secs(2),
            ..base
        };
        let err = slow.validate(16).unwrap_err();
        assert_eq!(
            err,
            EngineConfigError::OffloadLatency(Duration::from_secs(2))
        );
    }
}
