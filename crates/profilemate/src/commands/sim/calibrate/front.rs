//! What a bench result adds to a log: the time each step spends outside `iteration elapsed
//! time` ([`outside_of`]) and the front end between the client and the engine
//! ([`fit_front_end`]).
//!
//! Both come from replaying the result's requests through the simulated scheduler. When the
//! result pairs with its own log ([`BenchRun::pair`]), each simulated step takes the logged
//! `iteration elapsed time` of the same iteration, so the fitted step-time model's error does
//! not leak into the front end; only requests whose first token comes while the replay's
//! iterations still equal the log's count.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use anyhow::Context;
use profilemate_plan::virtual_run::{FrontEnd, Through, replay_sends};
use profilemate_sim::calibrate::StepTimeModel;
use profilemate_sim::calibrate::fit::fit_non_negative_huber;
use profilemate_sim::calibrate::observations::LogObservations;
use profilemate_sim::vllm_log::MfuLogStepTimer;
use profilemate_sim::{
    EngineConfig, IterationLine, Request, RooflineStepTimer, Simulation, StepBatch, StepRecord,
};
use serde_json::{Value, json};

use super::bench::BenchRun;

/// The outside time a paired bench result gives: every generation token but each request's
/// first arrives one step after the previous, so Σ over requests of (E2EL − TTFT) =
/// Σ over iterations of generation tokens × (elapsed + outside).
pub(crate) fn outside_of(bench: &BenchRun, log: &LogObservations) -> f64 {
    let spans: f64 = bench
        .requests
        .iter()
        .map(|r| r.latency_ms - r.ttft_ms)
        .sum();
    let (tokens, weighted) = log.iterations.iter().fold((0.0, 0.0), |(t, w), o| {
        let g = o.features.generation_tokens;
        (t + g, w + g * o.elapsed_ms)
    });
    if tokens == 0.0 {
        0.0
    } else {
        ((spans - weighted) / tokens).max(0.0)
    }
}

/// Per-request front-end delays of one bench result: measured TTFT − the TTFT of the same
/// request replayed at its send offset.
#[derive(Debug, Clone)]
pub(crate) struct Delays {
    /// `(prompt tokens, delay ms)` of each request used.
    pub(crate) requests: Vec<(u32, f64)>,
    /// Whether the replay used the log's own step times (else the fitted model's).
    pub(crate) logged_steps: bool,
    /// Iterations of the replay equal to the log's before the first that differs.
    pub(crate) matched_iterations: usize,
}

/// The delays of `bench`'s requests: replayed with `log`'s step times (plus `outside_ms`) when
/// it is the bench's own log, else with `model`.
pub(crate) fn delays(
    bench: &BenchRun,
    log: Option<&LogObservations>,
    model: &StepTimeModel,
    outside_ms: f64,
    config: &EngineConfig,
    timer: &RooflineStepTimer<profilemate_model::PerfModel>,
) -> anyhow::Result<Delays> {
    let replay_err = || format!("cannot replay {}", bench.path.display());
    let (records, steps) = match log {
        Some(log) => {
            let step = logged_steps(log, outside_ms);
            replay(
                bench,
                Simulation::new(config.clone(), step).with_context(replay_err)?,
            )?
        }
        None => {
            let mut model = *model;
            model.outside_ms = outside_ms;
            let t = MfuLogStepTimer::new(timer.clone(), None).with_calibration(model);
            replay(
                bench,
                Simulation::new(config.clone(), t).with_context(replay_err)?,
            )?
        }
    };
    let matched = log.map_or(steps.len(), |log| matching_prefix(&steps, log));
    let valid_until = match matched.checked_sub(1).and_then(|i| steps.get(i)) {
        Some(s) if log.is_some() => s.start + s.duration,
        _ if log.is_some() => Duration::ZERO,
        _ => Duration::MAX,
    };
    let requests = bench
        .requests
        .iter()
        .zip(&records)
        .filter_map(|(r, rec)| {
            let first = rec.first_token?;
            (first <= valid_until).then(|| {
                let simulated = first.saturating_sub(rec.arrival).as_secs_f64() * 1000.0;
                (r.input, r.ttft_ms - simulated)
            })
        })
        .collect();
    Ok(Delays {
        requests,
        logged_steps: log.is_some(),
        matched_iterations: matched,
    })
}

