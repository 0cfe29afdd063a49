//! The log-side shapes (`profilemate_sim::calibrate::shapes`) on a real capture with mixed
//! request lengths: run7-burst (24 prompts of 152–449 tokens and 40 output tokens sent at once
//! to the real vLLM 0.32 CPU server). Replayed in send order with the log's own step times, the
//! simulated scheduler repeats all of vLLM's iterations, so its exact per-request shapes stand
//! beside what `read_log` rebuilds from the four counts of each `Iteration(N)` line.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use profilemate_model::roofline::Efficiency;
use profilemate_model::{Deployment, Dtype, StepRequest, hardware, presets};
use profilemate_plan::virtual_run::{FrontEnd, RecordedSend, Through, replay_sends};
use profilemate_sim::calibrate::Features;
use profilemate_sim::calibrate::observations::read_log;
use profilemate_sim::{
    CudaGraphConfig, EngineConfig, IterationLine, StepBatch, StepRecord, roofline_timer,
};

const LOG: &str = include_str!("../../../testdata/vllm-0.32-cpu/run7-burst/server.log");
const BENCH: &str = include_str!("../../../testdata/vllm-0.32-cpu/run7-burst/bench-1.json");

fn clock() -> profilemate_model::roofline::StepTimeEstimator<profilemate_model::PerfModel> {
    let spec = presets::spec("tiny-llama").unwrap();
    let gpu = hardware::preset("h100-sxm").unwrap();
    let mut t = roofline_timer(
        &spec,
        &Deployment::new(Dtype::Bfloat16),
        gpu,
        Efficiency::default(),
    )
    .unwrap();
    t.estimator_mut().clone()
}

/// The bench result's requests in send order.
fn sends() -> Vec<RecordedSend> {
    let v: serde_json::Value = serde_json::from_str(BENCH).unwrap();
    let nums = |k: &str| -> Vec<f64> {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let (starts, ins, outs) = (nums("start_times"), nums("input_lens"), nums("output_lens"));
    let first = starts.iter().copied().fold(f64::INFINITY, f64::min);
    let mut sends: Vec<RecordedSend> = (0..starts.len())
        .map(|i| RecordedSend {
            send_at: Duration::from_secs_f64(starts[i] - first),
            prompt_tokens: ins[i] as u32,
            output_tokens: outs[i] as u32,
        })
        .collect();
    sends.sort_by_key(|s| s.send_at);
    sends
}

#[test]
fn the_rebuilt_decode_contexts_of_a_mixed_length_capture_are_within_a_few_percent() {
    let obs = read_log(LOG, &mut clock(), 512).unwrap();
    let elapsed: Vec<f64> = obs.iterations.iter().map(|o| o.elapsed_ms).collect();
    // Each replayed step takes its logged time (plus ~0.7 ms outside it, as fitted); the
    // exact features of each step are kept.
    let exact: Rc<RefCell<Vec<Features>>> = Rc::default();
    let (seen, next) = (exact.clone(), Rc::new(Cell::new(0usize)));
    let mut features_clock = clock();
    let mut scratch: [Vec<StepRequest>; 3] = Default::default();
    let timer = move |b: &StepBatch<'_>| {
        seen.borrow_mut()
            .push(Features::of_batch(&mut features_clock, b, &mut scratch));
        let i = next.get();
        next.set(i + 1);
        let ms = elapsed.get(i).copied().unwrap_or(5.0) + 0.7;
        Duration::from_secs_f64(ms / 1000.0)
    };
    let engine = EngineConfig {
        max_num_seqs: 8,
        max_num_batched_tokens: 512,
        block_size: 128,
        num_gpu_blocks: 128,
        enable_prefix_caching: false,
        max_model_len: 2048,
        cudagraph: CudaGraphConfig::eager(),
        async_scheduling: false,
        ..Default::default()
    };
    // vLLM's API server hands a burst to the engine one request at a time.
    let front_end = FrontEnd {
        serial: Duration::from_millis(1),
        ..FrontEnd::default()
    };
    let mut steps: Vec<StepRecord> = Vec::new();
    let through = Through {
        engine,
        timer,
        front_end,
        detail: Default::default(),
    };
    replay_sends(&sends(), None, through, &mut steps).unwrap();
    // The replay repeats vLLM's iterations count for count until the engine took two requests
    // in another order than they were sent (the logs name no request): compare there.
    let matched = steps
        .iter()
        .zip(&obs.iterations)
        .take_while(|(s, o)| IterationLine::from_step(s, "CPU").counts == o.counts)
        .count();
    assert!(
        matched >= 80,
        "{matched} of {} iterations",
        obs.iterations.len()
    );
    let exact = &exact.borrow()[..matched];
    let rebuilt = &obs.iterations[..matched];
    let total = |f: &dyn Fn(&Features) -> f64, v: &mut dyn Iterator<Item = &Features>| {
        v.map(f).sum::<f64>()
    };
    let ctx = |f: &Features| f.decode_context_ktokens;
    let exact_ctx = total(&ctx, &mut exact.iter());
    let rebuilt_ctx = total(&ctx, &mut rebuilt.iter().map(|o| &o.features));
    let overall = rebuilt_ctx / exact_ctx - 1.0;
    // Per step, on the steps with decodes.
    let errors: Vec<f64> = exact
        .iter()
        .zip(rebuilt)
        .filter(|(e, _)| e.decode_context_ktokens > 0.0)
        .map(|(e, o)| (o.features.decode_context_ktokens / e.decode_context_ktokens - 1.0).abs())
        .collect();
    let mean = errors.iter().sum::<f64>() / errors.len() as f64;
    println!(
        "{matched} iterations; decode context: overall {overall:+.4}, mean per-step error {mean:.4} over {} steps",
        errors.len()
    );
    // When written: 92 iterations, −1.0 % overall, 3.3 % per step on average.
    assert!(overall.abs() < 0.05, "overall {overall}");
    assert!(mean < 0.08, "mean per-step {mean}");
}
