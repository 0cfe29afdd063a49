//! Provides [`FixedDriver`], the fixed-timing mode (`--fixed-ttft-ms`, `--fixed-itl-ms`):
//! token `i` of a request is due exactly `ttft + i × itl` after the server received it,
//! whatever else is running. The scheduler is bypassed; counts stay exact.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use profilemate_sim::{EngineRequestRecord, FixedTokenTiming, Request, RequestId};

use super::hub::KeyMap;
use super::logging::later;
use super::{Driver, Hub, Submission, Wake};

/// One request on the fixed schedule.
#[derive(Debug)]
struct Scheduled {
    arrival: Duration,
    prompt_tokens: u32,
    max_tokens: u32,
    emitted: u32,
}

/// Emits tokens on the fixed schedule, earliest due first.
#[derive(Debug)]
pub(crate) struct FixedDriver {
    timing: FixedTokenTiming,
    start: Instant,
    due: BinaryHeap<Reverse<(Duration, u64)>>,
    live: KeyMap<u64, Scheduled>,
}

impl FixedDriver {
    pub(crate) fn new(timing: FixedTokenTiming, start: Instant) -> Self {
        FixedDriver {
            timing,
            start,
            due: BinaryHeap::with_capacity(1024),
            live: KeyMap::with_capacity_and_hasher(1024, Default::default()),
        }
    }

    /// When token `index` of `r` is due.
    fn due_at(&self, r: &Scheduled, index: u32) -> Duration {
        let itl = self.timing.itl.saturating_mul(index);
        r.arrival
            .saturating_add(self.timing.ttft)
            .saturating_add(itl)
    }

    /// Emits the token of `key` due at `at`.
    fn emit(&mut self, key: u64, at: Duration, hub: &mut Hub) {
        let Some(r) = self.live.get_mut(&key) else {
            return;
        };
        r.emitted += 1;
        let (emitted, max_tokens) = (r.emitted, r.max_tokens);
        hub.tokens(key, 1, at);
        if emitted < max_tokens {
            let next = self.live.get(&key).map(|r| self.due_at(r, emitted));
            self.due.extend(next.map(|t| Reverse((t, key))));
            return;
        }
        if let Some(r) = self.live.remove(&key) {
            hub.finish(key, &self.record(&r), false);
            hub.publish_running();
        }
    }

    /// The request's record on the schedule (exact TTFT, ITL and E2E).
    fn record(&self, r: &Scheduled) -> EngineRequestRecord {
        let request = Request::synthetic(r.arrival, r.prompt_tokens, r.emitted);
        let mut record = self.timing.record(RequestId(0), &request);
        record.token_times = Vec::new();
        record.max_tokens = r.max_tokens;
        record
    }
}

impl Driver for FixedDriver {
    fn submit(&mut self, sub: Submission, hub: &mut Hub) {
        let arrival = sub.received.saturating_duration_since(self.start);
        let r = Scheduled {
            arrival,
            prompt_tokens: sub.prompt.len(),
            max_tokens: sub.max_tokens,
            emitted: 0,
        };
        self.due.push(Reverse((self.due_at(&r, 0), sub.key)));
        hub.admit(sub.key, sub.ticket, 0, arrival, r.prompt_tokens);
        self.live.insert(sub.key, r);
        hub.publish_running();
    }

    /// A fixed schedule keeps no KV cache: there is nothing to forget.
    fn reset_prefix_cache(&mut self) -> bool {
        true
    }

    fn abort(&mut self, key: u64, hub: &mut Hub) {
        if let Some(r) = self.live.remove(&key) {
            hub.finish(key, &self.record(&r), true);
            hub.publish_running();
        }
    }

    fn advance(&mut self, now: Instant, hub: &mut Hub) -> Wake {
        let t = self.virtual_now(now);
        while let Some(&Reverse((due, key))) = self.due.peek() {
            if due > t {
                return Wake::At(later(self.start, due));
            }
            self.due.pop();
            self.emit(key, due, hub);
        }
        Wake::Idle
    }

    fn virtual_now(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.start)
    }
}
