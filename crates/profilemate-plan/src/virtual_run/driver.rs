//! Provides [`drive`]: the virtual-time client. It hands each scheduled request to a
//! [`Simulation`] at its send time, behind `--max-concurrency` as the HTTP dispatcher does, and
//! records what a streaming client would see: one chunk per request per engine step.
//!
//! A request waiting for a concurrency slot is sent when a running one finishes, at that
//! finish time; the engine is driven step by step only while someone waits, and from send to
//! send otherwise. Requests the engine refuses (vLLM's 400 for prompts too long) fail at once
//! and free their slot, as an HTTP 400 does.
//!
//! [`drive_with`] adds [`FollowUps`]: requests queued when another finishes (`multi_turn`'s
//! later turns, closed loop). While any may come, the engine is driven event by event so each
//! follow-up leaves at its due time.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use profilemate_sim::{
    EngineRequestRecord, EngineSink, Request, RequestId, Simulation, StepRecord, StepTimer,
};

use crate::virtual_run::engine_view::EngineTotals;
use crate::virtual_run::front_end::FrontEnd;
use profilemate_bench::cancel::CancelToken;
use profilemate_bench::event::{Event, EventSink, VIRTUAL_PROGRESS_EVERY};

/// Steps between two looks at the wall clock for progress: keeps the check off the hot path.
const STEPS_PER_CLOCK_CHECK: u32 = 256;

/// Emits [`Event::VirtualProgress`] at most every [`VIRTUAL_PROGRESS_EVERY`] of wall time.
#[derive(Debug)]
pub(crate) struct ProgressReporter {
    pub(crate) events: EventSink,
    pub(crate) total: usize,
    pub(crate) done: usize,
    steps: u32,
    last: Instant,
}

impl ProgressReporter {
    /// Reports on `total` requests to `events`.
    pub(crate) fn new(events: EventSink, total: usize) -> Self {
        Self {
            events,
            total,
            done: 0,
            steps: 0,
            last: Instant::now(),
        }
    }

    pub(crate) fn step(&mut self, now: Duration) {
        self.steps += 1;
        if self.steps < STEPS_PER_CLOCK_CHECK {
            return;
        }
        self.steps = 0;
        if self.last.elapsed() >= VIRTUAL_PROGRESS_EVERY {
            self.last = Instant::now();
            self.emit(now);
        }
    }

    pub(crate) fn emit(&self, now: Duration) {
        self.events.emit(Event::VirtualProgress {
            done: self.done,
            total: self.total,
            simulated: now.as_secs_f64(),
        });
    }
}

/// One request the client will send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outgoing {
    /// Send time from the start of the run.
    pub(crate) send_at: Duration,
    /// The engine request (its arrival is set when it leaves the client).
    pub(crate) request: Request,
}

/// What became of one dispatched request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Waiting for a concurrency slot (only while driving).
    Queued,
    /// In the engine under this id.
    Engine(RequestId),
    /// Refused by the engine, with vLLM's error text.
    Rejected(String),
}

/// One dispatched request: when it was due, when it left the client, and its outcome.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sent {
    /// Its scheduled send time.
    pub(crate) send_at: Duration,
    /// When it got a concurrency slot and left the client (it reaches the engine after the
    /// front end's delay).
    pub(crate) started: Duration,
    /// What happened to it.
    pub(crate) outcome: Outcome,
}

/// The token-bearing chunks of one stream as a client measures them: the first and last
/// chunk's arrival, the gap before each later chunk, and each chunk's tokens.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Stream {
    /// Arrival of the first chunk (`None` before any).
    pub(crate) first: Option<Duration>,
    /// Arrival of the last chunk so far.
    pub(crate) last: Duration,
    /// Seconds between consecutive chunks (one fewer than chunks).
    pub(crate) gaps: Vec<f64>,
    /// Tokens in each chunk.
    pub(crate) tokens: Vec<u32>,
}

impl Stream {
    /// A chunk of `num_tokens` tokens arrived at `at`; with [`ClientDetail::FirstAndLast`] only
    /// its time counts.
    pub(crate) fn push(&mut self, num_tokens: u32, at: Duration, detail: ClientDetail) {
        let first = self.first.is_none();
        if first {
            self.first = Some(at);
        }
        if detail == ClientDetail::Chunks {
            if !first {
                self.gaps.push((at - self.last).as_secs_f64());
            }
            self.tokens.push(num_tokens);
        }
        self.last = at;
    }
}

