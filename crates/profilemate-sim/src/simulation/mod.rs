//! Provides [`Simulation`], the virtual-time event loop: arrivals, aborts and engine steps.
//!
//! Mirrors the busy loop of `EngineCore` (`run_busy_loop` / `step()` in
//! vllm/v1/engine/core.py, vLLM 0.32): requests that arrive while a step runs are queued for
//! the next `schedule()`; an idle engine wakes at the next arrival; aborts received during a
//! step are applied before its outputs are processed. With async scheduling the loop is
//! `step_with_batch_queue` with a queue of two: step N+1 is scheduled as soon as step N is
//! launched, and each later step when the one before the previous has been processed.
//! Step execution and output recording are in [`execute`]; KV-offload transfers in
//! [`transfers`].

mod execute;
mod record_book;
mod transfers;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;

use profilemate_model::cudagraph::CudaGraphDispatcher;

use crate::error::{EngineConfigError, RequestError};
use crate::offload::transfer::HostLink;
use crate::records::{EngineRequestRecord, FinishReason, PrefixCacheStats, RequestId};
use crate::request::Request;
use crate::scheduler::{Scheduler, SchedulerOutput};
use crate::sink::EngineSink;
use crate::state::ReqState;
use crate::{EngineConfig, StepTimer};

use execute::InFlight;
use record_book::RecordBook;

/// Latest arrival the clock accepts (about 31 years), far from `Duration`'s overflow.
const MAX_ARRIVAL: Duration = Duration::from_secs(1 << 30);

/// A request waiting for its arrival time, ordered by (arrival, id).
#[derive(Debug)]
struct Pending {
    arrival: Duration,
    id: RequestId,
    request: Request,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.arrival, self.id) == (other.arrival, other.id)
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.arrival, self.id).cmp(&(other.arrival, other.id))
    }
}

/// A simulated vLLM engine running in virtual time.
#[derive(Debug)]
pub struct Simulation<T> {
    config: EngineConfig,
    timer: T,
    scheduler: Scheduler,
    dispatcher: CudaGraphDispatcher,
    clock: Duration,
    pending: BinaryHeap<Reverse<Pending>>,
    /// Steps launched but not yet processed: at most 1, or 2 with async scheduling.
    in_flight: VecDeque<InFlight>,
    /// When the GPU finishes the last launched step.
    gpu_free_at: Duration,
    /// A scheduling point passed without launching a step while one is in flight: vLLM's
    /// batch queue then blocks on the oldest step (`step_with_batch_queue`), so nothing is
    /// scheduled again, and no arrival is admitted, until that step is processed.
    blocked_on_oldest_step: bool,
    aborts: BinaryHeap<Reverse<(Duration, RequestId)>>,
    /// Held KV blocks of finished prefills to free, and when ([`Simulation::release_held_kv`]).
    releases: BinaryHeap<Reverse<(Duration, RequestId)>>,
    records: RecordBook,
    next_index: u64,
    rng: StdRng,
    record_token_times: bool,
    /// The GPU↔CPU link, with KV offloading on.
    link: Option<HostLink>,
    /// Prefix-cache lookups and preemptions of schedules that launched no step (async KV
    /// loads, a request preempted by blocks a load holds), reported with the next step.
    carried_prefix_cache: PrefixCacheStats,
    carried_connector_prefix_cache: PrefixCacheStats,
    carried_preempted: Vec<RequestId>,
    /// The last schedule launched nothing and nothing has happened since (only with KV
    /// offloading: requests wait for loads), so scheduling again would not either.
    stalled: bool,
}

impl<T: StepTimer> Simulation<T> {
    /// An idle engine at time zero; fails on settings vLLM would refuse.
    pub fn new(config: EngineConfig, timer: T) -> Result<Self, EngineConfigError> {
        config.validate()?;
        let dispatcher = config.cudagraph_dispatcher()?;
        let link = config.kv_offload.as_ref().map(HostLink::new);
        Ok(Simulation {
            scheduler: Scheduler::new(&config),
            rng: StdRng::seed_from_u64(config.seed),
            config,
            timer,
            dispatcher,
            clock: Duration::ZERO,
            pending: BinaryHeap::new(),
            in_flight: VecDeque::new(),
            gpu_free_at: Duration::ZERO,
            blocked_on_oldest_step: false,
            aborts: BinaryHeap::new(),
            releases: BinaryHeap::new(),
            records: RecordBook::default(),
            next_index: 0,
            record_token_times: true,
            link,
            carried_prefix_cache: PrefixCacheStats::default(),
            carried_connector_prefix_cache: PrefixCacheStats::default(),
            carried_preempted: Vec::new(),
            stalled: false,
        })
    }

