//! Sizes from outside that would overflow the model's arithmetic (issue 13, "Arithmetic that
//! overflows"): each is refused with one line naming it and exit 2, never a panic (101), an
//! abort, a hang or a silently wrong number.

use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::Value;

mod util;
use util::fails_naming;

/// A copy of a real config with `key` set to `value`, in its own temp directory.
fn config_with(name: &str, key: &str, value: Value) -> PathBuf {
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/goldens/perf/configs/Llama-3.1-8B/config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(base).unwrap()).unwrap();
    config[key] = value;
    let dir = std::env::temp_dir().join(format!(
        "profilemate-overflow-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    dir
}

#[test]
fn estimate_with_a_gpu_refuses_a_hidden_size_of_1e18() {
    let dir = config_with("hidden", "hidden_size", 1e18.into());
    let dir = dir.to_str().unwrap();
    for extra in [&["--gpu", "h100-sxm"][..], &["--json"], &[]] {
        let args = [&["estimate", "--config", dir, "--decode", "1@128"], extra].concat();
        fails_naming(
            &args,
            &["`hidden_size` is 1000000000000000000", "fix the config"],
        );
    }
}

#[test]
fn estimate_refuses_a_prefill_of_u64_max_by_flag() {
    fails_naming(
        &["estimate", "--prefill", "18446744073709551615"],
        &["--prefill `18446744073709551615`", "at most 4294967296"],
    );
    fails_naming(
        &["estimate", "--decode", "2000000@10"],
        &["--decode", "at most 1048576"],
    );
}

#[test]
fn estimate_json_refuses_totals_beyond_u64_instead_of_panicking() {
    fails_naming(
        &["estimate", "--prefill", "4294967296", "--json"],
        &["the step's flops total", "beyond 2^64"],
    );
}

#[test]
fn estimate_table_totals_are_never_smaller_than_their_parts() {
    // The largest batch admitted: every printed total is at least each of its terms.
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args(["estimate", "--prefill", "1000000", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    for section in ["per_gpu", "whole_model"] {
        for key in ["flops", "read_bytes", "write_bytes"] {
            let total = doc[section][format!("total_{key}")].as_u64().unwrap();
            let terms = doc[section][key].as_object().unwrap();
            let sum: u64 = terms.values().map(|v| v.as_u64().unwrap()).sum();
            assert_eq!(total, sum, "{section}.{key}");
        }
    }
}

#[test]
fn kv_refuses_a_max_model_len_of_u64_max_instead_of_allocating() {
    fails_naming(
        &[
            "kv",
            "--gpu",
            "h100-sxm",
            "--max-model-len",
            "18446744073709551615",
        ],
        &["--max-model-len", "between 1 and 4294967296"],
    );
}

#[test]
fn kv_refuses_a_huge_config_instead_of_printing_zero_bytes() {
    let dir = config_with("kvhuge", "num_key_value_heads", 1e15.into());
    fails_naming(
        &["kv", "--config", dir.to_str().unwrap(), "--gpu", "h100-sxm"],
        &["`num_key_value_heads` is 1000000000000000"],
    );
}

#[test]
fn zero_layers_or_heads_and_heads_that_do_not_divide_are_refused() {
    for (key, value, needle) in [
        ("num_hidden_layers", 0, "`num_hidden_layers` is 0"),
        ("num_attention_heads", 0, "`num_attention_heads` is 0"),
        (
            "num_attention_heads",
            33,
            "does not divide hidden_size 4096",
        ),
    ] {
        let dir = config_with(&format!("{key}-{value}"), key, value.into());
        fails_naming(
            &[
                "estimate",
                "--config",
                dir.to_str().unwrap(),
                "--prefill",
                "8",
            ],
            &[needle],
        );
    }
}

#[test]
fn a_case_whose_batch_overflows_gets_an_error_line_not_null() {
    let dir =
        std::env::temp_dir().join(format!("profilemate-overflow-{}-cases", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = dir.join("cases.jsonl");
    let line = r#"{"id":"huge","model":"Llama-3.1-8B","dtype":"bfloat16","kv_cache_dtype":"auto","parallel":{"tp":1,"pp":1,"dp":1,"ep":false},"batch":[[18446744073709551615,18446744073709551615,true]],"per_gpu":true}"#;
    std::fs::write(&cases, format!("{line}\n")).unwrap();
    let configs =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/goldens/perf/configs");
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .arg("estimate")
        .arg("--cases")
        .arg(&cases)
        .arg("--configs-dir")
        .arg(configs)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the case failed, the run did not"
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["id"], "huge");
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains("a context length of 18446744073709551615"),
        "{error}"
    );
}
