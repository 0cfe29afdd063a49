//! `profilemate bench serve` as a user runs it, against a tiny std-only loopback server: exit
//! statuses, vLLM's table on stdout, the result file, and bad flags.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;

use assert_cmd::Command;

mod util;
use util::{fails_naming, success_stdout};

/// Serves each request with `reply(request_index)` (a full HTTP response) on its own thread.
fn server(reply: fn(usize) -> String) -> u16 {
    staged_server(move |_, i| Some(reply(i)))
}

/// Serves each request with `reply(request_line, index)`, the index counting the requests with
/// that request line (e.g. `GET /metrics HTTP/1.1`) so far; `None` holds the connection open and
/// answers nothing.
fn staged_server(reply: impl Fn(&str, usize) -> Option<String> + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let reply = std::sync::Arc::new(reply);
    let counts = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::<
        String,
        usize,
    >::new()));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (reply, counts) = (reply.clone(), counts.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut len = 0;
                let mut line = String::new();
                let mut request_line = None;
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    request_line.get_or_insert_with(|| line.trim_end().to_string());
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                let request_line = request_line.unwrap_or_default();
                let nth = {
                    let mut counts = counts.lock().unwrap();
                    let n = counts.entry(request_line.clone()).or_default();
                    *n += 1;
                    *n - 1
                };
                match reply(&request_line, nth) {
                    Some(r) => {
                        let _ = stream.write_all(r.as_bytes());
                    }
                    // Silent until the client goes away.
                    None => while reader.read_line(&mut line).is_ok_and(|n| n > 0) {},
                }
            });
        }
    });
    port
}

fn stream_reply(_: usize) -> String {
    let events: String = (0..3)
        .map(|_| r#"{"choices":[{"text":" x"}]}"#)
        .chain([
            r#"{"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":3}}"#,
            "[DONE]",
        ])
        .map(|d| format!("data: {d}\n\n"))
        .collect();
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{events}",
        events.len()
    )
}

fn error_reply(_: usize) -> String {
    "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into()
}

fn bench(port: u16) -> Command {
    let mut cmd = Command::cargo_bin("profilemate").unwrap();
    cmd.args([
        "bench",
        "serve",
        "--port",
        &port.to_string(),
        "--model",
        "org/m",
        "--disable-tqdm",
    ]);
    cmd.env_remove("OPENAI_API_KEY");
    cmd
}

#[test]
fn a_good_run_prints_vllms_table_and_saves_the_result() {
    let port = server(stream_reply);
    let dir: PathBuf =
        std::env::temp_dir().join(format!("profilemate-bench-cli-{}", std::process::id()));
    let out = bench(port)
        .args([
            "--num-prompts",
            "4",
            "--random-input-len",
            "4",
            "--random-output-len",
            "3",
            "--save-result",
            "--label",
            "t",
        ])
        .arg("--result-dir")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = success_stdout(&out);
    assert!(stdout.contains("============ Serving Benchmark Result ============\nSuccessful requests:                     4         \n"), "{stdout}");
    assert!(
        stdout.contains("Total generated tokens:                  12        \n"),
        "{stdout}"
    );
    let saved = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let name = saved.file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        name.starts_with("t-infqps-m-") && name.ends_with(".json"),
        "{name}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(json["completed"], 4);
    assert_eq!(json["model_id"], "org/m");
}

