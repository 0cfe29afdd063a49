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
    fails_naming(
        &[
            &sim_run[..],
            &["--data-parallel-size", "2", "--log-file", "/tmp/never.log"],
        ]
        .concat(),
        &["--log-file", "--data-parallel-size 2"],
    );
    fails_naming(
        &[&sim_run[..], &["--data-parallel-size", "0"]].concat(),
        &["data"],
    );
    fails_naming(
        &[
            &sim_run[..],
            &[
                "--max-model-len",
                "4096",
                "--long-prefill-token-threshold",
                "5000",
            ],
        ]
        .concat(),
        &["long_prefill_token_threshold (5000)", "4096"],
    );
    fails_naming(
        &[
            &sim_run[..],
            &[
                "--no-enable-chunked-prefill",
                "--max-num-batched-tokens",
                "8192",
            ],
        ]
        .concat(),
        &["--max-num-batched-tokens (8192)", "chunked prefill"],
    );
}

#[test]
fn data_parallel_runs_every_request_on_two_engines_and_says_so() {
    let out = sim_run()
        .args(["--gpu", "h100-sxm"])
        .args(["--data-parallel-size", "2", "--num-prompts", "20"])
        .args(["--random-input-len", "64", "--random-output-len", "16"])
        .arg("--disable-tqdm")
        .output()
        .unwrap();
    let stdout = success_stdout(&out);
    assert!(
        stdout.contains("Data parallel: 2 identical engines behind vLLM's load balancer, 2 GPUs (DP 2 × TP 1 × PP 1)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Successful requests:                     20 "),
        "{stdout}"
    );
    assert!(
        stdout.contains("Total generated tokens:                  320 "),
        "{stdout}"
    );
}

#[test]
fn endpoint_flags_are_not_offered_and_are_refused_naming_the_flag() {
    // sim run has a workload and no endpoint: bench serve's endpoint flags (Ctrl-C grace,
    // warmups, timeouts, the server's address, the request bodies) would do nothing here.
    let out = sim_run().arg("--help").output().unwrap();
    let help = success_stdout(&out);
    let flags: Vec<&str> = help
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .filter_map(|l| l.split([' ', ',', '<']).next())
        .collect();
    assert!(
        flags.contains(&"request-rate") && flags.contains(&"duration"),
        "{flags:?}"
    );
    for endpoint_flag in [
        "interrupt-grace-sec",
        "backend",
        "base-url",
        "endpoint",
        "num-warmups",
        "request-timeout",
        "control-timeout-sec",
        "ignore-eos",
        "temperature",
    ] {
        assert!(
            !flags.contains(&endpoint_flag),
            "--{endpoint_flag} offered: {flags:?}"
        );
    }
    let sim_run = ["sim", "run", "--model", "llama-3.1-8b"];
    fails_naming(
        &[&sim_run[..], &["--interrupt-grace-sec", "1"]].concat(),
        &["--interrupt-grace-sec"],
    );
}

/// A fresh scratch directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "profilemate-sim-run-log-{test}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `sim run` of the run2-sched capture's workload (testdata/vllm-0.32-cpu/run2-sched:
/// serve-args.txt, bench-args.txt; block size 128 and no async scheduling as on vLLM's CPU
/// backend, no CUDA graphs).
fn sim_run_run2_sched() -> Command {
    let mut cmd = Command::cargo_bin("profilemate").unwrap();
    cmd.args([
        "sim",
        "run",
        "--model",
        "tiny-llama",
        "--max-model-len",
        "2048",
    ])
    .args(["--max-num-seqs", "8", "--max-num-batched-tokens", "512"])
    .args([
        "--num-gpu-blocks-override",
        "128",
        "--no-enable-prefix-caching",
    ])
    .args([
        "--block-size",
        "128",
        "--no-async-scheduling",
        "--enforce-eager",
    ])
    .args(["--dataset-name", "random", "--random-input-len", "300"])
    .args(["--random-output-len", "40", "--num-prompts", "24"])
    .args(["--request-rate", "inf", "--seed", "3", "--disable-tqdm"]);
    cmd
}

/// `profilemate analyze log --json PATH`.
fn analyze_json(path: &std::path::Path) -> serde_json::Value {
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args(["analyze", "log", "--json"])
        .arg(path)
        .output()
        .unwrap();
    serde_json::from_str(&success_stdout(&out)).unwrap()
}

/// The number before `what` in an `Iteration(N): …` line (`300 context tokens`).
fn count_before(line: &str, what: &str) -> u64 {
    let head = &line[..line.find(what).unwrap()];
    head.trim_end().rsplit(' ').next().unwrap().parse().unwrap()
}

/// Seconds since 01-01 00:00:00 of a line's `MM-DD HH:MM:SS` stamp (January only).
fn stamp_secs(line: &str) -> u64 {
    let stamp = &line[line.find(" INFO ").unwrap() + 6..][..14];
    let field = |at: usize| -> u64 { stamp[at..at + 2].parse().unwrap() };
    assert_eq!(&stamp[..2], "01", "{line}");
    (field(3) - 1) * 86_400 + field(6) * 3600 + field(9) * 60 + field(12)
}

