//! Fits a [`StepTimeModel`]'s coefficients to logged iterations
//! ([`fit_step_time`]): relative error, robust and non-negative ([`super::fit`]).

use super::features::{NUM_FEATURES, StepTimeModel};
use super::fit::{Fit, FitError, fit_non_negative_huber};
use super::observations::Observation;

/// The roofline terms (`prefill_per_roofline_ms`, `decode_per_roofline_ms`): on a small model
/// or a log of equal prompts they can be exact functions of the token counts.
const ROOFLINE_TERMS: [usize; 2] = [1, 3];

/// Fits the step-time coefficients to `obs` (those with a positive time), minimising the
/// relative error: each row and its time are divided by the time, so a 3 ms decode step weighs
/// as much as a 300 ms prefill. When the roofline terms cannot be told apart from the token
/// terms (a [`FitError::Degenerate`] fit), they are fixed at zero and the rest refitted. The
/// fit's `mape` is the model's on `obs`.
pub fn fit_step_time(obs: &[&Observation]) -> Result<Fit, FitError> {
    let obs: Vec<&Observation> = obs.iter().copied().filter(|o| o.elapsed_ms > 0.0).collect();
    let all: Vec<usize> = (0..NUM_FEATURES).collect();
    let mut fit = match fit_columns(&obs, &all) {
        Err(FitError::Degenerate { .. }) => {
            let tokens: Vec<usize> = all
                .iter()
                .copied()
                .filter(|j| !ROOFLINE_TERMS.contains(j))
                .collect();
            fit_columns(&obs, &tokens)?
        }
        other => other?,
    };
    let model = StepTimeModel {
        coefficients: coefficients(&fit),
        outside_ms: 0.0,
    };
    fit.mape = mape(&model, &obs);
    Ok(fit)
}

/// The fit over `columns` only, the others reported as fixed at zero.
fn fit_columns(obs: &[&Observation], columns: &[usize]) -> Result<Fit, FitError> {
    let rows: Vec<Vec<f64>> = obs
        .iter()
        .map(|o| {
            let r = o.features.row();
            columns.iter().map(|&j| r[j] / o.elapsed_ms).collect()
        })
        .collect();
    let sub = fit_non_negative_huber(&rows, &vec![1.0; rows.len()])?;
    let mut fit = Fit {
        coefficients: vec![0.0; NUM_FEATURES],
        standard_errors: vec![0.0; NUM_FEATURES],
        at_zero: vec![true; NUM_FEATURES],
        ..sub.clone()
    };
    for (k, &j) in columns.iter().enumerate() {
        fit.coefficients[j] = sub.coefficients[k];
        fit.standard_errors[j] = sub.standard_errors[k];
        fit.at_zero[j] = sub.at_zero[k];
    }
    Ok(fit)
}

/// The fit's coefficients as a model's.
pub fn coefficients(fit: &Fit) -> [f64; NUM_FEATURES] {
    let mut c = [0.0; NUM_FEATURES];
    for (c, f) in c.iter_mut().zip(&fit.coefficients) {
        *c = *f;
    }
    c
}

/// Mean absolute percentage error of `model`'s elapsed time on `obs` (rows with a positive
/// time).
pub fn mape(model: &StepTimeModel, obs: &[&Observation]) -> f64 {
    let errs: Vec<f64> = obs
        .iter()
        .filter(|o| o.elapsed_ms > 0.0)
        .map(|o| ((model.elapsed_ms(&o.features) - o.elapsed_ms) / o.elapsed_ms).abs())
        .collect();
    errs.iter().sum::<f64>() / errs.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::IterationCounts;
    use crate::calibrate::Features;

    fn obs(prefill_tokens: f64, generation: f64, elapsed_ms: f64) -> Observation {
        Observation {
            index: 0,
            counts: IterationCounts::default(),
            features: Features {
                // Roofline times exactly proportional to the tokens: not separable.
                prefill_roofline_ms: prefill_tokens * 1e-5,
                prefill_tokens,
                decode_roofline_ms: generation * 1e-4,
                generation_tokens: generation,
                decode_context_ktokens: generation * (0.1 + prefill_tokens / 1e4),
            },
            elapsed_ms,
        }
    }

    #[test]
    fn roofline_terms_that_cannot_be_separated_are_fixed_at_zero() {
        let data: Vec<Observation> = (0..60)
            .map(|i| {
                let (p, g) = (f64::from(i % 7) * 50.0, f64::from(1 + i % 5));
                let ctx = g * (0.1 + p / 1e4);
                obs(p, g, 2.0 + 0.5 * p + 1.5 * g + 0.8 * ctx)
            })
            .collect();
        let refs: Vec<&Observation> = data.iter().collect();
        let fit = fit_step_time(&refs).unwrap();
        assert!(fit.at_zero[1] && fit.at_zero[3], "{fit:?}");
        let c = coefficients(&fit);
        for (got, want) in [(c[0], 2.0), (c[2], 0.5), (c[4], 1.5), (c[5], 0.8)] {
            assert!((got - want).abs() < 1e-6, "{c:?}");
        }
        assert!(fit.mape < 1e-9);
    }
}
