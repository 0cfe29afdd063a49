//! Engine-level properties: determinism for a seed, speculative decoding, CUDA-graph padding,
//! and logs that parse back into the steps that wrote them.

use std::time::Duration;

mod common;

use common::{ms, run, run_in_slices, sim_with};
use profilemate_sim::{
    ConstantStepTimer, CudaGraphConfig, EngineConfig, EngineRequestRecord, EngineSink,
    IterationLine, Request, RuntimeMode, Simulation, SpecDecodeConfig, StepRecord,
};

fn spec_config(acceptance: f64, seed: u64) -> EngineConfig {
    EngineConfig {
        max_num_seqs: 8,
        max_num_batched_tokens: 256,
        block_size: 16,
        num_gpu_blocks: 200,
        max_model_len: 512,
        cudagraph: CudaGraphConfig::eager(),
        spec_decode: Some(SpecDecodeConfig {
            num_speculative_tokens: 2,
            acceptance_probability: acceptance,
            num_lookahead_tokens: 2,
        }),
        seed,
        async_scheduling: false,
        ..Default::default()
    }
}

/// 40 requests with mixed lengths, arriving every 7 ms.
fn mixed_workload() -> Vec<Request> {
    (0..40u32)
        .map(|i| Request::synthetic(ms(7 * u64::from(i)), 20 + (i * 37) % 200, 5 + (i * 13) % 40))
        .collect()
}

#[test]
fn accepted_drafts_add_tokens_and_the_last_step_is_trimmed() {
    let (steps, records) = run(spec_config(1.0, 0), &[Request::synthetic(ms(0), 8, 6)]);
    let scheduled: Vec<u32> = steps.iter().map(|s| s.num_scheduled_tokens).collect();
    assert_eq!(scheduled, vec![8, 3, 3]);
    // 1 + 3 + 3 tokens would overshoot max_tokens = 6: the last step keeps 2.
    assert_eq!(
        records[0].token_times,
        vec![ms(10), ms(20), ms(20), ms(20), ms(30), ms(30)]
    );
    let spec = steps[1].spec_decode.as_ref().unwrap();
    assert_eq!(
        (
            spec.num_drafts,
            spec.num_draft_tokens,
            spec.num_accepted_tokens
        ),
        (1, 2, 2)
    );
    assert_eq!(spec.num_accepted_tokens_per_pos, vec![1, 1]);
}

#[test]
fn rejected_drafts_still_cost_their_slots() {
    let (steps, records) = run(spec_config(0.0, 0), &[Request::synthetic(ms(0), 8, 3)]);
    let scheduled: Vec<u32> = steps.iter().map(|s| s.num_scheduled_tokens).collect();
    assert_eq!(scheduled, vec![8, 3, 3]);
    assert_eq!(records[0].num_output_tokens, 3);
    assert_eq!(
        steps[2].spec_decode.as_ref().unwrap().num_accepted_tokens,
        0
    );
}

#[test]
fn equal_seeds_give_equal_runs_and_different_seeds_differ() {
    let workload = mixed_workload();
    let (steps_a, records_a) = run(spec_config(0.6, 7), &workload);
    let (steps_b, records_b) = run(spec_config(0.6, 7), &workload);
    assert_eq!(records_a, records_b);
    assert_eq!(steps_a, steps_b);
    let (steps_c, _) = run(spec_config(0.6, 8), &workload);
    assert_ne!(steps_a, steps_c);
    let total = |steps: &[StepRecord]| steps.iter().map(|s| s.num_generated_tokens).sum::<u32>();
    assert_eq!(
        total(&steps_a),
        workload.iter().map(|r| r.max_tokens).sum::<u32>()
    );
}

#[test]
fn cuda_graph_padding_follows_the_capture_sizes() {
    let config = EngineConfig {
        max_num_seqs: 8,
        max_num_batched_tokens: 64,
        num_gpu_blocks: 100,
        max_model_len: 256,
        cudagraph: CudaGraphConfig::default(),
        async_scheduling: false,
        ..Default::default()
    };
    let requests: Vec<Request> = (0..3).map(|_| Request::synthetic(ms(0), 10, 3)).collect();
    let (steps, _) = run(config, &requests);
    let modes: Vec<(u32, u32, RuntimeMode)> = steps
        .iter()
        .map(|s| {
            (
                s.num_scheduled_tokens,
                s.cudagraph.padded_tokens,
                s.cudagraph.mode,
            )
        })
        .collect();
    // Capture sizes for 8 seqs / 64 tokens: 1, 2, 4, 8, 16; a 30-token prefill runs eager.
    assert_eq!(
        modes,
        vec![
            (30, 30, RuntimeMode::None),
            (3, 4, RuntimeMode::Full),
            (3, 4, RuntimeMode::Full)
        ]
    );
}

/// A sink that writes vLLM-format log lines, as the server's logger will.
#[derive(Default)]
struct LogWriter {
    out: String,
}

impl EngineSink for LogWriter {
    fn on_step(&mut self, step: &StepRecord) {
        let line = IterationLine::from_step(step, "GPU");
        self.out += &format!("(APIServer pid=1) INFO 01-01 00:00:00 [loggers.py:199] {line}\n");
    }
}

#[test]
fn written_logs_parse_back_into_the_same_iterations() {
    let mut sim = Simulation::new(spec_config(0.5, 3), ConstantStepTimer(ms(10))).unwrap();
    for r in mixed_workload() {
        sim.add_request(r).unwrap();
    }
    let mut steps: Vec<StepRecord> = Vec::new();
    let mut log = LogWriter::default();
    sim.run(&mut (&mut steps, &mut log));
    let parsed: Vec<IterationLine> = log.out.lines().filter_map(IterationLine::find_in).collect();
    assert_eq!(parsed.len(), steps.len());
    for (line, step) in parsed.iter().zip(&steps) {
        assert_eq!((line.index, line.counts), (step.index, step.counts));
        assert_eq!(line.elapsed_ms, 10.0);
    }
}

/// Counts streamed tokens per request, as a streaming server would send them.
#[derive(Default)]
struct TokenCounter {
    per_request: Vec<u32>,
    finished: usize,
}

impl EngineSink for TokenCounter {
    fn on_step(&mut self, _step: &StepRecord) {}

    fn on_tokens(&mut self, request: profilemate_sim::RequestId, num_tokens: u32, _at: Duration) {
        let i = request.0 as usize;
        if self.per_request.len() <= i {
            self.per_request.resize(i + 1, 0);
        }
        self.per_request[i] += num_tokens;
    }

    fn on_request_finished(&mut self, _record: &EngineRequestRecord) {
        self.finished += 1;
    }
}

#[test]
fn driving_in_small_time_slices_equals_one_run() {
    for async_scheduling in [false, true] {
        let config = EngineConfig {
            async_scheduling,
            ..spec_config(0.5, 5)
        };
        let (steps, records) = run(config.clone(), &mixed_workload());
        let mut sim = sim_with(config, &mixed_workload());
        let (mut sliced, mut tokens) = (Vec::new(), TokenCounter::default());
        run_in_slices(&mut sim, ms(7), &mut (&mut sliced, &mut tokens));
        assert_eq!(sliced, steps, "async: {async_scheduling}");
        assert_eq!(sim.records(), &records[..]);
        let expected: Vec<u32> = mixed_workload().iter().map(|r| r.max_tokens).collect();
        assert_eq!((tokens.per_request, tokens.finished), (expected, 40));
    }
}
