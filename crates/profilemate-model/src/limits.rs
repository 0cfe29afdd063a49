//! Provides the ranges that sizes from outside (a `config.json`, a batch, `--max-model-len`)
//! must fall in before the model multiplies them, so its `u128` products and `u64` byte counts
//! cannot overflow, and a config that no model has (no layers, no heads) is refused by name.
//!
//! The bounds are far above any model vLLM serves (the widest hidden size is ~25k, the largest
//! vocabulary ~262k, the most experts 384, contexts ~10M tokens) and far below where the
//! arithmetic would wrap: tokens × context × hidden × layers stays under 2^96.

use crate::context::ExecutionContext;
use crate::error::ModelError;
use crate::field::Field;
use crate::hf_config::HfConfig;
use crate::spec::ModelSpec;

/// The largest width a model dimension may have (hidden, intermediate, head, vocabulary, MLA
/// ranks): 2^20.
pub const MAX_DIMENSION: i64 = 1 << 20;

/// The largest count of layers, heads or experts: 2^16.
pub const MAX_COUNT: i64 = 1 << 16;

/// The most tokens a step may schedule, and the longest context a request may have: 2^32.
pub const MAX_TOKENS: u64 = 1 << 32;

/// The most requests a step may schedule: 2^20.
pub const MAX_REQUESTS: u64 = 1 << 20;

impl ModelSpec {
    /// Checks every size the model multiplies, naming the first one out of range. Fields
    /// that are absent or null are left to the components (vLLM skips those).
    pub fn check_limits(&self) -> Result<(), ModelError> {
        let mla = &self.mla;
        let ffn = &self.ffn;
        let dimensions = [
            ("hidden_size", &self.hidden_size),
            ("vocab_size", &self.vocab_size),
            ("head_dim", &self.head_dim),
            ("intermediate_size", &ffn.intermediate_size),
            ("moe_intermediate_size", &ffn.moe_intermediate_size),
            ("kv_lora_rank", &mla.kv_lora_rank),
            ("qk_nope_head_dim", &mla.qk_nope_head_dim),
            ("qk_rope_head_dim", &mla.qk_rope_head_dim),
            ("v_head_dim", &mla.v_head_dim),
        ];
        // Negative widths are left to the components, which name them as vLLM's checks do.
        for (name, field) in dimensions {
            in_range(name, field, i64::MIN, MAX_DIMENSION)?;
        }
        if let Some(rank) = &mla.q_lora_rank {
            in_range("q_lora_rank", rank, i64::MIN, MAX_DIMENSION)?;
        }
        let counts = [
            ("num_hidden_layers", &self.num_hidden_layers, 1),
            ("num_attention_heads", &self.num_attention_heads, 1),
            ("num_key_value_heads", &self.num_key_value_heads, i64::MIN),
            ("num_experts", &ffn.num_experts, i64::MIN),
            ("num_experts_per_tok", &ffn.num_experts_per_tok, i64::MIN),
            ("num_shared_experts", &ffn.num_shared_experts, i64::MIN),
            ("num_moe_layers", &ffn.num_moe_layers, i64::MIN),
        ];
        for (name, field, min) in counts {
            in_range(name, field, min, MAX_COUNT)?;
        }
        if let Some(window) = self.sliding_window
            && !(0..=MAX_TOKENS as i64).contains(&window)
        {
            return Err(out_of_range("sliding_window", window, 0, MAX_TOKENS as i64));
        }
        Ok(())
    }

    /// [`ModelSpec::from_config`], then [`ModelSpec::check_limits`] and the checks that need
    /// the raw config: without `head_dim`, the heads must divide `hidden_size` (transformers
    /// refuses such a model when it builds it).
    pub fn try_from_config(config: &HfConfig) -> Result<Self, ModelError> {
        // Per-layer fields are expanded to one entry per layer: refuse a layer count beyond
        // the limits before expanding it (36 million layers took seconds and gigabytes).
        if let Some(layers) = config
            .text()
            .get("num_hidden_layers")
            .and_then(|v| v.as_i64())
            && layers > MAX_COUNT
        {
            return Err(out_of_range("num_hidden_layers", layers, 1, MAX_COUNT));
        }
        let spec = Self::from_config(config);
        spec.check_limits()?;
        let explicit_head_dim = config.text().get("head_dim").is_some_and(|v| !v.is_null());
        if !spec.is_mla
            && !explicit_head_dim
            && let (Ok(hidden), Ok(heads)) = (&spec.hidden_size, &spec.num_attention_heads)
            && *heads > 0
            && hidden % heads != 0
        {
            return Err(ModelError::InvalidConfig {
                field: "num_attention_heads".to_owned(),
                reason: format!(
                    "is {heads}, which does not divide hidden_size {hidden} (and there is no \
                     head_dim): fix the config"
                ),
            });
        }
        Ok(spec)
    }
}

