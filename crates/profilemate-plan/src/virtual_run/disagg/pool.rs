//! The two pools' engines behind their load balancers, and the sinks that watch them: one
//! counting steps and keeping finishes to hand on, one showing the observer a decode
//! instance's events as the client sees them.

use std::time::Duration;

use profilemate_sim::{
    EngineLoad, EngineRequestRecord, EngineSink, FinishReason, Request, RequestId, Simulation,
    StepRecord, StepTimer,
};

use crate::virtual_run::driver::ProgressReporter;
use crate::virtual_run::engine_view::EngineTotals;
use profilemate_sim::DataParallelRouter;

/// Counts steps into the totals and progress, and keeps the finishes to hand on.
pub(super) struct Tap<'a> {
    pub(super) finished: &'a mut Vec<(RequestId, Duration, bool)>,
    pub(super) steps: &'a mut u64,
    pub(super) totals: &'a mut EngineTotals,
    pub(super) progress: Option<&'a mut ProgressReporter>,
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
pub(super) struct ClientTimes<'a> {
    pub(super) observer: &'a mut dyn EngineSink,
    /// The client's start of each request, by decode id.
    pub(super) started: &'a [Duration],
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
pub(super) struct Pool<'a, T> {
    pub(super) sims: &'a mut [Simulation<T>],
    pub(super) router: DataParallelRouter,
    pub(super) position: Vec<Vec<usize>>,
    pub(super) finished: Vec<Vec<(RequestId, Duration, bool)>>,
}

impl<'a, T: StepTimer> Pool<'a, T> {
    pub(super) fn new(sims: &'a mut [Simulation<T>]) -> Self {
        let n = sims.len();
        Self {
            sims,
            router: DataParallelRouter::new(n),
            position: vec![Vec::new(); n],
            finished: vec![Vec::new(); n],
        }
    }

    /// Routes `request` (dispatch position `pos`) to an engine: its index and id, or vLLM's
    /// error.
    pub(super) fn submit(
        &mut self,
        pos: usize,
        request: Request,
    ) -> Result<(usize, RequestId), String> {
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
    pub(super) fn next_event(&self) -> Option<Duration> {
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
