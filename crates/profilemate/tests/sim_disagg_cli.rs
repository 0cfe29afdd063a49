//! Prefill/decode disaggregation from the command line: `sim run --prefill-instances N
//! --decode-instances M` states the pools and runs every request through both; `sim sweep`
//! over the split recommends more prefill instances for long prompts and more decode
//! instances for long outputs; what cannot be combined exits 2 naming the flags.

mod util;
use util::{fails_naming, success_stdout};

use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::Value;

const MODEL: [&str; 4] = ["--model", "llama-3.1-8b", "--gpu", "h100-sxm"];

fn sim(sub: &str) -> Command {
    let mut cmd = Command::cargo_bin("profilemate").unwrap();
    cmd.args(["sim", sub]);
    cmd
}

#[test]
fn a_disaggregated_run_states_the_pools_and_finishes_every_request() {
    let out = sim("run")
        .args(MODEL)
        .args(["--prefill-instances", "2", "--decode-instances", "1"])
        .args(["--decode-tensor-parallel-size", "2"])
        .args([
            "--kv-transfer-gbps",
            "200",
            "--kv-transfer-latency-ms",
            "0.5",
        ])
        .args(["--num-prompts", "30", "--request-rate", "20"])
        .args(["--random-input-len", "1024", "--random-output-len", "32"])
        .arg("--disable-tqdm")
        .output()
        .unwrap();
    let stdout = success_stdout(&out);
    // Llama-3.1-8B in bf16: 32 layers × 8 KV heads × 128 × 2 (K, V) × 2 bytes per token.
    assert!(
        stdout.starts_with("Prefill/decode disaggregation: 2 prefill instance(s) (TP 1 × PP 1) + 1 decode instance(s) (TP 2 × PP 1), 4 GPUs; each decode instance pulls KV over 200 Gb/s (+ 0.500 ms per pull), 131072 bytes per token;"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Successful requests:                     30 "),
        "{stdout}"
    );
    assert!(
        stdout.contains("Total generated tokens:                  960 "),
        "the client sees the decode instance's 32 tokens per request, not the prefill's one: {stdout}"
    );
}

#[test]
fn unsupported_combinations_exit_2_naming_the_flags() {
    let run = ["sim", "run", "--model", "llama-3.1-8b"];
    let pd = ["--prefill-instances", "1", "--decode-instances", "1"];
    let with =
        |extra: &[&'static str]| -> Vec<&'static str> { [&run[..], &pd[..], extra].concat() };
    fails_naming(
        &with(&["--data-parallel-size", "2"]),
        &[
            "--prefill-instances/--decode-instances",
            "--data-parallel-size 2",
        ],
    );
    fails_naming(
        &with(&["--log-file", "/tmp/never-written.log"]),
        &["--log-file", "--prefill-instances/--decode-instances"],
    );
    fails_naming(
        &with(&["--kv-offloading-size", "8"]),
        &["--kv-offloading-size"],
    );
    fails_naming(
        &with(&["--kv-transfer-gbps", "0"]),
        &["--kv-transfer-gbps 0"],
    );
    fails_naming(
        &with(&["--dataset-name", "multi_turn", "--num-prompts", "2"]),
        &["multi_turn", "--prefill-instances"],
    );
    fails_naming(
        &[&run[..], &["--prefill-instances", "1"]].concat(),
        &["--decode-instances"],
    );
    fails_naming(
        &[
            &run[..],
            &["--prefill-instances", "0", "--decode-instances", "1"],
        ]
        .concat(),
        &["--prefill-instances"],
    );
    fails_naming(
        &[&run[..], &["--decode-tensor-parallel-size", "2"]].concat(),
        &["--decode-tensor-parallel-size"],
    );
}

/// Runs `sim sweep` over 1P+2D and 2P+1D for `input`/`output` random requests under a TTFT
/// and TPOT SLO; returns the recommended combination and each one's capacity.
fn recommended_split(name: &str, input: &str, output: &str) -> (String, Vec<(String, f64)>) {
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "profilemate-pd-sweep-{name}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let grid = dir.join("grid.json");
    std::fs::write(
        &grid,
        r#"[{"prefill_instances": 1, "decode_instances": 2},
            {"prefill_instances": 2, "decode_instances": 1}]"#,
    )
    .unwrap();
    let json = dir.join("sweep.json");
    let out = sim("sweep")
        .arg("--serve-params")
        .arg(&grid)
        .args(["--slo", "ttft_p99_ms:1000", "--slo", "tpot_p99_ms:40"])
        .args(["--workload-seconds", "10", "-o"])
        .arg(&json)
        .arg("--")
        .args(MODEL)
        .args(["--random-input-len", input, "--random-output-len", output])
        .args(["--seed", "5"])
        .output()
        .unwrap();
    success_stdout(&out);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let pick = v["recommendation"]["combination"]
        .as_str()
        .unwrap()
        .to_string();
    let capacities = v["configurations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["gpus"], 3, "(P + D) × TP × PP GPUs: {c}");
            let label = c["combination"].as_str().unwrap().to_string();
            (label, c["capacity_rps"].as_f64().unwrap())
        })
        .collect();
    (pick, capacities)
}

#[test]
fn a_sweep_gives_the_busier_phase_the_extra_instance() {
    let (pick, caps) = recommended_split("prefill", "8000", "20");
    assert_eq!(
        pick, "prefill_instances=2 decode_instances=1",
        "long prompts: {caps:?}"
    );
    assert!(caps[1].1 > 1.5 * caps[0].1, "long prompts: {caps:?}");
    let (pick, caps) = recommended_split("decode", "100", "300");
    assert_eq!(
        pick, "prefill_instances=1 decode_instances=2",
        "long outputs: {caps:?}"
    );
    assert!(caps[0].1 > 1.3 * caps[1].1, "long outputs: {caps:?}");
}
