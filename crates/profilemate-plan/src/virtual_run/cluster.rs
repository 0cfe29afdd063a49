//! Provides [`drive_cluster`]: the virtual-time client in front of several identical engines
//! (vLLM's `--data-parallel-size N`), each with its own virtual clock, behind vLLM's
//! data-parallel load balancer ([`DataParallelRouter`]).
//!
//! The engines are advanced in global time order: every engine runs to the same stop (the next
//! send, and while requests wait for a concurrency slot the earliest next event of any engine),
//! and requests are routed and handed over only at a stop, when every engine's clock stands at
//! it — so no engine sees a request before its hand-off time, and the router sees each engine's
//! load as of that time. With one engine the stops, hand-offs and records are exactly
//! [`drive`](super::driver::drive)'s.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use profilemate_sim::{
    DataParallelRouter, EngineConfig, EngineLoad, EngineRequestRecord, EngineSink, Request,
    RequestId, Simulation, StepRecord, StepTimer,
};

use crate::error::PlanError;
use crate::virtual_run::driver::{
    ClientDetail, ClientSink, FollowUps, Outcome, Outgoing, ProgressReporter, Sent,
    insert_in_send_order, pop_due,
};
use crate::virtual_run::engine_view::EngineTotals;
use crate::virtual_run::front_end::FrontEnd;
use crate::virtual_run::records;
use crate::virtual_run::{Through, VirtualRun};
use profilemate_bench::cancel::CancelToken;
use profilemate_bench::config::WorkloadConfig;
use profilemate_bench::event::{Event, EventSink};
use profilemate_bench::record::ClientRequestRecord;
use profilemate_bench::workload::SessionTurn;

/// What driving a cluster produced.
#[derive(Debug)]
pub(crate) struct ClusterDriven {
    /// Dispatched requests in dispatch order; [`Outcome::Engine`] ids are the engine's own.
    pub(crate) sent: Vec<Sent>,
    /// The engine each dispatched request went to (0 for one refused or never sent).
    pub(crate) engine_of: Vec<usize>,
    /// Each engine's streams and steps as the client saw them.
    pub(crate) sinks: Vec<ClientSink>,
    /// Every engine's counters summed.
    pub(crate) totals: EngineTotals,
    /// Whether the run was stopped (Ctrl-C, or the observer).
    pub(crate) stopped: bool,
    /// Each hand-off: (engine, engine clock when handed over, hand-off time); kept in tests
    /// only, for the property that no engine sees a request early.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) hand_offs: Vec<(usize, Duration, Duration)>,
    /// The key of each dispatched request (parallel to `sent`), for [`FollowUps`].
    pub(crate) keys: Vec<usize>,
}

/// Counts one engine's finishes and feeds the shared progress and counters; keeps the
/// finished records when follow-ups may come.
struct Tap<'a> {
    engine: usize,
    finished: usize,
    progress: &'a mut Option<ProgressReporter>,
    totals: &'a mut EngineTotals,
    /// Finished requests with their engine, while [`FollowUps`] may queue more.
    records: Option<&'a mut Vec<(usize, EngineRequestRecord)>>,
}

impl EngineSink for Tap<'_> {
    fn on_step(&mut self, step: &StepRecord) {
        self.totals.add(step);
        if let Some(p) = self.progress.as_mut() {
            p.step(step.start.saturating_add(step.duration));
        }
    }

    fn on_request_finished(&mut self, record: &EngineRequestRecord) {
        self.finished += 1;
        if let Some(p) = self.progress.as_mut() {
            p.done += 1;
        }
        if let Some(records) = self.records.as_mut() {
            records.push((self.engine, record.clone()));
        }
    }
}

#[cfg(test)]
/// Sends `outgoing` (in send order) to the engines `sims`, each request to the engine the
/// [`DataParallelRouter`] picks, with at most `max_concurrency` in flight over all engines,
/// and runs every engine until every sent request has finished; `observer` sees every
/// engine's events.
pub(crate) fn drive_cluster<T: StepTimer>(
    sims: &mut [Simulation<T>],
    outgoing: Vec<Outgoing>,
    max_concurrency: Option<usize>,
    progress: Option<ProgressReporter>,
    cancel: Option<CancelToken>,
    observer: &mut dyn EngineSink,
) -> ClusterDriven {
    let keyed = outgoing.into_iter().enumerate().map(|(i, o)| (o, i));
    let client = ClusterClient {
        max_concurrency,
        front_end: FrontEnd::default(),
        progress,
        cancel,
        detail: ClientDetail::Chunks,
    };
    drive_cluster_with(sims, keyed.collect(), client, observer, &mut ())
}

