//! Shared helpers for the integration tests.

use std::path::PathBuf;

use profilemate_bench::config::{Backend, BenchConfig};
use profilemate_bench::workload::{DatasetSpec, RangeRatio};

/// `testdata/vllm-0.32-cpu/<rel>` (real vLLM captures copied into the repository).
pub(crate) fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/vllm-0.32-cpu")
        .join(rel)
}

/// `num_prompts` random-dataset requests of 8 prompt and 4 output tokens, all at once.
pub(crate) fn config(num_prompts: usize) -> BenchConfig {
    BenchConfig {
        backend: Backend::Vllm,
        request_id_prefix: "bench-test-".into(),
        dataset: DatasetSpec::Random {
            input_len: 8,
            output_len: 4,
            range_ratio: RangeRatio::default(),
            prefix_len: 0,
            batch_size: 1,
        },
        num_prompts,
        ..BenchConfig::default()
    }
}
