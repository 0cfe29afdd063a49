//! Provides [`PerfModel`]: the model-level totals and prefixed breakdowns over its components.
//!
//! Mirrors `ModelMetrics` in `vllm/v1/metrics/perf.py` (vLLM 0.32).

use std::time::Instant;

use crate::breakdown::Breakdown;
use crate::components::{ComponentMetrics, Deployment, Metric, build_components};
use crate::context::ExecutionContext;
use crate::error::{InvalidComponent, ModelError};
use crate::spec::ModelSpec;
use crate::step::{DebugPerfStats, PerfStats, StepInput};

/// FLOPs, read bytes and write bytes of one step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepTotals {
    /// Floating-point operations.
    pub flops: u128,
    /// Bytes read.
    pub read_bytes: u128,
    /// Bytes written.
    pub write_bytes: u128,
}

/// The vLLM-exact analytic model of one deployment: the components vLLM would build, and why it
/// would skip the others.
#[derive(Debug, Clone, PartialEq)]
pub struct PerfModel {
    components: Vec<ComponentMetrics>,
    skipped: Vec<InvalidComponent>,
}

impl PerfModel {
    /// Builds the components vLLM 0.32 would instantiate for `spec` run as `deployment`. A
    /// layout vLLM refuses (attention heads not divisible by TP,
    /// [`crate::ParallelConfig::verify_for`]) is an error, and so is a model with no buildable
    /// component, naming every reason.
    pub fn vllm_exact(spec: &ModelSpec, deployment: &Deployment) -> Result<Self, ModelError> {
        spec.check_limits()?;
        deployment.parallel.verify_for(spec)?;
        let model = Self::vllm_exact_lenient(spec, deployment);
        if model.components.is_empty() {
            return Err(ModelError::NoComponents {
                skipped: model.skipped,
            });
        }
        Ok(model)
    }

    /// Like [`PerfModel::vllm_exact`], but a model with no component is returned empty (vLLM's
    /// `is_enabled()` is then false), as the golden cases need. The deployment is first
    /// resolved as vLLM resolves it ([`Deployment::resolved_for`]).
    pub fn vllm_exact_lenient(spec: &ModelSpec, deployment: &Deployment) -> Self {
        let (components, skipped) = build_components(spec, &deployment.resolved_for(spec));
        Self {
            components,
            skipped,
        }
    }

    /// The components, in vLLM's registry order.
    pub fn components(&self) -> &[ComponentMetrics] {
        &self.components
    }

    /// The components vLLM would skip, with the reason for each.
    pub fn skipped(&self) -> &[InvalidComponent] {
        &self.skipped
    }

    /// Component type names, in order (`attn`, `mla_attn`, `ffn`, `unembed`).
    pub fn component_types(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.components.iter().map(ComponentMetrics::component_type)
    }

    /// Σ over components of `metric` (no allocation).
    pub fn total(&self, metric: Metric, ctx: &ExecutionContext, per_gpu: bool) -> u128 {
        self.components
            .iter()
            .map(|c| c.total(metric, ctx, per_gpu))
            .sum()
    }

    /// All three totals (no allocation).
    pub fn totals(&self, ctx: &ExecutionContext, per_gpu: bool) -> StepTotals {
        StepTotals {
            flops: self.total(Metric::Flops, ctx, per_gpu),
            read_bytes: self.total(Metric::ReadBytes, ctx, per_gpu),
            write_bytes: self.total(Metric::WriteBytes, ctx, per_gpu),
        }
    }

    /// The breakdown of `metric` with keys `"{component}.{term}"`.
    pub fn breakdown(&self, metric: Metric, ctx: &ExecutionContext, per_gpu: bool) -> Breakdown {
        let mut out = Breakdown::new();
        for component in &self.components {
            let prefix = component.component_type();
            component.terms(
                metric,
                ctx,
                per_gpu,
                &mut |key: &'static str, value: u128| {
                    out.insert(&format!("{prefix}.{key}"), value);
                },
            );
        }
        out
    }

    /// The per-GPU stats of one scheduler step (`get_step_perf_stats_per_gpu`). `ctx` is reused
    /// scratch space; with `debug` false nothing is allocated once it is warm.
    pub fn step_perf_stats(
        &self,
        step: &StepInput<'_>,
        ctx: &mut ExecutionContext,
        debug: bool,
    ) -> PerfStats {
        let started = Instant::now();
        step.fill_context(ctx);
        if !debug {
            let totals = self.totals(ctx, true);
            return PerfStats {
                num_flops_per_gpu: totals.flops,
                num_read_bytes_per_gpu: totals.read_bytes,
                num_write_bytes_per_gpu: totals.write_bytes,
                debug_stats: None,
            };
        }
        let [flops, read, write] = Metric::ALL.map(|m| self.breakdown(m, ctx, true));
        let mut context = ctx.clone();
        context.requests = Vec::new();
        PerfStats {
            num_flops_per_gpu: flops.total(),
            num_read_bytes_per_gpu: read.total(),
            num_write_bytes_per_gpu: write.total(),
            debug_stats: Some(DebugPerfStats {
                calc_duration: started.elapsed(),
                num_prefill_requests: ctx.num_prefill_requests,
                num_decode_requests: ctx.num_decode_requests,
                context,
                flops_breakdown: flops,
                read_bytes_breakdown: read,
                write_bytes_breakdown: write,
            }),
        }
    }
}
