//! Provides [`CorrectedFfn`]: dense FFN and shared experts sharded over TP only, routed
//! experts with fractional expected load under EP, and the expected number of distinct
//! experts a batch touches under random routing.
//!
//! vLLM 0.32 shards a dense MLP over the TP group, shared experts likewise, and routed experts
//! over `dp × tp` (tensor-sharded without EP, whole experts with EP), with tokens gathered from
//! every DP rank (DP ranks are assumed equally loaded here). A batch of `T` tokens choosing
//! `E` of `N` experts uniformly touches `N · (1 − (1 − E/N)^T)` distinct experts in
//! expectation, each read once (model-anchors.md §5 #2, #3, #7).

use crate::components::FfnMetrics;
use crate::context::ExecutionContext;
use crate::model::StepTotals;
use crate::parallel::ParallelConfig;

/// The FFN, corrected.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrectedFfn {
    /// vLLM's validated fields.
    pub exact: FfnMetrics,
    /// The layout (vLLM's fields fold it into `ffn_tp_size` / `ffn_ep_size`).
    pub parallel: ParallelConfig,
    /// Bytes per dense-FFN / shared-expert weight.
    pub dense_width: f64,
    /// Bytes per routed-expert weight.
    pub expert_width: f64,
    /// The dense layers' MLP width when the config gives one apart from `intermediate_size`
    /// (Llama 4's `intermediate_size_mlp`; vLLM bills the dense layers at `intermediate_size`).
    pub dense_intermediate_size: Option<u64>,
}

/// One SwiGLU part: `width` intermediate columns on this GPU, `rows` tokens through it,
/// `matrices` distinct weight sets read, over `layers` layers.
struct Part {
    width: f64,
    rows: f64,
    matrices: f64,
    weight: f64,
    layers: f64,
}

impl CorrectedFfn {
    /// Per-GPU totals of one step.
    pub fn totals(&self, ctx: &ExecutionContext) -> StepTotals {
        let t = ctx.total_num_tokens() as f64;
        let parts = [self.dense(t), self.shared(t), self.routed(t)];
        let (d, a) = (
            self.exact.hidden_size as f64,
            self.exact.activation_byte_size as f64,
        );
        let sum = |f: &dyn Fn(&Part) -> f64| -> u128 {
            parts.iter().flatten().map(|p| f(p) * p.layers).sum::<f64>() as u128
        };
        StepTotals {
            flops: sum(&|p| 6.0 * d * p.width * p.rows),
            read_bytes: sum(&|p| {
                p.rows * d * a
                    + 3.0 * d * p.width * p.matrices * p.weight
                    + 3.0 * p.rows * p.width * a
            }),
            write_bytes: sum(&|p| 3.0 * p.rows * p.width * a + p.rows * d * a),
        }
    }

    fn layers(&self, n: u64) -> f64 {
        n as f64 / self.exact.pp_size as f64
    }

    /// The dense MLP of the non-MoE layers, sharded over TP.
    fn dense(&self, t: f64) -> Option<Part> {
        let m = &self.exact;
        self.tp_sharded(
            t,
            self.dense_intermediate_size.unwrap_or(m.intermediate_size),
            m.num_hidden_layers - m.num_moe_layers,
        )
    }

    /// The shared experts of the MoE layers, one MLP of `S × MI` columns sharded over TP.
    fn shared(&self, t: f64) -> Option<Part> {
        let m = &self.exact;
        self.tp_sharded(
            t,
            m.num_shared_experts * m.moe_intermediate_size,
            m.num_moe_layers,
        )
    }

    fn tp_sharded(&self, t: f64, columns: u64, layers: u64) -> Option<Part> {
        let (width, layers) = (
            columns as f64 / self.parallel.tp as f64,
            self.layers(layers),
        );
        (layers > 0.0 && width > 0.0).then_some(Part {
            width,
            rows: t,
            matrices: 1.0,
            weight: self.dense_width,
            layers,
        })
    }

    fn routed(&self, t: f64) -> Option<Part> {
        let m = &self.exact;
        let layers = self.layers(m.num_moe_layers);
        if layers == 0.0 || m.num_experts_per_tok == 0 {
            return None;
        }
        let p = &self.parallel;
        let ranks = (p.dp * p.tp) as f64;
        let global_tokens = t * p.dp as f64;
        let (n, e) = (m.num_experts as f64, m.num_experts_per_tok as f64);
        let touched = n * expected_touched_share(global_tokens, e, n);
        let (width, rows, matrices) = if p.enable_ep {
            (
                m.moe_intermediate_size as f64,
                global_tokens * e / ranks,
                touched / ranks,
            )
        } else {
            (
                m.moe_intermediate_size as f64 / ranks,
                global_tokens * e,
                touched,
            )
        };
        Some(Part {
            width,
            rows,
            matrices,
            weight: self.expert_width,
            layers,
        })
    }
}

/// `1 − (1 − E/N)^T`: the share of experts at least one of `T` tokens routes to.
pub fn expected_touched_share(tokens: f64, experts_per_token: f64, experts: f64) -> f64 {
    if experts <= 0.0 || tokens <= 0.0 {
        return 0.0;
    }
    1.0 - (1.0 - (experts_per_token / experts).min(1.0)).powf(tokens)
}