/// Runs `bench`'s requests at their send offsets through `sim`: the engine's records in send
/// order and its steps.
fn replay<T: profilemate_sim::StepTimer>(
    bench: &BenchRun,
    mut sim: Simulation<T>,
) -> anyhow::Result<(Vec<profilemate_sim::EngineRequestRecord>, Vec<StepRecord>)> {
    for r in &bench.requests {
        let at = Duration::from_secs_f64(r.send_s.max(0.0));
        sim.add_request(Request::synthetic(at, r.input, r.output))
            .with_context(|| format!("cannot replay a request of {}", bench.path.display()))?;
    }
    let mut steps: Vec<StepRecord> = Vec::new();
    sim.run(&mut steps);
    Ok((sim.into_records(), steps))
}

/// The spacings [`FrontEndFit::fit_serial`] tries, in ms.
const SERIAL_GRID_MS: [f64; 7] = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0];

/// The spacing assumed where the replays do not tell the spacings apart, in ms: an API server
/// handles one request at a time (parsing, tokenizing, handing it over), so requests sent
/// together never reach the engine at the same instant.
const SERIAL_PRIOR_MS: f64 = 1.0;

impl FrontEndFit {
    /// As the engine's client applies it.
    pub(crate) fn front_end(&self) -> FrontEnd {
        let ms = |v: f64| Duration::from_secs_f64(v.max(0.0) / 1000.0);
        FrontEnd {
            delay: ms(self.delay_ms),
            per_prompt_token: ms(self.per_prompt_token_ms),
            serial: ms(self.serial_ms),
        }
    }

    /// Chooses the spacing of requests handed to the engine ([`FrontEnd::serial`]) that makes
    /// the replays of the paired bench results — each as its client sent them (closed loop
    /// where it ran one), each step taking its logged time — repeat the most of their logs'
    /// iterations before the first that differs; among equals, the one nearest
    /// [`SERIAL_PRIOR_MS`].
    pub(crate) fn fit_serial(
        &mut self,
        benches: &[(&BenchRun, &LogObservations)],
        outside_ms: f64,
        config: &EngineConfig,
    ) -> anyhow::Result<()> {
        self.serial_ms = SERIAL_PRIOR_MS;
        if benches.is_empty() {
            return Ok(());
        }
        let mut scores = Vec::new();
        let mut per_bench: Vec<Vec<usize>> = Vec::new();
        for s in SERIAL_GRID_MS {
            let mut front_end = self.front_end();
            front_end.serial = Duration::from_secs_f64(s / 1000.0);
            let mut each = Vec::new();
            for (b, log) in benches {
                each.push(replayed_sequence(b, log, outside_ms, front_end, config)?);
            }
            scores.push((s, each.iter().sum::<usize>()));
            per_bench.push(each);
        }
        let best = scores.iter().map(|s| s.1).max().unwrap_or(0);
        let serial = scores
            .iter()
            .filter(|s| s.1 == best)
            .map(|s| s.0)
            .min_by(|a, b| {
                (a - SERIAL_PRIOR_MS)
                    .abs()
                    .total_cmp(&(b - SERIAL_PRIOR_MS).abs())
            })
            .unwrap_or(SERIAL_PRIOR_MS);
        let total: usize = benches.iter().map(|(_, l)| l.iterations.len()).sum();
        let chosen = SERIAL_GRID_MS
            .iter()
            .position(|&s| s == serial)
            .unwrap_or(0);
        let at_fitted: Vec<Value> = benches
            .iter()
            .zip(&per_bench[chosen])
            .map(|((b, log), m)| {
                json!({"path": b.path.display().to_string(), "iterations": log.iterations.len(), "matched": m})
            })
            .collect();
        self.serial_ms = serial;
        self.report["serial_ms"] = json!(serial);
        self.report["serial_fit"] = json!({
            "method": "the spacing whose replays (each bench as its client sent it, each step its logged elapsed time + outside) repeat the most iterations of their logs before the first that differs",
            "iterations": total,
            "matched_by_spacing_ms": scores.iter().map(|(s, m)| json!([s, m])).collect::<Vec<_>>(),
            "per_bench_at_fitted_spacing": at_fitted,
        });
        Ok(())
    }
}

