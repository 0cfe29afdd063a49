//! Provides [`LoraBodies`]: `--lora-modules` / `--lora-assignment`, one body template per LoRA
//! module and the module each request of the timed run is sent as.
//!
//! Mirrors `benchmark()` in vllm/benchmarks/serve.py, vLLM 0.32: the n-th dispatched request's
//! `model` is `lora_modules[n % len]` with `round-robin`, else a random choice per request
//! (`random.choice`; here a `StdRng` seeded with `--seed`, so a run is repeatable but not the
//! same draw as Python's). The ready check, warmups and probes keep the model.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::payload::BodyTemplate;
use crate::config::{BenchConfig, LoraAssignment};

/// The LoRA modules' body templates and the per-request choice.
#[derive(Debug, Clone)]
pub(crate) struct LoraBodies {
    bodies: Vec<BodyTemplate>,
    /// The module index of each dispatched request, by dispatch position.
    picks: Vec<usize>,
}

impl LoraBodies {
    /// `None` without `--lora-modules`.
    pub(crate) fn new(config: &BenchConfig) -> Option<Self> {
        let n = config.endpoint.lora_modules.len();
        if n == 0 {
            return None;
        }
        let bodies = config
            .endpoint
            .lora_modules
            .iter()
            .map(|m| BodyTemplate::for_model(config, m))
            .collect();
        let picks = match config.endpoint.lora_assignment {
            LoraAssignment::RoundRobin => (0..config.workload.num_prompts).map(|i| i % n).collect(),
            LoraAssignment::Random => {
                let mut rng = StdRng::seed_from_u64(config.workload.seed);
                (0..config.workload.num_prompts)
                    .map(|_| rng.random_range(0..n))
                    .collect()
            }
        };
        Some(Self { bodies, picks })
    }

    /// The body template of the request dispatched `pos`-th.
    pub(crate) fn body(&self, pos: usize) -> &BodyTemplate {
        let pick = self
            .picks
            .get(pos)
            .copied()
            .unwrap_or(pos % self.bodies.len());
        &self.bodies[pick]
    }
}
