//! `profilemate estimate --gpu`: the roofline section of the table and of the JSON.

use assert_cmd::Command;
use serde_json::Value;

mod util;
use util::fails_naming;

fn estimate(args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("profilemate")
        .unwrap()
        .arg("estimate")
        .args(args)
        .assert()
}

/// The entry of a JSON list of components named `name`.
fn component<'a>(list: &'a Value, name: &str) -> &'a Value {
    let found = list
        .as_array()
        .and_then(|l| l.iter().find(|c| c["component"] == name));
    found.unwrap_or_else(|| panic!("no component {name} in {list}"))
}

#[test]
fn json_carries_the_roofline_of_a_compute_bound_prefill() {
    let out = estimate(&[
        "--model",
        "llama-3.1-8b",
        "--prefill",
        "2048",
        "--gpu",
        "a100-80gb",
        "--compute-efficiency",
        "1",
        "--memory-efficiency",
        "1",
        "--step-overhead-us",
        "0",
        "--json",
    ])
    .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let r = &v["roofline"];
    assert_eq!(r["gpu"], "a100-80gb");
    let ffn = component(&r["components"], "ffn");
    // 23,089,744,183,296 FLOPs at 312 TFLOP/s = 74.005 ms, compute-bound.
    assert_eq!(ffn["flops"], 23_089_744_183_296u64);
    assert!(
        (ffn["time_ms"].as_f64().unwrap() - 74.005_590).abs() < 1e-5,
        "{}",
        ffn["time_ms"]
    );
    assert_eq!(
        (ffn["bound"].as_str(), r["bound"].as_str()),
        (Some("compute"), Some("compute"))
    );
    let mfu = r["mfu"].as_f64().unwrap();
    assert!(
        mfu > 0.9 && mfu <= 1.0,
        "ideal-efficiency prefill MFU {mfu}"
    );
}

#[test]
fn table_shows_mfu_mbu_and_the_verdict() {
    let out = estimate(&[
        "--model",
        "llama-3.1-8b",
        "--decode",
        "8@1024",
        "--gpu",
        "h100-sxm",
    ])
    .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.contains("Roofline on NVIDIA H100 SXM5 80GB"), "{text}");
    assert!(
        text.contains("memory-bound") && text.contains("MFU") && text.contains("MBU"),
        "{text}"
    );
}

#[test]
fn bad_efficiency_and_unknown_gpu_are_errors() {
    let decode = ["estimate", "--model", "llama-3.1-8b", "--decode", "1@10"];
    fails_naming(
        &[&decode[..], &["--gpu", "h100", "--memory-efficiency", "2"]].concat(),
        &["memory-efficiency"],
    );
    fails_naming(&[&decode[..], &["--gpu", "tpu-v5"]].concat(), &["tpu-v5"]);
}

#[test]
fn corrected_json_puts_both_models_side_by_side() {
    let out = estimate(&[
        "--model",
        "llama-3.1-8b",
        "--prefill",
        "4096",
        "--corrected",
        "--json",
    ])
    .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let attn = component(&v["corrected"], "attn");
    let (exact, corrected) = (
        attn["vllm_exact"]["flops"].as_u64().unwrap(),
        attn["corrected"]["flops"].as_u64().unwrap(),
    );
    // Causal halving removes 4,396,972,769,280 of the QKᵀ + AV FLOPs.
    assert_eq!(exact - corrected, 4_396_972_769_280);
    // The vLLM-exact section is unchanged.
    assert_eq!(v["per_gpu"]["total_flops"], v["whole_model"]["total_flops"]);
}