/// How many of `log`'s iterations the replay of `bench` through `front_end` repeats before the
/// first that differs, each step taking its logged time plus `outside_ms`.
fn replayed_sequence(
    bench: &BenchRun,
    log: &LogObservations,
    outside_ms: f64,
    front_end: FrontEnd,
    config: &EngineConfig,
) -> anyhow::Result<usize> {
    let through = Through {
        engine: config.clone(),
        timer: logged_steps(log, outside_ms),
        front_end,
        detail: Default::default(),
    };
    let mut steps: Vec<StepRecord> = Vec::new();
    replay_sends(&bench.sends(), bench.max_concurrency, through, &mut steps)
        .with_context(|| format!("cannot replay {}", bench.path.display()))?;
    Ok(matching_prefix(&steps, log))
}

/// Iterations of `steps` equal in their counts to `log`'s before the first that differs.
fn matching_prefix(steps: &[StepRecord], log: &LogObservations) -> usize {
    steps
        .iter()
        .zip(&log.iterations)
        .take_while(|(s, o)| IterationLine::from_step(s, "").counts == o.counts)
        .count()
}

/// A step timer giving step `i` the `i`-th logged elapsed time (their mean past the log's end)
/// plus `outside_ms`.
fn logged_steps(log: &LogObservations, outside_ms: f64) -> impl FnMut(&StepBatch<'_>) -> Duration {
    let elapsed: Vec<f64> = log.iterations.iter().map(|o| o.elapsed_ms).collect();
    let fallback = elapsed.iter().sum::<f64>() / elapsed.len().max(1) as f64;
    let next = Rc::new(Cell::new(0usize));
    move |_: &StepBatch<'_>| {
        let i = next.get();
        next.set(i + 1);
        let ms = elapsed.get(i).copied().unwrap_or(fallback) + outside_ms;
        Duration::from_secs_f64(ms.max(0.0) / 1000.0)
    }
}

/// The fitted front end: a constant delay, and a per-prompt-token cost when the data separate
/// it from the constant.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FrontEndFit {
    /// The delay applied to every request, in ms.
    pub(crate) delay_ms: f64,
    /// The tokenization cost applied per prompt token, in ms (0 when not identifiable).
    pub(crate) per_prompt_token_ms: f64,
    /// The spacing of requests handed to the engine, in ms ([`FrontEndFit::fit_serial`]).
    pub(crate) serial_ms: f64,
    /// What the file records about the fit.
    pub(crate) report: Value,
}

