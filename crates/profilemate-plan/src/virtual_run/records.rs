//! Provides the conversion from the engine's per-request records and streams to the bench's
//! [`ClientRequestRecord`]s, as an HTTP client measuring the same run would have filled them.
//!
//! Mirrors what `async_request_openai_completions` (vllm/benchmarks/lib/endpoint_request_func.py,
//! vLLM 0.32) measures: TTFT from the request's start to its first token-bearing chunk, one ITL
//! per later chunk, latency to the last chunk, `client_queue_time` = start − scheduled arrival.
//! Virtual time has no network and no client lag: the figures are the engine's own, plus the
//! fitted front end's delay when one is set (the request reaches the engine that much after
//! its start).

use std::time::Duration;

use profilemate_sim::{EngineRequestRecord, FinishReason};

use crate::virtual_run::driver::{Outcome, Sent, Stream};
use profilemate_bench::record::{ClientRequestRecord, ErrorKind, Seconds};

/// vLLM's status for requests its frontend refuses (`BadRequestError`).
const BAD_REQUEST: u16 = 400;

/// The client's record of one dispatched request; `None` for one still queued (never sent).
/// TTFT and latency count from the client's start (`sent.started`), which is before the
/// request's arrival in `engine` when a front-end delay applies or when it reached `engine`
/// through another one first (a decode instance after its prefill).
pub(crate) fn client_record(
    sent: &Sent,
    engine: &[EngineRequestRecord],
    streams: &[Stream],
) -> Option<ClientRequestRecord> {
    let mut record = match &sent.outcome {
        Outcome::Queued => return None,
        Outcome::Rejected(error) => {
            ClientRequestRecord::failed(ErrorKind::HttpStatus(BAD_REQUEST), error.clone())
        }
        Outcome::Engine(id) => {
            let stream = streams.get(id.0 as usize);
            let r = engine.get(id.0 as usize)?;
            if r.finish_reason.is_none() {
                // Still in the engine when the run was stopped (Ctrl-C): interrupted.
                return Some(ClientRequestRecord::failed(
                    ErrorKind::Cancelled,
                    "run interrupted".into(),
                ));
            }
            streamed(r, stream.unwrap_or(&Stream::default()), sent.started)
        }
    };
    record.start_time = secs(sent.started);
    record.client_queue_time = secs(sent.started.saturating_sub(sent.send_at));
    Some(record)
}

/// The record of a request the run was stopped under before it reached the engine that
/// answers the client (a prefill in progress): interrupted.
pub(crate) fn interrupted(sent: &Sent) -> ClientRequestRecord {
    let mut record = ClientRequestRecord::failed(ErrorKind::Cancelled, "run interrupted".into());
    record.start_time = secs(sent.started);
    record.client_queue_time = secs(sent.started.saturating_sub(sent.send_at));
    record
}

/// A request that ran in the engine, timed from its `start` at the client.
fn streamed(r: &EngineRequestRecord, stream: &Stream, start: Duration) -> ClientRequestRecord {
    let since_start = |t: Duration| secs(t.saturating_sub(start));
    let ttft = stream.first.map(since_start);
    let success = r.finish_reason == Some(FinishReason::Length) && ttft.is_some();
    let mut record = ClientRequestRecord {
        success,
        prompt_len: u64::from(r.prompt_tokens),
        output_tokens: u64::from(r.num_output_tokens),
        ttft: ttft.unwrap_or(0.0),
        itl: stream.gaps.clone(),
        latency: stream.first.map_or(0.0, |_| since_start(stream.last)),
        num_input_sequences: 1,
        chunk_tokens: stream.tokens.clone(),
        ttfc: ttft,
        ..ClientRequestRecord::default()
    };
    if !success {
        record.error = "the engine finished the request without a token".into();
        record.error_kind = Some(ErrorKind::NoTokens);
    }
    record
}

fn secs(d: Duration) -> Seconds {
    d.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use profilemate_sim::{ConstantStepTimer, EngineConfig, Request, RequestId, Simulation};

    use super::*;
    use crate::virtual_run::driver::ClientDetail;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn a_streamed_request_is_timed_from_its_start() {
        let config = EngineConfig {
            async_scheduling: false,
            ..Default::default()
        };
        let mut sim = Simulation::new(config, ConstantStepTimer(ms(10))).unwrap();
        sim.add_request(Request::synthetic(ms(5), 100, 3)).unwrap();
        sim.run(&mut ());
        let mut stream = Stream::default();
        for at in [ms(15), ms(25), ms(35)] {
            stream.push(1, at, ClientDetail::Chunks);
        }
        let sent = Sent {
            send_at: ms(2),
            started: ms(5),
            outcome: Outcome::Engine(RequestId(0)),
        };
        let r = client_record(&sent, sim.records(), &[stream]).unwrap();
        assert!(r.success);
        assert_eq!((r.prompt_len, r.output_tokens), (100, 3));
        assert_eq!((r.ttft, r.latency), (0.01, 0.03));
        assert_eq!(r.itl, vec![0.01, 0.01]);
        assert_eq!((r.start_time, r.client_queue_time), (0.005, 0.003));
        assert_eq!(r.chunk_tokens, vec![1, 1, 1]);
    }

    #[test]
    fn a_rejected_request_fails_like_a_400_and_a_queued_one_was_never_sent() {
        let rejected = Sent {
            send_at: ms(0),
            started: ms(0),
            outcome: Outcome::Rejected("too long".into()),
        };
        let r = client_record(&rejected, &[], &[]).unwrap();
        assert!(!r.success);
        assert_eq!(r.error_kind, Some(ErrorKind::HttpStatus(400)));
        assert_eq!(r.error, "too long");
        let queued = Sent {
            outcome: Outcome::Queued,
            ..rejected
        };
        assert_eq!(client_record(&queued, &[], &[]), None);
    }
}