/// The virtual client's settings for [`drive_cluster_with`].
pub(crate) struct ClusterClient {
    pub(crate) max_concurrency: Option<usize>,
    /// Between the client and the router: each request reaches its engine this late.
    pub(crate) front_end: FrontEnd,
    pub(crate) progress: Option<ProgressReporter>,
    pub(crate) cancel: Option<CancelToken>,
    /// What the client keeps of each stream.
    pub(crate) detail: ClientDetail,
}

/// [`drive_cluster`] with `follow_ups` (`multi_turn`'s closed loop): `outgoing` holds each
/// request with its key (in send order); whenever a request finishes on any engine,
/// `follow_ups` may queue the next, which is routed like any other when it is due.
pub(crate) fn drive_cluster_with<T: StepTimer>(
    sims: &mut [Simulation<T>],
    outgoing: Vec<(Outgoing, usize)>,
    client: ClusterClient,
    observer: &mut dyn EngineSink,
    follow_ups: &mut dyn FollowUps,
) -> ClusterDriven {
    let ClusterClient {
        max_concurrency,
        front_end,
        mut progress,
        cancel,
        detail,
    } = client;
    let mut last_arrival = None;
    if let Some(p) = &progress {
        p.events.emit(Event::Started { total: p.total });
    }
    let n = sims.len();
    let mut sinks = ClientSink::per_engine(n, cancel.as_ref(), detail);
    let mut totals = EngineTotals::default();
    let mut router = DataParallelRouter::new(n);
    let mut free = max_concurrency.unwrap_or(usize::MAX);
    let mut waiting: VecDeque<(usize, Request)> = VecDeque::new();
    let mut sent: Vec<Sent> = Vec::with_capacity(outgoing.len());
    let mut engine_of: Vec<usize> = Vec::with_capacity(outgoing.len());
    let mut hand_offs = Vec::new();
    let mut loads = Vec::with_capacity(n);
    let mut finished = vec![0usize; n];
    let mut queue: VecDeque<(Outgoing, usize)> = outgoing.into();
    let mut keys: Vec<usize> = Vec::with_capacity(queue.len());
    let mut key_of: HashMap<(usize, RequestId), usize> = HashMap::new();
    let mut finished_records: Vec<(usize, EngineRequestRecord)> = Vec::new();
    let mut stopped = false;
    loop {
        // Slots freed by finishes, now.
        for (e, done) in finished.iter_mut().enumerate() {
            router.finished(e, *done);
            free = free.saturating_add(std::mem::take(done));
        }
        // Follow-ups of the requests finished since the last stop, in send order.
        for (e, record) in finished_records.drain(..) {
            let Some(key) = key_of.remove(&(e, record.id)) else {
                continue;
            };
            if let Some(next) = follow_ups.on_finished(key, &record) {
                insert_in_send_order(&mut queue, next);
            }
        }
        let now = sims.iter().map(Simulation::now).max().unwrap_or_default();
        let mut hand = HandOff {
            sims,
            router: &mut router,
            progress: &mut progress,
            free: &mut free,
            sent: &mut sent,
            engine_of: &mut engine_of,
            hand_offs: &mut hand_offs,
            loads: &mut loads,
            keys: &mut keys,
            key_of: follow_ups.pending().then_some(&mut key_of),
            front_end,
            last_arrival: &mut last_arrival,
            now,
        };
        while *hand.free > 0 {
            let Some((pos, request)) = waiting.pop_front() else {
                break;
            };
            hand.submit(pos, request);
        }
        while let Some((o, key)) = pop_due(&mut queue, now) {
            let pos = hand.sent.len();
            hand.keys.push(key);
            hand.sent.push(Sent {
                send_at: o.send_at,
                started: o.send_at,
                outcome: Outcome::Queued,
            });
            hand.engine_of.push(0);
            if *hand.free > 0 {
                hand.submit(pos, o.request);
            } else {
                waiting.push_back((pos, o.request));
            }
        }
        let keep = follow_ups.pending();
        let engines_matter = !waiting.is_empty() || keep;
        let next_send = queue.front().map(|(o, _)| o.send_at);
        let Some(until) = next_stop(sims, engines_matter, next_send) else {
            break;
        };
        for (e, sim) in sims.iter_mut().enumerate() {
            let mut tap = Tap {
                engine: e,
                finished: 0,
                progress: &mut progress,
                totals: &mut totals,
                records: keep.then_some(&mut finished_records),
            };
            sim.run_until(until, &mut (&mut sinks[e], (&mut tap, &mut *observer)));
            finished[e] += tap.finished;
        }
        if observer.stop_requested() || sinks.iter().any(|s| s.stopped) {
            stopped = true;
            break;
        }
    }
    if !stopped {
        for (e, sim) in sims.iter_mut().enumerate() {
            let mut tap = Tap {
                engine: e,
                finished: 0,
                progress: &mut progress,
                totals: &mut totals,
                records: None,
            };
            sim.run(&mut (&mut sinks[e], (&mut tap, &mut *observer)));
        }
    }
    if let Some(p) = &progress {
        let end = sims.iter().map(Simulation::now).max().unwrap_or_default();
        p.emit(end);
        p.events.emit(Event::Finished);
    }
    ClusterDriven {
        sent,
        engine_of,
        sinks,
        totals,
        stopped,
        hand_offs,
        keys,
    }
}

