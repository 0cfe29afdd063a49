//! A `vllm bench serve`–compatible load generator for OpenAI-compatible LLM servers.
//!
//! `profilemate-bench` sends a workload to a server, measures every streamed response, and
//! computes vLLM 0.32's metrics with vLLM's exact math, JSON keys and console layout, plus the
//! figures vLLM does not give: per-token ITL, time to first content token, client lag, an error
//! taxonomy and the server's own view of the run from `/metrics`.
//!
//! # Overview
//!
//! Data flows one way:
//!
//! 1. A [`BenchConfig`] (filled by the CLI) describes the run: its [`EndpointConfig`] (where
//!    and how requests are sent) and its [`WorkloadConfig`] (what is sent when, and how it is
//!    measured; all `sim run` takes).
//! 2. [`workload::load_samples`] samples a dataset into [`workload::SampleRequest`]s; a
//!    [`Workload`] pairs them with an [`schedule::Arrivals`] process, and the pure
//!    [`Workload::schedule`] places each on the timeline as a [`workload::ScheduledSend`].
//!    A virtual-time engine can consume that list directly.
//! 3. [`run()`] sends the schedule with the [`client::Client`] and collects one
//!    [`ClientRequestRecord`] per request, emitting [`Event`]s for progress.
//! 4. A [`Report`] derives every figure from the records ([`metrics::calculate_metrics`] for
//!    vLLM's, [`metrics::calculate_extras`] for ours); [`output`] renders it as vLLM's console
//!    table and result JSON. The library never prints.
//! 5. `profilemate-plan`'s `run_virtual` (`sim run`) sends the same schedule to the simulated
//!    engine of `profilemate-sim` in virtual time instead, and builds the same [`Report`]; this
//!    crate does not depend on the engine.
//!
//! # Example
//!
//! Computing a schedule and vLLM's metrics needs no server:
//!
//! ```
//! use profilemate_bench::metrics::{calculate_metrics, Goodput};
//! use profilemate_bench::schedule::{compute_schedule, Arrivals};
//! use profilemate_bench::ClientRequestRecord;
//!
//! let arrivals = Arrivals::Rate { request_rate: 4.0, burstiness: 1.0, ramp_up: None };
//! let schedule = compute_schedule(arrivals, 40, &[], 0)?;
//! // vLLM rescales Poisson arrivals so the last lands exactly at N / rate.
//! assert!((schedule.offsets[39].as_secs_f64() - 10.0).abs() < 1e-6);
//!
//! let record = ClientRequestRecord {
//!     success: true, prompt_len: 128, output_tokens: 3, ttft: 0.1,
//!     itl: vec![0.02, 0.02], latency: 0.14, ..Default::default()
//! };
//! let m = calculate_metrics(&[record], 1.0, None, &[99.0], &Goodput::default());
//! assert!((m.tpot.mean_ms - 20.0).abs() < 1e-9);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod cancel;
pub mod client;
pub mod clock;
pub mod config;
pub mod dispatch;
pub mod error;
pub mod event;
pub mod metrics;
pub mod output;
pub mod probe;
pub mod record;
pub mod report;
pub mod run;
pub mod schedule;
pub mod server_metrics;
pub mod tokenizer;
pub mod workload;

pub use cancel::{CancelToken, Canceller, cancel_pair};
pub use config::{BenchConfig, EndpointConfig, WorkloadConfig};
pub use error::{BenchConfigError, BenchError, DatasetError, ScheduleError};
pub use event::{Event, EventSink};
pub use record::{ClientRequestRecord, ErrorKind, Seconds};
pub use report::Report;
pub use run::run;
pub use workload::Workload;
