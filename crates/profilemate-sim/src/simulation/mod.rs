//! Provides [`Simulation`], the virtual-time event loop: arrivals, aborts and engine steps.
//!
//! Mirrors the busy loop of `EngineCore` (`run_busy_loop` / `step()` in
//! vllm/v1/engine/core.py, vLLM 0.32) without async scheduling: requests that arrive while a
//! step runs are queued for the next `schedule()`; an idle engine wakes at the next arrival;
//! aborts received during a step are applied before its outputs are processed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::batch::{IterationCounts, StepBatch};
use crate::cudagraph::Dispatcher;
use crate::error::{ConfigError, RequestError};
use crate::records::{FinishReason, RequestId, RequestRecord, StepRecord};
use crate::request::Request;
use crate::scheduler::{Scheduler, SchedulerOutput, TokenOutput};
use crate::sink::EngineSink;
use crate::spec_decode::SpecDecodeStats;
use crate::state::ReqState;
use crate::{EngineConfig, StepTimer};

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
    dispatcher: Dispatcher,
    clock: Duration,
    pending: BinaryHeap<Reverse<Pending>>,
    aborts: BinaryHeap<Reverse<(Duration, RequestId)>>,
    records: Vec<RequestRecord>,
    next_index: u64,
    rng: StdRng,
    record_token_times: bool,
}

