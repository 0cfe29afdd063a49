//! Provides [`run_disaggregated_with_events`]: the virtual-time client in front of a prefill
//! pool and a decode pool (prefill/decode disaggregation), as vLLM 0.32's disaggregated
//! serving runs it with the NIXL connector behind its proxy
//! (examples/online_serving/disaggregated_serving/, `toy_proxy_server.py`).
//!
//! Each request goes first to a prefill instance with `max_tokens` 1 and `do_remote_decode`
//! ([`KvTransfer::RemoteDecode`]): it computes the prompt, samples one token that the client
//! never sees, finishes and keeps its KV blocks. When it has finished, the proxy sends the
//! original request to a decode instance with `do_remote_prefill`
//! ([`KvTransfer::RemotePrefill`]): the decode scheduler admits it into
//! `WAITING_FOR_REMOTE_KVS`, pulls the prompt's KV over its link, recomputes the last prompt
//! token and streams every output token; the prefill instance frees its blocks when the pull
//! has landed. The client's TTFT is the decode instance's first token, counted from the
//! client's send. Each pool routes with vLLM's data-parallel load balancer ([`Router`]).
//!
//! The engines run in global time order as in [`cluster`](super::cluster): every engine to
//! the same stop (the next send, every prefill-instance event, and while requests wait for a
//! concurrency slot or a prefill is in progress, or nothing else is left, every
//! decode-instance event), and requests change hands only at a stop.

use std::time::Duration;

use profilemate_sim::{
    EngineConfig, EngineLoad, EngineRequestRecord, EngineSink, FinishReason, KvLink, KvTransfer,
    Request, RequestId, Simulation, StepRecord, StepTimer,
};

use crate::error::PlanError;
use crate::virtual_run::VirtualRun;
use crate::virtual_run::cluster::{Router, engines};
use crate::virtual_run::driver::{ClientSink, Outcome, Outgoing, ProgressReporter, Sent};
use crate::virtual_run::engine_view::EngineTotals;
use crate::virtual_run::records;
use profilemate_bench::cancel::CancelToken;
use profilemate_bench::config::WorkloadConfig;
use profilemate_bench::event::{Event, EventSink};
use profilemate_bench::record::ClientRequestRecord;

/// A disaggregated deployment: how many prefill and decode instances, and the link a decode
/// instance pulls KV over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disaggregation {
    /// Prefill instances (≥ 1).
    pub prefill_instances: usize,
    /// Decode instances (≥ 1).
    pub decode_instances: usize,
    /// Each decode instance's link to the prefill pool.
    pub link: KvLink,
}

/// One pool's engine: its settings and step timer (each instance gets a clone).
#[derive(Debug, Clone)]
pub struct PoolEngine<T> {
    /// The engine's settings.
    pub config: EngineConfig,
    /// Its step timer.
    pub timer: T,
}

/// Where a dispatched request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Waiting for a concurrency slot, or refused.
    Client,
    /// Prefilling on this prefill instance, under this id.
    Prefill(usize, RequestId),
    /// On this decode instance, under this id.
    Decode(usize, RequestId),
}

/// What driving the two pools produced.
#[derive(Debug)]
pub(crate) struct DisaggDriven {
    /// Dispatched requests in dispatch order; [`Outcome::Engine`] ids are the decode
    /// instance's.
    pub(crate) sent: Vec<Sent>,
    /// Where each dispatched request ended.
    pub(crate) stage: Vec<Stage>,
    /// The prefill instance and id each dispatched request prefilled under, if it did.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) prefill_of: Vec<Option<(usize, RequestId)>>,
    /// Each decode instance's streams as the client saw them.
    pub(crate) decode_sinks: Vec<ClientSink>,
    /// Every engine's counters summed.
    pub(crate) totals: EngineTotals,
    /// Engine steps, both pools.
    pub(crate) num_steps: u64,
    /// Whether the run was stopped (Ctrl-C, or the observer).
    pub(crate) stopped: bool,
}

/// Counts steps into the totals and progress, and keeps the finishes to hand on.
struct Tap<'a> {
    finished: &'a mut Vec<(RequestId, Duration, bool)>,
    steps: &'a mut u64,
    totals: &'a mut EngineTotals,
    progress: Option<&'a mut ProgressReporter>,
}

