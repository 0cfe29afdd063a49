//! Provides [`dispatch`]: sends a scheduled workload on an absolute timeline and collects one
//! record per sent request.
//!
//! Mirrors the dispatch loop of `benchmark()` in vllm/benchmarks/serve.py, vLLM 0.32 (absolute
//! offsets from one start instant, a semaphore for `--max-concurrency`, `client_queue_time =
//! start_time - arrival_time`, duration from before the first dispatch to after the last
//! completion), with per-request client lag, `--duration`, and Ctrl-C handling added.
//!
//! `multi_turn` ([`Workload::sessions`]): the schedule places each session's first turn; the
//! session's task then sends every later turn itself, once the previous turn has finished and
//! its think time has passed, behind the same concurrency limit and `--duration` window. A
//! failed turn ends its session (a chat client has no reply to go on with).
//!
//! Ctrl-C ([`crate::cancel`]): on *stop* no request is sent any more (those waiting for a
//! concurrency slot stay unsent) and requests in flight have [`DispatchOptions::grace`] to
//! finish; on *abort*, or when the grace runs out, they are cut and recorded with
//! [`ErrorKind::Cancelled`], which the report counts as interrupted, apart from failures.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::time::sleep_until;

use crate::cancel::{CancelToken, Canceller, cancel_pair};
use crate::client::Client;
use crate::clock::Civil;
use crate::event::{Event, EventSink};
use crate::metrics::extras::CLIENT_LAG_WARN;
use crate::record::{ClientRequestRecord, ErrorKind, Seconds};
use crate::report::{RpsChange, SessionStats};
use crate::schedule::{RampUp, rps_steps};
use crate::tokenizer::{Tokenizer, WordTokenizer};
use crate::workload::{Conversation, SampleRequest, ScheduledSend, SessionPlan, Workload};

/// Dispatch limits.
#[derive(Debug, Clone, Copy)]
pub struct DispatchOptions {
    /// `--max-concurrency`.
    pub max_concurrency: Option<usize>,
    /// `--duration`: no request is sent after this much time.
    pub duration: Option<Duration>,
    /// Ramp-up, for `rps_change_events`.
    pub ramp_up: Option<RampUp>,
    /// After a stop, how long requests in flight may finish before they are cut.
    pub grace: Duration,
    /// Send each request under its `--lora-modules` module (the timed run, not the warmups).
    pub lora: bool,
}

impl Default for DispatchOptions {
    fn default() -> Self {
        Self {
            max_concurrency: None,
            duration: None,
            ramp_up: None,
            grace: crate::config::DEFAULT_INTERRUPT_GRACE,
            lora: false,
        }
    }
}

/// What dispatching produced.
#[derive(Debug, Clone, Default)]
pub struct Dispatched {
    /// One record per sent request, in dispatch order; those cut in flight carry
    /// [`ErrorKind::Cancelled`].
    pub records: Vec<ClientRequestRecord>,
    /// Seconds from before the first dispatch to after the last completion.
    pub duration: Seconds,
    /// Scheduled requests that were never sent.
    pub not_sent: usize,
    /// Whether Ctrl-C stopped the run.
    pub interrupted: bool,
    /// Ramp-up rate changes, timestamped at dispatch.
    pub rps_change_events: Vec<RpsChange>,
    /// `multi_turn`: what became of the sessions.
    pub sessions: Option<SessionStats>,
}

/// What one dispatched task (a request, or a `multi_turn` session) produced.
#[derive(Debug, Default)]
struct TaskResult {
    /// Its records, in send order.
    records: Vec<ClientRequestRecord>,
    /// Its requests never sent because the run stopped (Ctrl-C, `--duration`).
    unsent: usize,
    /// `multi_turn`: turns skipped because an earlier turn failed.
    skipped: usize,
}

