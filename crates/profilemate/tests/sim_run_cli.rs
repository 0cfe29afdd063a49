//! `profilemate sim run` as a user runs it: the engine it simulates is stated, vLLM's table
//! and result JSON come out as from `bench serve`, and bad flags exit 2 naming the flag.

use std::path::PathBuf;

use assert_cmd::Command;

mod util;
use util::{fails_naming, success_stdout};

fn sim_run() -> Command {
    let mut cmd = Command::cargo_bin("profilemate").unwrap();
    cmd.args(["sim", "run", "--model", "llama-3.1-8b"]);
    cmd
}

#[test]
fn a_run_states_the_engine_prints_vllms_table_and_saves_vllms_json() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("profilemate-sim-run-cli-{}", std::process::id()));
    let out = sim_run()
        .args(["--num-prompts", "20", "--request-rate", "50"])
        .args(["--random-input-len", "256", "--random-output-len", "16"])
        .args([
            "--save-result",
            "--save-detailed",
            "--result-filename",
            "r.json",
        ])
        .arg("--result-dir")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = success_stdout(&out);
    assert!(
        stdout.starts_with("Simulated engine: llama-3.1-8b on h100-sxm"),
        "{stdout}"
    );
    assert!(
        stdout.contains("max_num_seqs 1024, max_num_batched_tokens 8192, max_model_len 131072,"),
        "vLLM's H100 defaults and the model's context: {stdout}"
    );
    assert!(stdout.contains("============ Serving Benchmark Result ============\nSuccessful requests:                     20        \n"), "{stdout}");
    assert!(
        stdout.contains("Total generated tokens:                  320       \n"),
        "{stdout}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).unwrap()).unwrap();
    assert_eq!(json["completed"], 20);
    assert_eq!(json["model_id"], "llama-3.1-8b");
    assert_eq!(json["output_lens"].as_array().map(Vec::len), Some(20));
    assert!(json["mean_ttft_ms"].as_f64().is_some_and(|t| t > 0.0));
}

#[test]
fn bad_engine_flags_exit_2_naming_the_flag() {
    let sim_run = ["sim", "run", "--model", "llama-3.1-8b"];
    fails_naming(&[&sim_run[..], &["--gpu", "tpu9"]].concat(), &["--gpu"]);
    fails_naming(
        &[
            &sim_run[..],
            &["--max-model-len", "4096", "--num-gpu-blocks-override", "16"],
        ]
        .concat(),
        &["invalid engine settings"],
    );
}