impl EngineSink for Tap<'_> {
    fn on_step(&mut self, step: &StepRecord) {
        *self.steps += 1;
        self.totals.add(step);
        if let Some(p) = self.progress.as_mut() {
            p.step(step.start.saturating_add(step.duration));
        }
    }

    fn on_request_finished(&mut self, record: &EngineRequestRecord) {
        let ok = record.finish_reason == Some(FinishReason::Length);
        let at = record.finished.unwrap_or(record.arrival);
        self.finished.push((record.id, at, ok));
        if let Some(p) = self.progress.as_mut() {
            p.done += 1;
        }
    }
}

/// Shows the observer a decode instance's events as the client sees them: a finished
/// request's arrival is the client's send, not its hand-off to the decode instance.
struct ClientTimes<'a> {
    observer: &'a mut dyn EngineSink,
    /// The client's start of each request, by decode id.
    started: &'a [Duration],
}

impl EngineSink for ClientTimes<'_> {
    fn on_step(&mut self, step: &StepRecord) {
        self.observer.on_step(step);
    }

    fn on_tokens(&mut self, request: RequestId, num_tokens: u32, at: Duration) {
        self.observer.on_tokens(request, num_tokens, at);
    }

    fn on_request_finished(&mut self, record: &EngineRequestRecord) {
        let mut record = record.clone();
        if let Some(&start) = self.started.get(record.id.0 as usize) {
            record.arrival = start;
        }
        self.observer.on_request_finished(&record);
    }

    fn stop_requested(&self) -> bool {
        self.observer.stop_requested()
    }
}

/// One pool: its engines and its load balancer, and the dispatch position of each of its
/// requests by engine and id.
struct Pool<'a, T> {
    sims: &'a mut [Simulation<T>],
    router: Router,
    position: Vec<Vec<usize>>,
    finished: Vec<Vec<(RequestId, Duration, bool)>>,
}

impl<'a, T: StepTimer> Pool<'a, T> {
    fn new(sims: &'a mut [Simulation<T>]) -> Self {
        let n = sims.len();
        Self {
            sims,
            router: Router::new(n),
            position: vec![Vec::new(); n],
            finished: vec![Vec::new(); n],
        }
    }

    /// Routes `request` (dispatch position `pos`) to an engine: its index and id, or vLLM's
    /// error.
    fn submit(&mut self, pos: usize, request: Request) -> Result<(usize, RequestId), String> {
        let loads: Vec<EngineLoad> = self.sims.iter().map(Simulation::load).collect();
        let e = self.router.pick(&loads);
        match self.sims[e].add_request(request) {
            Ok(id) => {
                let slots = &mut self.position[e];
                let i = id.0 as usize;
                if slots.len() <= i {
                    slots.resize(i + 1, usize::MAX);
                }
                slots[i] = pos;
                Ok((e, id))
            }
            Err(err) => {
                self.router.finished(e, 1);
                Err(err.to_string())
            }
        }
    }

    /// The earliest next event of any engine, past now.
    fn next_event(&self) -> Option<Duration> {
        self.sims
            .iter()
            .filter_map(|s| {
                let now = s.now();
                s.next_event()
                    .map(|t| t.max(now.saturating_add(Duration::from_nanos(1))))
            })
            .min()
    }
}

/// The client's state.
struct Client {
    link: KvLink,
    free: usize,
    /// Requests on a prefill instance.
    prefilling: usize,
    waiting: std::collections::VecDeque<usize>,
    sent: Vec<Sent>,
    stage: Vec<Stage>,
    originals: Vec<Option<Request>>,
    prefill_of: Vec<Option<(usize, RequestId)>>,
    /// The client's start of each request, by decode instance and id.
    decode_started: Vec<Vec<Duration>>,
    progress: Option<ProgressReporter>,
}

impl Client {
    /// Marks `pos` refused with `error`; its slot, if it held one, is freed by the caller.
    fn refuse(&mut self, pos: usize, error: String) {
        self.sent[pos].outcome = Outcome::Rejected(error);
        self.stage[pos] = Stage::Client;
        if let Some(p) = self.progress.as_mut() {
            p.done += 1;
        }
    }

    /// Sends request `pos` to a prefill instance at the later of its send time and `now`.
    fn send_to_prefill<T: StepTimer>(
        &mut self,
        pos: usize,
        now: Duration,
        prefill: &mut Pool<'_, T>,
    ) {
        let started = self.sent[pos].send_at.max(now);
        self.sent[pos].started = started;
        let Some(original) = self.originals[pos].as_ref() else {
            return;
        };
        let mut request = original.clone().with_kv_transfer(KvTransfer::RemoteDecode);
        request.arrival = started;
        request.max_tokens = 1;
        match prefill.submit(pos, request) {
            Ok((p, id)) => {
                self.free -= 1;
                self.stage[pos] = Stage::Prefill(p, id);
                self.prefilling += 1;
                self.prefill_of[pos] = Some((p, id));
            }
            Err(error) => self.refuse(pos, error),
        }
    }

