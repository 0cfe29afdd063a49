//! Provides [`Hub`], where engine events land: it wakes the HTTP tasks through their
//! [`Ticket`]s, updates the metrics and writes the vLLM log lines.
//!
//! Per-token work is kept to a map lookup and a few additions: a request's new tokens are
//! published to its ticket, and the per-token metrics written, once per engine advance
//! ([`Hub::wake_all`]) or when the request finishes, whichever comes first.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;
use std::time::Duration;

use profilemate_metrics::offload::OffloadExporter;
use profilemate_sim::{EngineRequestRecord, IdHasher, OffloadStats, StepRecord};

use super::logging::EngineLogs;
use super::status::EngineStatus;
use super::tally::TokenTally;
use crate::metrics::ServerMetrics;
use crate::ticket::{Status, Ticket};

/// A request the hub is delivering tokens for.
#[derive(Debug)]
struct Entry {
    ticket: Arc<Ticket>,
    /// The data-parallel engine serving it (its metrics' `engine` label).
    engine: usize,
    arrival: Duration,
    prompt_tokens: u32,
    last_token: Option<Duration>,
    /// Tokens emitted but not yet added to the ticket.
    unpublished: u32,
}

impl Entry {
    /// Hands the unpublished tokens to the ticket; `true` if there were any.
    fn publish(&mut self) -> bool {
        let n = std::mem::take(&mut self.unpublished);
        if n > 0 {
            self.ticket.add_tokens(n);
        }
        n > 0
    }
}

/// A map keyed by the server's request keys (sequential, never chosen by a client).
pub(crate) type KeyMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// One engine's metrics and its tallied per-token updates.
#[derive(Debug)]
struct EngineMetrics {
    metrics: ServerMetrics,
    tally: TokenTally,
}

impl EngineMetrics {
    fn flush(&mut self) {
        self.tally.flush(&self.metrics);
    }
}

/// The engine thread's outputs.
#[derive(Debug)]
pub(crate) struct Hub {
    entries: KeyMap<u64, Entry>,
    /// Requests with unpublished tokens since the last [`wake_all`](Self::wake_all).
    to_wake: Vec<u64>,
    /// Each data-parallel engine's metrics, by engine index (one without data parallelism).
    engines: Vec<EngineMetrics>,
    status: Arc<EngineStatus>,
    logs: Option<EngineLogs>,
    /// The `vllm:kv_offload_*` metrics, with KV offloading on.
    offload: Option<OffloadExporter>,
}

impl Hub {
    /// A hub writing each engine's metrics to its entry of `metrics` (at least one).
    pub(crate) fn new(
        metrics: Vec<ServerMetrics>,
        status: Arc<EngineStatus>,
        logs: Option<EngineLogs>,
    ) -> Self {
        let engines = metrics
            .into_iter()
            .map(|metrics| EngineMetrics {
                metrics,
                tally: TokenTally::default(),
            })
            .collect();
        Hub {
            entries: KeyMap::with_capacity_and_hasher(1024, BuildHasherDefault::default()),
            to_wake: Vec::with_capacity(1024),
            engines,
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

    /// One payload of `engine`'s KV-offloading connector (vLLM's `kv_connector_stats`).
    pub(crate) fn kv_connector_stats(&mut self, engine: usize, stats: &OffloadStats) {
        if let Some(exporter) = &self.offload {
            let _ = exporter.observe(stats, engine);
        }
        if let Some(logs) = &mut self.logs {
            logs.on_kv_connector_stats(engine, stats);
        }
    }

    /// A request entered engine `engine` at `arrival` (the driver's clock).
    pub(crate) fn admit(
        &mut self,
        key: u64,
        ticket: Arc<Ticket>,
        engine: usize,
        arrival: Duration,
        prompt: u32,
    ) {
        let entry = Entry {
            ticket,
            engine: engine.min(self.engines.len() - 1),
            arrival,
            prompt_tokens: prompt,
            last_token: None,
            unpublished: 0,
        };
        self.entries.insert(key, entry);
        self.status.set_live(self.entries.len());
    }

    /// `n` tokens of request `key` were emitted at `at`.
    pub(crate) fn tokens(&mut self, key: u64, n: u32, at: Duration) {
        let Some(e) = self.entries.get_mut(&key) else {
            return;
        };
        let engine = &mut self.engines[e.engine];
        if e.last_token.is_none() {
            let ttft = at.saturating_sub(e.arrival);
            engine.metrics.on_first_token(e.prompt_tokens, ttft);
        }
        let itl = e.last_token.map(|last| at.saturating_sub(last));
        e.last_token = Some(at);
        engine.tally.add(n, itl, &engine.metrics);
        if e.unpublished == 0 {
            self.to_wake.push(key);
        }
        e.unpublished = e.unpublished.saturating_add(n);
    }

    /// Publishes the tokens of every request that got some since the last call and wakes its
    /// HTTP task, and writes the tallied metrics (once per engine advance).
    pub(crate) fn wake_all(&mut self) {
        for key in self.to_wake.drain(..) {
            if let Some(e) = self.entries.get_mut(&key)
                && e.publish()
            {
                e.ticket.wake();
            }
        }
        self.engines.iter_mut().for_each(EngineMetrics::flush);
    }

    /// Request `key` finished (all tokens out) or was aborted.
    ///
    /// The metrics are written before the ticket closes, so a client that has seen its
    /// answer end finds its request counted.
    pub(crate) fn finish(&mut self, key: u64, record: &EngineRequestRecord, aborted: bool) {
        let engine_index = self.entries.get(&key).map_or(0, |e| e.engine);
        let engine = &mut self.engines[engine_index];
        engine.flush();
        engine.metrics.on_finished(record, aborted);
        let entry = self.entries.remove(&key);
        self.status.set_live(self.entries.len());
        if let Some(mut e) = entry {
            e.publish();
            e.ticket.close(if aborted {
                Status::Aborted
            } else {
                Status::Finished
            });
        }
    }

    /// Live requests, for drivers without engine steps.
    pub(crate) fn publish_running(&self) {
        self.engines[0].metrics.set_running(self.entries.len());
    }

    /// One step of engine `engine`.
    pub(crate) fn step(&mut self, engine: usize, step: &StepRecord) {
        if let Some(e) = self.engines.get(engine) {
            e.metrics.on_step(step);
        }
        self.status.on_step(step);
        if let Some(logs) = &mut self.logs {
            logs.on_step(engine, step);
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

    /// The engine died: marks it dead, fails every live request and flushes the logs.
    pub(crate) fn fail_all(&mut self) {
        self.status.set_dead();
        for (_, mut e) in self.entries.drain() {
            e.publish();
            e.ticket.close(Status::Failed);
        }
        self.status.set_live(0);
        if let Some(logs) = &mut self.logs {
            logs.flush();
        }
    }

    /// Ends every live request (the engine is stopping) and flushes the logs.
    pub(crate) fn shutdown(&mut self) {
        self.engines.iter_mut().for_each(EngineMetrics::flush);
        for (_, mut e) in self.entries.drain() {
            e.publish();
            e.ticket.close(Status::Aborted);
        }
        self.status.set_live(0);
        if let Some(logs) = &mut self.logs {
            logs.flush();
        }
    }
}
