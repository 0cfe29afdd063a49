//! Provides the fixed-timing mode (`--fixed-ttft-ms 50 --fixed-itl-ms 10`): the first token
//! exactly `ttft` after arrival, then one token every `itl`, whatever else is running.
//!
//! It is the ground truth for testing clients (bench, `analyze`), so nothing here depends on
//! scheduling.

use std::time::Duration;

use crate::records::{EngineRequestRecord, FinishReason, RequestId};
use crate::request::Request;

/// Fixed per-request timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedTokenTiming {
    /// Arrival to first token.
    pub ttft: Duration,
    /// Between consecutive tokens.
    pub itl: Duration,
}

impl FixedTokenTiming {
    /// The record of `request` under these timings.
    pub fn record(&self, id: RequestId, request: &Request) -> EngineRequestRecord {
        let prompt_tokens = request.prompt.len();
        let mut record =
            EngineRequestRecord::new(id, request.arrival, prompt_tokens, request.max_tokens);
        let first = request.arrival.saturating_add(self.ttft);
        record.token_times = (0..request.max_tokens)
            .map(|i| first.saturating_add(self.itl.saturating_mul(i)))
            .collect();
        record.first_scheduled = Some(request.arrival);
        record.first_token = record.token_times.first().copied();
        record.last_token = record.token_times.last().copied();
        record.finished = record.last_token.or(Some(request.arrival));
        record.num_output_tokens = request.max_tokens;
        record.finish_reason = Some(FinishReason::Length);
        record
    }

    /// Records for a whole workload, ids in input order.
    pub fn simulate(&self, requests: &[Request]) -> Vec<EngineRequestRecord> {
        let id = |i: usize| RequestId(u32::try_from(i).unwrap_or(u32::MAX));
        requests
            .iter()
            .enumerate()
            .map(|(i, r)| self.record(id(i), r))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_exactly_on_schedule() {
        let timing = FixedTokenTiming {
            ttft: Duration::from_millis(50),
            itl: Duration::from_millis(10),
        };
        let req = Request::synthetic(Duration::from_millis(5), 100, 3);
        let rec = timing.record(RequestId(0), &req);
        let ms = Duration::from_millis;
        assert_eq!(rec.token_times, vec![ms(55), ms(65), ms(75)]);
        assert_eq!(rec.ttft(), Some(ms(50)));
        assert_eq!(rec.e2e_latency(), Some(ms(70)));
    }

    #[test]
    fn a_request_for_no_tokens_ends_on_arrival() {
        let timing = FixedTokenTiming {
            ttft: Duration::from_millis(50),
            itl: Duration::from_millis(10),
        };
        let rec = timing.record(
            RequestId(3),
            &Request::synthetic(Duration::from_millis(5), 10, 0),
        );
        assert_eq!(
            (rec.first_token, rec.finished),
            (None, Some(Duration::from_millis(5)))
        );
    }
}