    /// Sends request `pos`, prefilled by `at`, to a decode instance.
    fn hand_to_decode<T: StepTimer>(&mut self, pos: usize, at: Duration, decode: &mut Pool<'_, T>) {
        let Some(mut request) = self.originals[pos].take() else {
            return;
        };
        request.arrival = at;
        let request = request.with_kv_transfer(KvTransfer::RemotePrefill(self.link));
        match decode.submit(pos, request) {
            Ok((e, id)) => {
                self.stage[pos] = Stage::Decode(e, id);
                self.sent[pos].outcome = Outcome::Engine(id);
                let started = &mut self.decode_started[e];
                let i = id.0 as usize;
                if started.len() <= i {
                    started.resize(i + 1, Duration::ZERO);
                }
                started[i] = self.sent[pos].started;
            }
            Err(error) => {
                self.free = self.free.saturating_add(1);
                self.refuse(pos, error);
            }
        }
    }
}

/// Sends `outgoing` (in send order) through the `prefill` and `decode` pools with at most
/// `max_concurrency` requests in flight between the client's send and the decode instance's
/// finish, and runs every engine until every sent request has finished; `observer` sees the
/// decode instances' events, each finished request timed from the client's send.
#[allow(clippy::too_many_arguments)]
pub(crate) fn drive_disaggregated<T: StepTimer>(
    prefill: &mut [Simulation<T>],
    decode: &mut [Simulation<T>],
    link: KvLink,
    outgoing: Vec<Outgoing>,
    max_concurrency: Option<usize>,
    progress: Option<ProgressReporter>,
    cancel: Option<CancelToken>,
    observer: &mut dyn EngineSink,
) -> DisaggDriven {
    if let Some(p) = &progress {
        p.events.emit(Event::Started { total: p.total });
    }
    let num_decode = decode.len();
    let mut p_pool = Pool::new(prefill);
    let mut d_pool = Pool::new(decode);
    let mut decode_sinks: Vec<ClientSink> = (0..num_decode)
        .map(|_| {
            let mut sink = ClientSink::default();
            sink.cancel.clone_from(&cancel);
            sink
        })
        .collect();
    let mut client = Client {
        link,
        free: max_concurrency.unwrap_or(usize::MAX),
        prefilling: 0,
        waiting: std::collections::VecDeque::new(),
        sent: Vec::with_capacity(outgoing.len()),
        stage: Vec::with_capacity(outgoing.len()),
        originals: Vec::with_capacity(outgoing.len()),
        prefill_of: Vec::with_capacity(outgoing.len()),
        decode_started: vec![Vec::new(); num_decode],
        progress,
    };
    let mut totals = EngineTotals::default();
    let mut num_steps = 0u64;
    let mut queue = outgoing.into_iter().peekable();
    let mut stopped = false;
    loop {
        // Finished prefills go to a decode instance, at their finish time.
        for p in 0..p_pool.sims.len() {
            for (id, at, ok) in std::mem::take(&mut p_pool.finished[p]) {
                p_pool.router.finished(p, 1);
                client.prefilling -= 1;
                let pos = p_pool.position[p][id.0 as usize];
                if ok {
                    client.hand_to_decode(pos, at, &mut d_pool);
                } else {
                    client.free = client.free.saturating_add(1);
                    client.refuse(pos, "the prefill instance did not finish the prompt".into());
                }
            }
        }
        // Finished decodes free their slots; landed pulls free the prefill's blocks.
        for e in 0..num_decode {
            let done = std::mem::take(&mut d_pool.finished[e]).len();
            d_pool.router.finished(e, done);
            client.free = client.free.saturating_add(done);
            for (id, at) in d_pool.sims[e].take_landed_kv_pulls() {
                let pos = d_pool.position[e][id.0 as usize];
                if let Some((p, pid)) = client.prefill_of[pos] {
                    p_pool.sims[p].release_held_kv(pid, at);
                }
            }
        }
        let now = p_pool
            .sims
            .iter()
            .chain(d_pool.sims.iter())
            .map(Simulation::now)
            .max()
            .unwrap_or_default();
        while client.free > 0 {
            let Some(pos) = client.waiting.pop_front() else {
                break;
            };
            client.send_to_prefill(pos, now, &mut p_pool);
        }
        while let Some(o) = queue.next_if(|o| o.send_at <= now) {
            let pos = client.sent.len();
            client.sent.push(Sent {
                send_at: o.send_at,
                started: o.send_at,
                outcome: Outcome::Queued,
            });
            client.stage.push(Stage::Client);
            client.originals.push(Some(o.request));
            client.prefill_of.push(None);
            if client.free > 0 {
                client.send_to_prefill(pos, now, &mut p_pool);
            } else {
                client.waiting.push_back(pos);
            }
        }
        // Decode events matter while a slot is awaited, and while prefills are in progress
        // (a landed pull frees the prefill's blocks, which may be what it waits for).
        let decode_event = if client.waiting.is_empty() && client.prefilling == 0 {
            None
        } else {
            d_pool.next_event()
        };
        // With nothing else to wait for, the decode instances drain event by event.
        let Some(until) = [
            queue.peek().map(|o| o.send_at),
            p_pool.next_event(),
            decode_event,
        ]
        .into_iter()
        .flatten()
        .min()
        .or_else(|| d_pool.next_event()) else {
            break;
        };
        for (p, sim) in p_pool.sims.iter_mut().enumerate() {
            let mut tap = Tap {
                finished: &mut p_pool.finished[p],
                steps: &mut num_steps,
                totals: &mut totals,
                progress: None,
            };
            sim.run_until(until, &mut tap);
        }
        for (e, sim) in d_pool.sims.iter_mut().enumerate() {
            let mut tap = Tap {
                finished: &mut d_pool.finished[e],
                steps: &mut num_steps,
                totals: &mut totals,
                progress: client.progress.as_mut(),
            };
            let mut view = ClientTimes {
                observer: &mut *observer,
                started: &client.decode_started[e],
            };
            sim.run_until(until, &mut (&mut decode_sinks[e], (&mut tap, &mut view)));
        }
        let cancelled = cancel.as_ref().is_some_and(CancelToken::is_cancelled);
        if cancelled || observer.stop_requested() || decode_sinks.iter().any(|s| s.stopped) {
            stopped = true;
            break;
        }
    }
    if let Some(p) = &client.progress {
        let end = d_pool.sims.iter().map(Simulation::now).max();
        p.emit(end.unwrap_or_default());
        p.events.emit(Event::Finished);
    }
    DisaggDriven {
        sent: client.sent,
        stage: client.stage,
        prefill_of: client.prefill_of,
        decode_sinks,
        totals,
        num_steps,
        stopped,
    }
}

