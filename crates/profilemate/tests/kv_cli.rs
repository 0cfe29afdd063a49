//! `profilemate kv` and `profilemate hardware list` as a user runs them.

use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::Value;

mod util;
use util::fails_naming;

const LLAMA2_7B: &str = r#"{"model_type": "llama", "hidden_size": 4096,
    "num_attention_heads": 32, "num_key_value_heads": 32, "num_hidden_layers": 32,
    "intermediate_size": 11008, "vocab_size": 32000, "torch_dtype": "float16",
    "max_position_embeddings": 4096}"#;

fn llama2_config() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("profilemate-kv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.json");
    std::fs::write(&path, LLAMA2_7B).unwrap();
    path
}

fn kv_json(args: &[&str]) -> Value {
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .arg("kv")
        .args(args)
        .arg("--json")
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

#[test]
fn kv_json_on_the_guides_llama2_7b_example() {
    let config = llama2_config();
    let v = kv_json(&[
        "--config",
        config.to_str().unwrap(),
        "--gpu",
        "a100-80gb",
        "--max-model-len",
        "4096",
        "--max-num-seqs",
        "256",
    ]);
    // 2 × 32 × 128 × 2 B × 32 layers = 512 KiB per token; 4096 × 256 tokens = 512 GiB.
    assert_eq!(v["kv_cache_bytes_per_token"], 524_288);
    assert_eq!(v["kv_cache_bytes"], 549_755_813_888u64);
    let row = v["table"].as_array().unwrap().last().unwrap();
    assert_eq!(row["max_model_len"], 4096);
    assert_eq!(row["decode_kv_read_bytes_per_request"], 2u64 << 30);
}

#[test]
fn kv_json_for_mla_and_sliding_window_presets() {
    let v = kv_json(&["--model", "deepseek-v2-lite", "--max-model-len", "8192"]);
    assert_eq!(
        (
            v["attention"].as_str(),
            v["kv_cache_bytes_per_token"].as_u64()
        ),
        (Some("MLA"), Some(31_104))
    );
    let v = kv_json(&[
        "--model",
        "gpt-oss-20b",
        "--max-model-len",
        "8192",
        "--max-num-seqs",
        "1",
    ]);
    // 12 full layers × 8192 + 12 sliding layers × 128 tokens, 2,048 B each.
    assert_eq!(v["kv_cache_bytes"], 12 * 8192 * 2048 + 12 * 128 * 2048);
}

#[test]
fn kv_rejects_bad_settings_and_unknown_gpus() {
    fails_naming(
        &["kv", "--model", "llama-3.1-8b", "--gpu", "v100"],
        &["no GPU preset named `v100`"],
    );
    fails_naming(
        &[
            "kv",
            "--model",
            "llama-3.1-8b",
            "--gpu-memory-utilization",
            "1.5",
        ],
        &["gpu-memory-utilization"],
    );
}

#[test]
fn hardware_list_shows_every_preset() {
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args(["hardware", "list", "--json"])
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "a100-40gb",
            "a100-80gb",
            "h100-sxm",
            "h100-pcie",
            "h100-nvl",
            "h200",
            "h200-nvl",
            "h20",
            "b200",
            "gb200",
            "b300",
            "l40s",
            "l4",
            "a10",
            "a10g",
            "rtx-pro-6000",
            "mi300x",
            "mi325x",
            "mi355x"
        ]
    );
}
