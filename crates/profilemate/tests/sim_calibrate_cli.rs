//! `profilemate sim calibrate` on the real vLLM 0.32 CPU captures in testdata/: the fit runs,
//! its error on held-out data stays under a stated bound, `sim run --calibration` uses it and
//! says so, and bad input exits 2 naming it.

use std::path::PathBuf;

use assert_cmd::Command;

mod util;
use util::{fails_naming, success_stdout};

fn capture(run: &str, file: &str) -> String {
    format!(
        "{}/../../testdata/vllm-0.32-cpu/{run}/{file}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "profilemate-sim-calibrate-{test}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn calibrate(logs: &[&str], out: &PathBuf) -> Command {
    let mut cmd = Command::cargo_bin("profilemate").unwrap();
    cmd.args(["sim", "calibrate"]);
    for run in logs {
        cmd.arg(capture(run, "server.log"));
    }
    // The engine flags of the captures (serve-args.txt; 128-token blocks, no async scheduling
    // and no CUDA graphs on vLLM's CPU backend), for the --bench replay.
    cmd.args(["--model", "tiny-llama", "--dtype", "bfloat16"])
        .args(["--max-model-len", "2048", "--max-num-seqs", "8"])
        .args([
            "--max-num-batched-tokens",
            "512",
            "--num-gpu-blocks-override",
            "128",
        ])
        .args(["--no-enable-prefix-caching", "--block-size", "128"])
        .args(["--no-async-scheduling", "--enforce-eager", "-o"])
        .arg(out);
    cmd
}

fn read_json(path: &PathBuf) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The three captures made together (same machine, same load), each with its bench result: the
/// per-iteration error stays under 20 % in sample (15.2 % when written) and under 25 % held out
/// (20.0 %); the outside time comes from the bench results' decode spans; the front end is
/// fitted; and each bench result, predicted by a fit without its log and bench, lands within
/// the stated bounds (docs/accuracy.md has the figures).
#[test]
fn fits_the_captures_and_predicts_a_held_out_log() {
    let dir = scratch("fit");
    let out = dir.join("calibration.json");
    let runs = ["run3-poisson", "run4-long", "run5-conc"];
    let mut cmd = calibrate(&runs, &out);
    cmd.arg("--validate").arg("--bench");
    for run in runs {
        cmd.arg(capture(run, "bench-1.json"));
    }
    let stdout = success_stdout(&cmd.output().unwrap());
    assert!(
        stdout.contains("Held-out per-iteration MAPE (leave one log out)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("run4-long/bench-1.json held out"),
        "{stdout}"
    );
    let j = read_json(&out);
    assert_eq!(j["timing_model"], "calibrated-roofline-v2");
    assert_eq!(j["gpu"], "h100-sxm");
    assert_eq!(j["logs"].as_array().unwrap().len(), 3);
    assert_eq!(j["logs"][0]["served_model"], "./tiny-llama");
    // Each bench result found its own log.
    for (i, run) in runs.iter().enumerate() {
        let paired = j["bench"][i]["paired_log"].as_str().unwrap();
        assert!(paired.contains(run), "{paired}");
    }
    let iterations: u64 = (0..3)
        .map(|i| j["logs"][i]["iterations"].as_u64().unwrap())
        .sum();
    assert_eq!(j["fit"]["iterations"].as_u64(), Some(iterations));
    let mape = j["fit"]["mape"].as_f64().unwrap();
    assert!(mape > 0.0 && mape < 0.20, "fit MAPE {mape}");
    let held = j["validation"]["held_out_mape"].as_f64().unwrap();
    assert!(held > 0.0 && held < 0.25, "held-out MAPE {held}");
    assert_eq!(j["validation"]["folds"].as_array().unwrap().len(), 3);
    // A CPU prefills at a fixed cost per token (0.6 ms here), with a finite uncertainty.
    let prefill = &j["coefficients"]["ms_per_prefill_token"];
    let value = prefill["value"].as_f64().unwrap();
    assert!((0.3..1.0).contains(&value), "{prefill}");
    let se = prefill["standard_error"].as_f64().unwrap();
    assert!(se > 0.0 && se < value / 4.0, "{prefill}");
    // The outside time from the decode spans: 1.73 ± 0.02 ms when written (the one-second
    // log stamps gave 1.6 ± 2.2).
    let outside = &j["outside_ms"];
    assert!(
        outside["measured"]["method"]
            .as_str()
            .unwrap()
            .starts_with("bench decode spans"),
        "{outside}"
    );
    let v = outside["value"].as_f64().unwrap();
    assert!((1.0..3.0).contains(&v), "{outside}");
    assert!(
        outside["standard_error"].as_f64().unwrap() < 0.5,
        "{outside}"
    );
    // The front end: a delay of tens of ms (23.7 when written), requests handed over apart
    // (every spacing above 0 repeats more of the logs' iterations than none), and no
    // identifiable tokenization cost.
    let front = &j["front_end"];
    let delay = front["delay_ms"].as_f64().unwrap();
    assert!((5.0..60.0).contains(&delay), "{front}");
    let by_spacing = front["serial_fit"]["matched_by_spacing_ms"]
        .as_array()
        .unwrap();
    let matched = |i: usize| by_spacing[i][1].as_u64().unwrap();
    assert!(matched(0) < matched(3), "{by_spacing:?}");
    assert_eq!(front["serial_ms"], 1.0);
    // With it, the closed-loop replay of run5-conc (6 at a time, each step its logged time)
    // repeats every one of vLLM's 294 iterations: the first of each group of six reaches the
    // idle engine alone, the other five join the next step, as in the log.
    let at_fitted = front["serial_fit"]["per_bench_at_fitted_spacing"]
        .as_array()
        .unwrap();
    assert!(at_fitted[2]["path"].as_str().unwrap().contains("run5-conc"));
    assert_eq!(at_fitted[2]["matched"], 294);
    assert_eq!(at_fitted[2]["iterations"], 294);
    assert_eq!(
        front["tokenization_per_prompt_token"]["identifiable"],
        false
    );
    // Held-out bench predictions: run4-long within 10 % on mean TTFT and TPOT (+3.0 %, +0.5 %
    // when written), every mean TTFT and TPOT within 25 % (run3-poisson's TPOT −17.5 %).
    let benches = j["validation"]["bench"].as_array().unwrap();
    assert_eq!(benches.len(), 3);
    for b in benches {
        let f = &b["figures"];
        for key in ["ttft", "tpot"] {
            let err = f[key]["mean_ms"]["error"].as_f64().unwrap();
            let bound = if b["path"].as_str().unwrap().contains("run4-long") {
                0.10
            } else {
                0.25
            };
            assert!(err.abs() < bound, "{key} of {}: {f}", b["path"]);
        }
        let measured = f["e2el"]["p99_ms"]["measured"].as_f64().unwrap();
        assert!(measured > 0.0);
    }
}

/// The burst capture replayed in send order (not engine order) through the fitted front end
/// repeats vLLM's iteration sequence, all 125 iterations; the outside time its decode spans give
/// is the ~3.2 ms per step the scheduler comparison found by hand
/// (crates/profilemate-sim/docs/scheduler-vs-vllm.md).
#[test]
fn the_burst_replayed_in_send_order_repeats_vllms_iterations() {
    let dir = scratch("burst");
    let out = dir.join("c.json");
    let o = calibrate(&["run2-sched"], &out)
        .args(["--bench", &capture("run2-sched", "bench-1.json")])
        .output()
        .unwrap();
    success_stdout(&o);
    let j = read_json(&out);
    let fitted = &j["front_end"]["serial_fit"]["per_bench_at_fitted_spacing"][0];
    assert_eq!(
        (fitted["matched"].as_u64(), fitted["iterations"].as_u64()),
        (Some(125), Some(125))
    );
    let outside = j["outside_ms"]["value"].as_f64().unwrap();
    assert!((2.9..3.4).contains(&outside), "outside {outside}");
    // The front end of that day: ~100 ms (the by-hand comparison found 93–99 ms).
    let delay = j["front_end"]["delay_ms"].as_f64().unwrap();
    assert!((80.0..120.0).contains(&delay), "delay {delay}");
}

/// One log alone validates on its last 30 % of iterations (15.8 % when written, 9.1 % before the
/// rebuilt shapes: within one lockstep log the fixed and per-request decode costs are poorly
/// separated; bound 20 %).
#[test]
fn one_log_validates_on_its_tail() {
    let dir = scratch("tail");
    let out = dir.join("c.json");
    let o = calibrate(&["run2-sched"], &out)
        .arg("--validate")
        .output()
        .unwrap();
    success_stdout(&o);
    let j = read_json(&out);
    assert_eq!(j["validation"]["train_iterations"], 87);
    assert_eq!(j["validation"]["held_out_iterations"], 38);
    let held = j["validation"]["held_out_mape"].as_f64().unwrap();
    assert!(held < 0.20, "held-out MAPE {held}");
    assert_eq!(j["validation"]["bench"].as_array().map(Vec::len), Some(0));
}

/// `sim run --calibration` times steps and the front end with the fit and says so, on stdout
/// and in the result's `virtual_timing`; its mean TTFT and TPOT on the run2-sched workload (a
/// capture of another day, not fitted on) land within 25 % of what vLLM measured (−17 % and
/// −16 % when written: see docs/accuracy.md).
#[test]
fn sim_run_uses_the_calibration_and_says_so() {
    let dir = scratch("run");
    let cal = dir.join("calibration.json");
    success_stdout(
        &calibrate(&["run3-poisson", "run4-long", "run5-conc"], &cal)
            .arg("--bench")
            .arg(capture("run3-poisson", "bench-1.json"))
            .arg(capture("run4-long", "bench-1.json"))
            .arg(capture("run5-conc", "bench-1.json"))
            .output()
            .unwrap(),
    );
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args(["sim", "run", "--model", "tiny-llama", "--dtype", "bfloat16"])
        .args(["--max-model-len", "2048", "--max-num-seqs", "8"])
        .args([
            "--max-num-batched-tokens",
            "512",
            "--num-gpu-blocks-override",
            "128",
        ])
        .args(["--no-enable-prefix-caching", "--block-size", "128"])
        .args(["--no-async-scheduling", "--enforce-eager", "--calibration"])
        .arg(&cal)
        .args(["--dataset-name", "random", "--random-input-len", "300"])
        .args(["--random-output-len", "40", "--num-prompts", "24"])
        .args(["--request-rate", "inf", "--seed", "3", "--disable-tqdm"])
        .args([
            "--save-result",
            "--result-filename",
            "r.json",
            "--result-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = success_stdout(&out);
    assert!(stdout.contains("Step time: calibrated ("), "{stdout}");
    assert!(stdout.contains("; front end "), "{stdout}");
    let sim = read_json(&dir.join("r.json"));
    let timing = &sim["virtual_timing"];
    assert_eq!(timing["timing_model"], "calibrated-roofline-v2");
    let delay = timing["front_end"]["delay_ms"].as_f64().unwrap();
    assert!((5.0..60.0).contains(&delay), "{timing}");
    let real = read_json(&PathBuf::from(capture("run2-sched", "bench-1.json")));
    for key in ["mean_ttft_ms", "mean_tpot_ms"] {
        let (s, r) = (sim[key].as_f64().unwrap(), real[key].as_f64().unwrap());
        assert!(
            ((s - r) / r).abs() < 0.25,
            "{key}: simulated {s}, measured {r}"
        );
    }
}

/// With data parallelism the fitted front end is applied as with one engine (each request
/// reaches the router's pick that much after its send), and the result says so.
#[test]
fn a_data_parallel_run_applies_the_fitted_front_end() {
    let dir = scratch("dp");
    let cal = dir.join("calibration.json");
    success_stdout(
        &calibrate(&["run5-conc"], &cal)
            .args(["--bench", &capture("run5-conc", "bench-1.json")])
            .output()
            .unwrap(),
    );
    let run = |dp: &str, name: &str| {
        let out = Command::cargo_bin("profilemate")
            .unwrap()
            .args(["sim", "run", "--model", "tiny-llama", "--dtype", "bfloat16"])
            .args(["--max-model-len", "2048", "--data-parallel-size", dp])
            .arg("--calibration")
            .arg(&cal)
            .args(["--random-input-len", "80", "--random-output-len", "8"])
            .args(["--num-prompts", "1", "--disable-tqdm"])
            .args(["--save-result", "--result-filename", name, "--result-dir"])
            .arg(&dir)
            .output()
            .unwrap();
        success_stdout(&out);
        read_json(&dir.join(name))
    };
    let (one, two) = (run("1", "dp1.json"), run("2", "dp2.json"));
    let timing = &two["virtual_timing"];
    assert_eq!(timing["timing_model"], "calibrated-roofline-v2");
    assert_eq!(timing["front_end"], one["virtual_timing"]["front_end"]);
    let delay = timing["front_end"]["delay_ms"].as_f64().unwrap();
    assert!(delay > 1.0, "{timing}");
    // A lone request meets an idle engine either way: the same TTFT, the delay included.
    let ttft = |r: &serde_json::Value| r["mean_ttft_ms"].as_f64().unwrap();
    assert!(
        (ttft(&one) - ttft(&two)).abs() < 1e-9,
        "{} vs {}",
        ttft(&one),
        ttft(&two)
    );
    assert!(
        ttft(&two) > delay,
        "TTFT {} ms, delay {delay} ms",
        ttft(&two)
    );
}

#[test]
fn bad_input_exits_2_naming_it() {
    let dir = scratch("bad");
    let out = dir.join("c.json").display().to_string();
    let no_iterations = capture("run1", "metrics-before.txt");
    fails_naming(
        &[
            "sim",
            "calibrate",
            &no_iterations,
            "--model",
            "tiny-llama",
            "-o",
            &out,
        ],
        &["metrics-before.txt", "Iteration(N)"],
    );
    fails_naming(
        &[
            "sim",
            "calibrate",
            "/nonexistent/server.log",
            "--model",
            "tiny-llama",
            "-o",
            &out,
        ],
        &["/nonexistent/server.log"],
    );
    let not_detailed = capture("run1", "metrics-after-1.txt");
    fails_naming(
        &[
            "sim",
            "calibrate",
            &capture("run2-sched", "server.log"),
            "--model",
            "tiny-llama",
            "--bench",
            &not_detailed,
            "-o",
            &out,
        ],
        &["metrics-after-1.txt"],
    );
    fails_naming(
        &[
            "sim",
            "calibrate",
            &capture("run2-sched", "server.log"),
            "--model",
            "tiny-llama",
            "--calibration",
            &no_iterations,
            "-o",
            &out,
        ],
        &["--calibration"],
    );
    // A calibration is only applied to the model and GPU it was fitted for.
    let cal = dir.join("good.json");
    success_stdout(&calibrate(&["run2-sched"], &cal).output().unwrap());
    let cal = cal.display().to_string();
    let run = ["sim", "run", "--model", "tiny-llama", "--num-prompts", "2"];
    fails_naming(
        &[&run[..], &["--gpu", "a100-80gb", "--calibration", &cal]].concat(),
        &["--calibration", "--gpu h100-sxm"],
    );
    fails_naming(
        &[&run[..], &["--calibration", &no_iterations]].concat(),
        &["--calibration", "metrics-before.txt"],
    );
}

/// `sim serve --calibration` starts with the fitted model and says so on stderr.
#[test]
fn sim_serve_says_it_is_calibrated() {
    use std::io::{BufRead, BufReader};
    let dir = scratch("serve");
    let cal = dir.join("calibration.json");
    success_stdout(&calibrate(&["run2-sched"], &cal).output().unwrap());
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("profilemate"))
        .args(["sim", "serve", "--model", "tiny-llama", "--port", "0"])
        .args([
            "--max-model-len",
            "2048",
            "--disable-log-stats",
            "--calibration",
        ])
        .arg(&cal)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    for line in stderr.lines().take(4) {
        let line = line.unwrap();
        let done = line.contains("step time calibrated by");
        seen.push(line);
        if done {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let last = seen.last().cloned().unwrap_or_default();
    assert!(
        last.contains("step time calibrated by") && last.contains("calibration.json"),
        "{seen:?}"
    );
}

/// `sim sweep --calibration` (in the `sim run` arguments) times its runs with the fit too: the
/// same command line gives `sim sweep` the result `sim run` gives.
#[test]
fn sim_sweep_uses_the_calibration_as_sim_run_does() {
    let dir = scratch("sweep");
    let cal = dir.join("calibration.json");
    success_stdout(&calibrate(&["run3-poisson"], &cal).output().unwrap());
    let cal = cal.display().to_string();
    let run_args = [
        "--model",
        "tiny-llama",
        "--dtype",
        "bfloat16",
        "--max-model-len",
        "2048",
        "--max-num-seqs",
        "8",
        "--max-num-batched-tokens",
        "512",
        "--num-gpu-blocks-override",
        "128",
        "--no-enable-prefix-caching",
        "--block-size",
        "128",
        "--no-async-scheduling",
        "--enforce-eager",
        "--calibration",
        &cal,
        "--random-input-len",
        "300",
        "--random-output-len",
        "40",
        "--num-prompts",
        "24",
        "--request-rate",
        "inf",
        "--seed",
        "3",
        "--disable-tqdm",
    ];
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args(["sim", "run"])
        .args(run_args)
        .args([
            "--save-result",
            "--result-filename",
            "r.json",
            "--result-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    success_stdout(&out);
    let swept = dir.join("sweep.json");
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args(["sim", "sweep", "-o"])
        .arg(&swept)
        .arg("--")
        .args(run_args)
        .output()
        .unwrap();
    success_stdout(&out);
    let run = read_json(&dir.join("r.json"));
    let sweep = read_json(&swept);
    for key in ["mean_ttft_ms", "mean_tpot_ms", "duration"] {
        assert_eq!(sweep[0]["result"][key], run[key], "{key}");
    }
    // And the fit changes the answer: without it the bare roofline times a tiny model in µs.
    let bare: Vec<&str> = run_args
        .iter()
        .copied()
        .filter(|a| *a != "--calibration" && *a != cal)
        .collect();
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args(["sim", "sweep", "-o"])
        .arg(dir.join("bare.json"))
        .arg("--")
        .args(bare)
        .output()
        .unwrap();
    success_stdout(&out);
    let bare = read_json(&dir.join("bare.json"));
    assert_eq!(
        bare[0]["result"]["virtual_timing"]["timing_model"],
        "roofline"
    );
    assert_eq!(
        sweep[0]["result"]["virtual_timing"]["timing_model"],
        "calibrated-roofline-v2"
    );
    assert!(
        bare[0]["result"]["mean_ttft_ms"].as_f64().unwrap()
            < sweep[0]["result"]["mean_ttft_ms"].as_f64().unwrap() / 10.0
    );
}

/// A bench replayed under other engine flags than the server's leaves its log at once: the
/// fit says so and names the flags to give; with the server's flags it says nothing.
#[test]
fn a_replay_under_the_wrong_engine_flags_is_flagged() {
    let dir = scratch("flags");
    let cal = dir.join("c.json");
    let bench = capture("run5-conc", "bench-1.json");
    let wrong = Command::cargo_bin("profilemate")
        .unwrap()
        .args(["sim", "calibrate", &capture("run5-conc", "server.log")])
        .args([
            "--model",
            "tiny-llama",
            "--dtype",
            "bfloat16",
            "--bench",
            &bench,
        ])
        .arg("-o")
        .arg(&cal)
        .output()
        .unwrap();
    let text = success_stdout(&wrong);
    assert!(
        text.contains("matched only 1 of its log's 294 iterations"),
        "{text}"
    );
    assert!(text.contains("--max-num-seqs"), "{text}");
    let right = calibrate(&["run5-conc"], &cal)
        .args(["--bench", &bench])
        .output()
        .unwrap();
    let text = success_stdout(&right);
    assert!(!text.contains("warning: replaying"), "{text}");
}

/// The quiet-machine set (run6–run9, mixed prompt lengths): fitted on run6, run8 and run9 with
/// their bench results, `sim run --calibration` on run7-burst's workload (24 prompts of
/// 300 ± 50 % tokens at once, drawn with the capture's seed as its client drew them) lands
/// within 10 % of the mean TTFT and TPOT vLLM measured (+5.5 % and +7.3 % when written; the
/// other three held-out runs miss: docs/accuracy.md).
#[test]
fn a_held_out_burst_on_a_quiet_machine_is_predicted_within_10_percent() {
    let dir = scratch("quiet");
    let cal = dir.join("calibration.json");
    let mut fit = calibrate(&["run6-mixed", "run8-conc", "run9-long"], &cal);
    fit.arg("--bench");
    for run in ["run6-mixed", "run8-conc", "run9-long"] {
        fit.arg(capture(run, "bench-1.json"));
    }
    success_stdout(&fit.output().unwrap());
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args(["sim", "run", "--model", "tiny-llama", "--dtype", "bfloat16"])
        .args(["--max-model-len", "2048", "--max-num-seqs", "8"])
        .args(["--max-num-batched-tokens", "512"])
        .args(["--num-gpu-blocks-override", "128"])
        .args(["--no-enable-prefix-caching", "--block-size", "128"])
        .args(["--no-async-scheduling", "--enforce-eager", "--calibration"])
        .arg(&cal)
        .args(["--dataset-name", "random", "--random-input-len", "300"])
        .args(["--random-range-ratio", "0.5", "--random-output-len", "40"])
        .args([
            "--num-prompts",
            "24",
            "--request-rate",
            "inf",
            "--seed",
            "9",
        ])
        .args([
            "--disable-tqdm",
            "--save-result",
            "--result-filename",
            "r.json",
        ])
        .arg("--result-dir")
        .arg(&dir)
        .output()
        .unwrap();
    success_stdout(&out);
    let sim = read_json(&dir.join("r.json"));
    let real = read_json(&PathBuf::from(capture("run7-burst", "bench-1.json")));
    // The same prompts as the capture's client drew.
    assert_eq!(sim["total_input_tokens"], real["total_input_tokens"]);
    for key in ["mean_ttft_ms", "mean_tpot_ms"] {
        let (s, r) = (sim[key].as_f64().unwrap(), real[key].as_f64().unwrap());
        assert!(
            ((s - r) / r).abs() < 0.10,
            "{key}: simulated {s}, measured {r}"
        );
    }
}
