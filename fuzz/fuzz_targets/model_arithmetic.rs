//! The model's arithmetic at the edges: a real config with its size fields replaced by
//! arbitrary integers, and an arbitrary batch (what `--prefill`/`--decode` and a config with
//! `hidden_size: 1e18` reach).
#![no_main]

use libfuzzer_sys::fuzz_target;
use profilemate_fuzz::{FuzzRequest, exercise_config};

const BASE: &str = include_str!("../../testdata/goldens/perf/configs/Qwen3-30B-A3B/config.json");

#[derive(Debug, arbitrary::Arbitrary)]
struct Input {
    fields: Vec<(u8, u64)>,
    batch: Vec<FuzzRequest>,
    fp8_kv: bool,
}

const FIELDS: [&str; 12] = [
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "intermediate_size",
    "moe_intermediate_size",
    "num_experts",
    "num_experts_per_tok",
    "vocab_size",
    "sliding_window",
    "max_position_embeddings",
];

fuzz_target!(|input: Input| {
    let mut config: serde_json::Value = serde_json::from_str(BASE).expect("the base config");
    for (field, value) in input.fields.iter().take(8) {
        config[FIELDS[usize::from(*field) % FIELDS.len()]] = (*value).into();
    }
    exercise_config(&config.to_string(), &input.batch, input.fp8_kv);
});