/// What the virtual client keeps of each stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientDetail {
    /// Every chunk's time and tokens, as `bench serve` keeps them: every figure of the report.
    #[default]
    Chunks,
    /// The first and last chunk's times only: TTFT, TPOT, end-to-end latency, throughputs and
    /// counts are the same as with [`ClientDetail::Chunks`]; the figures read from every chunk
    /// (ITL, per-token ITL, tokens per chunk, peak output tokens per second) are not measured.
    /// For searches that judge runs by the others: a run's millions of chunk times are most
    /// of what its report costs.
    FirstAndLast,
}

impl ClientDetail {
    /// Whether `key`, a result key, is one of the figures [`ClientDetail::FirstAndLast`] does
    /// not measure.
    pub fn unmeasured(self, key: &str) -> bool {
        self == ClientDetail::FirstAndLast
            && (key.ends_with("_itl_ms")
                || key == "mean_tokens_per_chunk"
                || key == "max_output_tokens_per_s")
    }
}

/// Collects streams, counts finishes (each frees a slot), steps and the engine's counters.
#[derive(Debug, Default)]
pub(crate) struct ClientSink {
    /// Streams indexed by [`RequestId`].
    pub(crate) streams: Vec<Stream>,
    /// Requests finished since the client last looked.
    finished: usize,
    /// Engine steps run.
    pub(crate) num_steps: u64,
    /// The engine's counters.
    pub(crate) engine: EngineTotals,
    /// Progress events, if anyone listens.
    pub(crate) progress: Option<ProgressReporter>,
    /// Ctrl-C, looked at every [`STEPS_PER_CLOCK_CHECK`] steps.
    pub(crate) cancel: Option<CancelToken>,
    /// Whether the run was stopped by `cancel`.
    pub(crate) stopped: bool,
    /// What it keeps of each stream.
    pub(crate) detail: ClientDetail,
}

impl ClientSink {
    /// `n` sinks, one per engine of a cluster, each stopped by `cancel`.
    pub(crate) fn per_engine(
        n: usize,
        cancel: Option<&CancelToken>,
        detail: ClientDetail,
    ) -> Vec<ClientSink> {
        (0..n)
            .map(|_| ClientSink {
                cancel: cancel.cloned(),
                detail,
                ..ClientSink::default()
            })
            .collect()
    }

    /// The stream of `request`, created empty on first use.
    fn stream(&mut self, request: RequestId) -> &mut Stream {
        let i = request.0 as usize;
        if self.streams.len() <= i {
            self.streams.resize_with(i + 1, Stream::default);
        }
        &mut self.streams[i]
    }

    /// Makes room for the chunks of a stream of up to `max_tokens` tokens up front, instead of
    /// growing its vectors token by token.
    pub(crate) fn reserve_stream(&mut self, request: RequestId, max_tokens: u32) {
        if self.detail == ClientDetail::FirstAndLast {
            return;
        }
        let stream = self.stream(request);
        stream
            .gaps
            .reserve_exact(max_tokens.saturating_sub(1) as usize);
        stream.tokens.reserve_exact(max_tokens as usize);
    }
}

impl EngineSink for ClientSink {
    fn on_step(&mut self, step: &StepRecord) {
        self.num_steps += 1;
        self.engine.add(step);
        if let Some(p) = &mut self.progress {
            p.step(step.start.saturating_add(step.duration));
        }
        if self
            .num_steps
            .is_multiple_of(u64::from(STEPS_PER_CLOCK_CHECK))
            && self.cancel.as_ref().is_some_and(CancelToken::is_cancelled)
        {
            self.stopped = true;
        }
    }

    fn stop_requested(&self) -> bool {
        self.stopped
    }

    fn on_tokens(&mut self, request: RequestId, num_tokens: u32, at: Duration) {
        let detail = self.detail;
        self.stream(request).push(num_tokens, at, detail);
    }

    fn on_request_finished(&mut self, _record: &EngineRequestRecord) {
        self.finished += 1;
        if let Some(p) = &mut self.progress {
            p.done += 1;
        }
    }
}

/// What driving produced.
#[derive(Debug)]
pub(crate) struct Driven {
    /// Dispatched requests in dispatch order.
    pub(crate) sent: Vec<Sent>,
    /// The engine's events as the client saw them.
    pub(crate) sink: ClientSink,
}

/// How the client reaches the engine: at most `max_concurrency` requests in flight, each
/// delayed by `front_end`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Path {
    pub(crate) max_concurrency: Option<usize>,
    pub(crate) front_end: FrontEnd,
    /// What the client keeps of each stream.
    pub(crate) detail: ClientDetail,
}

