//! Defines the roofline flags of `estimate` (`--gpu` and the efficiency factors) and renders
//! the roofline of the estimated step.

use std::fmt::Write;
use std::time::Duration;

use clap::Args;
use profilemate_model::comm::Collectives;
use profilemate_model::hardware;
use profilemate_model::roofline::{Efficiency, Roofline, StepRoofline, uses_fp8_matmuls};
use serde_json::{Value, json};

use super::args::Setup;

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