/// Sends every scheduled request at its time and waits for all of them.
pub async fn dispatch(
    client: Arc<Client>,
    workload: Arc<Workload>,
    schedule: &[ScheduledSend],
    opts: DispatchOptions,
    events: &EventSink,
    cancel: &CancelToken,
) -> Dispatched {
    let per_task = workload.sessions.as_ref().map_or(1, |p| p.turns());
    events.emit(Event::Started {
        total: schedule.len() * per_task,
    });
    let semaphore = opts.max_concurrency.map(|n| Arc::new(Semaphore::new(n)));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let (cutter, cut) = cancel_pair();
    let watchdog = tokio::spawn(cut_after_grace(
        cancel.clone(),
        cutter,
        opts.grace,
        in_flight.clone(),
        events.clone(),
    ));
    let start = Instant::now();
    let tokenizer: Option<Arc<dyn Tokenizer>> = workload
        .sessions
        .is_some()
        .then(|| Arc::new(WordTokenizer::default()) as _);
    let sender = Sender {
        client,
        workload,
        tokenizer,
        start,
        window: opts.duration,
        semaphore,
        lora: opts.lora,
        events: events.clone(),
        cancel: cancel.clone(),
        cut,
        in_flight,
    };
    let mut rps = RpsTracker::new(opts.ramp_up, schedule);
    let mut lag_warned = false;
    let mut handles = Vec::with_capacity(schedule.len());
    for (pos, s) in schedule.iter().enumerate() {
        // An offset beyond the clock's range can never be reached: stop there.
        let Some(target) = start.checked_add(s.send_at) else {
            break;
        };
        if past_window(&opts, s.send_at)
            || !wait_until(target, cancel).await
            || past_window(&opts, start.elapsed())
        {
            break;
        }
        let arrival = Instant::now();
        rps.reached(pos);
        let lag = arrival.saturating_duration_since(target).as_secs_f64();
        lag_warned = lag_warned || warn_lag(lag, events);
        handles.push(tokio::spawn(
            sender.clone().task(s.index, pos, arrival, lag),
        ));
    }
    let spawned = handles.len();
    let results = collect(handles).await;
    let duration = start.elapsed().as_secs_f64();
    watchdog.abort();
    events.emit(Event::Finished);
    let sessions = sender
        .workload
        .sessions
        .as_ref()
        .map(|plan| session_stats(plan, spawned, &results));
    let not_sent =
        (schedule.len() - spawned) * per_task + results.iter().map(|r| r.unsent).sum::<usize>();
    let mut records: Vec<ClientRequestRecord> =
        results.into_iter().flat_map(|r| r.records).collect();
    if sessions.is_some() {
        // Turns of different sessions interleave: keep the records in send order.
        records.sort_by(|a, b| a.start_time.total_cmp(&b.start_time));
    }
    Dispatched {
        records,
        duration,
        not_sent,
        interrupted: cancel.is_cancelled(),
        rps_change_events: rps.events,
        sessions,
    }
}

/// The sessions' fates, from the tasks of the `started` sessions.
fn session_stats(plan: &SessionPlan, started: usize, results: &[TaskResult]) -> SessionStats {
    let turns = plan.turns();
    SessionStats {
        planned: plan.sessions.len(),
        turns_per_session: turns,
        started,
        completed: results
            .iter()
            .filter(|r| r.records.len() == turns && r.records.iter().all(|x| x.success))
            .count(),
        ended_by_failure: results.iter().filter(|r| r.skipped > 0).count(),
        turns_skipped_after_failure: results.iter().map(|r| r.skipped).sum(),
    }
}

/// Whether `t` is at or past the `--duration` window.
fn past_window(opts: &DispatchOptions, t: Duration) -> bool {
    opts.duration.is_some_and(|d| t >= d)
}

/// Warns (once per run, by the caller) when dispatch runs late; returns whether it warned.
fn warn_lag(lag: Seconds, events: &EventSink) -> bool {
    let late = lag > CLIENT_LAG_WARN;
    if late {
        events.emit(Event::Warning(format!(
            "the client is {:.1} ms behind its arrival schedule; sent-time latencies understate what users would see",
            lag * 1000.0
        )));
    }
    late
}

async fn collect(handles: Vec<tokio::task::JoinHandle<TaskResult>>) -> Vec<TaskResult> {
    let mut results = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(r) = h.await {
            results.push(r);
        }
    }
    results
}

/// Ramp-up `rps_change_events`, timestamped when the request that reaches each rate is sent.
#[derive(Debug)]
struct RpsTracker {
    steps: std::iter::Peekable<std::vec::IntoIter<(usize, u32)>>,
    events: Vec<RpsChange>,
}

impl RpsTracker {
    fn new(ramp_up: Option<RampUp>, schedule: &[ScheduledSend]) -> Self {
        let rates: Vec<f64> = schedule.iter().map(|s| s.rate).collect();
        let steps = ramp_up.map(|r| rps_steps(r, &rates)).unwrap_or_default();
        Self {
            steps: steps.into_iter().peekable(),
            events: Vec::new(),
        }
    }

    fn reached(&mut self, pos: usize) {
        while let Some((_, rps)) = self.steps.next_if(|(i, _)| *i <= pos) {
            self.events.push(RpsChange {
                rps,
                timestamp: Civil::now().iso(),
            });
        }
    }
}

/// Cuts the requests in flight (through `cutter`) on abort, or `grace` after a stop; says
/// how many are in flight when the stop comes.
async fn cut_after_grace(
    cancel: CancelToken,
    cutter: Canceller,
    grace: Duration,
    in_flight: Arc<AtomicUsize>,
    events: EventSink,
) {
    let graceful = async {
        cancel.cancelled().await;
        events.emit(Event::Stopping {
            in_flight: in_flight.load(Ordering::SeqCst),
            grace,
        });
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        biased;
        () = cancel.aborted() => {}
        () = graceful => {}
    }
    cutter.abort();
}

