//! Moves offload transfer jobs between the scheduler-side connector and the host link, and
//! reports the connector's stats payload to the sink.
//!
//! vLLM 0.32's worker starts a step's loads with the step and its stores when the next step
//! starts (`OffloadingConnectorWorker.start_kv_transfers` / `prepare_store_kv`), and reports
//! finished jobs at the end of each step (`get_finished`). With no step to run, the engine
//! keeps stepping without a forward pass while transfers are pending; here it wakes when
//! one ends.

use std::time::Duration;

use super::Simulation;
use crate::StepTimer;
use crate::offload::transfer::{Direction, TransferJob};
use crate::sink::EngineSink;

impl<T: StepTimer> Simulation<T> {
    /// Puts a step's jobs on the link: loads at `start`, stores at `end`.
    pub(super) fn submit_transfers(
        &mut self,
        jobs: Vec<TransferJob>,
        start: Duration,
        end: Duration,
    ) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        for job in jobs {
            let at = match job.direction {
                Direction::Load => start,
                Direction::Store => end,
            };
            link.submit(job, at);
        }
    }

    /// Hands the transfers ended by `at` to the connector; `true` if there were any.
    pub(super) fn collect_transfers(&mut self, at: Duration) -> bool {
        let Some(link) = self.link.as_mut() else {
            return false;
        };
        let done = link.take_done(at);
        self.scheduler.complete_transfers(&done);
        self.stalled &= done.is_empty();
        !done.is_empty()
    }

    /// With no step in flight, applies the transfers that have ended (a step without a
    /// forward pass) and reports the payload.
    pub(super) fn collect_idle_transfers(&mut self, sink: &mut impl EngineSink) {
        if self.in_flight.is_empty() && self.collect_transfers(self.clock) {
            self.report_offload_stats(self.clock, sink);
        }
    }

    /// Pushes the connector's payload, if offloading is on.
    pub(super) fn report_offload_stats(&mut self, at: Duration, sink: &mut impl EngineSink) {
        if let Some(stats) = self.scheduler.take_offload_stats() {
            sink.on_kv_connector_stats(&stats, at);
        }
    }

    /// When the next transfer ends.
    pub(super) fn next_transfer_end(&self) -> Option<Duration> {
        self.link.as_ref().and_then(|l| l.next_end())
    }
}