    /// Whether records keep every token's time (on by default); off saves memory on long
    /// runs, keeping first and last token times.
    pub fn record_token_times(&mut self, on: bool) {
        self.record_token_times = on;
    }

    /// The settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Current virtual time: the end of the last step, or the last wake-up.
    pub fn now(&self) -> Duration {
        self.clock
    }

    /// Adds a request arriving at `request.arrival`. An arrival earlier than [`now`](Self::now)
    /// is queued for the next step, like a request reaching vLLM while a step runs. Errors
    /// are vLLM's ([`Request::validate`]); `max_tokens` beyond the context is capped, and the
    /// record keeps the capped value.
    pub fn add_request(&mut self, mut request: Request) -> Result<RequestId, RequestError> {
        request.validate(self.config.max_model_len)?;
        if request.arrival > MAX_ARRIVAL {
            return Err(RequestError::ArrivalOutOfRange(request.arrival));
        }
        request.max_tokens = request.capped_max_tokens(self.config.max_model_len);
        let id = self.records.next_id();
        let prompt_tokens = request.prompt.len();
        self.records.push(EngineRequestRecord::new(
            id,
            request.arrival,
            prompt_tokens,
            request.max_tokens,
        ));
        self.pending.push(Reverse(Pending {
            arrival: request.arrival,
            id,
            request,
        }));
        Ok(id)
    }

    /// Cancels a request at virtual time `at` (a client disconnect): it leaves the queues
    /// and its KV blocks are freed at the first step boundary at or after `at`.
    pub fn abort(&mut self, id: RequestId, at: Duration) {
        self.aborts.push(Reverse((at, id)));
    }

    /// Frees, at virtual time `at` (at the first step boundary at or after it), the KV blocks
    /// a finished [`KvTransfer::RemoteDecode`](crate::KvTransfer::RemoteDecode) request kept
    /// for its decode instance: the decode side has read them. Does nothing for a request
    /// holding none.
    pub fn release_held_kv(&mut self, id: RequestId, at: Duration) {
        self.releases.push(Reverse((at, id)));
    }

    /// The [`KvTransfer::RemotePrefill`](crate::KvTransfer::RemotePrefill) requests whose KV
    /// pull has landed (seen by a schedule) since the last call, with when each landed: the
    /// prefill instance may then free what it held ([`release_held_kv`](Self::release_held_kv)).
    pub fn take_landed_kv_pulls(&mut self) -> Vec<(RequestId, Duration)> {
        self.scheduler
            .take_landed_pulls()
            .into_iter()
            .map(|(slot, at)| (RequestId(slot), at))
            .collect()
    }

    /// The virtual time of the next thing the engine will do on its own: the end of the
    /// oldest step in flight, now if requests are ready to schedule, else the next arrival or
    /// abort; `None` when idle with nothing pending. A real-time driver sleeps until then
    /// (or until a new request comes) and calls [`run_until`](Self::run_until).
    pub fn next_event(&self) -> Option<Duration> {
        if let Some(step) = self.in_flight.front() {
            return Some(step.end());
        }
        if self.scheduler.has_requests() && !self.stalled {
            return Some(self.clock);
        }
        self.next_wake_up()
    }