/// Issue 11 item 5: the simulator writes the log it analyzes. The run2-sched workload makes the
/// same number of steps as vLLM did (its server.log has 125 `Iteration(` lines), and
/// `analyze log` counts exactly the tokens of the lines written: every prompt token in a context
/// step, every output token but each request's first (which ends its prefill) in a decode.
#[test]
fn run2_sched_workload_logs_125_iterations_that_analyze_reads() {
    let dir = scratch("run2");
    let log = dir.join("plan.log");
    let out = sim_run_run2_sched()
        .args(["--enable-logging-iteration-details", "--log-file"])
        .arg(&log)
        .output()
        .unwrap();
    let stdout = success_stdout(&out);
    assert!(
        stdout.contains("Wrote the engine's vLLM log to "),
        "{stdout}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let iterations: Vec<&str> = text.lines().filter(|l| l.contains("Iteration(")).collect();
    assert_eq!(iterations.len(), 125);
    let sum = |what: &str| -> u64 { iterations.iter().map(|l| count_before(l, what)).sum() };
    let (context, generation) = (sum(" context tokens"), sum(" generation tokens"));
    assert_eq!((context, generation), (24 * 300, 24 * 39));
    let report = analyze_json(&log);
    let it = &report["iterations"];
    assert_eq!(it["count"], 125);
    assert_eq!(it["context_tokens"], context);
    assert_eq!(it["generation_tokens"], generation);
    let config = &report["config"];
    assert_eq!(config["model"], "tiny-llama");
    assert_eq!(config["dtype"], "bfloat16");
    assert_eq!(
        (&config["max_num_seqs"], &config["max_num_batched_tokens"]),
        (&8.into(), &512.into())
    );
    assert_eq!(
        (&config["num_gpu_blocks"], &config["kv_cache_tokens"]),
        (&128.into(), &16_384.into())
    );
    assert_eq!(report["lines"]["unknown"], 0);
}

/// A run of about 40 virtual seconds: stats lines every 10 s by their stamps, iteration lines
/// stamped across the whole virtual duration from 01-01 00:00:00 (the last at the run's end).
#[test]
fn log_lines_are_stamped_in_virtual_time() {
    let dir = scratch("virtual");
    let log = dir.join("plan.log");
    let out = sim_run()
        .args(["--num-prompts", "80", "--request-rate", "2", "--seed", "1"])
        .args(["--random-input-len", "256", "--random-output-len", "64"])
        .args(["--disable-tqdm", "--enable-logging-iteration-details"])
        .arg("--log-file")
        .arg(&log)
        .output()
        .unwrap();
    let stdout = success_stdout(&out);
    let virtual_secs: f64 = stdout
        .split(" engine steps: ")
        .nth(1)
        .and_then(|rest| rest.split(" s of virtual time").next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(virtual_secs > 30.0, "{virtual_secs}");
    let text = std::fs::read_to_string(&log).unwrap();
    let stats: Vec<u64> = text
        .lines()
        .filter(|l| l.contains("[loggers.py:335]"))
        .map(stamp_secs)
        .collect();
    let expected: Vec<u64> = (1..=stats.len() as u64).map(|k| 10 * k).collect();
    assert_eq!(stats, expected);
    assert!(*stats.last().unwrap() as f64 >= virtual_secs, "{stats:?}");
    assert!(stats.len() >= 4, "{stats:?}");
    let iterations: Vec<u64> = text
        .lines()
        .filter(|l| l.contains("Iteration("))
        .map(stamp_secs)
        .collect();
    // The first Poisson arrival comes within the first interval; stamps never go back.
    assert!(iterations[0] < 10, "{iterations:?}");
    assert!(iterations.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(*iterations.last().unwrap(), virtual_secs.floor() as u64);
}

/// The JSON paths of `value` whose values are not null (lists by their first item).
fn populated(value: &serde_json::Value, path: String, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Null => {}
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                populated(v, format!("{path}/{k}"), out);
            }
        }
        serde_json::Value::Array(items) => match items.first() {
            Some(first) => populated(first, format!("{path}[0]"), out),
            None => out.push(format!("{path}[]")),
        },
        _ => out.push(path),
    }
}

/// `analyze log` reports the same fields for our log of the run2-sched workload as for vLLM's
/// own log of it (with the capture's flags: iteration details and MFU metrics).
#[test]
fn analyze_reports_the_same_fields_for_a_sim_run_log_and_vllms() {
    let dir = scratch("fields");
    let log = dir.join("plan.log");
    let out = sim_run_run2_sched()
        .args(["--enable-logging-iteration-details", "--enable-mfu-metrics"])
        .arg("--log-file")
        .arg(&log)
        .output()
        .unwrap();
    success_stdout(&out);
    let vllm = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/vllm-0.32-cpu/run2-sched/server.log"
    ));
    let fields = |path: &std::path::Path| {
        let mut out = Vec::new();
        populated(&analyze_json(path), String::new(), &mut out);
        out
    };
    let (ours, theirs) = (fields(&log), fields(&vllm));
    assert!(
        ours.contains(&"/mfu/gbps_per_gpu/max".to_owned()),
        "{ours:?}"
    );
    assert!(
        ours.contains(&"/stats_lines/series[0]/t_s".to_owned()),
        "{ours:?}"
    );
    assert_eq!(ours, theirs);
}

