//! Provides speculative-decoding settings, draft acceptance sampling and vLLM's counters.
//!
//! The drafter is modelled, not run: each draft token is accepted with a fixed probability,
//! independently, until the first rejection (the usual i.i.d. acceptance model). The counters
//! are those of `SpecDecodingStats` in vllm/v1/spec_decode/metrics.py, vLLM 0.32.

use rand::Rng;

use crate::error::EngineConfigError;

/// `--speculative-config`, reduced to what shapes scheduling and the counters.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecDecodeConfig {
    /// `num_speculative_tokens`: draft tokens proposed per decode step.
    pub num_speculative_tokens: u32,
    /// Probability that one draft token is accepted, given all earlier ones were.
    pub acceptance_probability: f64,
    /// Extra KV slots allocated ahead of each step (`num_lookahead_tokens`: the draft
    /// length for EAGLE-style drafters with their own KV cache, 0 for n-gram).
    pub num_lookahead_tokens: u32,
}

impl SpecDecodeConfig {
    pub(crate) fn validate(&self) -> Result<(), EngineConfigError> {
        if self.num_speculative_tokens == 0 {
            return Err(EngineConfigError::ZeroDraftTokens);
        }
        let p = self.acceptance_probability;
        if !(0.0..=1.0).contains(&p) {
            return Err(EngineConfigError::AcceptanceOutOfRange(p));
        }
        Ok(())
    }

    /// Draws how many of `num_drafts` draft tokens the target model accepts.
    pub(crate) fn sample_accepted(&self, num_drafts: u32, rng: &mut impl Rng) -> u32 {
        let p = self.acceptance_probability;
        (0..num_drafts).take_while(|_| rng.random_bool(p)).count() as u32
    }
}

/// Speculative-decoding counters for one step (or summed over many).
///
/// Mirrors `SpecDecodingStats` (vllm/v1/spec_decode/metrics.py, vLLM 0.32): one draft per
/// request that verified drafts this step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecDecodeStats {
    /// Requests that verified drafts (`num_drafts`).
    pub num_drafts: u64,
    /// Draft tokens verified (`num_draft_tokens`).
    pub num_draft_tokens: u64,
    /// Draft tokens accepted (`num_accepted_tokens`).
    pub num_accepted_tokens: u64,
    /// Acceptances by draft position (`num_accepted_tokens_per_pos`).
    pub num_accepted_tokens_per_pos: Vec<u64>,
}

impl SpecDecodeStats {
    pub(crate) fn new(num_spec_tokens: u32) -> Self {
        let per_pos = vec![0; num_spec_tokens as usize];
        SpecDecodeStats {
            num_accepted_tokens_per_pos: per_pos,
            ..Default::default()
        }
    }

    /// Counts one request's verification, as `SpecDecodingStats.observe_draft` does.
    pub(crate) fn observe(&mut self, num_draft_tokens: u32, num_accepted: u32) {
        self.num_drafts += 1;
        self.num_draft_tokens += u64::from(num_draft_tokens);
        self.num_accepted_tokens += u64::from(num_accepted);
        for pos in self
            .num_accepted_tokens_per_pos
            .iter_mut()
            .take(num_accepted as usize)
        {
            *pos += 1;
        }
    }

    /// Adds another step's counters into these.
    pub fn accumulate(&mut self, other: &SpecDecodeStats) {
        self.num_drafts += other.num_drafts;
        self.num_draft_tokens += other.num_draft_tokens;
        self.num_accepted_tokens += other.num_accepted_tokens;
        let per_pos = &mut self.num_accepted_tokens_per_pos;
        if per_pos.len() < other.num_accepted_tokens_per_pos.len() {
            per_pos.resize(other.num_accepted_tokens_per_pos.len(), 0);
        }
        for (mine, theirs) in per_pos.iter_mut().zip(&other.num_accepted_tokens_per_pos) {
            *mine += theirs;
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn config(p: f64) -> SpecDecodeConfig {
        SpecDecodeConfig {
            num_speculative_tokens: 3,
            acceptance_probability: p,
            num_lookahead_tokens: 0,
        }
    }

    #[test]
    fn certain_acceptance_accepts_all_and_zero_accepts_none() {
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(config(1.0).sample_accepted(3, &mut rng), 3);
        assert_eq!(config(0.0).sample_accepted(3, &mut rng), 0);
    }

    #[test]
    fn observe_counts_per_position() {
        let mut stats = SpecDecodeStats::new(3);
        stats.observe(3, 2);
        stats.observe(3, 0);
        assert_eq!(stats.num_drafts, 2);
        assert_eq!(stats.num_draft_tokens, 6);
        assert_eq!(stats.num_accepted_tokens, 2);
        assert_eq!(stats.num_accepted_tokens_per_pos, vec![1, 1, 0]);
    }

    #[test]
    fn out_of_range_acceptance_is_rejected() {
        assert_eq!(
            config(1.5).validate(),
            Err(EngineConfigError::AcceptanceOutOfRange(1.5))
        );
    }
}
