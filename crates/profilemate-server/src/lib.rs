/*!
The simulated vLLM engine behind a real-time, OpenAI-compatible HTTP server: what
`profilemate sim serve` runs, and what `profilemate bench serve` embeds as its default target.

The engine (`profilemate-sim`) runs in virtual time and knows nothing of sockets or clocks; this
crate drives it in real time and speaks vLLM 0.32's HTTP API, metrics and log formats, so
clients and analysers written for vLLM work against it unchanged — with no GPU.

# Overview

- [`ServerConfig`] holds the engine flags, the [`TokenTiming`] (the simulated engine with a
  [`EngineStepTimer`] — the model crate's roofline via [`MfuMetricsStepTimer`], or an affine fit — or
  the fixed-timing mode), `--time-scale`, `--api-key`, the [`LogConfig`] and [`Limits`].
- [`start`] validates it, registers vLLM's metrics, and starts the **engine thread**, which
  owns the simulation: requests and aborts arrive over a channel, virtual time follows the wall
  clock × time scale (`Simulation::run_until` / `next_event`), and tokens go to each request's
  ticket (an atomic count plus a wake-up, so memory per request is constant). It returns the
  [`AppState`] (one `Clone` struct of `Arc`s) and the [`EngineThread`].
- [`router`] maps vLLM's routes to handlers (`completions_create`, `chat_completions_create`,
  `models_list`, `metrics_get`, …); streaming answers are server-sent events written in vLLM's
  chunk format. Every failure is a [`SimError`], rendered as OpenAI error JSON.
- [`serve`] runs the router on a listener (bind it with [`bind`]: a backlog of
  [`LISTEN_BACKLOG`], `TCP_NODELAY` on every connection) with graceful shutdown; [`spawn`] is
  the one-call embedded server on a free loopback port, returning a [`RunningServer`] (its
  `base_url()`, `state()` and `shutdown()`), which `profilemate bench serve` starts when given
  no server address.
- `GET /profilemate/engine` (and [`AppState::engine_status`] / [`AppState::schedule_check`])
  report live requests, KV blocks held and, in fixed-timing mode, how late each streamed chunk
  left against its schedule.

Token text comes from a small built-in vocabulary, one word per token ([`vocab`]); prompts
count one token per whitespace-separated word, so token counts are exact for word-counting
clients and reported in `usage` for everyone else.

# Example

```
use std::time::Duration;
use profilemate_server::{ServerConfig, TokenTiming, spawn};
use profilemate_sim::FixedTokenTiming;

# tokio::runtime::Runtime::new()?.block_on(async {
let mut config = ServerConfig::new("tiny-llama");
config.timing = TokenTiming::Fixed(FixedTokenTiming {
    ttft: Duration::from_millis(20),
    itl: Duration::from_millis(5),
});
let server = spawn(config).await?;
assert!(server.base_url().starts_with("http://127.0.0.1:"));
assert_eq!(server.state().engine_status().live_requests, 0);
server.shutdown().await?;
# Ok::<(), Box<dyn std::error::Error>>(())
# })?;
# Ok::<(), Box<dyn std::error::Error>>(())
```
*/
#![deny(missing_docs)]

mod config;
mod engine;
mod error;
mod keepalive;
mod metrics;
pub mod protocol;
mod rlimit;
mod routes;
mod serve;
mod startup;
mod state;
mod ticket;
mod timer;
pub mod vocab;

pub use config::{
    DEFAULT_BODY_BUDGET, Limits, LogConfig, LogTarget, MAX_DATA_PARALLEL_SIZE, MAX_TIME_SCALE,
    MIN_TIME_SCALE, MemoryLog, ServerConfig, ServerConfigError, TokenTiming,
};
pub use engine::status::{EngineSnapshot, EngineStatus, ScheduleCheck, ScheduleSnapshot};
pub use error::{ServeError, SimError};
pub use rlimit::raise_open_file_limit;
pub use routes::router;
pub use serve::{LISTEN_BACKLOG, RunningServer, bind, serve, spawn};
pub use startup::{EngineThread, start};
pub use state::AppState;
pub use timer::{CustomStepTimer, EngineStepTimer, MfuMetricsStepTimer};
