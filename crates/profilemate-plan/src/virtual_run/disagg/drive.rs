//! The client in front of the two pools: sends each request to a prefill instance, hands it
//! to a decode instance when its prefill finishes, frees the prefill's blocks when the pull
//! lands, and steps every engine to the same stops.

use std::time::Duration;

use profilemate_sim::{EngineSink, KvLink, KvTransfer, Request, RequestId, Simulation, StepTimer};

use super::pool::{ClientTimes, Pool, Tap};
use crate::virtual_run::driver::{
    ClientDetail, ClientSink, Outcome, Outgoing, ProgressReporter, Sent,
};
use crate::virtual_run::engine_view::EngineTotals;
use profilemate_bench::cancel::CancelToken;
use profilemate_bench::event::Event;

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
    let mut decode_sinks =
        ClientSink::per_engine(num_decode, cancel.as_ref(), ClientDetail::Chunks);
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

#[cfg(test)]
mod tests {
    use profilemate_sim::{AffineStepTimer, EngineConfig, FinishReason};
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
