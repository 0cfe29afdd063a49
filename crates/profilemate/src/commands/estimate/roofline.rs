//! Defines the roofline flags of `estimate` (`--gpu` and the efficiency factors) and renders
//! the roofline of the estimated step.

use std::fmt::Write;
use std::time::Duration;

use clap::Args;
use profilemate_model::comm::Collectives;
use profilemate_model::corrected::{CorrectedModel, WeightWidths};
use profilemate_model::hardware;
use profilemate_model::roofline::{
    CostModel, Efficiency, Roofline, StepRoofline, uses_fp8_matmuls,
};
use profilemate_model::{ExecutionContext, PerfModel};
use serde_json::{Value, json};

use super::args::EstimateArgs;
use crate::commands::deployment_args::Setup;

/// `--gpu` and the named efficiency factors.
#[derive(Debug, Args)]
pub(crate) struct RooflineArgs {
    /// Put the step on this GPU's roofline: time, MFU, MBU, bound-ness (a preset from
    /// `profilemate hardware list`, or a JSON file).
    #[arg(long, value_name = "GPU")]
    pub(crate) gpu: Option<String>,
    /// Achieved / peak FLOP/s.
    #[arg(long, default_value_t = Efficiency::default().compute, requires = "gpu")]
    pub(crate) compute_efficiency: f64,
    /// Achieved / peak memory bandwidth.
    #[arg(long, default_value_t = Efficiency::default().memory, requires = "gpu")]
    pub(crate) memory_efficiency: f64,
    /// Achieved / peak one-direction interconnect bandwidth.
    #[arg(long, default_value_t = Efficiency::default().interconnect, requires = "gpu")]
    pub(crate) interconnect_efficiency: f64,
    /// Fixed time of every step, in microseconds.
    #[arg(long, default_value_t = 500, requires = "gpu", value_name = "US")]
    pub(crate) step_overhead_us: u64,
    /// Also estimate with the corrected model (docs/accuracy.md): per-component totals beside
    /// vLLM's, and the roofline of the corrected figures.
    #[arg(long)]
    pub(crate) corrected: bool,
    /// With --corrected: speculative tokens per step (verify steps are billed as decode).
    #[arg(long, default_value_t = 0, requires = "corrected")]
    pub(crate) num_speculative_tokens: u64,
}

impl RooflineArgs {
    /// The roofline, when `--gpu` is given.
    pub(crate) fn build(&self, setup: &Setup) -> anyhow::Result<Option<Roofline>> {
        let Some(name) = &self.gpu else {
            return Ok(None);
        };
        let efficiency = Efficiency {
            compute: self.compute_efficiency,
            memory: self.memory_efficiency,
            interconnect: self.interconnect_efficiency,
            step_overhead: Duration::from_micros(self.step_overhead_us),
            ..Efficiency::default()
        };
        efficiency.validate()?;
        let roofline = Roofline::new(hardware::resolve(name)?, efficiency)
            .with_fp8_compute(uses_fp8_matmuls(setup.spec.quantization.as_deref()))
            .with_collectives(Collectives::from_spec(&setup.spec, &setup.deployment));
        Ok(Some(roofline))
    }
}

/// The corrected model, when `--corrected` is given.
pub(crate) fn corrected_model(
    args: &EstimateArgs,
    setup: &Setup,
) -> anyhow::Result<Option<CorrectedModel>> {
    if !args.roofline.corrected {
        return Ok(None);
    }
    let d = &setup.deployment;
    let widths = WeightWidths::from_config(&setup.config, &setup.spec, d.dtype);
    if let Some(note) = &widths.note {
        eprintln!("profilemate: note: {note}");
    }
    Ok(Some(CorrectedModel::new(
        &setup.spec,
        d,
        &widths,
        args.roofline.num_speculative_tokens,
    )?))
}

