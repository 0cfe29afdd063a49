//! Launches scheduled steps on the virtual GPU and records their outputs when they finish.

use std::time::Duration;

use profilemate_model::cudagraph::Dispatch;

use super::Simulation;
use crate::StepTimer;
use crate::batch::{EntryKind, IterationCounts, StepBatch};
use crate::records::{FinishReason, StepRecord};
use crate::scheduler::{SchedulerOutput, TokenOutput};
use crate::sink::EngineSink;
use crate::spec_decode::SpecDecodeStats;

/// A launched step whose output has not been processed yet.
#[derive(Debug)]
pub(super) struct InFlight {
    out: SchedulerOutput,
    scheduled_at: Duration,
    start: Duration,
    model_time: Duration,
    duration: Duration,
    dispatch: Dispatch,
}

impl InFlight {
    /// When the step's output is ready.
    pub(super) fn end(&self) -> Duration {
        self.start.saturating_add(self.duration)
    }
}

impl<T: StepTimer> Simulation<T> {
    /// Times a scheduled step and queues it on the GPU behind the steps already there.
    pub(super) fn launch(&mut self, mut out: SchedulerOutput) {
        let num_tokens = out.total_tokens();
        let qlen = self.config.decode_query_len();
        let uniform = out.entries.iter().all(|e| e.num_scheduled_tokens == qlen);
        let dispatch = self.dispatcher.dispatch(num_tokens, uniform);
        let batch = StepBatch {
            entries: &out.entries,
            num_scheduled_tokens: num_tokens,
            cudagraph: dispatch,
        };
        let model_time = self.timer.step_time(&batch);
        let duration = model_time.saturating_add(self.config.cpu_overhead_per_step);
        let start = self.clock.max(self.gpu_free_at);
        self.gpu_free_at = start.saturating_add(duration);
        let transfers = std::mem::take(&mut out.transfers);
        self.submit_transfers(transfers, start, self.gpu_free_at);
        self.mark_scheduled(&out);
        let scheduled_at = self.clock;
        self.in_flight.push_back(InFlight {
            out,
            scheduled_at,
            start,
            model_time,
            duration,
            dispatch,
        });
    }

    /// Stamps first scheduling and prefix hits; counts preemptions.
    fn mark_scheduled(&mut self, out: &SchedulerOutput) {
        // A running request was scheduled before: only new and resumed ones can be first.
        for e in out.entries.iter().filter(|e| e.kind != EntryKind::Running) {
            let record = &mut self.records[e.request];
            if record.first_scheduled.is_none() {
                record.first_scheduled = Some(self.clock);
                let loaded = out.loaded.iter().find(|l| l.request == e.request);
                record.num_cached_tokens = loaded.map_or(e.num_cached_tokens, |l| l.cached);
                record.num_external_cached_tokens = loaded.map_or(0, |l| l.external);
            }
        }
        for id in &out.preempted {
            self.records[*id].num_preemptions += 1;
        }
    }

    /// Processes the oldest step in flight at its end: aborts received meanwhile first,
    /// then its tokens (`update_from_output`), the offload transfers ended by then, then the
    /// sink.
    pub(super) fn finish_step(&mut self, sink: &mut impl EngineSink) {
        let Some(step) = self.in_flight.pop_front() else {
            return;
        };
        self.blocked_on_oldest_step = false;
        self.stalled = false;
        let end = step.end();
        self.clock = self.clock.max(end);
        self.apply_aborts(self.clock, sink);
        let num_drafts = self
            .config
            .spec_decode
            .as_ref()
            .map(|s| s.num_speculative_tokens);
        let mut spec = num_drafts.map(SpecDecodeStats::new);
        self.scheduler.set_now(end);
        let tokens = self
            .scheduler
            .update_from_output(&step.out, &mut self.rng, &mut spec);
        self.collect_transfers(end);
        let mut record = self.step_record(&step, &tokens, spec);
        record.num_prompt_tokens = self.first_token_prompt_tokens(&tokens);
        self.next_index += 1;
        sink.on_step(&record);
        self.report_offload_stats(end, sink);
        self.emit_tokens(&tokens, end, sink);
    }

    fn step_record(
        &self,
        step: &InFlight,
        tokens: &[TokenOutput],
        spec: Option<SpecDecodeStats>,
    ) -> StepRecord {
        debug_assert!(step.scheduled_at <= step.start);
        StepRecord {
            index: self.next_index,
            start: step.start,
            duration: step.duration,
            model_time: step.model_time,
            counts: IterationCounts::of(&step.out.entries),
            num_scheduled_tokens: step.out.total_tokens(),
            cudagraph: step.dispatch,
            kv_cache_usage: self.scheduler.kv_usage(),
            num_running: self.scheduler.num_running(),
            num_waiting: self.scheduler.num_waiting(),
            num_preempted: step.out.preempted.len() as u32,
            num_finished: tokens.iter().filter(|t| t.finished).count() as u32,
            num_generated_tokens: tokens.iter().map(|t| t.num_tokens).sum(),
            num_prompt_tokens: 0,
            prefix_cache: step.out.prefix_cache,
            connector_prefix_cache: step.out.connector_prefix_cache,
            spec_decode: spec,
        }
    }

    /// Σ computed prompt tokens of the requests about to emit their first token.
    fn first_token_prompt_tokens(&self, tokens: &[TokenOutput]) -> u32 {
        let records = &self.records;
        let first = |t: &&TokenOutput| t.num_tokens > 0 && records[t.request].first_token.is_none();
        let computed = |t: &TokenOutput| {
            let r = &records[t.request];
            r.prompt_tokens - r.num_cached_tokens
        };
        tokens.iter().filter(first).map(computed).sum()
    }

    /// Appends the step's tokens to the records and reports finished requests.
    fn emit_tokens(&mut self, tokens: &[TokenOutput], at: Duration, sink: &mut impl EngineSink) {
        for t in tokens.iter().filter(|t| t.num_tokens > 0) {
            let record = &mut self.records[t.request];
            record.num_output_tokens += t.num_tokens;
            record.first_token.get_or_insert(at);
            record.last_token = Some(at);
            if self.record_token_times {
                let times = std::iter::repeat_n(at, t.num_tokens as usize);
                record.token_times.extend(times);
            }
            sink.on_tokens(t.request, t.num_tokens, at);
            if t.finished {
                record.finished = Some(at);
                record.finish_reason = Some(FinishReason::Length);
                sink.on_request_finished(record);
            }
        }
    }
}