/// Sends `outgoing` (in send order) to `sim` along `path` and runs the engine until every sent
/// request has finished; `observer` sees every engine event after the client does.
pub(crate) fn drive<T: StepTimer>(
    sim: &mut Simulation<T>,
    outgoing: Vec<Outgoing>,
    path: Path,
    progress: Option<ProgressReporter>,
    cancel: Option<CancelToken>,
    observer: &mut dyn EngineSink,
) -> Driven {
    let keyed = outgoing.into_iter().enumerate().map(|(i, o)| (o, i));
    let (driven, _) = drive_with(
        sim,
        keyed.collect(),
        path,
        progress,
        cancel,
        observer,
        &mut (),
    );
    driven
}

/// Requests sent because another finished (`multi_turn`'s later turns). Each queued request
/// carries a key its [`FollowUps`] chose (the initial ones, their key as given).
pub(crate) trait FollowUps {
    /// The request queued under `key` finished in the engine as `record`: the request to
    /// queue next, if any, with its key.
    fn on_finished(
        &mut self,
        key: usize,
        record: &EngineRequestRecord,
    ) -> Option<(Outgoing, usize)>;
    /// Whether a finish may still queue a request.
    fn pending(&self) -> bool;
}

/// No follow-ups.
impl FollowUps for () {
    fn on_finished(&mut self, _: usize, _: &EngineRequestRecord) -> Option<(Outgoing, usize)> {
        None
    }

    fn pending(&self) -> bool {
        false
    }
}

/// The engine's finished requests, for [`FollowUps`]; keeps none when `enabled` is off (no
/// follow-up can come), so plain runs pay nothing.
#[derive(Debug, Default)]
struct Finishes {
    records: Vec<EngineRequestRecord>,
    enabled: bool,
}

impl EngineSink for Finishes {
    fn on_step(&mut self, _: &StepRecord) {}

    fn on_request_finished(&mut self, record: &EngineRequestRecord) {
        if self.enabled {
            self.records.push(record.clone());
        }
    }
}

/// [`drive`] with `follow_ups`: `outgoing` holds each request with its key (in send order);
/// whenever a request finishes, `follow_ups` may queue the next. Returns, beside what was
/// driven, the key of each dispatched request (parallel to [`Driven::sent`]).
pub(crate) fn drive_with<T: StepTimer>(
    sim: &mut Simulation<T>,
    outgoing: Vec<(Outgoing, usize)>,
    path: Path,
    progress: Option<ProgressReporter>,
    cancel: Option<CancelToken>,
    observer: &mut dyn EngineSink,
    follow_ups: &mut dyn FollowUps,
) -> (Driven, Vec<usize>) {
    if let Some(p) = &progress {
        p.events.emit(Event::Started { total: p.total });
    }
    let mut client = Client {
        sim,
        sink: ClientSink {
            progress,
            cancel,
            detail: path.detail,
            ..ClientSink::default()
        },
        free: path.max_concurrency.unwrap_or(usize::MAX),
        front_end: path.front_end,
        last_arrival: None,
        waiting: VecDeque::new(),
        sent: Vec::with_capacity(outgoing.len()),
        keys: Vec::with_capacity(outgoing.len()),
        key_of: HashMap::new(),
        follow_ups: follow_ups.pending(),
    };
    let mut queue: VecDeque<(Outgoing, usize)> = outgoing.into();
    let mut finishes = Finishes {
        records: Vec::new(),
        enabled: follow_ups.pending(),
    };
    loop {
        client.release_slots();
        client.follow_up(&mut finishes, follow_ups, &mut queue);
        client.send_due(&mut queue);
        let next_send = queue.front().map(|(o, _)| o.send_at);
        let Some(until) = client.next_stop(next_send, follow_ups.pending()) else {
            break;
        };
        client.sim.run_until(
            until,
            &mut (&mut client.sink, (&mut finishes, &mut *observer)),
        );
        // The observer may stop the run too (e.g. a probe whose SLO can no longer be met).
        if observer.stop_requested() {
            client.sink.stopped = true;
        }
        if client.sink.stopped {
            break;
        }
    }
    if !client.sink.stopped {
        client.sim.run(&mut (&mut client.sink, &mut *observer));
    }
    if let Some(p) = &client.sink.progress {
        p.emit(client.sim.now());
        p.events.emit(Event::Finished);
    }
    let driven = Driven {
        sent: client.sent,
        sink: client.sink,
    };
    (driven, client.keys)
}