#[test]
fn every_request_failing_exits_1_with_the_errors_listed() {
    let port = server(error_reply);
    let out = bench(port).args(["--num-prompts", "3"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("Error 0: Service Unavailable"), "{stdout}");
    assert!(
        stdout.contains("http_503:                                3"),
        "{stdout}"
    );
}

#[test]
fn bad_flags_exit_2_naming_the_flag() {
    let bench = ["bench", "serve", "--port", "1", "--model", "org/m"];
    fails_naming(
        &[&bench[..], &["--metric-percentiles", "50,abc"]].concat(),
        &["--metric-percentiles"],
    );
    // Unsupported backends are rejected by clap.
    fails_naming(&[&bench[..], &["--backend", "openai-audio"]].concat(), &[]);
}

#[test]
fn with_no_server_named_the_embedded_engine_is_benchmarked() {
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args(["bench", "serve", "--num-prompts", "5", "--disable-tqdm"])
        .args(["--random-input-len", "16", "--random-output-len", "4"])
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    let stdout = success_stdout(&out);
    assert!(
        stdout.contains("benchmarking the embedded simulated engine (llama-3.1-8b on h100-sxm"),
        "{stdout}"
    );
    assert!(
        stdout.contains("First model name: llama-3.1-8b\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Successful requests:                     5         \n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Total generated tokens:                  20        \n"),
        "{stdout}"
    );
}

#[test]
fn the_embedded_engine_takes_bench_serves_model_and_gpu() {
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args([
            "bench",
            "serve",
            "--model",
            "tiny-llama",
            "--gpu",
            "a100-80gb",
        ])
        .args([
            "--num-prompts",
            "3",
            "--random-input-len",
            "8",
            "--random-output-len",
            "2",
        ])
        .args(["--disable-tqdm"])
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    let stdout = success_stdout(&out);
    assert!(
        stdout.contains("embedded simulated engine (tiny-llama on a100-80gb,"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Successful requests:                     3         \n"),
        "{stdout}"
    );
}

/// The value of a `{label:<40} {value}` line of the table.
fn table_value(stdout: &str, label: &str) -> f64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{stdout}"));
    line[label.len()..].trim().parse().unwrap()
}

#[test]
fn the_embedded_engine_shows_tflops_mfu_and_mbu_with_a_reading() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("profilemate-bench-mfu-{}", std::process::id()));
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args(["bench", "serve", "--num-prompts", "16", "--disable-tqdm"])
        .args(["--random-input-len", "256", "--random-output-len", "32"])
        .args([
            "--save-result",
            "--result-filename",
            "r.json",
            "--result-dir",
        ])
        .arg(&dir)
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    let stdout = success_stdout(&out);
    let tflops = table_value(&stdout, "Estimated TF/s per GPU:");
    let gbps = table_value(&stdout, "Estimated GB/s per GPU:");
    let mfu = table_value(&stdout, "MFU (%):");
    let mbu = table_value(&stdout, "MBU (%):");
    assert!(tflops > 0.0 && gbps > 0.0, "{stdout}");
    // Against the H100 SXM preset (989.4 dense BF16 TF/s, 3,350 GB/s).
    assert_eq!(table_value(&stdout, "GPU peak TF/s (dense BF16):"), 989.4);
    assert!((mfu - tflops / 989.4 * 100.0).abs() < 0.01, "{stdout}");
    assert!((mbu - gbps / 3350.0 * 100.0).abs() < 0.01, "{stdout}");
    assert!((1.0..=100.0).contains(&mbu), "MBU {mbu}: {stdout}");
    assert!(mfu > 0.0 && mfu < 100.0, "MFU {mfu}: {stdout}");
    // The FLOPs the server counted match the run's tokens: about 2 FLOPs per parameter per
    // token for Llama-3.1-8B (8.0e9 parameters, 7.5e9 without the embedding table).
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).unwrap()).unwrap();
    let tokens = (json["total_input_tokens"].as_f64().unwrap()
        + json["total_output_tokens"].as_f64().unwrap()) as f64;
    assert_eq!(tokens, 16.0 * (256.0 + 32.0));
    let flops = json["server_metrics"]["tflops_per_gpu"].as_f64().unwrap()
        * json["duration"].as_f64().unwrap()
        * 1e12;
    let per_token = flops / tokens / 2.0;
    assert!(
        (6.0e9..10.0e9).contains(&per_token),
        "{per_token:e} FLOPs/2 per token: {stdout}"
    );
    let reading = stdout
        .lines()
        .find(|l| l.starts_with("Reading: "))
        .unwrap_or_else(|| panic!("no reading: {stdout}"));
    let server = &json["server_metrics"];
    assert_eq!(
        server["reading"].as_str().map(|r| format!("Reading: {r}")),
        Some(reading.to_string())
    );
    let intensity = server["arithmetic_intensity"].as_f64().unwrap();
    assert!(
        (intensity - tflops * 1e3 / gbps).abs() / intensity < 0.01,
        "{intensity} FLOP/byte vs the table's {tflops} TF/s / {gbps} GB/s"
    );
    assert_eq!(
        server["bound"],
        if intensity < 295.0 {
            "memory"
        } else {
            "compute"
        }
    );
    let bound = if reading.starts_with("Reading: decode-bound: MBU ") {
        "below"
    } else {
        "above"
    };
    assert!(
        reading.contains(&format!("{bound} the GPU's ridge point of 295")),
        "{reading}"
    );
    assert!(
        stdout.contains("Next: `profilemate sim run --model llama-3.1-8b")
            && stdout.contains("--base-url http://HOST:8000"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plots_that_wait_for_the_html_report_say_so_and_what_to_use() {
    let bench = ["bench", "serve", "--port", "1", "--model", "org/m"];
    for (flag, extra) in [
        ("--plot-timeline", None),
        ("--timeline-itl-thresholds", Some("10,20")),
        ("--plot-dataset-stats", None),
    ] {
        let args: Vec<&str> = bench.iter().copied().chain([flag]).chain(extra).collect();
        fails_naming(
            &args,
            &[
                flag,
                "is not supported yet",
                "HTML report",
                "--save-detailed",
            ],
        );
    }
}

#[test]
fn a_base_url_without_a_scheme_says_add_http() {
    fails_naming(
        &[
            "bench",
            "serve",
            "--base-url",
            "localhost:8000",
            "--num-prompts",
            "1",
        ],
        &["--base-url localhost:8000: no scheme; add http:// (e.g. http://localhost:8000)"],
    );
}

#[test]
fn vllms_lora_profile_probe_and_beam_search_flags_are_accepted() {
    let port = server(stream_reply);
    let out = bench(port)
        .args([
            "--num-prompts",
            "4",
            "--random-input-len",
            "4",
            "--random-output-len",
            "3",
        ])
        .args(["--use-beam-search", "--probe-request-rate", "50"])
        .args([
            "--lora-modules",
            "a",
            "b",
            "--lora-assignment",
            "round-robin",
        ])
        .output()
        .unwrap();
    let stdout = success_stdout(&out);
    assert!(
        stdout.contains("Probe request rate: 50.0 req/s\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Successful requests:                     4         \n"),
        "{stdout}"
    );
}

#[test]
fn the_embedded_engine_has_a_profiler_but_no_lora_modules() {
    fails_naming(
        &[
            "bench",
            "serve",
            "--lora-modules",
            "sql-lora",
            "--num-prompts",
            "1",
        ],
        &[
            "--lora-modules",
            "embedded simulated engine serves none",
            "--base-url",
        ],
    );
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args([
            "bench",
            "serve",
            "--profile",
            "--num-prompts",
            "2",
            "--disable-tqdm",
        ])
        .args(["--random-input-len", "8", "--random-output-len", "2"])
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    let stdout = success_stdout(&out);
    let at = |s: &str| {
        stdout
            .find(s)
            .unwrap_or_else(|| panic!("no {s:?}: {stdout}"))
    };
    assert!(at("Starting profiler...\nProfiler started\n") < at("Successful requests:"));
    assert!(at("Stopping profiler...\nProfiler stopped\n") < at("Successful requests:"));
}

#[test]
fn a_metrics_scrape_that_hangs_after_the_run_still_saves_every_record() {
    let port = staged_server(|line, nth| {
        (!(line.starts_with("GET /metrics") && nth == 1)).then(|| stream_reply(nth))
    });
    let dir: PathBuf =
        std::env::temp_dir().join(format!("profilemate-bench-hang-{}", std::process::id()));
    let out = bench(port)
        .args([
            "--num-prompts",
            "3",
            "--control-timeout-sec",
            "0.3",
            "--save-result",
        ])
        .arg("--result-dir")
        .arg(&dir)
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    let stdout = success_stdout(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WARNING: /metrics scrape after the run failed: no answer within 0.3 s (--control-timeout-sec)"),
        "{stderr}"
    );
    assert!(
        stdout.contains("Successful requests:                     3"),
        "{stdout}"
    );
    let saved = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(
        stdout.contains(&format!("Results saved to {}", saved.display())),
        "{stdout}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(json["completed"], 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_models_lookup_that_hangs_exits_2_at_the_control_timeout() {
    let port =
        staged_server(|line, nth| (!line.starts_with("GET /v1/models")).then(|| stream_reply(nth)));
    let port = port.to_string();
    fails_naming(
        &[
            "bench",
            "serve",
            "--port",
            &port,
            "--disable-tqdm",
            "--num-prompts",
            "2",
            "--control-timeout-sec",
            "0.3",
        ],
        &[
            "/v1/models",
            "pass --model",
            "no answer within 0.3 s (--control-timeout-sec)",
        ],
    );
}

#[test]
fn a_ready_check_the_server_never_answers_exits_2_at_its_deadline() {
    let port = staged_server(|line, nth| (!line.starts_with("POST")).then(|| stream_reply(nth)));
    let port = port.to_string();
    let started = std::time::Instant::now();
    fails_naming(
        &[
            "bench",
            "serve",
            "--port",
            &port,
            "--model",
            "m",
            "--disable-tqdm",
            "--num-prompts",
            "2",
            "--ready-check-timeout-sec",
            "1",
        ],
        &[
            "initial test run failed",
            "no successful answer within --ready-check-timeout-sec 1",
        ],
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn a_control_timeout_of_zero_is_refused() {
    fails_naming(
        &[
            "bench",
            "serve",
            "--port",
            "9",
            "--control-timeout-sec",
            "0",
        ],
        &["--control-timeout-sec must be a positive number of seconds, got 0"],
    );
}
