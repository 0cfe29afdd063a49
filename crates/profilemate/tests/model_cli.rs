//! `--model` as vLLM users spell it, the one default model, and the errors of a model that
//! does not fit or a `--config` directory without a config.json.

use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::Value;

mod util;
use util::{fails_naming, success_stdout};

/// A small config to put in a fake Hugging Face cache: profilemate's tiny test model.
const TINY_CONFIG: &str = include_str!("../../profilemate-model/presets/tiny-llama.json");

fn profilemate() -> Command {
    Command::cargo_bin("profilemate").unwrap()
}

fn kv_json(args: &[&str]) -> Value {
    let out = profilemate()
        .arg("kv")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    serde_json::from_str(&success_stdout(&out)).unwrap()
}

/// `kv --json` without the `model` label, which echoes the spelling.
fn kv_figures(args: &[&str]) -> Value {
    let mut v = kv_json(args);
    v.as_object_mut().unwrap().remove("model");
    v
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pm-model-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn hugging_face_ids_and_loose_spellings_give_the_presets_numbers() {
    let preset = kv_figures(&["--model", "llama-3.1-8b"]);
    for spelling in [
        "meta-llama/Llama-3.1-8B",
        "meta-llama/Llama-3.1-8B-Instruct",
        "Llama-3.1-8B",
        "llama3.1-8b",
    ] {
        assert_eq!(kv_figures(&["--model", spelling]), preset, "{spelling}");
    }
    assert_eq!(
        kv_json(&["--model", "meta-llama/Llama-3.1-8B"])["model"],
        "meta-llama/Llama-3.1-8B",
        "the label is the name as typed"
    );
    let qwen = kv_figures(&["--model", "qwen3-30b-a3b"]);
    assert_eq!(kv_figures(&["--model", "Qwen/Qwen3-30B-A3B"]), qwen);
}

#[test]
fn estimate_takes_a_hugging_face_id() {
    let run = |model: &str| {
        let out = profilemate()
            .args(["estimate", "--model", model, "--prefill", "512", "--json"])
            .output()
            .unwrap();
        let mut v: Value = serde_json::from_str(&success_stdout(&out)).unwrap();
        v.as_object_mut().unwrap().remove("model");
        v
    };
    assert_eq!(run("deepseek-ai/DeepSeek-V3"), run("deepseek-v3"));
}

/// The presets added for issue 12 answer to their Hugging Face ids and give the numbers of the
/// golden model directories vLLM 0.32 was checked on (`testdata/goldens/perf/configs/`).
#[test]
fn new_family_presets_by_hugging_face_id_match_their_golden_directories() {
    let configs = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/goldens/perf/configs");
    let run = |model: &str| {
        let out = profilemate()
            .args([
                "estimate",
                "--model",
                model,
                "--prefill",
                "512",
                "--decode",
                "3@4000",
                "--json",
            ])
            .output()
            .unwrap();
        let mut v: Value = serde_json::from_str(&success_stdout(&out)).unwrap();
        v.as_object_mut().unwrap().remove("model");
        v
    };
    for (hf_id, preset, dir) in [
        ("google/gemma-3-27b-it", "gemma-3-27b", "gemma-3-27b-it"),
        ("google/gemma-2-9b-it", "gemma-2-9b", "gemma-2-9b-it"),
        ("microsoft/phi-4", "phi-4", "phi-4"),
        (
            "deepseek-ai/DeepSeek-V3.2",
            "deepseek-v3.2",
            "DeepSeek-V3.2",
        ),
        (
            "meta-llama/Llama-4-Maverick-17B-128E-Instruct",
            "llama-4-maverick",
            "Llama-4-Maverick-17B-128E-Instruct",
        ),
        ("allenai/OLMo-2-1124-13B", "olmo-2-13b", "OLMo-2-1124-13B"),
        (
            "baidu/ERNIE-4.5-21B-A3B-PT",
            "ernie-4.5-21b-a3b",
            "ERNIE-4.5-21B-A3B",
        ),
    ] {
        let by_id = run(hf_id);
        assert_eq!(by_id, run(preset), "{hf_id}");
        assert_eq!(by_id, run(configs.join(dir).to_str().unwrap()), "{hf_id}");
        assert!(
            by_id["components"].as_array().unwrap().len() >= 3,
            "{hf_id}: attention, FFN and unembedding are all estimated: {by_id}"
        );
    }
}

#[test]
fn an_unknown_model_names_the_nearest_presets_and_the_config_flag() {
    fails_naming(
        &["kv", "--model", "llama-3.1-9b"],
        &[
            "--model llama-3.1-9b",
            "did you mean llama-3.1-8b",
            "--config DIR",
        ],
    );
    fails_naming(
        &["estimate", "--model", "deepsek-v3", "--prefill", "8"],
        &["did you mean deepseek-v3", "--config DIR"],
    );
}

#[test]
fn a_model_in_the_hugging_face_cache_is_found_as_vllm_finds_it() {
    let home = scratch("hf-home");
    let snapshot = home.join("hub/models--acme--tiny/snapshots/abc");
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::write(snapshot.join("config.json"), TINY_CONFIG).unwrap();
    let kv = |model: &str| {
        let out = profilemate()
            .env("HF_HOME", &home)
            .env_remove("HF_HUB_CACHE")
            .env_remove("HUGGINGFACE_HUB_CACHE")
            .args(["kv", "--model", model, "--json"])
            .output()
            .unwrap();
        let mut v: Value = serde_json::from_str(&success_stdout(&out)).unwrap();
        v.as_object_mut().unwrap().remove("model");
        v
    };
    let cached = kv("acme/tiny");
    assert_eq!(cached, kv_figures(&["--model", "tiny-llama"]));
    assert_eq!(cached["num_layers"], 4);
    // A local directory works as vLLM's `--model /path`.
    let local = kv(snapshot.to_str().unwrap());
    assert_eq!(local, cached);
    // Not in the cache: the error says where it looked.
    let out = profilemate()
        .env("HF_HOME", &home)
        .env_remove("HF_HUB_CACHE")
        .env_remove("HUGGINGFACE_HUB_CACHE")
        .args(["kv", "--model", "acme/huge"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("hub/models--acme--huge"), "{err}");
    std::fs::remove_dir_all(&home).unwrap();
}

#[test]
fn every_command_defaults_to_llama_3_1_8b() {
    assert_eq!(kv_json(&[]), kv_json(&["--model", "llama-3.1-8b"]));
    let estimate = |extra: &[&str]| {
        let out = profilemate()
            .args(["estimate", "--prefill", "128", "--json"])
            .args(extra)
            .output()
            .unwrap();
        success_stdout(&out)
    };
    assert_eq!(estimate(&[]), estimate(&["--model", "llama-3.1-8b"]));
    let out = profilemate()
        .args(["sim", "run", "--num-prompts", "4", "--request-rate", "inf"])
        .args(["--random-input-len", "32", "--random-output-len", "4"])
        .output()
        .unwrap();
    let stdout = success_stdout(&out);
    assert!(
        stdout.contains("Simulated engine: llama-3.1-8b on h100-sxm"),
        "{stdout}"
    );
}

#[test]
fn sim_serve_takes_the_model_positionally_as_vllm_serve_does() {
    let answer = util::sim_serve_get(&["meta-llama/Llama-3.1-8B"], "/v1/models");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("\"id\":\"meta-llama/Llama-3.1-8B\""),
        "served under the name as given, as vLLM does: {answer}"
    );
    fails_naming(
        &["sim", "serve", "llama-3.1-8b", "--model", "qwen3-8b"],
        &["--model"],
    );
}

/// Llama-3.1-70B in bf16: 141,104,775,168 B of weights per GPU at TP 1 against 0.9 × 81,559 MiB
/// = 76,968,728,985 B usable on an H100 SXM. TP 2 holds the weights but not the KV of one
/// 131072-token sequence (160 KiB per token per GPU, 20 GiB); TP 4 does.
#[test]
fn a_model_that_does_not_fit_says_so_with_the_bytes_and_the_tp_that_fits() {
    let needles = [
        "llama-3.1-70b on one h100-sxm",
        "141104775168 B",
        "76968728985 B",
        "leaving nothing for the KV cache",
        "--tensor-parallel-size 4",
    ];
    fails_naming(
        &["kv", "--model", "llama-3.1-70b", "--gpu", "h100-sxm"],
        &needles,
    );
    fails_naming(
        &[
            "sim",
            "run",
            "--model",
            "llama-3.1-70b",
            "--num-prompts",
            "2",
        ],
        &needles,
    );
    fails_naming(&["sim", "serve", "llama-3.1-70b", "--port", "0"], &needles);
    // The suggested TP works.
    let v = kv_json(&["--model", "llama-3.1-70b", "--tensor-parallel-size", "4"]);
    assert!(v["capacity"]["max_model_len_sequences"].as_f64().unwrap() >= 1.0);
    // vLLM's own refusal is not printed twice (it was: "needs at least 2 blocks … : … blocks").
    let out = profilemate()
        .args([
            "sim",
            "run",
            "--model",
            "llama-3.1-70b",
            "--num-prompts",
            "2",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("needs at least 2 blocks"), "{err}");
}

#[test]
fn a_config_directory_without_config_json_says_so_once() {
    let dir = scratch("no-config");
    let shown = dir.display().to_string();
    let out = profilemate()
        .args(["kv", "--config", &shown])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(
        err.trim_end(),
        format!(
            "profilemate: --config {shown}: no config.json in {shown} (expected a Hugging \
             Face model directory, the folder that holds the model's config.json)"
        )
    );
    // A path that does not exist: the OS text once.
    let missing = dir.join("missing");
    let out = profilemate()
        .args([
            "estimate",
            "--config",
            missing.to_str().unwrap(),
            "--prefill",
            "8",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.matches("(os error 2)").count(), 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An A10G reports 23,028 MiB: vLLM may use 0.9 of it, the 8B's bf16 weights and the reserve
/// come off, the rest holds 128 KiB tokens.
#[test]
fn kv_on_an_a10g_sizes_the_cache_from_its_24_gb() {
    let v = kv_json(&["--gpu", "a10g"]);
    assert_eq!(v["gpu"], "a10g");
    let c = &v["capacity"];
    let budget = ((23_028u64 << 20) as f64 * 0.9) as u64;
    assert_eq!(c["budget_bytes"], budget);
    let h100 = kv_json(&["--gpu", "h100-sxm"]);
    assert_eq!(c["weight_bytes"], h100["capacity"]["weight_bytes"]);
    let kv = budget
        - c["weight_bytes"].as_u64().unwrap()
        - c["activation_reserve_bytes"].as_u64().unwrap();
    assert_eq!(c["kv_bytes"], kv);
    assert_eq!(c["tokens"], kv / (128 << 10));
    // 20.2 GiB usable − 15.0 GiB of weights − 1.8 GiB reserve: about 3.5 GiB, 28k tokens.
    assert!(
        (25_000..32_000).contains(&c["tokens"].as_u64().unwrap()),
        "{c}"
    );
}

#[test]
fn hardware_list_shows_the_added_presets() {
    let out = profilemate().args(["hardware", "list"]).output().unwrap();
    let stdout = success_stdout(&out);
    for name in [
        "a10g",
        "a10",
        "l4",
        "h100-nvl",
        "h20",
        "h200-nvl",
        "gb200",
        "b300",
        "mi355x",
        "rtx-pro-6000",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name)),
            "{name} missing from:\n{stdout}"
        );
    }
}
