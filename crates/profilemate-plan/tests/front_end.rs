//! A fitted front end between the virtual client and the engine (`virtual_run::FrontEnd`):
//! requests reach the engine its delay after they are sent and are timed from the send, and a
//! serial API server splits requests sent together.

use std::time::Duration;

use profilemate_plan::virtual_run::{FrontEnd, RecordedSend, Through, replay_sends};
use profilemate_sim::{CudaGraphConfig, EngineConfig, IterationLine, StepBatch, StepRecord};

fn engine() -> EngineConfig {
    EngineConfig {
        max_num_seqs: 8,
        max_num_batched_tokens: 512,
        async_scheduling: false,
        cudagraph: CudaGraphConfig::eager(),
        enable_prefix_caching: false,
        ..Default::default()
    }
}

/// 10 ms per step plus 0.1 ms per scheduled token.
fn timer(b: &StepBatch<'_>) -> Duration {
    Duration::from_millis(10) + Duration::from_micros(100) * b.num_scheduled_tokens
}

fn burst(n: usize) -> Vec<RecordedSend> {
    (0..n)
        .map(|_| RecordedSend {
            send_at: Duration::ZERO,
            prompt_tokens: 80,
            output_tokens: 4,
        })
        .collect()
}

fn run(sends: &[RecordedSend], front_end: FrontEnd) -> (Vec<f64>, Vec<IterationLine>) {
    let through = Through {
        engine: engine(),
        timer,
        front_end,
        detail: Default::default(),
    };
    let mut steps: Vec<StepRecord> = Vec::new();
    let records = replay_sends(sends, None, through, &mut steps).unwrap();
    let ttfts = records.iter().map(|r| r.ttft * 1000.0).collect();
    (
        ttfts,
        steps
            .iter()
            .map(|s| IterationLine::from_step(s, "GPU"))
            .collect(),
    )
}

#[test]
fn a_delay_adds_to_ttft_as_the_client_sees_it() {
    let ms = Duration::from_millis;
    let (bare, _) = run(&burst(1), FrontEnd::default());
    // One 80-token prefill: 10 + 8 ms.
    assert!((bare[0] - 18.0).abs() < 1e-6, "{bare:?}");
    let delayed = FrontEnd {
        delay: ms(25),
        ..FrontEnd::default()
    };
    let (with, _) = run(&burst(1), delayed);
    assert!((with[0] - 43.0).abs() < 1e-6, "{with:?}");
    // Tokenization per prompt token: 80 × 0.1 ms more.
    let tokenized = FrontEnd {
        per_prompt_token: Duration::from_micros(100),
        ..delayed
    };
    let (tok, _) = run(&burst(1), tokenized);
    assert!((tok[0] - 51.0).abs() < 1e-6, "{tok:?}");
}

#[test]
fn a_serial_front_end_lets_the_first_of_a_burst_start_a_step_alone() {
    // Sent together and handed over at once, the six prefill in one step; handed over 1 ms
    // apart, the first reaches an idle engine alone and the other five join the next step (as
    // vLLM's logs show: run5-conc's `1 context request` then `5 context requests`).
    let (_, together) = run(&burst(6), FrontEnd::default());
    assert_eq!(together[0].counts.num_ctx_requests, 6);
    let serial = FrontEnd {
        serial: Duration::from_millis(1),
        ..FrontEnd::default()
    };
    let (ttfts, apart) = run(&burst(6), serial);
    assert_eq!(apart[0].counts.num_ctx_requests, 1);
    assert_eq!(apart[1].counts.num_ctx_requests, 5);
    assert!(ttfts[0] < ttfts[1], "{ttfts:?}");
}
