//! Prices one iteration's prefill and decode parts on the roofline ([`Features`]) and holds the
//! fitted [`StepTimeModel`] that turns them into a step time.

use std::time::Duration;

use profilemate_model::roofline::{CostModel, StepTimeEstimator};
use profilemate_model::{StepInput, StepRequest};

use crate::batch::StepBatch;

/// The regression's features, in order: the names written to a calibration file.
pub const FEATURE_NAMES: [&str; 6] = [
    "fixed_ms",
    "prefill_per_roofline_ms",
    "ms_per_prefill_token",
    "decode_per_roofline_ms",
    "ms_per_generation_token",
    "ms_per_1k_context_tokens",
];

/// How many coefficients a [`StepTimeModel`] has.
pub const NUM_FEATURES: usize = FEATURE_NAMES.len();

/// What one iteration is made of, priced on the roofline (without its fixed step overhead).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Features {
    /// Roofline time of the context (prefill) requests alone, in ms.
    pub prefill_roofline_ms: f64,
    /// Tokens scheduled for context requests (a per-token cost the roofline may not shape
    /// right: on a CPU a prefill is compute-bound at any size, while the GPU roofline of a small
    /// chunk is dominated by its weight reads).
    pub prefill_tokens: f64,
    /// Roofline time of the generation (decode) requests alone, each at context 1 (weights and
    /// activations, no attention over the KV cache), in ms.
    pub decode_roofline_ms: f64,
    /// Tokens scheduled for generation requests (per-request work the roofline does not see:
    /// input preparation, sampling, detokenization).
    pub generation_tokens: f64,
    /// Σ over generation requests of the context they attend to, in thousands of tokens.
    pub decode_context_ktokens: f64,
}

impl Features {
    /// The regression row, in [`FEATURE_NAMES`] order.
    pub fn row(&self) -> [f64; NUM_FEATURES] {
        [
            1.0,
            self.prefill_roofline_ms,
            self.prefill_tokens,
            self.decode_roofline_ms,
            self.generation_tokens,
            self.decode_context_ktokens,
        ]
    }

    /// Prices `prefill` (context requests, as vLLM's `scheduled_new_reqs`) and `decode`
    /// (generation requests: scheduled tokens each, computed tokens their context) on `clock`.
    /// The clock's fixed step overhead is taken out: the fit has its own fixed cost.
    pub fn price<M: CostModel>(
        clock: &mut StepTimeEstimator<M>,
        prefill: &[StepRequest],
        decode: &[StepRequest],
        scratch: &mut Vec<StepRequest>,
    ) -> Self {
        // The roofline adds its fixed step overhead to every non-empty step: the fit has its own.
        let empty = ms(clock.roofline().efficiency().step_overhead);
        let prefill_ms = if prefill.is_empty() {
            0.0
        } else {
            let step = StepInput {
                new_requests: prefill,
                cached_requests: &[],
            };
            (ms(clock.step_time(&step, 0)) - empty).max(0.0)
        };
        scratch.clear();
        scratch.extend(decode.iter().map(|r| StepRequest {
            num_computed_tokens: 0,
            num_scheduled_tokens: r.num_scheduled_tokens,
        }));
        let decode_ms = if decode.is_empty() {
            0.0
        } else {
            let step = StepInput {
                new_requests: &[],
                cached_requests: scratch,
            };
            (ms(clock.step_time(&step, 0)) - empty).max(0.0)
        };
        let context: u64 = decode
            .iter()
            .map(|r| r.num_computed_tokens + r.num_scheduled_tokens)
            .sum();
        Features {
            prefill_roofline_ms: prefill_ms,
            prefill_tokens: prefill.iter().map(|r| r.num_scheduled_tokens).sum::<u64>() as f64,
            decode_roofline_ms: decode_ms,
            generation_tokens: decode.iter().map(|r| r.num_scheduled_tokens).sum::<u64>() as f64,
            decode_context_ktokens: context as f64 / 1000.0,
        }
    }

