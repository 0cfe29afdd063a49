//! Provides [`AppState`], the one `Clone` state every handler gets (a bundle of `Arc`s), and
//! [`RequestGuard`], a request's admission: it holds its [`Ticket`] and aborts the request in
//! the engine when dropped early (the client went away).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use profilemate_metrics::Registry;
use profilemate_sim::{EnginePrompt, FixedTokenTiming};

use crate::config::Limits;
use crate::engine::status::{EngineSnapshot, ScheduleCheck, ScheduleSnapshot};
use crate::engine::{Command, EngineHandle, Submission};
use crate::error::SimError;
use crate::routes::BodyBudget;
use crate::ticket::{Status, Ticket};

/// What handlers need to know about the server, fixed at start.
#[derive(Debug)]
pub(crate) struct ServerInfo {
    pub(crate) model: String,
    /// The model name as a JSON string literal, for hand-written chunks.
    pub(crate) model_json: String,
    pub(crate) max_model_len: u32,
    pub(crate) api_key: Option<String>,
    pub(crate) fixed: Option<FixedTokenTiming>,
    pub(crate) limits: Limits,
    /// Unix seconds at start (`created` fields).
    pub(crate) created: u64,
    /// `--profiler-config` named a profiler: `/start_profile` and `/stop_profile` are served.
    pub(crate) profiler: bool,
    /// How often the profiler was started and stopped.
    pub(crate) profiles: ProfileCounts,
}

/// `/start_profile` and `/stop_profile` calls.
#[derive(Debug, Default)]
pub(crate) struct ProfileCounts {
    pub(crate) started: AtomicU64,
    pub(crate) stopped: AtomicU64,
}

impl ServerInfo {
    pub(crate) fn new(
        model: String,
        max_model_len: u32,
        api_key: Option<String>,
        fixed: Option<FixedTokenTiming>,
        limits: Limits,
    ) -> Self {
        let model_json = serde_json::Value::String(model.clone()).to_string();
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        ServerInfo {
            model,
            model_json,
            max_model_len,
            api_key,
            fixed,
            limits,
            created,
            profiler: false,
            profiles: ProfileCounts::default(),
        }
    }
}

/// Admission counters and the request-body budget.
#[derive(Debug)]
pub(crate) struct Admission {
    next_key: AtomicU64,
    live: AtomicUsize,
    pub(crate) schedule: ScheduleCheck,
    pub(crate) body_budget: BodyBudget,
}

impl Admission {
    /// Nothing admitted yet; bodies may hold `limits.body_budget_bytes` at once.
    pub(crate) fn new(limits: &Limits) -> Self {
        Admission {
            next_key: AtomicU64::new(0),
            live: AtomicUsize::new(0),
            schedule: ScheduleCheck::default(),
            body_budget: BodyBudget::new(limits.body_budget_bytes),
        }
    }
}

/// The server's shared state: settings, the engine handle, the metric registry.
#[derive(Debug, Clone)]
pub struct AppState {
    pub(crate) info: Arc<ServerInfo>,
    pub(crate) engine: EngineHandle,
    pub(crate) registry: Registry,
    pub(crate) admission: Arc<Admission>,
}

impl AppState {
    /// The served model name.
    pub fn model(&self) -> &str {
        &self.info.model
    }

    /// The engine's counters now (live requests, KV blocks held, steps).
    pub fn engine_status(&self) -> EngineSnapshot {
        self.engine.status().snapshot()
    }

    /// How late streamed chunks left against the fixed-timing schedule.
    pub fn schedule_check(&self) -> ScheduleSnapshot {
        self.admission.schedule.snapshot()
    }

    /// Bytes of the request-body budget not reserved by bodies being read or parsed now.
    pub fn body_budget_available(&self) -> usize {
        self.admission.body_budget.available()
    }

    /// Requests admitted by the HTTP side and not yet dropped.
    pub fn live_requests(&self) -> usize {
        self.admission.live.load(Ordering::Relaxed)
    }

    /// The metric registry behind `/metrics`.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// 404 unless `model` is absent or the served name (`OpenAIServing._check_model`).
    pub(crate) fn check_model(&self, model: Option<&str>) -> Result<(), SimError> {
        match model {
            Some(m) if !m.is_empty() && m != self.info.model => Err(SimError::ModelNotFound {
                model: m.to_owned(),
                served: self.info.model.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Hands a validated request to the engine.
    pub(crate) fn submit(
        &self,
        prompt: Vec<u32>,
        max_tokens: u32,
    ) -> Result<RequestGuard, SimError> {
        if self.engine.status().is_dead() {
            return Err(SimError::EngineDead);
        }
        let limit = self.info.limits.max_live_requests;
        if self.admission.live.fetch_add(1, Ordering::AcqRel) >= limit {
            self.admission.live.fetch_sub(1, Ordering::AcqRel);
            return Err(SimError::Overloaded { limit });
        }
        let guard = RequestGuard {
            key: self.admission.next_key.fetch_add(1, Ordering::Relaxed),
            ticket: Arc::new(Ticket::default()),
            received: Instant::now(),
            state: self.clone(),
        };
        let submission = Submission {
            key: guard.key,
            prompt: EnginePrompt::Tokens(prompt),
            max_tokens,
            ticket: guard.ticket.clone(),
            received: guard.received,
        };
        if !self.engine.send(Command::Submit(submission)) {
            return Err(SimError::EngineStopped);
        }
        Ok(guard)
    }
}

/// One admitted request; dropping it before the engine finished aborts the request.
#[derive(Debug)]
pub(crate) struct RequestGuard {
    pub(crate) key: u64,
    pub(crate) ticket: Arc<Ticket>,
    pub(crate) received: Instant,
    state: AppState,
}

impl RequestGuard {
    /// Waits until the request is over; returns how it ended and its token count.
    pub(crate) async fn finished(&self) -> (Status, u32) {
        loop {
            let snapshot = self.ticket.snapshot();
            if snapshot.0 != Status::Live {
                return snapshot;
            }
            self.ticket.changed().await;
        }
    }

    pub(crate) fn state(&self) -> &AppState {
        &self.state
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        if self.ticket.snapshot().0 == Status::Live {
            self.state.engine.send(Command::Abort(self.key));
        }
        self.state.admission.live.fetch_sub(1, Ordering::AcqRel);
    }
}