    /// The next arrival, abort, transfer end, KV pull landing or held-KV release.
    fn next_wake_up(&self) -> Option<Duration> {
        let next_arrival = self.pending.peek().map(|Reverse(p)| p.arrival);
        let next_abort = self.aborts.peek().map(|Reverse((at, _))| *at);
        let next_transfer = self.next_transfer_end();
        let next_landing = self.scheduler.next_remote_landing();
        let next_release = self.releases.peek().map(|Reverse((at, _))| *at);
        [
            next_arrival,
            next_abort,
            next_transfer,
            next_landing,
            next_release,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Per-request records in id order. With nothing forgotten (see
    /// [`forget_finished_records`](Self::forget_finished_records)) `records()[i]` is request
    /// `i`; each record carries its [`RequestId`] either way.
    pub fn records(&self) -> &[EngineRequestRecord] {
        self.records.as_slice()
    }

    /// Drops the records of every finished request, returning how many were dropped. A
    /// long-running driver calls it now and then so memory stays bounded under endless load,
    /// however long some requests run; the dropped requests' ids stay retired.
    pub fn forget_finished_records(&mut self) -> usize {
        self.records.forget_finished()
    }

    /// Consumes the simulation, returning the per-request records not forgotten.
    pub fn into_records(self) -> Vec<EngineRequestRecord> {
        self.records.into_vec()
    }

    /// The load an engine publishes to vLLM's data-parallel load balancer: requests waiting,
    /// requests running and the KV cache usage (0–1), as of the last schedule
    /// (vllm/v1/core/sched/scheduler.py `make_stats`: `num_waiting_reqs`, `num_running_reqs`,
    /// `kv_cache_usage`).
    pub fn load(&self) -> EngineLoad {
        EngineLoad {
            waiting: self.scheduler.num_waiting(),
            running: self.scheduler.num_running(),
            kv_cache_usage: self.scheduler.kv_usage(),
        }
    }

    /// Requests still holding KV blocks (0 once all have finished or been aborted).
    pub fn num_block_holders(&self) -> usize {
        self.scheduler.num_block_holders()
    }

    /// Free KV blocks (the null block excluded).
    pub fn num_free_blocks(&self) -> u32 {
        self.scheduler.num_free_blocks()
    }

    /// Forgets the prefix cache so no later request hits it, as vLLM's
    /// `POST /reset_prefix_cache` does (`BlockPool.reset_prefix_cache`); `false`, changing
    /// nothing, while any request still holds blocks.
    pub fn reset_prefix_cache(&mut self) -> bool {
        self.scheduler.reset_prefix_cache()
    }

    /// Runs until every request has finished (or `sink` asks to stop), pushing events into
    /// `sink`.
    pub fn run(&mut self, sink: &mut impl EngineSink) {
        while !sink.stop_requested() && self.advance(sink, None) {}
    }

    /// Runs until virtual time `until`: processes every step that ends by then and starts
    /// none after it; a step running across `until` stays in flight. The clock ends at
    /// `until` at least. Returns early, at a step boundary, when `sink` asks to stop.
    pub fn run_until(&mut self, until: Duration, sink: &mut impl EngineSink) {
        while !sink.stop_requested() && self.advance(sink, Some(until)) {}
        self.clock = self.clock.max(until);
    }

    /// Steps in flight: 1 when synchronous, 2 with async scheduling (vLLM's batch queue).
    fn pipeline_depth(&self) -> usize {
        if self.config.async_scheduling { 2 } else { 1 }
    }

    /// Does one thing (schedule a step, process a finished one, or wake at the next event);
    /// `false` when nothing is left to do (before `until`, if given).
    fn advance(&mut self, sink: &mut impl EngineSink, until: Option<Duration>) -> bool {
        let before_until = until.is_none_or(|u| self.clock < u);
        let room = self.in_flight.len() < self.pipeline_depth() && !self.blocked_on_oldest_step;
        if before_until && room {
            self.admit_arrivals();
            self.apply_aborts(self.clock, sink);
            self.collect_idle_transfers(sink);
            self.apply_remote_kv();
            if self.scheduler.has_requests() && self.schedule_and_launch() {
                return true;
            }
            self.blocked_on_oldest_step = !self.in_flight.is_empty();
        }
        if let Some(end) = self.in_flight.front().map(InFlight::end) {
            if until.is_some_and(|u| end > u) {
                return false;
            }
            self.finish_step(sink);
            return true;
        }
        self.wake_at_next_event(until)
    }

    /// Schedules a step and launches it; `true` when the pipeline has room for another one
    /// right away (async scheduling's second step), or when a schedule that preempted
    /// requests scheduled nothing.
    fn schedule_and_launch(&mut self) -> bool {
        self.scheduler.set_now(self.clock);
        let mut out = self.scheduler.schedule();
        if out.entries.is_empty() {
            let again = self.carry_empty_schedule(out);
            self.stalled = !again;
            return again;
        }
        out.prefix_cache
            .merge(&std::mem::take(&mut self.carried_prefix_cache));
        if let Some(stats) = out.connector_prefix_cache.as_mut() {
            stats.merge(&std::mem::take(&mut self.carried_connector_prefix_cache));
        }
        let carried = std::mem::take(&mut self.carried_preempted);
        out.preempted.splice(0..0, carried);
        self.launch(out);
        self.in_flight.len() < self.pipeline_depth()
    }

    /// A schedule with no tokens, possible only with KV offloading: its transfers start, its
    /// lookups and preemptions wait for the next step. vLLM runs it as an empty step and
    /// schedules again at once if it preempted anything.
    fn carry_empty_schedule(&mut self, mut out: SchedulerOutput) -> bool {
        let at = self.clock.max(self.gpu_free_at);
        self.submit_transfers(std::mem::take(&mut out.transfers), at, at);
        self.carried_prefix_cache.merge(&out.prefix_cache);
        if let Some(stats) = &out.connector_prefix_cache {
            self.carried_connector_prefix_cache.merge(stats);
        }
        let preempted = !out.preempted.is_empty();
        self.carried_preempted.append(&mut out.preempted);
        preempted
    }

    /// Jumps the clock to the next arrival, abort or transfer end, which lies after it;
    /// `false` if there is none before `until`. An engine that cannot schedule anything also
    /// waits here. Arrivals are admitted only when a step is about to be scheduled, as vLLM
    /// drains its input queue between steps.
    fn wake_at_next_event(&mut self, until: Option<Duration>) -> bool {
        match self.next_wake_up() {
            Some(t) if t > self.clock && until.is_none_or(|u| t < u) => {
                self.clock = t;
                true
            }
            _ => false,
        }
    }

    /// Moves every request that has arrived by now into the waiting queue.
    fn admit_arrivals(&mut self) {
        while let Some(Reverse(p)) = self.pending.peek() {
            if p.arrival > self.clock {
                break;
            }
            let Some(Reverse(p)) = self.pending.pop() else {
                break;
            };
            let max_tokens = p.request.max_tokens;
            let mut state = ReqState::new(p.request.prompt, max_tokens);
            state.kv_transfer = p.request.kv_transfer;
            self.scheduler.add(p.id, state);
            self.stalled = false;
        }
    }

    /// Frees held KV due by now; wakes a stalled scheduler when that, or a pull landing,
    /// may let it schedule.
    fn apply_remote_kv(&mut self) {
        while let Some(&Reverse((at, id))) = self.releases.peek() {
            if at > self.clock {
                break;
            }
            self.releases.pop();
            self.stalled &= !self.scheduler.release_held(id.0);
        }
        if self
            .scheduler
            .next_remote_landing()
            .is_some_and(|t| t <= self.clock)
        {
            self.stalled = false;
        }
    }

    /// Applies aborts due by `t`.
    fn apply_aborts(&mut self, t: Duration, sink: &mut impl EngineSink) {
        while let Some(&Reverse((at, id))) = self.aborts.peek() {
            if at > t {
                break;
            }
            self.aborts.pop();
            self.abort_now(id, at, sink);
        }
    }

    fn abort_now(&mut self, id: RequestId, at: Duration, sink: &mut impl EngineSink) {
        let Some(record) = self.records.get_mut(id) else {
            return;
        };
        if record.finished.is_some() {
            return;
        }
        self.stalled = false;
        if let Some(n) = self.scheduler.num_preemptions(id) {
            record.num_preemptions = n;
        }
        if !self.scheduler.abort(id) {
            self.pending.retain(|Reverse(p)| p.id != id);
        }
        record.finished = Some(at.max(record.arrival));
        record.finish_reason = Some(FinishReason::Aborted);
        sink.on_request_finished(record);
    }
}

/// What an engine reports about its load ([`Simulation::load`]).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EngineLoad {
    /// Requests waiting to be scheduled.
    pub waiting: u32,
    /// Requests running.
    pub running: u32,
    /// Fraction of the KV cache's blocks in use.
    pub kv_cache_usage: f64,
}
