//! Shared helpers for the integration tests.

use std::path::PathBuf;

use profilemate_bench::config::{Backend, WorkloadConfig};
use profilemate_bench::workload::{DatasetSpec, RangeRatio};

/// `testdata/vllm-0.32-cpu/<rel>` (real vLLM captures copied into the repository).
pub(crate) fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/vllm-0.32-cpu")
        .join(rel)
}

/// `num_prompts` random-dataset requests of 8 prompt and 4 output tokens, all at once.
pub(crate) fn config(num_prompts: usize) -> WorkloadConfig {
    WorkloadConfig {
        backend: Backend::Vllm,
        dataset: random(8, 0),
        num_prompts,
        ..WorkloadConfig::default()
    }
}

/// The random dataset: `prefix_len` shared tokens, then `input_len` random ones, 4 output
/// tokens.
pub(crate) fn random(input_len: u64, prefix_len: u64) -> DatasetSpec {
    DatasetSpec::Random {
        input_len,
        output_len: 4,
        range_ratio: RangeRatio::default(),
        prefix_len,
        batch_size: 1,
    }
}
