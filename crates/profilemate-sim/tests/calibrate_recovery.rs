//! `sim calibrate`'s fit recovers a known step-time model from a synthetic vLLM log: the
//! simulated scheduler runs a workload whose steps take the time a chosen [`StepTimeModel`]
//! gives them (with 2 % noise and a few long stalls), its `Iteration(N)` lines are written as
//! vLLM writes them, and the log is read back ([`read_log`]: the per-request shapes rebuilt
//! from the counts alone) and fitted as the CLI fits it (robust, non-negative, relative error).

use std::time::Duration;

use proptest::prelude::*;

use profilemate_model::roofline::Efficiency;
use profilemate_model::{Deployment, Dtype, StepRequest, hardware, presets};
use profilemate_sim::calibrate::fit::fit_non_negative_huber;
use profilemate_sim::calibrate::observations::{Observation, read_log};
use profilemate_sim::calibrate::step_fit::fit_step_time;
use profilemate_sim::calibrate::{Features, StepTimeModel};
use profilemate_sim::{
    CudaGraphConfig, EngineConfig, IterationLine, Request, Simulation, StepBatch, StepRecord,
    roofline_timer,
};

/// A deterministic generator, so each case's log is reproducible.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Approximately standard normal (sum of 12 uniforms).
    fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.next()).sum::<f64>() - 6.0
    }
}

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

