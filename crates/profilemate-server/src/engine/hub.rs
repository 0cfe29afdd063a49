//! Provides [`Hub`], where engine events land: it wakes the HTTP tasks through their
//! [`Ticket`]s, updates the metrics and writes the vLLM log lines.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use profilemate_metrics::offload::OffloadExporter;
use profilemate_sim::{OffloadStats, RequestRecord, StepRecord};

use super::logging::EngineLogs;
use super::status::EngineStatus;
use crate::metrics::ServerMetrics;
use crate::ticket::{Status, Ticket};

/// A request the hub is delivering tokens for.
#[derive(Debug)]
struct Entry {
    ticket: Arc<Ticket>,
    arrival: Duration,
    prompt_tokens: u32,
    last_token: Option<Duration>,
}

/// The engine thread's outputs.
#[derive(Debug)]
pub(crate) struct Hub {
    entries: HashMap<u64, Entry>,
    /// Tickets with tokens added since the last [`wake_all`](Self::wake_all).
    to_wake: Vec<Arc<Ticket>>,
    metrics: ServerMetrics,
    status: Arc<EngineStatus>,
    logs: Option<EngineLogs>,
    /// The `vllm:kv_offload_*` metrics, with KV offloading on.
    offload: Option<OffloadExporter>,
}

impl Hub {
    pub(crate) fn new(
        metrics: ServerMetrics,
        status: Arc<EngineStatus>,
        logs: Option<EngineLogs>,
    ) -> Self {
        Hub {
            entries: HashMap::with_capacity(1024),
            to_wake: Vec::with_capacity(1024),
            metrics,
            status,
            logs,
            offload: None,
        }
    }

    /// Exports the KV-offloading connector's payloads to `exporter`.
    pub(crate) fn with_offload(mut self, exporter: Option<OffloadExporter>) -> Self {
        self.offload = exporter;
        self
    }

    /// One payload of the KV-offloading connector (vLLM's `kv_connector_stats`).
    pub(crate) fn kv_connector_stats(&mut self, stats: &OffloadStats) {
        if let Some(exporter) = &self.offload {
            let _ = exporter.observe(stats, 0);
        }
        if let Some(logs) = &mut self.logs {
            logs.on_kv_connector_stats(stats);
        }
    }

    /// A request entered the engine at `arrival` (the driver's clock).
    pub(crate) fn admit(&mut self, key: u64, ticket: Arc<Ticket>, arrival: Duration, prompt: u32) {
        let entry = Entry {
            ticket,
            arrival,
            prompt_tokens: prompt,
            last_token: None,
        };
        self.entries.insert(key, entry);
        self.status.set_live(self.entries.len());
    }

    /// `n` tokens of request `key` were emitted at `at`.
    pub(crate) fn tokens(&mut self, key: u64, n: u32, at: Duration) {
        let Some(e) = self.entries.get_mut(&key) else {
            return;
        };
        if e.last_token.is_none() {
            let ttft = at.saturating_sub(e.arrival);
            self.metrics.on_first_token(e.prompt_tokens, ttft);
        }
        let itl = e.last_token.map(|last| at.saturating_sub(last));
        e.last_token = Some(at);
        self.metrics.on_tokens(n, itl);
        if e.ticket.add_tokens(n) {
            self.to_wake.push(e.ticket.clone());
        }
    }

    /// Wakes the HTTP tasks of every request that got tokens since the last call (once per
    /// engine advance).
    pub(crate) fn wake_all(&mut self) {
        for ticket in self.to_wake.drain(..) {
            ticket.wake();
        }
    }

    /// Request `key` finished (all tokens out) or was aborted.
    pub(crate) fn finish(&mut self, key: u64, record: &RequestRecord, aborted: bool) {
        if let Some(e) = self.entries.remove(&key) {
            let status = if aborted {
                Status::Aborted
            } else {
                Status::Finished
            };
            e.ticket.close(status);
        }
        self.metrics.on_finished(record, aborted);
        self.status.set_live(self.entries.len());
    }

    /// Live requests, for drivers without engine steps.
    pub(crate) fn publish_running(&self) {
        self.metrics.set_running(self.entries.len());
    }

    /// One engine step.
    pub(crate) fn step(&mut self, step: &StepRecord) {
        self.metrics.on_step(step);
        self.status.on_step(step);
        if let Some(logs) = &mut self.logs {
            logs.on_step(step);
        }
    }

    /// The status shared with the HTTP side.
    pub(crate) fn status(&self) -> &EngineStatus {
        &self.status
    }

    /// When the periodic log lines are next due, if logging.
    pub(crate) fn next_log(&self) -> Option<std::time::Instant> {
        self.logs.as_ref().map(EngineLogs::next_due)
    }

    /// Writes the periodic lines if due; `virtual_now` is the engine's clock.
    pub(crate) fn maybe_log(&mut self, now: std::time::Instant, virtual_now: Duration) {
        if let Some(logs) = &mut self.logs {
            logs.maybe_log(now, virtual_now);
        }
    }

    /// Ends every live request (the engine is stopping) and flushes the logs.
    pub(crate) fn shutdown(&mut self) {
        for (_, e) in self.entries.drain() {
            e.ticket.close(Status::Aborted);
        }
        self.status.set_live(0);
        if let Some(logs) = &self.logs {
            logs.flush();
        }
    }
}
