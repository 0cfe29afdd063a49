//! Provides the roofline: per-component and per-step time, MFU, MBU, the ridge point and a
//! compute- or memory-bound verdict, from a cost model's FLOPs and bytes and a [`Gpu`].
//!
//! A component takes `max(FLOPs / achievable FLOP/s, bytes / achievable bandwidth)`; a step
//! takes the sum over components, plus the collectives over the interconnect, plus a fixed
//! overhead ([`Efficiency`]). MFU and MBU are against the datasheet peaks.

mod efficiency;
mod estimator;
mod report;

use std::time::Duration;

pub use efficiency::Efficiency;
pub use estimator::StepTimeEstimator;
pub use report::{Bound, ComponentRoofline, StepRoofline};

use crate::comm::{Collectives, CommVolume};
use crate::components::Metric;
use crate::context::ExecutionContext;
use crate::hardware::Gpu;
use crate::model::{PerfModel, StepTotals};
use crate::pynum::u128_to_f64;

/// Anything that can price one step per GPU, component by component.
pub trait CostModel {
    /// Calls `sink` with each component's name and per-GPU totals for `ctx`, in order.
    fn visit_components(
        &self,
        ctx: &ExecutionContext,
        sink: &mut dyn FnMut(&'static str, StepTotals),
    );
}

impl CostModel for PerfModel {
    fn visit_components(
        &self,
        ctx: &ExecutionContext,
        sink: &mut dyn FnMut(&'static str, StepTotals),
    ) {
        for c in self.components() {
            let totals = StepTotals {
                flops: c.total(Metric::Flops, ctx, true),
                read_bytes: c.total(Metric::ReadBytes, ctx, true),
                write_bytes: c.total(Metric::WriteBytes, ctx, true),
            };
            sink(c.component_type(), totals);
        }
    }
}

/// A GPU, its efficiency factors, the matmul precision and the collectives of a deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Roofline {
    gpu: Gpu,
    efficiency: Efficiency,
    fp8_compute: bool,
    collectives: Option<Collectives>,
}

impl Roofline {
    /// A roofline for `gpu` with BF16 matmuls and no collectives.
    pub fn new(gpu: Gpu, efficiency: Efficiency) -> Self {
        Self {
            gpu,
            efficiency,
            fp8_compute: false,
            collectives: None,
        }
    }

    /// Matmuls run at the FP8 peak (W8A8 checkpoints) where the GPU has one.
    pub fn with_fp8_compute(mut self, fp8: bool) -> Self {
        self.fp8_compute = fp8;
        self
    }

    /// Adds the deployment's TP/EP collectives to every step.
    pub fn with_collectives(mut self, collectives: Collectives) -> Self {
        self.collectives = Some(collectives);
        self
    }

    /// The GPU.
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// The efficiency factors.
    pub fn efficiency(&self) -> &Efficiency {
        &self.efficiency
    }

    /// Peak matmul FLOP/s at the chosen precision.
    pub fn peak_flops(&self) -> f64 {
        self.gpu.peak_flops(self.fp8_compute)
    }

    /// Achievable FLOP/s (peak × compute efficiency).
    pub fn achievable_flops(&self) -> f64 {
        self.peak_flops() * self.efficiency.compute
    }

    /// Achievable bytes/s (peak × memory efficiency).
    pub fn achievable_bandwidth(&self) -> f64 {
        self.gpu.memory_bandwidth * self.efficiency.memory
    }

    /// The ridge point in FLOP/byte: kernels of higher arithmetic intensity are compute-bound.
    pub fn ridge_point(&self) -> f64 {
        self.achievable_flops() / self.achievable_bandwidth()
    }

    /// The roofline of one component's totals.
    pub fn component(&self, name: &'static str, totals: StepTotals) -> ComponentRoofline {
        let bytes = totals.read_bytes.saturating_add(totals.write_bytes);
        ComponentRoofline {
            name,
            flops: totals.flops,
            bytes,
            compute_time: secs(u128_to_f64(totals.flops) / self.achievable_flops()),
            memory_time: secs(u128_to_f64(bytes) / self.achievable_bandwidth()),
        }
    }

    /// Time of the step's collectives (bandwidth plus per-call latency).
    pub fn comm_time(&self, tokens: u64) -> (CommVolume, Duration) {
        let Some(c) = &self.collectives else {
            return (CommVolume::default(), Duration::ZERO);
        };
        let volume = c.volume(tokens);
        let link = self.gpu.interconnect_unidirectional() * self.efficiency.interconnect;
        let transfer = if volume.bytes() > 0.0 && link > 0.0 {
            volume.bytes() / link
        } else {
            0.0
        };
        let latency = self.efficiency.collective_latency.as_secs_f64() * volume.calls;
        (volume, secs(transfer + latency))
    }

    /// The predicted step time, without allocating (for simulators' step timers).
    pub fn step_time(&self, model: &impl CostModel, ctx: &ExecutionContext) -> Duration {
        if ctx.total_num_tokens() == 0 {
            return Duration::ZERO;
        }
        let mut total = self
            .efficiency
            .step_overhead
            .saturating_add(self.comm_time(ctx.total_num_tokens()).1);
        model.visit_components(ctx, &mut |name, totals| {
            total = total.saturating_add(self.component(name, totals).time())
        });
        total
    }

    /// The full per-component and per-step analysis.
    pub fn analyze(&self, model: &impl CostModel, ctx: &ExecutionContext) -> StepRoofline {
        let mut components = Vec::new();
        model.visit_components(ctx, &mut |name, totals| {
            components.push(self.component(name, totals))
        });
        let (comm, comm_time) = self.comm_time(ctx.total_num_tokens());
        StepRoofline {
            components,
            comm,
            comm_time,
            overhead: self.efficiency.step_overhead,
            peak_flops: self.peak_flops(),
            peak_bandwidth: self.gpu.memory_bandwidth,
            ridge_point: self.ridge_point(),
        }
    }
}

/// Whether a checkpoint's quantization method runs its matmuls in FP8 (W8A8): vLLM's FP8
/// methods (`fp8`, `fbgemm_fp8`, `ptpc_fp8`, ModelOpt FP8 and MXFP8).
pub fn uses_fp8_matmuls(quantization: Option<&str>) -> bool {
    matches!(
        quantization,
        Some("fp8" | "fbgemm_fp8" | "ptpc_fp8" | "modelopt" | "modelopt_mxfp8")
    )
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests;
