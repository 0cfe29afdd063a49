//! Renders an estimate: a readable table for people, JSON with exact integers for machines.

use std::fmt::Write;

use profilemate_model::limits;
use profilemate_model::{Breakdown, ExecutionContext, Metric, ModelError, PerfModel};
use serde_json::{Value, json};

use crate::commands::deployment_args::Setup;

/// One step's breakdowns, per GPU and for the whole model.
pub(crate) struct Estimate<'a> {
    setup: &'a Setup,
    model: &'a PerfModel,
    ctx: &'a ExecutionContext,
    per_gpu: [Breakdown; 3],
    whole: [Breakdown; 3],
}

const TITLES: [(&str, &str, &str); 3] = [
    ("FLOPs", "flops", "FLOP"),
    ("Read bytes", "read_bytes", "B"),
    ("Write bytes", "write_bytes", "B"),
];

impl<'a> Estimate<'a> {
    /// Computes the breakdowns; fails when a total is beyond 2^64 (the JSON and the table
    /// print integers up to it).
    pub(crate) fn compute(
        setup: &'a Setup,
        model: &'a PerfModel,
        ctx: &'a ExecutionContext,
    ) -> Result<Self, ModelError> {
        let estimate = Self {
            setup,
            model,
            ctx,
            per_gpu: Metric::ALL.map(|m| model.breakdown(m, ctx, true)),
            whole: Metric::ALL.map(|m| model.breakdown(m, ctx, false)),
        };
        for set in [&estimate.per_gpu, &estimate.whole] {
            for (breakdown, (_, key, _)) in set.iter().zip(TITLES) {
                limits::fits_u64(key, breakdown.total())?;
            }
        }
        Ok(estimate)
    }

    /// The human table.
    pub(crate) fn to_table(&self) -> String {
        let mut out = String::new();
        self.write_header(&mut out);
        for (i, (title, _, unit)) in TITLES.iter().enumerate() {
            let _ = writeln!(out, "\n{title:<34}{:>16}{:>16}", "per GPU", "whole model");
            // Whole-model keys are a superset: per-GPU floor divisions (`L // pp`) can drop a term.
            for (key, whole) in self.whole[i].iter() {
                let per_gpu = self.per_gpu[i]
                    .get(key)
                    .map_or_else(|| "-".to_owned(), |v| si(v, unit));
                let _ = writeln!(out, "  {key:<32}{per_gpu:>16}{:>16}", si(whole, unit));
            }
            let _ = writeln!(
                out,
                "  {:<32}{:>16}{:>16}",
                "total",
                si(self.per_gpu[i].total(), unit),
                si(self.whole[i].total(), unit)
            );
        }
        out
    }

    fn write_header(&self, out: &mut String) {
        let d = &self.setup.deployment;
        let c = self.ctx;
        let _ = writeln!(
            out,
            "model       {} ({})",
            self.setup.label,
            self.setup.spec.model_type.as_deref().unwrap_or("?")
        );
        let _ = writeln!(
            out,
            "deployment  dtype {}, kv-cache {}, {} ({} GPUs)",
            d.dtype,
            d.kv_cache_dtype,
            d.parallel.label(),
            d.parallel.world_size()
        );
        if let Some(q) = &self.setup.spec.quantization {
            let _ = writeln!(out, "quantization {q}");
        }
        let _ = writeln!(
            out,
            "batch       {} prefill ({} tokens), {} decode ({} tokens); {} tokens in all",
            c.num_prefill_requests,
            c.prefill_num_tokens,
            c.num_decode_requests,
            c.decode_num_tokens,
            c.total_num_tokens()
        );
        let components: Vec<_> = self.model.component_types().collect();
        let _ = writeln!(
            out,
            "components  {} (vLLM 0.32-exact)",
            components.join(", ")
        );
        for skipped in self.model.skipped() {
            if !skipped.reason.contains("MLA") {
                let _ = writeln!(out, "skipped     {skipped}  (as vLLM does: not counted)");
            }
        }
    }

    /// The JSON document.
    pub(crate) fn to_json(&self) -> Value {
        let d = &self.setup.deployment;
        let section = |set: &[Breakdown; 3]| {
            let mut map = serde_json::Map::new();
            for (i, (_, key, _)) in TITLES.iter().enumerate() {
                map.insert(
                    (*key).to_owned(),
                    serde_json::to_value(&set[i]).unwrap_or(Value::Null),
                );
                map.insert(format!("total_{key}"), json!(set[i].total()));
            }
            Value::Object(map)
        };
        json!({
            "model": self.setup.label,
            "model_type": self.setup.spec.model_type,
            "quantization": self.setup.spec.quantization,
            "dtype": d.dtype.name(),
            "kv_cache_dtype": d.kv_cache_dtype.name(),
            "parallel": {"tp": d.parallel.tp, "pp": d.parallel.pp, "dp": d.parallel.dp, "ep": d.parallel.enable_ep},
            "batch": self.ctx.requests.iter().map(|r| json!([r.num_tokens, r.context_len, r.is_prefill])).collect::<Vec<_>>(),
            "components": self.model.component_types().collect::<Vec<_>>(),
            "skipped": self.model.skipped().iter().map(|s| json!({"component": s.component, "reason": s.reason})).collect::<Vec<_>>(),
            "per_gpu": section(&self.per_gpu),
            "whole_model": section(&self.whole),
        })
    }
}

/// `value` with an SI prefix, e.g. `30.79 TFLOP`, `16.06 GB`.
fn si(value: u128, unit: &str) -> String {
    const PREFIXES: [(f64, &str); 5] =
        [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")];
    let v = value as f64;
    match PREFIXES.iter().find(|(scale, _)| v >= *scale) {
        Some((scale, prefix)) => format!("{:.2} {prefix}{unit}", v / scale),
        None => format!("{value} {unit}"),
    }
}

#[cfg(test)]
mod tests {
    use super::si;

    #[test]
    fn si_prefixes() {
        assert_eq!(si(30_787_376_250_880, "FLOP"), "30.79 TFLOP");
        assert_eq!(si(999, "B"), "999 B");
        assert_eq!(si(16_060_000_000, "B"), "16.06 GB");
    }
}
