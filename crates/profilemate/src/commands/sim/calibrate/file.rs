//! The calibration file: what `sim calibrate` writes and `sim run`/`sim serve`/`sim sweep
//! --calibration` read back ([`Calibration`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use profilemate_model::ModelSpec;
use profilemate_plan::virtual_run::FrontEnd;
use profilemate_sim::calibrate::features::{FEATURE_NAMES, NUM_FEATURES, StepTimeModel};
use serde_json::{Value, json};

/// The `timing_model` a calibration file names.
pub(crate) const TIMING_MODEL: &str = "calibrated-roofline-v2";

/// How the fitted step time reads, written beside the coefficients.
pub(crate) const STEP_TIME_FORMULA: &str = "elapsed_ms = fixed_ms + prefill_per_roofline_ms * prefill roofline ms + ms_per_prefill_token * prefill tokens + decode_per_roofline_ms * decode roofline ms (context 1) + ms_per_generation_token * generation tokens + ms_per_1k_context_tokens * decode context / 1000; step = elapsed + outside_ms";

/// A stable fingerprint of the model architecture, so a calibration is not applied to another.
pub(crate) fn spec_fingerprint(spec: &ModelSpec) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("{spec:?}").bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// A calibration read back for `sim run`/`sim serve`/`sim sweep`.
#[derive(Debug, Clone)]
pub(crate) struct Calibration {
    /// The fitted step-time model.
    pub(crate) model: StepTimeModel,
    /// The fitted front end (none when the calibration had no bench result).
    pub(crate) front_end: FrontEnd,
    /// The GPU whose roofline it was fitted on.
    pub(crate) gpu: String,
    /// The model's fingerprint.
    pub(crate) fingerprint: String,
    /// The file.
    pub(crate) path: PathBuf,
}

impl Calibration {
    /// Reads `path`, a `sim calibrate` output.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read --calibration {}: {e}", path.display()))?;
        let bad = || {
            anyhow::anyhow!(
                "--calibration {} is not a `profilemate sim calibrate` output of this version: make it with `profilemate sim calibrate LOG -o {}`",
                path.display(),
                path.display()
            )
        };
        let v: Value = serde_json::from_str(&text).map_err(|_| bad())?;
        if v["timing_model"] != TIMING_MODEL {
            return Err(bad());
        }
        let mut coefficients = [0.0; NUM_FEATURES];
        for (j, n) in FEATURE_NAMES.iter().enumerate() {
            coefficients[j] = v["coefficients"][n]["value"].as_f64().ok_or_else(bad)?;
        }
        let outside_ms = v["outside_ms"]["value"].as_f64().unwrap_or(0.0);
        let ms = |x: &Value| Duration::from_secs_f64(x.as_f64().unwrap_or(0.0).max(0.0) / 1000.0);
        let front_end = FrontEnd {
            delay: ms(&v["front_end"]["delay_ms"]),
            per_prompt_token: ms(&v["front_end"]["per_prompt_token_ms"]),
            serial: ms(&v["front_end"]["serial_ms"]),
        };
        Ok(Calibration {
            model: StepTimeModel {
                coefficients,
                outside_ms,
            },
            front_end,
            gpu: v["gpu"].as_str().ok_or_else(bad)?.to_owned(),
            fingerprint: v["model_fingerprint"].as_str().ok_or_else(bad)?.to_owned(),
            path: path.to_owned(),
        })
    }

    /// Refuses a calibration fitted for another model or GPU.
    pub(crate) fn check(&self, spec: &ModelSpec, gpu: &str) -> anyhow::Result<()> {
        if self.gpu != gpu {
            bail!(
                "--calibration {} was fitted on the {} roofline: pass --gpu {}",
                self.path.display(),
                self.gpu,
                self.gpu
            );
        }
        if self.fingerprint != spec_fingerprint(spec) {
            bail!(
                "--calibration {} was fitted for another model: pass the --model/--config it was calibrated with",
                self.path.display()
            );
        }
        Ok(())
    }

    /// What a virtual run's result records about its timing (`virtual_timing`).
    pub(crate) fn timing_json(&self) -> Value {
        let coefficients: serde_json::Map<String, Value> = FEATURE_NAMES
            .iter()
            .zip(self.model.coefficients)
            .map(|(n, c)| ((*n).to_owned(), json!(c)))
            .collect();
        json!({
            "timing_model": TIMING_MODEL,
            "calibration": self.path.display().to_string(),
            "step_time": STEP_TIME_FORMULA,
            "coefficients": coefficients,
            "outside_ms": self.model.outside_ms,
            "front_end": front_end_json(&self.front_end),
        })
    }
}

/// A front end as the result files spell it.
pub(crate) fn front_end_json(f: &FrontEnd) -> Value {
    if f.is_none() {
        return json!({"model": "none: requests reach the engine when sent"});
    }
    json!({
        "model": "constant delay (+ per prompt token) from the client's send to the engine's arrival, requests handed to the engine one at a time at least serial_ms apart",
        "delay_ms": f.delay.as_secs_f64() * 1000.0,
        "per_prompt_token_ms": f.per_prompt_token.as_secs_f64() * 1000.0,
        "serial_ms": f.serial.as_secs_f64() * 1000.0,
    })
}