/// The next request of `queue` (in send order) if it is due by `now`.
pub(crate) fn pop_due(
    queue: &mut VecDeque<(Outgoing, usize)>,
    now: Duration,
) -> Option<(Outgoing, usize)> {
    if queue.front()?.0.send_at <= now {
        queue.pop_front()
    } else {
        None
    }
}

/// Queues `item` (a follow-up) among `queue`'s requests in send order, after those due at the
/// same time.
pub(crate) fn insert_in_send_order(
    queue: &mut VecDeque<(Outgoing, usize)>,
    item: (Outgoing, usize),
) {
    let at = queue.partition_point(|(o, _)| o.send_at <= item.0.send_at);
    queue.insert(at, item);
}

/// The client's state while driving.
struct Client<'a, T> {
    sim: &'a mut Simulation<T>,
    sink: ClientSink,
    /// Free concurrency slots (`usize::MAX` when unlimited).
    free: usize,
    /// Between the client and the engine.
    front_end: FrontEnd,
    /// When the last request handed over reached the engine.
    last_arrival: Option<Duration>,
    /// Requests waiting for a slot, with their position in `sent`.
    waiting: VecDeque<(usize, Request)>,
    sent: Vec<Sent>,
    /// The key of each request in `sent`.
    keys: Vec<usize>,
    /// The key of each request in the engine, for [`FollowUps`].
    key_of: HashMap<RequestId, usize>,
    /// Whether any follow-up may come (else `key_of` stays empty).
    follow_ups: bool,
}

impl<T: StepTimer> Client<'_, T> {
    /// Frees the slots of finished requests and sends waiting requests into them, now.
    fn release_slots(&mut self) {
        let done = std::mem::take(&mut self.sink.finished);
        self.free = self.free.saturating_add(done);
        while self.free > 0 {
            let Some((pos, request)) = self.waiting.pop_front() else {
                break;
            };
            self.submit(pos, request);
        }
    }

    /// Queues the follow-ups of the requests finished since the last look, in send order.
    fn follow_up(
        &mut self,
        finishes: &mut Finishes,
        follow_ups: &mut dyn FollowUps,
        queue: &mut VecDeque<(Outgoing, usize)>,
    ) {
        for record in finishes.records.drain(..) {
            let Some(key) = self.key_of.remove(&record.id) else {
                continue;
            };
            if let Some(next) = follow_ups.on_finished(key, &record) {
                insert_in_send_order(queue, next);
            }
        }
    }

    /// Dispatches every request due by now: into the engine, or into the slot queue.
    fn send_due(&mut self, queue: &mut VecDeque<(Outgoing, usize)>) {
        let now = self.sim.now();
        while let Some((o, key)) = pop_due(queue, now) {
            let pos = self.sent.len();
            self.keys.push(key);
            self.sent.push(Sent {
                send_at: o.send_at,
                started: o.send_at,
                outcome: Outcome::Queued,
            });
            if self.free > 0 {
                self.submit(pos, o.request);
            } else {
                self.waiting.push_back((pos, o.request));
            }
        }
    }

    /// Sends a request at the later of its send time and now; it reaches the engine after the
    /// front end's delay.
    fn submit(&mut self, pos: usize, mut request: Request) {
        let started = self.sent[pos].send_at.max(self.sim.now());
        let arrival = self
            .front_end
            .arrival(started, request.prompt.len(), self.last_arrival);
        self.last_arrival = Some(arrival);
        request.arrival = arrival;
        self.sent[pos].started = started;
        let max_tokens = request.max_tokens;
        self.sent[pos].outcome = match self.sim.add_request(request) {
            Ok(id) => {
                self.free -= 1;
                self.sink.reserve_stream(id, max_tokens);
                if self.follow_ups {
                    self.key_of.insert(id, self.keys[pos]);
                }
                Outcome::Engine(id)
            }
            Err(e) => {
                if let Some(p) = &mut self.sink.progress {
                    p.done += 1;
                }
                Outcome::Rejected(e.to_string())
            }
        };
    }

    /// Where to stop the engine next: the next send, and while requests wait for a slot or a
    /// finish may queue a follow-up, the next engine event (each may be a finish). `None` when
    /// neither remains.
    fn next_stop(&self, next_send: Option<Duration>, follow_ups: bool) -> Option<Duration> {
        let engine = if self.waiting.is_empty() && !follow_ups {
            None
        } else {
            // An engine ready to schedule reports `now`; step past it so the step launches.
            let now = self.sim.now();
            let next = self.sim.next_event();
            next.map(|t| t.max(now.saturating_add(Duration::from_nanos(1))))
        };
        match (next_send, engine) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