/// Checks a batch: at most [`MAX_REQUESTS`] requests and [`MAX_TOKENS`] tokens in the step,
/// each context at most [`MAX_TOKENS`].
pub fn check_batch(ctx: &ExecutionContext) -> Result<(), ModelError> {
    if ctx.requests.len() as u64 > MAX_REQUESTS {
        return Err(ModelError::BeyondLimits {
            what: format!("the step's {} requests", ctx.requests.len()),
            reason: format!("are more than any step schedules (at most {MAX_REQUESTS})"),
        });
    }
    let mut tokens = 0u64;
    for r in &ctx.requests {
        if r.context_len > MAX_TOKENS {
            return Err(ModelError::BeyondLimits {
                what: format!("a context length of {}", r.context_len),
                reason: format!("is more than any model holds (at most {MAX_TOKENS} tokens)"),
            });
        }
        tokens = tokens.saturating_add(r.num_tokens);
    }
    if tokens > MAX_TOKENS {
        return Err(ModelError::BeyondLimits {
            what: format!("the step's {tokens} tokens"),
            reason: format!("are more than any step schedules (at most {MAX_TOKENS})"),
        });
    }
    Ok(())
}

/// `value` as a `u64`, or an error saying that `what` (`flops`, …) is beyond 2^64: the batch or
/// the model is outside anything a GPU runs.
pub fn fits_u64(what: &str, value: u128) -> Result<u64, ModelError> {
    u64::try_from(value).map_err(|_| ModelError::BeyondLimits {
        what: format!("the step's {what} total {value}"),
        reason: "is beyond 2^64: the batch or the model is larger than anything a GPU runs; \
                 check the token counts and the config"
            .to_owned(),
    })
}

fn in_range(name: &str, field: &Field, min: i64, max: i64) -> Result<(), ModelError> {
    match field {
        Ok(v) if !(min..=max).contains(v) => Err(out_of_range(name, *v, min, max)),
        _ => Ok(()),
    }
}

fn out_of_range(name: &str, value: i64, min: i64, max: i64) -> ModelError {
    let range = if min == i64::MIN {
        format!("at most {max}")
    } else {
        format!("{min} to {max}")
    };
    ModelError::InvalidConfig {
        field: name.to_owned(),
        reason: format!("is {value}, outside what a model can have ({range}): fix the config"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets;

    fn config_with(key: &str, value: serde_json::Value) -> HfConfig {
        let mut map = presets::config("llama-3.1-8b").unwrap().root().clone();
        map.insert(key.to_owned(), value);
        HfConfig::from_map(map).unwrap()
    }

    fn refusal(key: &str, value: serde_json::Value) -> String {
        ModelSpec::try_from_config(&config_with(key, value))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn real_models_pass() {
        for name in presets::names() {
            let config = presets::config(name).unwrap();
            ModelSpec::try_from_config(&config).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn a_huge_hidden_size_is_refused_by_name() {
        let message = refusal("hidden_size", serde_json::json!(1e18));
        assert!(
            message.contains("`hidden_size` is 1000000000000000000"),
            "{message}"
        );
    }

    #[test]
    fn zero_layers_or_heads_are_refused() {
        assert!(refusal("num_hidden_layers", 0.into()).contains("`num_hidden_layers` is 0"));
        assert!(refusal("num_attention_heads", 0.into()).contains("`num_attention_heads` is 0"));
        assert!(refusal("num_key_value_heads", 1e9.into()).contains("(at most 65536)"));
    }

    /// Found by the `model_config` fuzz target: 36 million layers were expanded per layer
    /// (seconds, gigabytes) before the count was checked.
    #[test]
    fn a_huge_layer_count_is_refused_before_it_is_expanded() {
        // Qwen3's class defaults expand `layer_types` from the layer count.
        let mut config = presets::config("qwen3-8b").unwrap().root().clone();
        config.remove("layer_types");
        config.insert("num_hidden_layers".to_owned(), 36_151_936.into());
        config.insert("max_window_layers".to_owned(), 36.into());
        config.insert("use_sliding_window".to_owned(), true.into());
        config.insert("sliding_window".to_owned(), 4096.into());
        let config = HfConfig::from_map(config).unwrap();
        assert!(
            config.text().get("layer_types").is_none(),
            "expanded per layer"
        );
        let message = ModelSpec::try_from_config(&config).unwrap_err().to_string();
        assert!(
            message.contains("`num_hidden_layers` is 36151936"),
            "{message}"
        );
        assert!(message.contains("1 to 65536"), "{message}");
    }

    #[test]
    fn heads_that_do_not_divide_the_hidden_size_are_refused_without_head_dim() {
        let message = refusal("num_attention_heads", 33.into());
        assert!(
            message.contains("does not divide hidden_size 4096"),
            "{message}"
        );
        // With an explicit head_dim (Gemma's 8 × 256 ≠ 2304) the split is the config's own.
        let mut config = config_with("num_attention_heads", 33.into()).root().clone();
        config.insert("head_dim".to_owned(), 128.into());
        config.insert("num_key_value_heads".to_owned(), 1.into());
        ModelSpec::try_from_config(&HfConfig::from_map(config).unwrap()).unwrap();
    }

    #[test]
    fn batches_beyond_the_token_limit_are_refused() {
        let mut ctx = ExecutionContext::new();
        ctx.add(MAX_TOKENS, MAX_TOKENS, true);
        check_batch(&ctx).unwrap();
        ctx.add(1, 1, true);
        assert!(
            check_batch(&ctx)
                .unwrap_err()
                .to_string()
                .contains("the step's 4294967297 tokens")
        );
        let mut ctx = ExecutionContext::new();
        ctx.add(1, u64::MAX, false);
        assert!(
            check_batch(&ctx)
                .unwrap_err()
                .to_string()
                .contains("a context length of")
        );
    }
}
