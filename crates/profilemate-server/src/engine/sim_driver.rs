//! Provides [`SimDriver`]: the simulated engine run against the wall clock — one engine, or
//! `--data-parallel-size N` of them behind vLLM's data-parallel load balancer.
//!
//! Virtual time is wall time since start × `--time-scale`; each advance runs the engine up to
//! now (`Simulation::run_until`) and sleeps until its `next_event`. With scale 0 the engine
//! runs event after event without waiting, so tokens come as fast as the server can send them.
//! Finished requests' records are forgotten once [`FORGET_AFTER`] have piled up
//! (`Simulation::forget_finished_records`), so memory stays bounded under any load, idle or
//! not, and the prefix cache stays warm as vLLM's does.

use std::time::{Duration, Instant};

use profilemate_sim::{
    DataParallelRouter, EngineConfig, EngineRequestRecord, EngineSink, FinishReason, OffloadStats,
    Request, RequestId, Simulation, StepRecord,
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

/// Maps between HTTP keys and (engine, engine request id).
#[derive(Debug, Default)]
struct Keys {
    /// Per engine: its request ids' HTTP keys.
    by_id: Vec<KeyMap<RequestId, u64>>,
    by_key: KeyMap<u64, (usize, RequestId)>,
}

/// One data-parallel engine: its simulation and when its finished records are next forgotten.
#[derive(Debug)]
struct Engine {
    sim: Simulation<EngineStepTimer>,
    /// Records held when the finished ones are next forgotten (amortized: at least twice what
    /// the last pass kept, so a server with many live requests doesn't sweep every advance).
    forget_at: usize,
}

impl Engine {
    /// Forgets finished requests' records once enough have piled up.
    fn forget_finished(&mut self) {
        if self.sim.records().len() >= self.forget_at {
            self.sim.forget_finished_records();
            self.forget_at = FORGET_AFTER.max(2 * self.sim.records().len());
        }
    }
}

/// The real-time driver of one [`Simulation`] per data-parallel engine, with vLLM's
/// data-parallel load balancer ([`DataParallelRouter`]) in front of them.
#[derive(Debug)]
pub(crate) struct SimDriver {
    engines: Vec<Engine>,
    router: DataParallelRouter,
    scale: f64,
    start: Instant,
    keys: Keys,
}

impl SimDriver {
    /// One engine per timer in `timers` (an empty list is taken as none), each with `config`.
    pub(crate) fn new(
        config: EngineConfig,
        timers: Vec<EngineStepTimer>,
        scale: f64,
    ) -> Result<Self, profilemate_sim::EngineConfigError> {
        let n = timers.len().max(1);
        let engines = timers
            .into_iter()
            .map(|timer| {
                let mut sim = Simulation::new(config.clone(), timer)?;
                sim.record_token_times(false);
                Ok(Engine {
                    sim,
                    forget_at: FORGET_AFTER,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SimDriver {
            engines,
            router: DataParallelRouter::new(n),
            scale,
            start: Instant::now(),
            keys: Keys {
                by_id: (0..n).map(|_| KeyMap::default()).collect(),
                by_key: KeyMap::default(),
            },
        })
    }

    /// Engine `e`'s clock at wall time `at` (never behind the engine's own clock).
    fn sim_time(&self, e: usize, at: Instant) -> Duration {
        let own = self.engines[e].sim.now();
        if self.scale == 0.0 {
            return own;
        }
        let wall = at.saturating_duration_since(self.start).as_secs_f64();
        let elapsed = Duration::try_from_secs_f64(wall * self.scale).unwrap_or(Duration::MAX);
        elapsed.max(own)
    }

    /// The wall instant of simulation time `t`.
    fn wall(&self, t: Duration) -> Instant {
        let secs = t.as_secs_f64() / self.scale;
        later(
            self.start,
            Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX),
        )
    }

    /// Runs engine `e` up to `t`.
    fn run_engine_until(&mut self, e: usize, t: Duration, hub: &mut Hub) {
        let engine = &mut self.engines[e];
        let mut sink = Sink {
            engine: e,
            hub,
            keys: &mut self.keys,
            router: &mut self.router,
        };
        engine.sim.run_until(t, &mut sink);
        engine.forget_finished();
    }

    /// Publishes the engines' blocks (and, with several engines, their summed load) to the
    /// status.
    fn publish_status(&self, hub: &Hub) {
        let sims = self.engines.iter().map(|e| &e.sim);
        let holders = sims.clone().map(Simulation::num_block_holders).sum();
        let free = sims.clone().map(Simulation::num_free_blocks).sum();
        let status = hub.status();
        status.set_blocks(holders, free);
        status.set_records_kept(sims.clone().map(|s| s.records().len()).sum());
        if self.engines.len() > 1 {
            let (mut running, mut waiting, mut usage) = (0, 0, 0.0);
            for load in sims.map(Simulation::load) {
                running += load.running;
                waiting += load.waiting;
                usage += load.kv_cache_usage;
            }
            status.set_load(running, waiting, usage / self.engines.len() as f64);
        }
    }

    /// The earliest next event of any engine, with its engine.
    fn next_event(&self) -> Option<(Duration, usize)> {
        self.engines
            .iter()
            .enumerate()
            .filter_map(|(e, engine)| engine.sim.next_event().map(|t| (t, e)))
            .min()
    }
}

impl Driver for SimDriver {
    fn submit(&mut self, sub: Submission, hub: &mut Hub) {
        let loads: Vec<_> = self.engines.iter().map(|e| e.sim.load()).collect();
        let e = self.router.pick(&loads);
        let arrival = self.sim_time(e, sub.received);
        let prompt_tokens = sub.prompt.len();
        let request = Request {
            arrival,
            prompt: sub.prompt,
            max_tokens: sub.max_tokens,
            kv_transfer: profilemate_sim::KvTransfer::None,
        };
        match self.engines[e].sim.add_request(request) {
            Ok(id) => {
                self.keys.by_id[e].insert(id, sub.key);
                self.keys.by_key.insert(sub.key, (e, id));
                hub.admit(sub.key, sub.ticket, e, arrival, prompt_tokens);
            }
            Err(_) => {
                self.router.finished(e, 1);
                sub.ticket.close(Status::Aborted);
            }
        }
    }

    fn reset_prefix_cache(&mut self) -> bool {
        // Every engine is asked, as vLLM's client asks every engine core.
        let reset: Vec<bool> = self
            .engines
            .iter_mut()
            .map(|e| e.sim.reset_prefix_cache())
            .collect();
        reset.into_iter().all(|done| done)
    }

    fn abort(&mut self, key: u64, _hub: &mut Hub) {
        if let Some(&(e, id)) = self.keys.by_key.get(&key) {
            let at = self.sim_time(e, Instant::now());
            self.engines[e].sim.abort(id, at);
        }
    }

    fn advance(&mut self, now: Instant, hub: &mut Hub) -> Wake {
        if self.scale == 0.0 {
            return self.burst(now, hub);
        }
        for e in 0..self.engines.len() {
            let v = self.sim_time(e, now);
            self.run_engine_until(e, v, hub);
        }
        self.publish_status(hub);
        match self.next_event() {
            None => Wake::Idle,
            Some((t, e)) if t <= self.sim_time(e, now) => Wake::At(later(now, SPIN_PAUSE)),
            Some((t, _)) => Wake::At(self.wall(t)),
        }
    }

    fn virtual_now(&self, now: Instant) -> Duration {
        (0..self.engines.len())
            .map(|e| self.sim_time(e, now))
            .max()
            .unwrap_or_default()
    }
}

impl SimDriver {
    /// As fast as possible: runs event after event, the earliest of any engine first, for up
    /// to [`BURST`] of wall time.
    fn burst(&mut self, start: Instant, hub: &mut Hub) -> Wake {
        while let Some((t, e)) = self.next_event() {
            self.run_engine_until(e, t + Duration::from_nanos(1), hub);
            self.publish_status(hub);
            if start.elapsed() >= BURST {
                return Wake::Now;
            }
        }
        Wake::Idle
    }
}

/// Routes one engine's events to the hub under HTTP keys.
struct Sink<'a> {
    engine: usize,
    hub: &'a mut Hub,
    keys: &'a mut Keys,
    router: &'a mut DataParallelRouter,
}

impl EngineSink for Sink<'_> {
    fn on_step(&mut self, step: &StepRecord) {
        self.hub.step(self.engine, step);
    }

    fn on_tokens(&mut self, request: RequestId, num_tokens: u32, at: Duration) {
        if let Some(&key) = self.keys.by_id[self.engine].get(&request) {
            self.hub.tokens(key, num_tokens, at);
        }
    }

    fn on_kv_connector_stats(&mut self, stats: &OffloadStats, _at: Duration) {
        self.hub.kv_connector_stats(self.engine, stats);
    }

    fn on_request_finished(&mut self, record: &EngineRequestRecord) {
        let Some(key) = self.keys.by_id[self.engine].remove(&record.id) else {
            return;
        };
        self.keys.by_key.remove(&key);
        self.router.finished(self.engine, 1);
        let aborted = record.finish_reason == Some(FinishReason::Aborted);
        self.hub.finish(key, record, aborted);
    }
}