/// [`run_virtual_with_events`](super::run_virtual_with_events) against a disaggregated
/// deployment: `pd.prefill_instances` engines with `prefill` settings and
/// `pd.decode_instances` with `decode` settings, the client's requests prefilled on one and
/// decoded on the other ([the module](self)). The report counts the client's view (TTFT from
/// its send to the decode instance's first token) and every engine's counters summed: the
/// prefill instance counts a prompt's tokens and its one discarded output token, the decode
/// instance only the prompt token it recomputes (the pulled ones count as cached) and the
/// output tokens; the engine-step count is the sum over both pools.
#[allow(clippy::too_many_arguments)]
pub fn run_disaggregated_with_events<T: StepTimer + Clone>(
    workload: &WorkloadConfig,
    prefill: PoolEngine<T>,
    decode: PoolEngine<T>,
    pd: &Disaggregation,
    model_id: &str,
    events: &EventSink,
    cancel: &CancelToken,
    observer: &mut dyn EngineSink,
) -> Result<VirtualRun, PlanError> {
    let super::Prepared {
        outgoing,
        schedule,
        sessions,
    } = super::prepare(workload)?;
    if sessions.is_some() {
        return Err(PlanError::ClosedLoopWithDisaggregation);
    }
    let mut prefill_sims = engines(&prefill.config, &prefill.timer, pd.prefill_instances)?;
    let mut decode_sims = engines(&decode.config, &decode.timer, pd.decode_instances)?;
    let progress = ProgressReporter::new(events.clone(), outgoing.len());
    let driven = drive_disaggregated(
        &mut prefill_sims,
        &mut decode_sims,
        pd.link,
        outgoing,
        workload.max_concurrency,
        Some(progress),
        Some(cancel.clone()),
        observer,
    );
    let report = super::report_of(
        workload,
        model_id,
        &schedule,
        client_records(&driven, &decode_sims),
        driven.stopped,
        &driven.totals,
    );
    Ok(VirtualRun {
        report,
        num_steps: driven.num_steps,
    })
}