/// The routing state at one stop.
struct HandOff<'a, T> {
    sims: &'a mut [Simulation<T>],
    router: &'a mut DataParallelRouter,
    progress: &'a mut Option<ProgressReporter>,
    free: &'a mut usize,
    sent: &'a mut Vec<Sent>,
    engine_of: &'a mut Vec<usize>,
    hand_offs: &'a mut Vec<(usize, Duration, Duration)>,
    /// Each engine's load at this hand-off (a buffer kept across hand-offs).
    loads: &'a mut Vec<EngineLoad>,
    /// The key of each dispatched request.
    keys: &'a mut Vec<usize>,
    /// The key of each request in an engine, while follow-ups may come.
    key_of: Option<&'a mut HashMap<(usize, RequestId), usize>>,
    front_end: FrontEnd,
    /// When the last request handed over reaches its engine.
    last_arrival: &'a mut Option<Duration>,
    now: Duration,
}

impl<T: StepTimer> HandOff<'_, T> {
    /// Hands a request to the engine the router picks, at the later of its send time and now;
    /// it reaches the engine after the front end's delay (the router sees the loads as of the
    /// hand-off).
    fn submit(&mut self, pos: usize, mut request: Request) {
        let started = self.sent[pos].send_at.max(self.now);
        let arrival = self
            .front_end
            .arrival(started, request.prompt.len(), *self.last_arrival);
        *self.last_arrival = Some(arrival);
        request.arrival = arrival;
        self.sent[pos].started = started;
        self.loads.clear();
        self.loads.extend(self.sims.iter().map(Simulation::load));
        let e = self.router.pick(self.loads);
        self.engine_of[pos] = e;
        if cfg!(test) {
            self.hand_offs.push((e, self.sims[e].now(), started));
        }
        self.sent[pos].outcome = match self.sims[e].add_request(request) {
            Ok(id) => {
                *self.free -= 1;
                if let Some(key_of) = self.key_of.as_mut() {
                    key_of.insert((e, id), self.keys[pos]);
                }
                Outcome::Engine(id)
            }
            Err(err) => {
                self.router.finished(e, 1);
                if let Some(p) = self.progress.as_mut() {
                    p.done += 1;
                }
                Outcome::Rejected(err.to_string())
            }
        };
    }
}

