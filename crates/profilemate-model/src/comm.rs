//! Provides [`Collectives`]: the bytes each GPU sends in a step's tensor-parallel all-reduces
//! and expert-parallel all-to-alls, which vLLM's model does not count.
//!
//! Ring all-reduce of `S` bytes over `n` GPUs sends `2(n−1)/n · S` per GPU; every transformer
//! layer all-reduces twice under TP (after the attention output projection and after the FFN
//! down projection) a `T × D` activation. An EP all-to-all dispatches each token's hidden state
//! to its `E` experts and combines the results back: `2 · T·E · D · a · (ep−1)/ep` per GPU.

use crate::components::Deployment;
use crate::spec::ModelSpec;

/// The communication shape of one deployment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Collectives {
    /// Hidden size (D).
    pub hidden_size: u64,
    /// Bytes per activation element.
    pub activation_bytes: u64,
    /// Layers on one pipeline stage (`L / pp`).
    pub layers_per_stage: f64,
    /// MoE layers on one pipeline stage.
    pub moe_layers_per_stage: f64,
    /// Tensor-parallel size.
    pub tp: u64,
    /// Expert-parallel size (`dp × tp` with `--enable-expert-parallel`, else 1).
    pub ep: u64,
    /// Experts per token (E).
    pub experts_per_token: u64,
}

/// Bytes and calls of one step's collectives, per GPU.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CommVolume {
    /// Bytes each GPU sends in TP all-reduces.
    pub tp_all_reduce_bytes: f64,
    /// Bytes each GPU sends in EP all-to-alls.
    pub ep_all_to_all_bytes: f64,
    /// Collective calls (each pays a fixed latency).
    pub calls: f64,
}

impl CommVolume {
    /// All bytes sent.
    pub fn bytes(&self) -> f64 {
        self.tp_all_reduce_bytes + self.ep_all_to_all_bytes
    }
}

impl Collectives {
    /// Reads the shape from the model and its deployment.
    pub fn from_spec(spec: &ModelSpec, deployment: &Deployment) -> Self {
        let field = |f: &crate::field::Field| f.clone().unwrap_or(0).max(0) as u64;
        let p = &deployment.parallel;
        let pp = p.pp as f64;
        Self {
            hidden_size: field(&spec.hidden_size),
            activation_bytes: deployment.activation_byte_size(),
            layers_per_stage: field(&spec.num_hidden_layers) as f64 / pp,
            moe_layers_per_stage: field(&spec.ffn.num_moe_layers) as f64 / pp,
            tp: p.tp,
            ep: if p.enable_ep { p.dp * p.tp } else { 1 },
            experts_per_token: field(&spec.ffn.num_experts_per_tok),
        }
    }

    /// The volume of a step of `tokens` tokens on this GPU.
    pub fn volume(&self, tokens: u64) -> CommVolume {
        let activation = (tokens * self.hidden_size * self.activation_bytes) as f64;
        let mut volume = CommVolume::default();
        if self.tp > 1 {
            let n = self.tp as f64;
            let per_call = 2.0 * (n - 1.0) / n * activation;
            volume.tp_all_reduce_bytes = 2.0 * self.layers_per_stage * per_call;
            volume.calls += 2.0 * self.layers_per_stage;
        }
        if self.ep > 1 && self.moe_layers_per_stage > 0.0 {
            let n = self.ep as f64;
            let routed = activation * self.experts_per_token as f64;
            volume.ep_all_to_all_bytes = 2.0 * (n - 1.0) / n * routed * self.moe_layers_per_stage;
            volume.calls += 2.0 * self.moe_layers_per_stage;
        }
        volume
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::Dtype;
    use crate::parallel::ParallelConfig;
    use crate::presets;

    #[test]
    fn tp_all_reduce_of_llama_70b_tp8() {
        let spec = presets::spec("llama-3.1-70b").unwrap();
        let mut deployment = Deployment::new(Dtype::Bfloat16);
        deployment.parallel = ParallelConfig::new(8, 1, 1, false).unwrap();
        let c = Collectives::from_spec(&spec, &deployment);
        // 64 decode tokens: 64 × 8192 × 2 B = 1 MiB per all-reduce; ring 2·7/8 → 1.75 MiB;
        // 2 per layer × 80 layers = 160 calls → 280 MiB.
        let v = c.volume(64);
        assert_eq!(v.tp_all_reduce_bytes, 280.0 * 1048576.0);
        assert_eq!((v.calls, v.ep_all_to_all_bytes), (160.0, 0.0));
        assert_eq!(Collectives { tp: 1, ..c }.volume(64).bytes(), 0.0);
    }
}