/// The client's records in dispatch order: a decoded request from its decode instance's
/// record and stream, timed from the client's send.
fn client_records<T: StepTimer>(
    driven: &DisaggDriven,
    decode: &[Simulation<T>],
) -> Vec<ClientRequestRecord> {
    driven
        .sent
        .iter()
        .zip(&driven.stage)
        .filter_map(|(s, stage)| match *stage {
            Stage::Decode(e, _) => records::client_record_from_start(
                s,
                decode[e].records(),
                &driven.decode_sinks[e].streams,
            ),
            Stage::Prefill(..) => Some(records::interrupted(s)),
            Stage::Client => records::client_record(s, &[], &[]),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use profilemate_sim::AffineStepTimer;
    use proptest::prelude::*;

    use super::*;

    fn link() -> KvLink {
        KvLink {
            bytes_per_token: 1_000,
            bytes_per_second: 2_000_000,
            latency: Duration::from_millis(2),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn every_request_is_prefilled_then_decoded_after_its_transfer(
            gaps in proptest::collection::vec(0u64..30, 1..40),
            prompts in proptest::collection::vec(1u32..200, 40),
            prefill_instances in 1usize..4,
            decode_instances in 1usize..4,
            concurrency in proptest::option::of(1usize..8),
        ) {
            let timer = AffineStepTimer {
                fixed: Duration::from_millis(3),
                per_token: Duration::from_micros(40),
                per_context_token: Duration::from_micros(1),
            };
            let config = EngineConfig {
                max_num_seqs: 3,
                num_gpu_blocks: 64,
                max_model_len: 512,
                enable_prefix_caching: false,
                ..Default::default()
            };
            let sims = |n: usize| -> Vec<_> {
                (0..n).map(|_| Simulation::new(config.clone(), timer).unwrap()).collect()
            };
            let (mut prefill, mut decode) = (sims(prefill_instances), sims(decode_instances));
            let mut at = Duration::ZERO;
            let outgoing: Vec<Outgoing> = gaps
                .iter()
                .zip(&prompts)
                .map(|(g, &len)| {
                    at += Duration::from_millis(*g);
                    Outgoing { send_at: at, request: Request::synthetic(at, len, 5) }
                })
                .collect();
            let driven = drive_disaggregated(
                &mut prefill, &mut decode, link(), outgoing, concurrency, None, None, &mut (),
            );
            prop_assert!(!driven.stopped);
            prop_assert_eq!(driven.sent.len(), gaps.len());
            for (pos, sent) in driven.sent.iter().enumerate() {
                let Stage::Decode(e, id) = driven.stage[pos] else {
                    panic!("request {pos} never reached a decode instance: {:?}", driven.stage[pos]);
                };
                let (p, pid) = driven.prefill_of[pos].expect("prefilled");
                let pre = &prefill[p].records()[pid.0 as usize];
                let dec = &decode[e].records()[id.0 as usize];
                // The prefill ran the prompt for one token, from the client's start.
                prop_assert_eq!(pre.arrival, sent.started);
                prop_assert_eq!(pre.num_output_tokens, 1);
                let prefilled = pre.finished.expect("prefill finished");
                // The decode instance got it when the prefill finished, and scheduled it no
                // sooner than the whole prompt's pull allows.
                prop_assert_eq!(dec.arrival, prefilled);
                let pull = link().busy_time(dec.prompt_tokens) + link().latency;
                prop_assert!(
                    dec.first_scheduled.expect("decoded") >= prefilled + pull,
                    "request {} decoded at {:?}, prefilled at {:?}, pull {:?}",
                    pos, dec.first_scheduled, prefilled, pull
                );
                prop_assert_eq!(dec.num_output_tokens, 5);
                prop_assert_eq!(dec.finish_reason, Some(FinishReason::Length));
            }
            // Every block was given back: the prefills' once their pull landed.
            for sim in prefill.iter().chain(decode.iter()) {
                prop_assert_eq!(sim.num_block_holders(), 0);
                prop_assert_eq!(sim.num_free_blocks(), 63);
            }
        }
    }
}