/// Where to stop every engine next: the next send, and while requests wait for a slot or a
/// finish may queue a follow-up (`engines_matter`), the earliest next event of any engine
/// (each may be a finish). `None` when neither remains.
fn next_stop<T: StepTimer>(
    sims: &[Simulation<T>],
    engines_matter: bool,
    next_send: Option<Duration>,
) -> Option<Duration> {
    let engine = if engines_matter {
        // An engine ready to schedule reports `now`; step past it so the step launches.
        sims.iter()
            .filter_map(|s| {
                let now = s.now();
                s.next_event()
                    .map(|t| t.max(now.saturating_add(Duration::from_nanos(1))))
            })
            .min()
    } else {
        None
    };
    match (next_send, engine) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// [`run_virtual_through`](super::run_virtual_through) against `data_parallel` identical
/// engines (vLLM's `--data-parallel-size`) behind vLLM's load balancer
/// ([`DataParallelRouter`]), each engine with `through.engine` settings and a clone of
/// `through.timer`, every request reaching its engine after `through.front_end`'s delay. The
/// report counts every engine; its engine-step count is the sum over engines. With one engine
/// the report's records are exactly the single-engine run's.
pub fn run_data_parallel_with_events<T: StepTimer + Clone>(
    workload: &WorkloadConfig,
    through: Through<T>,
    data_parallel: usize,
    model_id: &str,
    events: &EventSink,
    cancel: &CancelToken,
    observer: &mut dyn EngineSink,
) -> Result<VirtualRun, PlanError> {
    let super::Prepared {
        outgoing,
        schedule,
        sessions: plan,
        tokenizer,
    } = super::prepare(workload)?;
    let mut sims = engines(&through.engine, &through.timer, data_parallel)?;
    let total = plan.as_ref().map_or(outgoing.len(), |p| p.total_turns());
    let client = ClusterClient {
        max_concurrency: workload.max_concurrency,
        front_end: through.front_end,
        progress: Some(ProgressReporter::new(events.clone(), total)),
        cancel: Some(cancel.clone()),
        detail: through.detail,
    };
    let driven = match plan.as_deref() {
        None => {
            let keyed = outgoing.into_iter().enumerate().map(|(i, o)| (o, i));
            drive_cluster_with(&mut sims, keyed.collect(), client, observer, &mut ())
        }
        Some(plan) => {
            // `outgoing` keeps the schedule's order: the i-th opens session schedule[i].index.
            let first = outgoing.into_iter().zip(schedule.iter().map(|s| s.index));
            let mut follow_ups = super::sessions::Sessions::new(plan, workload.duration, tokenizer);
            drive_cluster_with(
                &mut sims,
                first.collect(),
                client,
                observer,
                &mut follow_ups,
            )
        }
    };
    let tags = plan.as_ref().map(|_| super::sessions::tags(&driven.keys));
    let mut report = super::report_of(
        workload,
        model_id,
        &schedule,
        cluster_records(&driven, &sims, tags.as_deref()),
        driven.stopped,
        &driven.totals,
    );
    if let (Some(plan), Some(tags)) = (plan.as_deref(), tags.as_deref()) {
        let record_of = |pos: usize| match driven.sent[pos].outcome {
            Outcome::Engine(id) => sims[driven.engine_of[pos]].records().get(id.0 as usize),
            _ => None,
        };
        let (stats, unsent) = super::sessions::stats(plan, &driven.sent, tags, record_of);
        report.not_sent = unsent;
        report.sessions = Some(stats);
    }
    let num_steps = driven.sinks.iter().map(|s| s.num_steps).sum();
    Ok(VirtualRun { report, num_steps })
}

/// `n` (at least one) idle engines with `config` settings and clones of `timer`, keeping
/// first and last token times only.
pub(crate) fn engines<T: StepTimer + Clone>(
    config: &EngineConfig,
    timer: &T,
    n: usize,
) -> Result<Vec<Simulation<T>>, PlanError> {
    (0..n.max(1))
        .map(|_| {
            let mut sim = Simulation::new(config.clone(), timer.clone())?;
            sim.record_token_times(false);
            Ok(sim)
        })
        .collect()
}

/// The client's records in dispatch order, each from its engine's records and streams, and
/// tagged with its session and turn if any.
fn cluster_records<T: StepTimer>(
    driven: &ClusterDriven,
    sims: &[Simulation<T>],
    tags: Option<&[SessionTurn]>,
) -> Vec<ClientRequestRecord> {
    driven
        .sent
        .iter()
        .zip(&driven.engine_of)
        .enumerate()
        .filter_map(|(pos, (s, &e))| {
            let mut record =
                records::client_record(s, sims[e].records(), &driven.sinks[e].streams)?;
            record.session = tags.and_then(|t| t.get(pos)).copied();
            Some(record)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use profilemate_sim::AffineStepTimer;
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn no_engine_sees_a_request_before_its_hand_off(
            gaps in proptest::collection::vec(0u64..30, 1..60),
            engines in 1usize..5,
            concurrency in proptest::option::of(1usize..8),
        ) {
            let timer = AffineStepTimer {
                fixed: Duration::from_millis(3),
                per_token: Duration::from_micros(40),
                per_context_token: Duration::from_micros(1),
            };
            let config = EngineConfig { max_num_seqs: 2, ..Default::default() };
            let mut sims: Vec<_> = (0..engines)
                .map(|_| Simulation::new(config.clone(), timer).unwrap())
                .collect();
            let mut at = Duration::ZERO;
            let outgoing: Vec<Outgoing> = gaps
                .iter()
                .map(|g| {
                    at += Duration::from_millis(*g);
                    Outgoing { send_at: at, request: Request::synthetic(at, 16, 3) }
                })
                .collect();
            let driven = drive_cluster(&mut sims, outgoing, concurrency, None, None, &mut ());
            prop_assert_eq!(driven.hand_offs.len(), gaps.len());
            for &(e, clock, handed) in &driven.hand_offs {
                // The engine had not run past the hand-off when it got the request.
                prop_assert!(clock <= handed, "engine {} at {:?} got a request at {:?}", e, clock, handed);
            }
            for (sent, &e) in driven.sent.iter().zip(&driven.engine_of) {
                let Outcome::Engine(id) = sent.outcome else {
                    panic!("every request is sent: {sent:?}")
                };
                let r = &sims[e].records()[id.0 as usize];
                prop_assert_eq!(r.arrival, sent.started);
                prop_assert!(sent.started >= sent.send_at);
                let first = driven.sinks[e].streams[id.0 as usize].first.expect("a first chunk");
                prop_assert!(first > sent.started);
            }
        }
    }
}