    /// The features of a simulated step: its context entries as prefill, the rest as decode,
    /// with their exact contexts.
    pub fn of_batch<M: CostModel>(
        clock: &mut StepTimeEstimator<M>,
        batch: &StepBatch<'_>,
        scratch: &mut [Vec<StepRequest>; 3],
    ) -> Self {
        let [prefill, decode, tmp] = scratch;
        prefill.clear();
        decode.clear();
        for e in batch.entries {
            let r = StepRequest {
                num_computed_tokens: u64::from(e.num_computed_tokens),
                num_scheduled_tokens: u64::from(e.num_scheduled_tokens),
            };
            if e.is_context {
                prefill.push(r);
            } else {
                decode.push(r);
            }
        }
        Self::price(clock, prefill, decode, tmp)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A fitted step-time model: `elapsed = fixed + a·prefill roofline + p·prefill tokens +
/// b·decode roofline + c·generation tokens + d·context`, plus the time each step spends outside
/// vLLM's `iteration elapsed time` (scheduling, output processing).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepTimeModel {
    /// The coefficients, in [`FEATURE_NAMES`] order.
    pub coefficients: [f64; NUM_FEATURES],
    /// Time between one iteration's end and the next one's start while requests run, in ms.
    pub outside_ms: f64,
}

impl StepTimeModel {
    /// Predicted `iteration elapsed time` of an iteration, in ms.
    pub fn elapsed_ms(&self, f: &Features) -> f64 {
        let row = f.row();
        self.coefficients.iter().zip(&row).map(|(c, x)| c * x).sum()
    }

    /// The engine step time: the predicted elapsed time plus the time outside it.
    pub fn step_time(&self, f: &Features) -> Duration {
        let total = (self.elapsed_ms(f) + self.outside_ms).max(0.0);
        Duration::from_secs_f64(total / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use profilemate_model::roofline::{Efficiency, Roofline};
    use profilemate_model::{Deployment, Dtype, PerfModel, hardware, presets};

    use super::*;

    fn clock() -> StepTimeEstimator<PerfModel> {
        let spec = presets::spec("llama-3.1-8b").unwrap();
        let model = PerfModel::vllm_exact(&spec, &Deployment::new(Dtype::Bfloat16)).unwrap();
        let gpu = hardware::preset("h100-sxm").unwrap();
        StepTimeEstimator::new(model, Roofline::new(gpu, Efficiency::default()))
    }

    fn req(computed: u64, scheduled: u64) -> StepRequest {
        StepRequest {
            num_computed_tokens: computed,
            num_scheduled_tokens: scheduled,
        }
    }

    #[test]
    fn prices_parts_apart_without_the_fixed_overhead() {
        let mut c = clock();
        let mut tmp = Vec::new();
        let none = Features::price(&mut c, &[], &[], &mut tmp);
        assert_eq!(none, Features::default());
        let long = Features::price(&mut c, &[req(0, 2048)], &[], &mut tmp);
        let short = Features::price(&mut c, &[req(0, 128)], &[], &mut tmp);
        assert!(long.prefill_roofline_ms > 4.0 * short.prefill_roofline_ms);
        assert_eq!(long.decode_roofline_ms, 0.0);
        assert_eq!(long.prefill_tokens, 2048.0);
        let d = Features::price(&mut c, &[], &[req(999, 1), req(499, 1)], &mut tmp);
        assert_eq!(d.decode_context_ktokens, 1.5);
        assert_eq!(d.generation_tokens, 2.0);
        assert!(d.decode_roofline_ms > 0.0 && d.prefill_roofline_ms == 0.0);
    }

    #[test]
    fn the_model_adds_its_terms_and_the_outside_time() {
        let m = StepTimeModel {
            coefficients: [2.0, 3.0, 0.5, 4.0, 0.25, 0.5],
            outside_ms: 1.0,
        };
        let f = Features {
            prefill_roofline_ms: 1.0,
            prefill_tokens: 4.0,
            decode_roofline_ms: 0.5,
            generation_tokens: 4.0,
            decode_context_ktokens: 2.0,
        };
        assert_eq!(m.elapsed_ms(&f), 2.0 + 3.0 + 2.0 + 2.0 + 1.0 + 1.0);
        assert_eq!(m.step_time(&f), Duration::from_millis(12));
    }
}