/// Sleeps until `target`; `false` if cancelled first.
async fn wait_until(target: Instant, cancel: &CancelToken) -> bool {
    if cancel.is_cancelled() {
        return false;
    }
    tokio::select! {
        () = sleep_until(target.into()) => true,
        () = cancel.cancelled() => false,
    }
}

/// What each spawned request task needs.
#[derive(Debug, Clone)]
struct Sender {
    client: Arc<Client>,
    workload: Arc<Workload>,
    /// `multi_turn`: encodes replies into the conversation and decodes chat messages.
    tokenizer: Option<Arc<dyn Tokenizer>>,
    /// The run's start, for the `--duration` window of later turns.
    start: Instant,
    /// `--duration`.
    window: Option<Duration>,
    semaphore: Option<Arc<Semaphore>>,
    lora: bool,
    events: EventSink,
    /// Stops sending (waiting requests stay unsent).
    cancel: CancelToken,
    /// Cuts requests in flight.
    cut: CancelToken,
    /// Requests sent and not yet finished.
    in_flight: Arc<AtomicUsize>,
}

impl Sender {
    /// The `pos`-th dispatched task: request `index`, or with `multi_turn` session `index`.
    async fn task(self, index: usize, pos: usize, arrival: Instant, lag: Seconds) -> TaskResult {
        let (Some(plan), Some(tok)) = (self.workload.sessions.clone(), self.tokenizer.clone())
        else {
            let req = &self.workload.requests[index];
            let rec = self.send(req, pos, arrival, lag).await;
            return TaskResult {
                unsent: usize::from(rec.is_none()),
                records: rec.into_iter().collect(),
                skipped: 0,
            };
        };
        self.session(&plan, &*tok, index, pos, arrival, lag).await
    }

    /// Session `index` of `plan`, closed loop: each turn is sent once the previous one has
    /// finished and its think time has passed (a turn due at or past `--duration` is not
    /// sent); each reply, as the server wrote it, joins the conversation. A failed turn ends
    /// the session.
    async fn session(
        &self,
        plan: &SessionPlan,
        tok: &dyn Tokenizer,
        index: usize,
        pos: usize,
        mut arrival: Instant,
        mut lag: Seconds,
    ) -> TaskResult {
        let turns = plan.turns();
        let mut conv = Conversation::new(plan, index);
        let mut out = TaskResult::default();
        loop {
            let at = conv.next();
            let req = conv.request(tok);
            let Some(mut rec) = self.send(&req, pos, arrival, lag).await else {
                out.unsent = turns - out.records.len();
                return out;
            };
            rec.session = Some(at);
            let (success, cut) = (rec.success, rec.error_kind == Some(ErrorKind::Cancelled));
            let reply = success.then(|| rec.generated_text.clone());
            out.records.push(rec);
            let left = turns - out.records.len();
            let Some(reply) = reply else {
                // Cut by Ctrl-C is the run stopping; any other failure ends the session.
                if cut {
                    out.unsent = left;
                } else {
                    out.skipped = left;
                }
                return out;
            };
            conv.push_reply(tok.encode(&reply), Some(reply));
            if conv.is_done() {
                return out;
            }
            let ready = Instant::now() + conv.think_time();
            let window_passed = self
                .window
                .is_some_and(|w| ready.saturating_duration_since(self.start) >= w);
            if window_passed || !wait_until(ready, &self.cancel).await {
                out.unsent = left;
                return out;
            }
            arrival = Instant::now();
            lag = arrival.saturating_duration_since(ready).as_secs_f64();
        }
    }

    /// One request (the `pos`-th dispatched task's) behind the concurrency limit; `None` if
    /// cancelled before it was sent, waiting for its slot or still connecting.
    async fn send(
        &self,
        req: &SampleRequest,
        pos: usize,
        arrival: Instant,
        lag: Seconds,
    ) -> Option<ClientRequestRecord> {
        let _permit = match &self.semaphore {
            Some(sem) => tokio::select! {
                p = sem.clone().acquire_owned() => Some(p.ok()?),
                () = self.cancel.cancelled() => return None,
            },
            None => None,
        };
        if self.cancel.is_cancelled() {
            return None;
        }
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let mut rec = match self.lora {
            true => self.client.send_nth(pos, req, &self.cut).await,
            false => self.client.send(req, &self.cut).await,
        };
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if rec.error_kind == Some(ErrorKind::NotSent) {
            return None; // cut while connecting: it never reached the server
        }
        rec.client_queue_time = rec.start_time - self.client.secs(arrival);
        rec.client_lag = lag;
        self.events.emit(Event::RequestDone {
            success: rec.success,
            interrupted: rec.error_kind == Some(ErrorKind::Cancelled),
        });
        Some(rec)
    }
}
