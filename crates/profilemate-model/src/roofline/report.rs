//! Defines the roofline results: [`ComponentRoofline`], [`StepRoofline`] and [`Bound`].

use std::time::Duration;

use serde::Serialize;

use crate::comm::CommVolume;

/// What limits a component or a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// FLOPs take longer than the bytes.
    Compute,
    /// Bytes take longer than the FLOPs.
    Memory,
    /// Collectives take the largest share of the step.
    Interconnect,
    /// The fixed per-step overhead takes the largest share of the step.
    Overhead,
}

impl Bound {
    /// `compute`, `memory`, `interconnect`, `overhead`.
    pub fn name(self) -> &'static str {
        match self {
            Bound::Compute => "compute",
            Bound::Memory => "memory",
            Bound::Interconnect => "interconnect",
            Bound::Overhead => "overhead",
        }
    }
}

/// One component on the roofline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ComponentRoofline {
    /// Component name (`attn`, `ffn`, …).
    pub name: &'static str,
    /// FLOPs per GPU.
    pub flops: u128,
    /// Bytes read and written per GPU.
    pub bytes: u128,
    /// FLOPs at the achievable FLOP/s.
    pub compute_time: Duration,
    /// Bytes at the achievable bandwidth.
    pub memory_time: Duration,
}

impl ComponentRoofline {
    /// `max(compute_time, memory_time)`.
    pub fn time(&self) -> Duration {
        self.compute_time.max(self.memory_time)
    }

    /// Compute-bound when the FLOPs take at least as long as the bytes.
    pub fn bound(&self) -> Bound {
        if self.compute_time >= self.memory_time {
            Bound::Compute
        } else {
            Bound::Memory
        }
    }

    /// FLOPs per byte (∞ with no bytes).
    pub fn arithmetic_intensity(&self) -> f64 {
        self.flops as f64 / self.bytes as f64
    }
}

/// One step on the roofline.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRoofline {
    /// Each component, in the cost model's order.
    pub components: Vec<ComponentRoofline>,
    /// Collective bytes per GPU.
    pub comm: CommVolume,
    /// Time of the collectives.
    pub comm_time: Duration,
    /// Fixed per-step overhead.
    pub overhead: Duration,
    /// Peak FLOP/s MFU is measured against.
    pub peak_flops: f64,
    /// Peak bandwidth MBU is measured against.
    pub peak_bandwidth: f64,
    /// The achievable ridge point, FLOP/byte.
    pub ridge_point: f64,
}

impl StepRoofline {
    /// Σ component times + collectives + overhead.
    pub fn time(&self) -> Duration {
        self.component_time()
            .saturating_add(self.comm_time)
            .saturating_add(self.overhead)
    }

    /// Σ component times (saturating at [`Duration::MAX`], as each time does).
    pub fn component_time(&self) -> Duration {
        saturating_sum(self.components.iter().map(ComponentRoofline::time))
    }

    /// FLOPs per GPU.
    pub fn flops(&self) -> u128 {
        self.components.iter().map(|c| c.flops).sum()
    }

    /// Device-memory bytes per GPU.
    pub fn bytes(&self) -> u128 {
        self.components.iter().map(|c| c.bytes).sum()
    }

    /// Model FLOPs utilisation: FLOPs / (step time × peak FLOP/s).
    pub fn mfu(&self) -> f64 {
        ratio(
            self.flops() as f64,
            self.time().as_secs_f64() * self.peak_flops,
        )
    }

    /// Memory-bandwidth utilisation: bytes / (step time × peak bandwidth).
    pub fn mbu(&self) -> f64 {
        ratio(
            self.bytes() as f64,
            self.time().as_secs_f64() * self.peak_bandwidth,
        )
    }

    /// The step's arithmetic intensity, FLOP/byte.
    pub fn arithmetic_intensity(&self) -> f64 {
        ratio(self.flops() as f64, self.bytes() as f64)
    }

    /// What takes the largest share of the step: compute-bound components, memory-bound
    /// components, collectives or the fixed overhead.
    pub fn bound(&self) -> Bound {
        let share = |b: Bound| -> Duration {
            saturating_sum(
                self.components
                    .iter()
                    .filter(|c| c.bound() == b)
                    .map(ComponentRoofline::time),
            )
        };
        [
            (Bound::Compute, share(Bound::Compute)),
            (Bound::Memory, share(Bound::Memory)),
            (Bound::Interconnect, self.comm_time),
            (Bound::Overhead, self.overhead),
        ]
        .into_iter()
        .max_by_key(|(_, t)| *t)
        .map_or(Bound::Memory, |(b, _)| b)
    }
}

fn ratio(num: f64, den: f64) -> f64 {
    if den > 0.0 { num / den } else { 0.0 }
}

/// Σ durations, saturating at [`Duration::MAX`] (a step time beyond it is already "never").
fn saturating_sum(times: impl Iterator<Item = Duration>) -> Duration {
    times.fold(Duration::ZERO, Duration::saturating_add)
}
