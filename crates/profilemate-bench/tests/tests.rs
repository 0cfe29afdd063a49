//! Integration tests: parity with vLLM's own outputs, and runs against real loopback servers.

mod util;

mod connections;
mod faults;
mod features;
mod hangs;
mod multi_turn;
mod parity;
mod vllm_flags;