/// The log of 48 requests of `prompt` and `output` tokens, arriving over `window_s` seconds, with steps timed by `truth` (2 % noise, 3 stalls of 200 ms).
fn synthetic_log(
    truth: StepTimeModel,
    prompt: u32,
    output: u32,
    window_s: f64,
    seed: u64,
) -> String {
    let config = EngineConfig {
        max_num_seqs: 8,
        max_num_batched_tokens: 512,
        block_size: 16,
        num_gpu_blocks: 4096,
        enable_prefix_caching: false,
        max_model_len: 4096,
        cudagraph: CudaGraphConfig::eager(),
        async_scheduling: false,
        ..Default::default()
    };
    let mut noise = Lcg(seed ^ 0x9e37);
    let mut clock = clock();
    let mut scratch: [Vec<StepRequest>; 3] = Default::default();
    let mut step = 0usize;
    let timer = move |b: &StepBatch<'_>| {
        let f = Features::of_batch(&mut clock, b, &mut scratch);
        let mut ms = truth.elapsed_ms(&f) * (1.0 + 0.02 * noise.normal());
        if step % 97 == 13 {
            ms += 200.0;
        }
        step += 1;
        Duration::from_secs_f64(ms.max(0.01) / 1000.0)
    };
    let mut sim = Simulation::new(config, timer).unwrap();
    // Equal lengths, as `bench serve --random-range-ratio 0` sends them (the rebuilt shapes
    // are then exact: tests/calibrate_shapes.rs); outputs long enough that a request's context
    // grows well past its prompt, or the per-generation-token and per-context costs could not
    // be told apart (from any log).
    let mut draw = Lcg(seed);
    for _ in 0..48 {
        let at = Duration::from_secs_f64(draw.next() * window_s);
        sim.add_request(Request::synthetic(at, prompt, output))
            .unwrap();
    }
    let mut steps: Vec<StepRecord> = Vec::new();
    sim.run(&mut steps);
    let mut log = String::from(
        "INFO 01-01 00:00:00 [scheduler.py:307] Chunked prefill is enabled with max_num_batched_tokens=512.\n",
    );
    for s in &steps {
        log.push_str("INFO 01-01 00:00:00 [loggers.py:199] ");
        log.push_str(&IterationLine::from_step(s, "GPU").to_string());
        log.push('\n');
    }
    log
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// The per-prefill-token cost comes back within 8 %, and the time of a decode step of 1, 4
    /// or 8 requests within 8 % + 0.1 ms wherever the log holds ten such steps, for prompts of
    /// 60 to 512 tokens (the last prompt of a full step cut and continued; not those that tile
    /// the budget exactly with the decodes) and 0.4 to 1.5 times as many output tokens, under
    /// light to saturating load. Prompts longer than the budget are left out: proptest found
    /// 674-token prompts (chunks of 512 and 162) whose rebuilt decode contexts make 8-request
    /// decode steps come out 18 % fast (a known limit, docs/accuracy.md); the real captures
    /// with long prompts (run4-long, 700 tokens) are checked in the CLI tests.
    #[test]
    fn the_fit_recovers_a_known_model_from_its_log(
        fixed in 0.5f64..3.0,
        per_prefill_token in 0.05f64..1.0,
        per_generation_token in 0.2f64..2.0,
        per_1k_context in 0.0f64..3.0,
        prompt in 60u32..=512,
        output_per_prompt in 0.4f64..1.5,
        window_s in 1.0f64..20.0,
        seed in any::<u64>(),
    ) {
        // Whole prompts plus decodes that fill the 512-token budget exactly look, in the
        // counts, like a prompt cut at the budget; in a saturated run of such prompts the
        // rebuilt decode contexts are then off by up to 2× and the fit with them (a known
        // limit, docs/accuracy.md; proptest found prompts of 253 and 505). Mixed prompt
        // lengths make the coincidence rare; equal ones are left out of this property.
        prop_assume!(!(1..=8u32).any(|k| (0..=8u32).any(|g| k * prompt + g == 512)));
        let truth = StepTimeModel {
            coefficients: [fixed, 0.0, per_prefill_token, 0.0, per_generation_token, per_1k_context],
            outside_ms: 0.0,
        };
        let output = (f64::from(prompt) * output_per_prompt) as u32;
        let log = synthetic_log(truth, prompt, output, window_s, seed);
        let obs = read_log(&log, &mut clock(), 512).unwrap();
        // The token-count terms alone: on a model this small the roofline's prefill and decode
        // times are nearly affine in the tokens, so with them in the fit the coefficients trade
        // off (the predictions do not: checked below).
        let rows: Vec<Vec<f64>> = obs
            .iterations
            .iter()
            .map(|o| {
                let r = o.features.row();
                [r[0], r[2], r[4], r[5]].iter().map(|x| x / o.elapsed_ms).collect()
            })
            .collect();
        let fit = fit_non_negative_huber(&rows, &vec![1.0; rows.len()]).unwrap();
        let c = &fit.coefficients;
        prop_assert!((c[1] - per_prefill_token).abs() <= 0.08 * per_prefill_token, "prefill {} vs {per_prefill_token}: {c:?}", c[1]);
        // A decode step of 1, 4 or 8 requests at the log's mean decode context: the fixed,
        // per-token and per-context costs together (apart, they are only as separable as the
        // log's steps vary: a saturated lockstep run has every request at about the same age).
        let (requests, context): (f64, f64) = obs
            .iterations
            .iter()
            .filter(|o| o.features.generation_tokens > 0.0)
            .fold((0.0, 0.0), |(n, k), o| (n + o.features.generation_tokens, k + o.features.decode_context_ktokens));
        let mean_context = context / requests.max(1.0);
        for g in [1.0, 4.0, 8.0] {
            // Only sizes the log holds at least ten decode-only steps of: a saturated run (all
            // requests within a second) passes through the others in a step or two, and a size
            // the log barely shows is an extrapolation, not a recovery.
            let seen = obs
                .iterations
                .iter()
                .filter(|o| o.features.generation_tokens == g && o.features.prefill_tokens == 0.0)
                .count();
            if seen < 10 {
                continue;
            }
            let want = fixed + g * (per_generation_token + per_1k_context * mean_context);
            let got = c[0] + g * (c[2] + c[3] * mean_context);
            prop_assert!((got - want).abs() <= 0.08 * want + 0.1, "{g} decodes: {got} vs {want}: {c:?}");
        }
        // All six terms, as the CLI fits them: the steps are predicted within 5 % on average
        // (the noise alone is 1.6 %).
        let all: Vec<&Observation> = obs.iterations.iter().collect();
        let full = fit_step_time(&all).unwrap();
        prop_assert!(full.mape < 0.05, "MAPE {}: {:?}", full.mape, full.coefficients);
    }
}
