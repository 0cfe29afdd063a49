//! Shared helpers for the integration tests.

use std::path::PathBuf;

/// `shared/fixtures/vllm-0.32-cpu/<rel>`.
pub(crate) fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/vllm-0.32-cpu").join(rel)
}

/// Asserts `got` equals `want` to 1e-9 relative (absolute near zero), naming `what`.
#[track_caller]
pub(crate) fn assert_close(what: &str, got: f64, want: f64) {
    let tol = 1e-9 * want.abs().max(1e-12);
    assert!((got - want).abs() <= tol, "{what}: got {got}, vLLM {want} (diff {})", got - want);
}