impl<T: StepTimer> Simulation<T> {
    /// An idle engine at time zero; fails on settings vLLM would refuse.
    pub fn new(config: EngineConfig, timer: T) -> Result<Self, ConfigError> {
        config.validate()?;
        let dispatcher = Dispatcher::new(
            &config.cudagraph,
            config.max_num_seqs,
            config.max_num_batched_tokens,
            config.decode_query_len(),
        );
        Ok(Simulation {
            scheduler: Scheduler::new(&config),
            rng: StdRng::seed_from_u64(config.seed),
            config,
            timer,
            dispatcher,
            clock: Duration::ZERO,
            pending: BinaryHeap::new(),
            aborts: BinaryHeap::new(),
            records: Vec::new(),
            next_index: 0,
            record_token_times: true,
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
    /// is queued for the next step, like a request reaching vLLM while a step runs.
    pub fn add_request(&mut self, request: Request) -> Result<RequestId, RequestError> {
        request.validate(self.config.max_model_len)?;
        if request.arrival > MAX_ARRIVAL {
            return Err(RequestError::ArrivalOutOfRange(request.arrival));
        }
        let id = RequestId(self.records.len() as u32);
        let prompt_tokens = request.prompt.len();
        self.records.push(RequestRecord::new(
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

    /// Per-request records, indexed by [`RequestId`].
    pub fn records(&self) -> &[RequestRecord] {
        &self.records
    }

    /// Consumes the simulation, returning the per-request records.
    pub fn into_records(self) -> Vec<RequestRecord> {
        self.records
    }

    /// Requests still holding KV blocks (0 once all have finished or been aborted).
    pub fn num_block_holders(&self) -> usize {
        self.scheduler.num_block_holders()
    }

    /// Free KV blocks (the null block excluded).
    pub fn num_free_blocks(&self) -> u32 {
        self.scheduler.num_free_blocks()
    }

    /// Runs until every request has finished, pushing events into `sink`.
    pub fn run(&mut self, sink: &mut impl EngineSink) {
        while self.advance(sink, None) {}
    }

    /// Runs every step that starts before `until`; the clock ends at `until` or at the end
    /// of the last step run, whichever is later.
    pub fn run_until(&mut self, until: Duration, sink: &mut impl EngineSink) {
        while self.advance(sink, Some(until)) {}
        self.clock = self.clock.max(until);
    }

    /// Does one thing (a step, or a wake-up at the next event); `false` when nothing is left
    /// to do (before `until`, if given).
    fn advance(&mut self, sink: &mut impl EngineSink, until: Option<Duration>) -> bool {
        self.admit_arrivals();
        self.apply_aborts(self.clock, sink);
        if until.is_some_and(|u| self.clock >= u) {
            return false;
        }
        if self.scheduler.has_requests() {
            let out = self.scheduler.schedule();
            if !out.entries.is_empty() {
                self.run_step(out, sink);
                return true;
            }
        }
        self.wake_at_next_event(until)
    }

    /// Jumps the clock to the next arrival or abort, which lies after it; `false` if there is
    /// none before `until`. An engine that cannot schedule anything also waits here.
    fn wake_at_next_event(&mut self, until: Option<Duration>) -> bool {
        let next_arrival = self.pending.peek().map(|Reverse(p)| p.arrival);
        let next_abort = self.aborts.peek().map(|Reverse((at, _))| *at);
        let next = match (next_arrival, next_abort) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match next {
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
            self.scheduler
                .add(p.id, ReqState::new(p.request.prompt, max_tokens));
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
        let Some(record) = self.records.get_mut(id.0 as usize) else {
            return;
        };
        if record.finished.is_some() {
            return;
        }
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

    /// Times and executes one scheduled step, then records its outputs.
    fn run_step(&mut self, out: SchedulerOutput, sink: &mut impl EngineSink) {
        let start = self.clock;
        let num_scheduled_tokens = out.total_tokens();
        let uniform = out
            .entries
            .iter()
            .all(|e| e.num_scheduled_tokens == self.config.decode_query_len());
        let dispatch = self.dispatcher.dispatch(num_scheduled_tokens, uniform);
        let batch = StepBatch {
            entries: &out.entries,
            num_scheduled_tokens,
            padded_num_tokens: dispatch.padded_tokens,
            cudagraph_mode: dispatch.mode,
        };
        let model_time = self.timer.step_time(&batch);
        let duration = model_time.saturating_add(self.config.cpu_overhead_per_step);
        let end = start.saturating_add(duration);
        self.apply_aborts(end, sink);
        let mut spec = self
            .config
            .spec_decode
            .as_ref()
            .map(|s| SpecDecodeStats::new(s.num_speculative_tokens));
        let tokens = self
            .scheduler
            .update_from_output(&out, &mut self.rng, &mut spec);
        self.clock = end;
        self.mark_scheduled(&out, start);
        let step = StepRecord {
            index: self.next_index,
            start,
            duration,
            model_time,
            counts: IterationCounts::of(&out.entries),
            num_scheduled_tokens,
            padded_num_tokens: dispatch.padded_tokens,
            cudagraph_mode: dispatch.mode,
            kv_cache_usage: self.scheduler.kv_usage(),
            num_running: self.scheduler.num_running(),
            num_waiting: self.scheduler.num_waiting(),
            num_preempted: out.preempted.len() as u32,
            num_finished: tokens.iter().filter(|t| t.finished).count() as u32,
            num_generated_tokens: tokens.iter().map(|t| t.num_tokens).sum(),
            prefix_cache: out.prefix_cache,
            spec_decode: spec,
        };
        self.next_index += 1;
        sink.on_step(&step);
        self.emit_tokens(&tokens, end, sink);
    }

    /// Stamps first scheduling and prefix hits; counts preemptions.
    fn mark_scheduled(&mut self, out: &SchedulerOutput, start: Duration) {
        for e in &out.entries {
            let record = &mut self.records[e.request.0 as usize];
            if record.first_scheduled.is_none() {
                record.first_scheduled = Some(start);
                record.num_cached_tokens = e.num_cached_tokens;
            }
        }
        for id in &out.preempted {
            self.records[id.0 as usize].num_preemptions += 1;
        }
    }

    /// Appends the step's tokens to the records and reports finished requests.
    fn emit_tokens(&mut self, tokens: &[TokenOutput], at: Duration, sink: &mut impl EngineSink) {
        for t in tokens {
            let record = &mut self.records[t.request.0 as usize];
            record.num_output_tokens += t.num_tokens;
            record.first_token.get_or_insert(at);
            record.last_token = Some(at);
            if self.record_token_times {
                record
                    .token_times
                    .extend(std::iter::repeat_n(at, t.num_tokens as usize));
            }
            if t.finished {
                record.finished = Some(at);
                record.finish_reason = Some(FinishReason::Length);
                sink.on_request_finished(record);
            }
        }
    }
}
