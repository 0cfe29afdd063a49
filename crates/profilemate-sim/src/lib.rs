/*!
A simulated vLLM V1 engine in virtual time.

`profilemate-sim` reproduces the scheduling behaviour of vLLM 0.32's V1 engine — continuous
batching under a per-step token budget, chunked prefill, decode-first ordering, FCFS admission
limited by `--max-num-seqs`, a paged KV cache with preemption by recomputation, prefix caching
by chained block hashes, async scheduling and speculative decoding — without a GPU and without
sleeping. Step times come from a [`StepTimer`] (the model crate's roofline, or a simple
built-in) plus a per-step CPU overhead, so an hour of traffic simulates in about a second and
equal seeds give equal runs. CUDA-graph padding comes from the model crate's dispatcher.

# Brief overview

- [`EngineConfig`] holds the engine flags (`--max-num-seqs`, `--max-num-batched-tokens`,
  `--block-size`, KV blocks, prefix caching, CPU overhead per step, speculative decoding, …).
- [`assembly::assemble`] builds an engine for a model deployed on a GPU: vLLM's batch
  defaults per GPU, the KV cache sized from GPU memory, the roofline step timer, KV offloading.
- [`Request`] is one timed arrival with its prompt and output length.
- [`Simulation`] runs the event loop: it admits arrivals, asks the scheduler for each step,
  times it with the [`StepTimer`] (which sees a [`StepBatch`]: every scheduled request's
  computed and scheduled tokens, new or cached, and the padded size), and pushes a
  [`StepRecord`] per step and the tokens of each request into an [`EngineSink`].
  Per-request [`EngineRequestRecord`]s (first token, every token, finish) come back at the end.
- [`IterationLine`] formats and parses vLLM's `Iteration(N): …` log line, and [`StatsLogger`]
  (a sink) produces its periodic [`StatsLine`], so simulated logs read like vLLM's and real
  vLLM logs can be compared with simulated ones.
- [`vllm_log`] writes them as a vLLM 0.32 server log (envelope, startup lines, interval lines),
  stamped by the wall clock (`sim serve`) or by virtual time (`sim run --log-file`).
- [`FixedTokenTiming`] is the fixed-timing mode: exact TTFT and ITL whatever the load.
- [`KvOffloadConfig`] (in [`EngineConfig::kv_offload`]) turns on KV offloading to CPU memory,
  vLLM's `OffloadingConnector`: prompt chunks are stored as they are computed, prefixes the GPU
  lost are loaded back before their request runs, and the connector's stats payload
  ([`OffloadStats`]) goes to [`EngineSink::on_kv_connector_stats`], ready for
  `profilemate_metrics::offload::OffloadExporter` or a [`KvTransferLogger`].

See `docs/scheduler-vs-vllm.md` for how the scheduler compares with a real vLLM server, and
`docs/kv-offload.md` for what KV offloading models.

# Example

```
use std::time::Duration;
use profilemate_sim::{AffineStepTimer, EngineConfig, Request, Simulation, StepRecord};

let config = EngineConfig { max_num_seqs: 4, max_num_batched_tokens: 512, ..Default::default() };
let timer = AffineStepTimer {
    fixed: Duration::from_millis(5),
    per_token: Duration::from_micros(20),
    per_context_token: Duration::ZERO,
};
let mut sim = Simulation::new(config, timer)?;
for i in 0..8 {
    sim.add_request(Request::synthetic(Duration::from_millis(10 * i), 300, 20))?;
}
let mut steps: Vec<StepRecord> = Vec::new();
sim.run(&mut steps);
let records = sim.records();
assert!(records.iter().all(|r| r.num_output_tokens == 20));
// The first request's prompt fits in one step: its first token ends step 0.
assert_eq!(records[0].first_token, Some(steps[0].end()));
assert_eq!(sim.num_block_holders(), 0);
# Ok::<(), Box<dyn std::error::Error>>(())
```

# Driving in real time

A server adds requests as they come (an arrival earlier than [`Simulation::now`] waits for the
next step, as in vLLM), sleeps until [`Simulation::next_event`], and calls
[`Simulation::run_until`] with the current (scaled) time; a sink's
[`EngineSink::on_tokens`] then streams tokens whose time has come. Driving in slices gives
exactly the same run as one [`Simulation::run`].

```
use std::time::Duration;
use profilemate_sim::{ConstantStepTimer, EngineConfig, EngineSink, Request, RequestId, Simulation, StepRecord};

#[derive(Default)]
struct Stream(Vec<(RequestId, u32, Duration)>);

impl EngineSink for Stream {
    fn on_step(&mut self, _step: &StepRecord) {}
    fn on_tokens(&mut self, request: RequestId, num_tokens: u32, at: Duration) {
        self.0.push((request, num_tokens, at));
    }
}

let config = EngineConfig { async_scheduling: false, ..Default::default() };
let mut sim = Simulation::new(config, ConstantStepTimer(Duration::from_millis(10)))?;
let id = sim.add_request(Request::synthetic(Duration::ZERO, 100, 3))?;
let mut stream = Stream::default();
sim.run_until(Duration::from_millis(25), &mut stream);
// Two steps have ended by 25 ms; the third (20–30 ms) is still running.
assert_eq!(stream.0.len(), 2);
while let Some(t) = sim.next_event() {
    sim.run_until(t.max(sim.now()) + Duration::from_millis(1), &mut stream);
}
assert_eq!(stream.0.last(), Some(&(id, 1, Duration::from_millis(30))));
# Ok::<(), Box<dyn std::error::Error>>(())
```
*/
#![deny(missing_docs)]

pub mod assembly;
mod batch;
mod block_hash;
mod block_pool;
pub mod calibrate;
mod config;
mod counters;
mod cudagraph;
mod dp_router;
mod error;
mod fixed;
mod idmap;
mod iteration_log;
mod kv_manager;
mod offload;
mod records;
mod request;
mod roofline_timer;
mod scheduler;
mod simulation;
mod sink;
mod spec_decode;
mod state;
mod stats_log;
mod step_timer;
pub mod vllm_log;

pub use batch::{BatchEntry, EntryKind, IterationCounts, StepBatch};
pub use config::EngineConfig;
pub use counters::StepCounters;
pub use cudagraph::CudaGraphConfig;
pub use dp_router::DataParallelRouter;
pub use error::{EngineConfigError, RequestError};
pub use fixed::FixedTokenTiming;
pub use idmap::IdHasher;
pub use iteration_log::{IterationLine, ParseIterationError};
pub use offload::metrics as offload_metrics;
pub use offload::{
    DEFAULT_HOST_LINK_BANDWIDTH, DEFAULT_TRANSFER_LATENCY, KvOffloadConfig, KvTransferLogger,
    kv_transfer_metrics_line,
};
pub use profilemate_metrics::offload::OffloadStats;
pub use profilemate_model::cudagraph::{CudaGraphMode, Dispatch, RuntimeMode};
pub use records::{EngineRequestRecord, FinishReason, PrefixCacheStats, RequestId, StepRecord};
pub use request::{EnginePrompt, KvLink, KvTransfer, Request, SharedPrefix, text_token_ids};
pub use roofline_timer::{KvBlocks, RooflineStepTimer, kv_blocks, roofline_timer};
pub use simulation::{EngineLoad, Simulation};
pub use sink::EngineSink;
pub use spec_decode::{SpecDecodeConfig, SpecDecodeStats};
pub use stats_log::{ParseStatsError, StatsLine, StatsLogger};
pub use step_timer::{AffineStepTimer, ConstantStepTimer, StepTimer};