/// Equal flags and seed write equal logs, byte for byte.
#[test]
fn equal_runs_write_equal_logs() {
    let dir = scratch("equal");
    let logs = [dir.join("a.log"), dir.join("b.log")];
    for log in &logs {
        let out = sim_run_run2_sched()
            .args(["--enable-logging-iteration-details", "--cudagraph-metrics"])
            .arg("--log-file")
            .arg(log)
            .output()
            .unwrap();
        success_stdout(&out);
    }
    let [a, b] = logs.map(|l| std::fs::read(l).unwrap());
    assert!(a.len() > 10_000);
    assert_eq!(a, b);
}

#[test]
fn a_log_file_in_a_missing_directory_exits_2_naming_it_before_running() {
    let missing = std::env::temp_dir().join(format!(
        "profilemate-no-such-dir-{}/plan.log",
        std::process::id()
    ));
    let path = missing.to_str().unwrap();
    let args = [
        "sim",
        "run",
        "--model",
        "llama-3.1-8b",
        "--num-prompts",
        "5",
    ];
    fails_naming(
        &[&args[..], &["--log-file", path]].concat(),
        &["--log-file", path],
    );
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args(args)
        .args(["--log-file", path])
        .output()
        .unwrap();
    assert!(out.stdout.is_empty(), "nothing ran: {:?}", out.stdout);
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
}

#[test]
fn logging_flags_without_a_log_file_exit_2_asking_for_one() {
    let args = [
        "sim",
        "run",
        "--model",
        "llama-3.1-8b",
        "--num-prompts",
        "5",
    ];
    for flag in [
        "--enable-logging-iteration-details",
        "--enable-mfu-metrics",
        "--cudagraph-metrics",
    ] {
        fails_naming(
            &[&args[..], &[flag]].concat(),
            &[flag, "add --log-file PATH"],
        );
    }
}

/// Mean TPOT of a 200-request `sim run` with `extra` flags.
fn mean_tpot(extra: &[&str]) -> f64 {
    let out = sim_run()
        .args([
            "--num-prompts",
            "200",
            "--request-rate",
            "20",
            "--disable-tqdm",
        ])
        .args(extra)
        .output()
        .unwrap();
    let stdout = success_stdout(&out);
    assert!(
        stdout.contains("Successful requests:                     200"),
        "{stdout}"
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("Mean TPOT (ms):"))
        .expect("a mean TPOT line");
    line.split_whitespace().last().unwrap().parse().unwrap()
}

/// `sim sweep` varies whatever `sim run` takes: speculative decoding and CPU KV offload are
/// engine flags of `sim run` as of `sim serve`.
#[test]
fn speculative_decoding_and_kv_offload_are_sim_run_flags() {
    let plain = mean_tpot(&[]);
    let speculative = mean_tpot(&[
        "--num-speculative-tokens",
        "3",
        "--spec-acceptance-rate",
        "0.8",
    ]);
    assert!(speculative < 0.8 * plain, "{speculative} vs {plain}");
    let offloaded = mean_tpot(&["--kv-offloading-size", "8"]);
    assert!(offloaded > 0.0);
}

/// The prefix-cache hit rate of `sim run --model MODEL` over 2000 random prompts sent at once.
fn random_hit_rate(model: &str, dir: &std::path::Path) -> f64 {
    let name = format!("{model}.json");
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args(["sim", "run", "--model", model, "--max-model-len", "2048"])
        .args(["--num-prompts", "2000", "--random-input-len", "256"])
        .args(["--random-output-len", "2", "--disable-tqdm"])
        .args(["--save-result", "--result-filename", &name, "--result-dir"])
        .arg(dir)
        .output()
        .unwrap();
    success_stdout(&out);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(&name)).unwrap()).unwrap();
    json["server_metrics"]["prefix_cache_hit_rate"]
        .as_f64()
        .unwrap()
}

/// vLLM's random prompts are runs of consecutive token ids from a random start in the
/// tokenizer's vocabulary, so two coincide when their starts do: the virtual client draws them
/// over the model's vocabulary, as vLLM's client does. Over Llama 3's 128 256 ids, 2000 prompts
/// rarely share a start (0.6 % hit rate when written); over the tiny model's 2048 ids a third
/// of the prompts repeat one before them (33 %).
#[test]
fn random_prompts_coincide_as_often_as_the_models_vocabulary_makes_them() {
    let dir = std::env::temp_dir().join(format!("profilemate-sim-vocab-{}", std::process::id()));
    let big = random_hit_rate("llama-3.1-8b", &dir);
    let tiny = random_hit_rate("tiny-llama", &dir);
    assert!(big < 0.03, "llama-3.1-8b hit rate {big}");
    assert!(tiny > 0.2, "tiny-llama hit rate {tiny}");
    let _ = std::fs::remove_dir_all(&dir);
}
