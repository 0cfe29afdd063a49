//! `--dataset-name multi_turn` as a user runs it: `bench serve` against a real loopback
//! `sim serve` sends each turn after the previous reply plus its think time, with the prompt
//! grown by the conversation; `sim run` hits the prefix cache far more than the random dataset;
//! `sim sweep` takes it; bad flags exit 2 naming the flag.

mod util;
use util::{fails_naming, spawn_sim_serve, success_stdout};

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use profilemate_bench::config::WorkloadConfig;
use profilemate_bench::run::build_workload;
use profilemate_bench::workload::{DatasetSpec, MultiTurnSpec, RangeRatio};
use serde_json::Value;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "profilemate-multiturn-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn ints(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

#[test]
fn bench_serve_sends_each_turn_after_the_reply_plus_think_time_with_the_conversation() {
    let (mut server, addr) = spawn_sim_serve(&["--model", "tiny-llama"], &[]);
    let dir = temp_dir("serve");
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args(["bench", "serve", "--base-url", &format!("http://{addr}")])
        .args(["--dataset-name", "multi_turn", "--num-prompts", "3"])
        .args(["--multi-turn-turns", "3", "--multi-turn-input-len", "16"])
        .args([
            "--multi-turn-output-len",
            "8",
            "--multi-turn-think-time",
            "0.1",
        ])
        .args(["--multi-turn-system-prompt-len", "32", "--seed", "4"])
        .args(["--disable-tqdm", "--save-result", "--save-detailed"])
        .args(["--result-filename", "r.json", "--result-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let stdout = success_stdout(&out);
    assert!(
        stdout.contains("Sessions completed (all turns):          3"),
        "{stdout}"
    );
    let json = read_json(&dir.join("r.json"));
    assert_eq!(json["completed"], 9);
    assert_eq!(json["multi_turn"]["completed"], 3);
    // The think times the run drew: the same plan from the same flags.
    let workload = WorkloadConfig {
        dataset: DatasetSpec::MultiTurn(MultiTurnSpec {
            turns: 3,
            input_len: 16,
            output_len: 8,
            range_ratio: RangeRatio::default(),
            think_time: Duration::from_millis(100),
            system_prompt_len: 32,
        }),
        num_prompts: 3,
        seed: 4,
        ..WorkloadConfig::default()
    };
    let plan = build_workload(&workload, "x-", None)
        .unwrap()
        .sessions
        .unwrap();
    let (starts, ttfts) = (floats(&json["start_times"]), floats(&json["ttfts"]));
    let (inputs, outputs) = (ints(&json["input_lens"]), ints(&json["output_lens"]));
    let (sessions, turns) = (ints(&json["session_ids"]), ints(&json["turn_indices"]));
    let itls: Vec<f64> = json["itls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| floats(l).iter().sum())
        .collect();
    let find = |s: u64, k: u64| {
        (0..9)
            .find(|&i| (sessions[i], turns[i]) == (s, k))
            .unwrap_or_else(|| panic!("no request for session {s} turn {k}"))
    };
    for s in 0..3 {
        assert_eq!(inputs[find(s, 0)], 32 + 16);
        for k in 1..3 {
            let (prev, next) = (find(s, k - 1), find(s, k));
            let reply_end = starts[prev] + ttfts[prev] + itls[prev];
            let think = plan.sessions[s as usize].think[k as usize].as_secs_f64();
            assert!(
                starts[next] >= reply_end + think,
                "session {s} turn {k}: sent at {}, reply ended at {reply_end}, think {think}",
                starts[next]
            );
            // The server counted the conversation so far plus the new message.
            assert_eq!(inputs[next], inputs[prev] + outputs[prev] + 16);
        }
    }
    // The server found each turn's history in its prefix cache.
    let hit = json["server_metrics"]["prefix_cache_hit_rate"]
        .as_f64()
        .unwrap();
    assert!(hit > 0.4, "prefix cache hit rate {hit}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `sim run` of `dataset_flags` on Llama-3.1-8B, its result JSON.
fn sim_run(dir: &Path, name: &str, dataset_flags: &[&str]) -> Value {
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args([
            "sim",
            "run",
            "--model",
            "llama-3.1-8b",
            "--num-prompts",
            "20",
        ])
        .args(["--request-rate", "4", "--seed", "1"])
        .args(dataset_flags)
        .args(["--disable-tqdm", "--save-result", "--result-dir"])
        .arg(dir)
        .args(["--result-filename", name])
        .output()
        .unwrap();
    success_stdout(&out);
    read_json(&dir.join(name))
}

#[test]
fn sim_run_multi_turn_hits_the_prefix_cache_where_random_prompts_do_not() {
    let dir = temp_dir("simrun");
    let chat = sim_run(
        &dir,
        "chat.json",
        &[
            "--dataset-name",
            "multi_turn",
            "--multi-turn-turns",
            "5",
            "--multi-turn-input-len",
            "128",
            "--multi-turn-output-len",
            "64",
        ],
    );
    assert_eq!(chat["completed"], 100);
    // Prompts of 128, 320, 512, 704 and 896 tokens; each turn finds the previous turn's
    // prompt: (128 + 320 + 512 + 704) / (128 + 320 + 512 + 704 + 896) = 0.65.
    let hit = chat["server_metrics"]["prefix_cache_hit_rate"]
        .as_f64()
        .unwrap();
    assert!((hit - 0.65).abs() < 1e-9, "multi_turn hit rate {hit}");
    let random = sim_run(
        &dir,
        "random.json",
        &["--random-input-len", "512", "--random-output-len", "64"],
    );
    let random_hit = random["server_metrics"]["prefix_cache_hit_rate"]
        .as_f64()
        .unwrap();
    // vLLM's random prompts are runs of consecutive vocabulary ids from a random offset, so
    // two of them now and then coincide (here about 5%); nothing like a conversation's reuse.
    assert!(random_hit < 0.1, "random hit rate {random_hit}");
    assert!(hit > 6.0 * random_hit, "{hit} vs {random_hit}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two data-parallel engines run the same sessions closed loop; vLLM's load balancer has no
/// session affinity, so a turn that lands on the other engine misses its conversation in
/// that engine's prefix cache: the hit rate falls below one engine's.
#[test]
fn sim_run_multi_turn_across_data_parallel_engines_loses_cache_affinity() {
    let dir = temp_dir("simrun-dp");
    let args = [
        "--dataset-name",
        "multi_turn",
        "--multi-turn-turns",
        "5",
        "--multi-turn-input-len",
        "128",
        "--multi-turn-output-len",
        "64",
    ];
    let one = sim_run(&dir, "dp1.json", &args);
    let two = sim_run(
        &dir,
        "dp2.json",
        &[&args[..], &["--data-parallel-size", "2"]].concat(),
    );
    for run in [&one, &two] {
        assert_eq!(run["completed"], 100);
        assert_eq!(run["multi_turn"]["completed"], 20);
    }
    let hit = |run: &serde_json::Value| {
        run["server_metrics"]["prefix_cache_hit_rate"]
            .as_f64()
            .unwrap()
    };
    assert!(hit(&two) > 0.0, "DP 2 hit rate {}", hit(&two));
    assert!(
        hit(&two) < hit(&one),
        "DP 2 {} vs DP 1 {}",
        hit(&two),
        hit(&one)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sim_sweep_passes_multi_turn_through_to_each_run() {
    let dir = temp_dir("sweep");
    std::fs::write(dir.join("serve.json"), r#"[{"max_num_seqs": 8}]"#).unwrap();
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args(["sim", "sweep", "--serve-params"])
        .arg(dir.join("serve.json"))
        .arg("-o")
        .arg(dir.join("grid.json"))
        .args(["--", "--model", "llama-3.1-8b", "--disable-tqdm"])
        .args(["--dataset-name", "multi_turn", "--num-prompts", "6"])
        .args(["--multi-turn-turns", "4", "--request-rate", "2"])
        .output()
        .unwrap();
    success_stdout(&out);
    let grid = read_json(&dir.join("grid.json"));
    let result = &grid[0]["result"];
    assert_eq!(result["completed"], 24, "{grid}");
    assert_eq!(result["multi_turn"]["completed"], 6, "{grid}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_multi_turn_flags_exit_2_naming_the_flag() {
    let bench = ["bench", "serve", "--dataset-name", "multi_turn"];
    let sim = [
        "sim",
        "run",
        "--model",
        "llama-3.1-8b",
        "--dataset-name",
        "multi_turn",
    ];
    for base in [&bench[..], &sim[..]] {
        fails_naming(
            &[base, &["--multi-turn-turns", "0"]].concat(),
            &["--multi-turn-turns"],
        );
        fails_naming(
            &[base, &["--multi-turn-think-time", "-1"]].concat(),
            &["--multi-turn-think-time", "-1"],
        );
        fails_naming(
            &[base, &["--multi-turn-range-ratio", "1.5"]].concat(),
            &["--multi-turn-range-ratio"],
        );
        fails_naming(
            &[base, &["--multi-turn-input-len", "0"]].concat(),
            &["--multi-turn-input-len"],
        );
    }
    fails_naming(
        &[
            &bench[..],
            &[
                "--backend",
                "openai-embeddings",
                "--endpoint",
                "/v1/embeddings",
            ],
        ]
        .concat(),
        &["multi_turn", "openai-embeddings"],
    );
}
