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

/// The three captures made together (same machine, same load) fit with a per-iteration error
/// under 20 % (16.2 % when written), and leaving each one out in turn predicts it under 25 %
/// (19.1 %).
#[test]
fn fits_the_captures_and_predicts_a_held_out_log() {
    let dir = scratch("fit");
    let out = dir.join("calibration.json");
    let o = calibrate(&["run3-poisson", "run4-long", "run5-conc"], &out)
        .arg("--validate")
        .args(["--bench", &capture("run3-poisson", "bench-1.json")])
        .output()
        .unwrap();
    let stdout = success_stdout(&o);
    assert!(
        stdout.contains("Held-out per-iteration MAPE (leave one log out)"),
        "{stdout}"
    );
    let j = read_json(&out);
    assert_eq!(j["timing_model"], "calibrated-roofline-v1");
    assert_eq!(j["gpu"], "h100-sxm");
    assert_eq!(j["logs"].as_array().unwrap().len(), 3);
    assert_eq!(j["logs"][0]["served_model"], "./tiny-llama");
    let iterations: u64 = (0..3)
        .map(|i| j["logs"][i]["iterations"].as_u64().unwrap())
        .sum();
    assert_eq!(j["fit"]["iterations"].as_u64(), Some(iterations));
    let mape = j["fit"]["mape"].as_f64().unwrap();
    assert!(mape > 0.0 && mape < 0.20, "fit MAPE {mape}");
    let held = j["validation"]["held_out_mape"].as_f64().unwrap();
    assert!(held > 0.0 && held < 0.25, "held-out MAPE {held}");
    assert_eq!(j["validation"]["folds"].as_array().unwrap().len(), 3);
    // Prefill is priced against the roofline: it must carry weight, with a finite uncertainty.
    let prefill = &j["coefficients"]["prefill_per_roofline_ms"];
    assert!(prefill["value"].as_f64().unwrap() > 0.0);
    let se = prefill["standard_error"].as_f64().unwrap();
    assert!(se > 0.0 && se < prefill["value"].as_f64().unwrap() / 4.0);
    let outside = j["outside_ms"]["value"].as_f64().unwrap();
    assert!((0.0..20.0).contains(&outside), "outside {outside}");
    // The replay of run3-poisson (light load) leaves a small client → engine delay (32.8 ms
    // when written; replaying run2-sched with vLLM's own step times gives ~95 ms).
    let front = &j["bench"][0];
    assert_eq!(front["requests"], 40);
    let delay = front["front_end_delay_ms"].as_f64().unwrap();
    assert!((0.0..100.0).contains(&delay), "front end {front}");
    assert!(front["min_ms"].as_f64() <= Some(delay) && front["max_ms"].as_f64() >= Some(delay));
}

/// One log alone validates on its last 30 % of iterations (9.1 % when written; bound 20 %).
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
}

/// `sim run --calibration` times steps with the fit and says so; its mean TTFT and TPOT on the
/// run2-sched workload (a log it was not fitted on) land within 35 % of what vLLM measured
/// (−28 % and −25 % when written: see docs/accuracy.md).
#[test]
fn sim_run_uses_the_calibration_and_says_so() {
    let dir = scratch("run");
    let cal = dir.join("calibration.json");
    success_stdout(
        &calibrate(&["run3-poisson", "run4-long", "run5-conc"], &cal)
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
    let sim = read_json(&dir.join("r.json"));
    let real = read_json(&PathBuf::from(capture("run2-sched", "bench-1.json")));
    for key in ["mean_ttft_ms", "mean_tpot_ms"] {
        let (s, r) = (sim[key].as_f64().unwrap(), real[key].as_f64().unwrap());
        assert!(
            ((s - r) / r).abs() < 0.35,
            "{key}: simulated {s}, measured {r}"
        );
    }
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
    assert!(
        bare[0]["result"]["mean_ttft_ms"].as_f64().unwrap()
            < sweep[0]["result"]["mean_ttft_ms"].as_f64().unwrap() / 10.0
    );
}