/// Per-GPU totals of both models, component by component: `(name, exact, corrected)`.
pub(crate) fn compare(
    exact: &PerfModel,
    corrected: &CorrectedModel,
    ctx: &ExecutionContext,
) -> Vec<(&'static str, [u128; 3], [u128; 3])> {
    let mut rows: Vec<(&'static str, [u128; 3], [u128; 3])> = Vec::new();
    exact.visit_components(ctx, &mut |name, t| {
        rows.push((name, [t.flops, t.read_bytes, t.write_bytes], [0; 3]))
    });
    corrected.visit_components(ctx, &mut |name, t| {
        let value = [t.flops, t.read_bytes, t.write_bytes];
        match rows.iter_mut().find(|r| r.0 == name) {
            Some(row) => row.2 = value,
            None => rows.push((name, [0; 3], value)),
        }
    });
    rows
}

/// The side-by-side section of the table.
pub(crate) fn compare_table(rows: &[(&'static str, [u128; 3], [u128; 3])]) -> String {
    let mut out = format!(
        "\nCorrected model (per GPU; docs/accuracy.md)\n  {:<12}{:>22}{:>22}{:>22}\n",
        "component", "FLOPs exact→corr", "read B exact→corr", "write B exact→corr"
    );
    for (name, exact, corrected) in rows {
        let cell = |i: usize| format!("{:.3e}→{:.3e}", exact[i] as f64, corrected[i] as f64);
        let _ = writeln!(
            out,
            "  {name:<12}{:>22}{:>22}{:>22}",
            cell(0),
            cell(1),
            cell(2)
        );
    }
    out
}

/// The side-by-side section of the JSON document.
pub(crate) fn compare_json(rows: &[(&'static str, [u128; 3], [u128; 3])]) -> Value {
    let totals = |t: &[u128; 3]| json!({"flops": t[0] as u64, "read_bytes": t[1] as u64, "write_bytes": t[2] as u64});
    Value::Array(rows.iter().map(|(name, e, c)| json!({"component": name, "vllm_exact": totals(e), "corrected": totals(c)})).collect())
}

/// The roofline section of the table.
pub(crate) fn table(roofline: &Roofline, step: &StepRoofline) -> String {
    let g = roofline.gpu();
    let mut out = format!(
        "\nRoofline on {} ({:.1} TFLOP/s, {:.0} GB/s peak; ridge {:.0} FLOP/B achievable)\n",
        g.description,
        step.peak_flops / 1e12,
        step.peak_bandwidth / 1e9,
        step.ridge_point
    );
    let _ = writeln!(
        out,
        "  {:<12}{:>12}{:>12}{:>12}{:>12}  bound",
        "component", "FLOP/B", "compute", "memory", "time"
    );
    for c in &step.components {
        let _ = writeln!(
            out,
            "  {:<12}{:>12.1}{:>12}{:>12}{:>12}  {}",
            c.name,
            c.arithmetic_intensity(),
            ms(c.compute_time),
            ms(c.memory_time),
            ms(c.time()),
            c.bound().name()
        );
    }
    let _ = writeln!(
        out,
        "  {:<12}{:>48}  {:.2} GB sent",
        "collectives",
        ms(step.comm_time),
        step.comm.bytes() / 1e9
    );
    let _ = writeln!(out, "  {:<12}{:>48}", "overhead", ms(step.overhead));
    let _ = writeln!(
        out,
        "  step {} — MFU {:.1} %, MBU {:.1} %, {}-bound (intensity {:.1} FLOP/B)",
        ms(step.time()),
        step.mfu() * 100.0,
        step.mbu() * 100.0,
        step.bound().name(),
        step.arithmetic_intensity()
    );
    out
}

/// The roofline section of the JSON document; times in milliseconds.
pub(crate) fn json(roofline: &Roofline, step: &StepRoofline) -> Value {
    let e = roofline.efficiency();
    json!({
        "gpu": roofline.gpu().name,
        "peak_flops_per_s": step.peak_flops,
        "peak_memory_bandwidth_bytes_per_s": step.peak_bandwidth,
        "ridge_point_flops_per_byte": step.ridge_point,
        "efficiency": {"compute": e.compute, "memory": e.memory, "interconnect": e.interconnect,
            "step_overhead_ms": e.step_overhead.as_secs_f64() * 1e3},
        "components": step.components.iter().map(|c| json!({
            "component": c.name,
            "flops": c.flops as u64,
            "bytes": c.bytes as u64,
            "arithmetic_intensity": c.arithmetic_intensity(),
            "compute_time_ms": c.compute_time.as_secs_f64() * 1e3,
            "memory_time_ms": c.memory_time.as_secs_f64() * 1e3,
            "time_ms": c.time().as_secs_f64() * 1e3,
            "bound": c.bound(),
        })).collect::<Vec<_>>(),
        "comm_bytes": step.comm.bytes(),
        "comm_time_ms": step.comm_time.as_secs_f64() * 1e3,
        "overhead_ms": step.overhead.as_secs_f64() * 1e3,
        "step_time_ms": step.time().as_secs_f64() * 1e3,
        "mfu": step.mfu(),
        "mbu": step.mbu(),
        "bound": step.bound(),
    })
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}
