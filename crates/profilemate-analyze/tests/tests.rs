//! Integration tests of profilemate-analyze: the real vLLM 0.32 captures (copied from
//! shared/fixtures/vllm-0.32-cpu into testdata/ at the repository root), our own engine's
//! log lines, compressed input, and arbitrary bytes.

mod captures;
mod inputs;
mod own_engine;
mod robustness;
mod util;