/// The median of `v` (the mean of the middle two for an even count).
fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Fits the front end to the per-request delays of every bench result: the constant is the
/// median over bench results of their median; `delay ≈ a + b · prompt tokens` is fitted robustly beside it, and `b` is
/// applied only when the prompts differ in length and `b` exceeds twice its standard error.
pub(crate) fn fit_front_end(per_bench: &[(String, Delays)]) -> Option<FrontEndFit> {
    let all: Vec<(u32, f64)> = per_bench
        .iter()
        .flat_map(|(_, d)| d.requests.iter().copied())
        .collect();
    if all.is_empty() {
        return None;
    }
    // The median of each bench's median: one run (another day, another load) with many
    // requests does not outvote the others.
    let medians: Vec<f64> = per_bench
        .iter()
        .filter_map(|(_, d)| median(d.requests.iter().map(|r| r.1).collect()))
        .collect();
    let median = median(medians).unwrap_or(0.0);
    let lengths: std::collections::BTreeSet<u32> = all.iter().map(|r| r.0).collect();
    let rows: Vec<Vec<f64>> = all.iter().map(|r| vec![1.0, f64::from(r.0)]).collect();
    let y: Vec<f64> = all.iter().map(|r| r.1).collect();
    let token_fit = (lengths.len() > 1)
        .then(|| fit_non_negative_huber(&rows, &y).ok())
        .flatten();
    let (identifiable, per_token, token_json) = match &token_fit {
        Some(f) => {
            let (b, se) = (f.coefficients[1], f.standard_errors[1]);
            let ok = b > 0.0 && b > 2.0 * se;
            (
                ok,
                b,
                json!({"value_ms": b, "standard_error_ms": se, "constant_ms": f.coefficients[0], "identifiable": ok}),
            )
        }
        None => (
            false,
            0.0,
            json!({"identifiable": false, "why": "every request had the same prompt length"}),
        ),
    };
    let (delay_ms, per_prompt_token_ms) = match &token_fit {
        Some(f) if identifiable => (f.coefficients[0], per_token),
        _ => (median, 0.0),
    };
    let benches: Vec<Value> = per_bench
        .iter()
        .map(|(path, d)| {
            let mut v: Vec<f64> = d.requests.iter().map(|r| r.1).collect();
            v.sort_by(f64::total_cmp);
            json!({
                "path": path,
                "requests_used": v.len(),
                "median_ms": v.get(v.len() / 2),
                "min_ms": v.first(),
                "max_ms": v.last(),
                "replayed_with": if d.logged_steps { "the log's own iteration elapsed times" } else { "the fitted step time (no paired log)" },
                "iterations_matching_the_log": d.logged_steps.then_some(d.matched_iterations),
            })
        })
        .collect();
    Some(FrontEndFit {
        delay_ms,
        per_prompt_token_ms,
        serial_ms: 0.0,
        report: json!({
            "delay_ms": delay_ms,
            "per_prompt_token_ms": per_prompt_token_ms,
            "median_of_bench_medians_ms": median,
            "requests": all.len(),
            "tokenization_per_prompt_token": token_json,
            "per_bench": benches,
            "method": "measured TTFT - TTFT of the request replayed at its send offset through the simulated scheduler (with the log's own step times when the bench pairs with its log; then only requests whose first token comes while the replay's iterations equal the log's); the delay is the median over bench results of their median unless a per-prompt-token cost is identifiable (then the fit's constant)",
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    use profilemate_model::roofline::Efficiency;
    use profilemate_model::{Deployment, Dtype, hardware, presets};
    use profilemate_plan::virtual_run::RecordedSend;
    use profilemate_sim::calibrate::Features;
    use profilemate_sim::calibrate::observations::Observation;
    use profilemate_sim::{CudaGraphConfig, roofline_timer};
    use proptest::prelude::*;

    use crate::commands::sim::calibrate::bench::BenchRequest;

    /// A deterministic generator.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    fn config() -> EngineConfig {
        EngineConfig {
            max_num_seqs: 8,
            max_num_batched_tokens: 512,
            block_size: 16,
            num_gpu_blocks: 4096,
            enable_prefix_caching: false,
            max_model_len: 4096,
            cudagraph: CudaGraphConfig::eager(),
            async_scheduling: false,
            ..Default::default()
        }
    }

    /// A deployment with a known outside time and front end, run on `sends`: its bench result
    /// (as the client saw it) and its log (each step's elapsed time, without the outside).
    fn deployment(
        sends: &[RecordedSend],
        outside_ms: f64,
        front_end: FrontEnd,
    ) -> (BenchRun, LogObservations) {
        let elapsed: Rc<RefCell<Vec<f64>>> = Rc::default();
        let logged = elapsed.clone();
        let timer = move |b: &StepBatch<'_>| {
            let ms = 4.0 + 0.3 * f64::from(b.num_scheduled_tokens);
            logged.borrow_mut().push(ms);
            Duration::from_secs_f64((ms + outside_ms) / 1000.0)
        };
        let through = Through {
            engine: config(),
            timer,
            front_end,
            detail: Default::default(),
        };
        let mut steps: Vec<StepRecord> = Vec::new();
        let records = replay_sends(sends, None, through, &mut steps).unwrap();
        let requests = records
            .iter()
            .zip(sends)
            .map(|(r, s)| BenchRequest {
                send_s: s.send_at.as_secs_f64(),
                input: s.prompt_tokens,
                output: s.output_tokens,
                ttft_ms: r.ttft * 1000.0,
                latency_ms: r.latency * 1000.0,
            })
            .collect();
        let bench = BenchRun {
            path: "synthetic.json".into(),
            requests,
            max_concurrency: None,
            unpaced: false,
        };
        let iterations = steps
            .iter()
            .zip(elapsed.borrow().iter())
            .map(|(s, &ms)| {
                let counts = IterationLine::from_step(s, "").counts;
                Observation {
                    index: s.index,
                    counts,
                    features: Features {
                        generation_tokens: f64::from(counts.num_generation_tokens),
                        ..Features::default()
                    },
                    elapsed_ms: ms,
                }
            })
            .collect();
        let log = LogObservations {
            iterations,
            outside: None,
            model: None,
        };
        (bench, log)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        /// From a deployment's log and bench result alone: the outside time comes back within
        /// 0.01 ms, the front-end delay within 10 % + 1 ms, and the replay with the fitted
        /// front end repeats the whole log.
        #[test]
        fn outside_time_and_front_end_are_recovered(
            outside_ms in 0.5f64..4.0,
            delay_ms in 5.0f64..80.0,
            prompt in 50u32..400,
            output in 8u32..40,
            window_s in 0.5f64..6.0,
            seed in any::<u64>(),
        ) {
            let mut draw = Lcg(seed);
            let mut at: Vec<f64> = (0..30).map(|_| draw.next() * window_s).collect();
            at.sort_by(f64::total_cmp);
            let sends: Vec<RecordedSend> = at
                .iter()
                .map(|&t| RecordedSend {
                    send_at: Duration::from_secs_f64(t),
                    prompt_tokens: prompt,
                    output_tokens: output,
                })
                .collect();
            let truth = FrontEnd {
                delay: Duration::from_secs_f64(delay_ms / 1000.0),
                per_prompt_token: Duration::ZERO,
                serial: Duration::from_millis(1),
            };
            let (bench, log) = deployment(&sends, outside_ms, truth);
            let outside = outside_of(&bench, &log);
            prop_assert!((outside - outside_ms).abs() < 0.01, "outside {outside} vs {outside_ms}");
            let spec = presets::spec("tiny-llama").unwrap();
            let gpu = hardware::preset("h100-sxm").unwrap();
            let roofline =
                roofline_timer(&spec, &Deployment::new(Dtype::Bfloat16), gpu, Efficiency::default())
                    .unwrap();
            let model = StepTimeModel { coefficients: [0.0; 6], outside_ms };
            let d = delays(&bench, Some(&log), &model, outside, &config(), &roofline).unwrap();
            let mut fit = fit_front_end(&[("synthetic.json".into(), d)]).unwrap();
            prop_assert!(
                (fit.delay_ms - delay_ms).abs() <= 0.1 * delay_ms + 1.0,
                "delay {} vs {delay_ms}", fit.delay_ms
            );
            fit.fit_serial(&[(&bench, &log)], outside, &config()).unwrap();
            let matched = fit.report["serial_fit"]["per_bench_at_fitted_spacing"][0]["matched"].as_u64();
            prop_assert_eq!(matched, Some(log.iterations.len() as u64));
        }
    }

    fn delays_of(requests: Vec<(u32, f64)>) -> (String, Delays) {
        (
            "b.json".into(),
            Delays {
                requests,
                logged_steps: true,
                matched_iterations: 10,
            },
        )
    }

    #[test]
    fn a_per_token_cost_is_applied_only_when_prompt_lengths_separate_it() {
        // 5 ms + 0.1 ms per token over lengths 100…1000, with ±1 ms noise.
        let rows: Vec<(u32, f64)> = (0..200)
            .map(|i| {
                let len = 100 + (i % 10) * 100;
                let noise = if i % 2 == 0 { 1.0 } else { -1.0 };
                (len, 5.0 + 0.1 * f64::from(len) + noise)
            })
            .collect();
        let fit = fit_front_end(&[delays_of(rows)]).unwrap();
        assert!((fit.per_prompt_token_ms - 0.1).abs() < 0.005, "{fit:?}");
        assert!((fit.delay_ms - 5.0).abs() < 1.0, "{fit:?}");
        // One prompt length: the constant only, the median.
        let same: Vec<(u32, f64)> = (0..9).map(|i| (300, 90.0 + f64::from(i))).collect();
        let fit = fit_front_end(&[delays_of(same.clone())]).unwrap();
        assert_eq!((fit.delay_ms, fit.per_prompt_token_ms), (94.0, 0.0));
        // Three bench results: the median of their medians, however many requests each has.
        let few = |d: f64| delays_of(vec![(300, d), (300, d + 2.0), (300, d - 2.0)]);
        let fit = fit_front_end(&[delays_of(same), few(20.0), few(24.0)]).unwrap();
        assert_eq!(fit.delay_ms, 24.0);
        assert_eq!(
            fit.report["tokenization_per_prompt_token"]["identifiable"],
            false
        );
        assert!(fit_front_end(&[delays_of(Vec::new())]).is_none());
    }
}
