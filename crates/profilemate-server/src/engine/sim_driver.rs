//! Provides [`SimDriver`]: the simulated engine run against the wall clock.
//!
//! Virtual time is wall time since start × `--time-scale`; each advance runs the engine up to
//! now (`Simulation::run_until`) and sleeps until its `next_event`. With scale 0 the engine
//! runs event after event without waiting, so tokens come as fast as the server can send them.
//! Finished requests' records are forgotten once [`FORGET_AFTER`] have piled up
//! (`Simulation::forget_finished_records`), so memory stays bounded under any load, idle or
//! not, and the prefix cache stays warm as vLLM's does.

use std::time::{Duration, Instant};

use profilemate_sim::{
    EngineConfig, EngineRequestRecord, EngineSink, FinishReason, OffloadStats, Request, RequestId,
    Simulation, StepRecord,
};

use super::hub::KeyMap;
use super::logging::later;
use super::{Driver, Hub, Submission, Wake};
use crate::ticket::Status;
use crate::timer::EngineStepTimer;

/// Records kept before the finished ones are forgotten.
const FORGET_AFTER: usize = 4096;

/// With `--time-scale 0`, how long one advance may run engine events before the thread
/// wakes the HTTP tasks and takes new commands.
const BURST: Duration = Duration::from_micros(200);

/// How long to wait before looking again when the engine is ready but virtual time has not
/// moved past its clock yet.
const SPIN_PAUSE: Duration = Duration::from_micros(20);

/// Maps between HTTP keys and engine request ids.
#[derive(Debug, Default)]
struct Keys {
    by_id: KeyMap<RequestId, u64>,
    by_key: KeyMap<u64, RequestId>,
}

/// The real-time driver of a [`Simulation`].
#[derive(Debug)]
pub(crate) struct SimDriver {
    sim: Simulation<EngineStepTimer>,
    scale: f64,
    start: Instant,
    keys: Keys,
    /// Records held when the finished ones are next forgotten (amortized: at least twice what
    /// the last pass kept, so a server with many live requests doesn't sweep every advance).
    forget_at: usize,
}

impl SimDriver {
    pub(crate) fn new(
        config: EngineConfig,
        timer: EngineStepTimer,
        scale: f64,
    ) -> Result<Self, profilemate_sim::EngineConfigError> {
        let mut sim = Simulation::new(config, timer)?;
        sim.record_token_times(false);
        Ok(SimDriver {
            sim,
            scale,
            start: Instant::now(),
            keys: Keys::default(),
            forget_at: FORGET_AFTER,
        })
    }

    /// The simulation's clock at wall time `at` (never behind the engine's own clock).
    fn sim_time(&self, at: Instant) -> Duration {
        if self.scale == 0.0 {
            return self.sim.now();
        }
        let wall = at.saturating_duration_since(self.start).as_secs_f64();
        let elapsed = Duration::try_from_secs_f64(wall * self.scale).unwrap_or(Duration::MAX);
        elapsed.max(self.sim.now())
    }

    /// The wall instant of simulation time `t`.
    fn wall(&self, t: Duration) -> Instant {
        let secs = t.as_secs_f64() / self.scale;
        later(
            self.start,
            Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX),
        )
    }

    fn run_until(&mut self, t: Duration, hub: &mut Hub) {
        let mut sink = Sink {
            hub,
            keys: &mut self.keys,
        };
        self.sim.run_until(t, &mut sink);
        hub.status()
            .set_blocks(self.sim.num_block_holders(), self.sim.num_free_blocks());
        self.forget_finished();
        hub.status().set_records_kept(self.sim.records().len());
    }

    /// Forgets finished requests' records once enough have piled up.
    fn forget_finished(&mut self) {
        if self.sim.records().len() >= self.forget_at {
            self.sim.forget_finished_records();
            self.forget_at = FORGET_AFTER.max(2 * self.sim.records().len());
        }
    }
}

impl Driver for SimDriver {
    fn submit(&mut self, sub: Submission, hub: &mut Hub) {
        let arrival = self.sim_time(sub.received);
        let prompt_tokens = sub.prompt.len();
        let request = Request {
            arrival,
            prompt: sub.prompt,
            max_tokens: sub.max_tokens,
            kv_transfer: profilemate_sim::KvTransfer::None,
        };
        match self.sim.add_request(request) {
            Ok(id) => {
                self.keys.by_id.insert(id, sub.key);
                self.keys.by_key.insert(sub.key, id);
                hub.admit(sub.key, sub.ticket, arrival, prompt_tokens);
            }
            Err(_) => sub.ticket.close(Status::Aborted),
        }
    }

    fn reset_prefix_cache(&mut self) -> bool {
        self.sim.reset_prefix_cache()
    }

    fn abort(&mut self, key: u64, _hub: &mut Hub) {
        if let Some(&id) = self.keys.by_key.get(&key) {
            let at = self.sim_time(Instant::now());
            self.sim.abort(id, at);
        }
    }

    fn advance(&mut self, now: Instant, hub: &mut Hub) -> Wake {
        if self.scale == 0.0 {
            return self.burst(now, hub);
        }
        let v = self.sim_time(now);
        self.run_until(v, hub);
        match self.sim.next_event() {
            None => Wake::Idle,
            Some(t) if t <= v => Wake::At(later(now, SPIN_PAUSE)),
            Some(t) => Wake::At(self.wall(t)),
        }
    }

    fn virtual_now(&self, now: Instant) -> Duration {
        self.sim_time(now)
    }
}

impl SimDriver {
    /// As fast as possible: runs event after event for up to [`BURST`] of wall time.
    fn burst(&mut self, start: Instant, hub: &mut Hub) -> Wake {
        while let Some(t) = self.sim.next_event() {
            self.run_until(t + Duration::from_nanos(1), hub);
            if start.elapsed() >= BURST {
                return Wake::Now;
            }
        }
        Wake::Idle
    }
}

/// Routes the engine's events to the hub under HTTP keys.
struct Sink<'a> {
    hub: &'a mut Hub,
    keys: &'a mut Keys,
}

impl EngineSink for Sink<'_> {
    fn on_step(&mut self, step: &StepRecord) {
        self.hub.step(step);
    }

    fn on_tokens(&mut self, request: RequestId, num_tokens: u32, at: Duration) {
        if let Some(&key) = self.keys.by_id.get(&request) {
            self.hub.tokens(key, num_tokens, at);
        }
    }

    fn on_kv_connector_stats(&mut self, stats: &OffloadStats, _at: Duration) {
        self.hub.kv_connector_stats(stats);
    }

    fn on_request_finished(&mut self, record: &EngineRequestRecord) {
        let Some(key) = self.keys.by_id.remove(&record.id) else {
            return;
        };
        self.keys.by_key.remove(&key);
        let aborted = record.finish_reason == Some(FinishReason::Aborted);
        self.hub.finish(key, record, aborted);
    }
}
