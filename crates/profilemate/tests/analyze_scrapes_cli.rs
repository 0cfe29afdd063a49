//! `profilemate analyze metrics` and `analyze bench` as a user runs them: over the real vLLM 0.32
//! scrapes and bench results, live against a loopback server whose /metrics changes between
//! scrapes, and on a result `bench serve` just wrote.

use std::io::{Read, Write};
use std::net::TcpListener;

use assert_cmd::Command;
use serde_json::Value;

mod util;
use util::{fails_naming, success_stdout};

fn capture(file: &str) -> String {
    format!(
        "{}/../../testdata/vllm-0.32-cpu/{file}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn metrics(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("profilemate")
        .unwrap()
        .args(["analyze", "metrics"])
        .args(args)
        .output()
        .unwrap()
}

fn json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&success_stdout(&metrics(&all))).unwrap()
}

/// The sum of every sample line of `name` (exact name, before `{` or a blank), by string
/// matching alone: an independent reading of the scrape.
fn direct_sum(file: &str, name: &str) -> f64 {
    std::fs::read_to_string(capture(file))
        .unwrap()
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

fn direct_delta(before: &str, after: &str, name: &str) -> f64 {
    direct_sum(after, name) - direct_sum(before, name)
}

#[test]
fn run1_deltas_equal_a_direct_reading_of_the_scrapes() {
    let (b, a) = ("run1/metrics-before.txt", "run1/metrics-after-1.txt");
    let v = json(&[&capture(b), &capture(a)]);
    let t = &v["total"];
    let finished = direct_delta(b, a, "vllm:request_success_total");
    assert_eq!(finished, 40.0, "run1's first bench sent 40 requests");
    assert_eq!(t["requests_finished"].as_f64(), Some(finished));
    for (key, name) in [
        ("prompt_tokens", "vllm:prompt_tokens_total"),
        ("generation_tokens", "vllm:generation_tokens_total"),
        ("preemptions", "vllm:num_preemptions_total"),
    ] {
        assert_eq!(t[key].as_f64(), Some(direct_delta(b, a, name)), "{key}");
    }
    assert_eq!(t["prompt_tokens"].as_f64(), Some(5126.0));
    let queries = direct_delta(b, a, "vllm:prefix_cache_queries_total");
    let hits = direct_delta(b, a, "vllm:prefix_cache_hits_total");
    assert_eq!(t["prefix_cache"]["queries"].as_f64(), Some(queries));
    assert_eq!(t["prefix_cache"]["hit_rate"].as_f64(), Some(hits / queries));
    // The TTFT histogram's window: count and mean from _count and _sum.
    let ttft = t["latency"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "ttft")
        .unwrap();
    let count = direct_delta(b, a, "vllm:time_to_first_token_seconds_count");
    let sum = direct_delta(b, a, "vllm:time_to_first_token_seconds_sum");
    assert_eq!(ttft["count"].as_f64(), Some(count));
    assert!((ttft["mean_s"].as_f64().unwrap() - sum / count).abs() < 1e-12);
    assert!(ttft["p50_s"].as_f64().unwrap() <= ttft["p99_s"].as_f64().unwrap());
    // Two files carry no clock: no rates, and the report says so.
    assert!(t["rates"].is_null());
    assert!(v["note"].as_str().unwrap().contains("--window"));
    assert_eq!(v["skipped_lines"], serde_json::json!([0, 0]));
}

#[test]
fn a_window_gives_rates_and_a_gpu_gives_mfu() {
    let (b, a) = ("run1/metrics-before.txt", "run1/metrics-after-1.txt");
    let v = json(&[
        &capture(b),
        &capture(a),
        "--window",
        "8",
        "--gpu",
        "h100-sxm",
    ]);
    let t = &v["total"];
    assert_eq!(v["window_source"], "flag");
    assert_eq!(t["rates"]["requests_per_s"].as_f64(), Some(40.0 / 8.0));
    assert_eq!(
        t["rates"]["prompt_tokens_per_s"].as_f64(),
        Some(5126.0 / 8.0)
    );
    let flops = direct_delta(b, a, "vllm:estimated_flops_per_gpu_total");
    let u = &t["utilization"];
    assert_eq!(u["flops_per_gpu"].as_f64(), Some(flops));
    let peak = v["gpu"]["peak_tflops"].as_f64().unwrap();
    assert!(
        (900.0..1000.0).contains(&peak),
        "H100 SXM dense BF16: {peak}"
    );
    let mfu = flops / 8.0 / (peak * 1e12) * 100.0;
    assert!((u["mfu_pct"].as_f64().unwrap() / mfu - 1.0).abs() < 1e-12);
    assert_eq!(u["bound"], "memory", "a small decode-heavy CPU run");
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"low-utilization"), "{ids:?}");
}

#[test]
fn the_scheduling_run_reads_as_queueing() {
    let v = json(&[
        &capture("run2-sched/metrics-before.txt"),
        &capture("run2-sched/metrics-after-1.txt"),
    ]);
    assert_eq!(v["total"]["requests_finished"].as_f64(), Some(24.0));
    let queue = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "queue")
        .expect("24 requests at once on max_num_seqs 8 queue");
    assert!(
        queue["evidence"]
            .as_str()
            .unwrap()
            .contains("of their time queued"),
        "{queue}"
    );
}

#[test]
fn text_report_names_the_window_and_the_figures() {
    let out = success_stdout(&metrics(&[
        &capture("run1/metrics-before.txt"),
        &capture("run1/metrics-after-1.txt"),
        "--window",
        "10",
    ]));
    for needle in [
        "window 10.00 s (--window)",
        "requests finished 40 (length 40); prompt tokens 5126, generated tokens 1280",
        "rates: 4.00 requests/s, 512.6 prompt tokens/s, 128.0 generated tokens/s",
        "prefix cache: 0 of 5126 prompt tokens hit (0.0%)",
        "Findings\n  1. ",
    ] {
        assert!(out.contains(needle), "{needle:?} not in:\n{out}");
    }
}

/// Serves run1's before scrape to the first GET and its after scrape to the second.
fn changing_metrics_server() -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let bodies = [
        std::fs::read_to_string(capture("run1/metrics-before.txt")).unwrap(),
        std::fs::read_to_string(capture("run1/metrics-after-1.txt")).unwrap(),
    ];
    let handle = std::thread::spawn(move || {
        let mut paths = Vec::new();
        for body in bodies {
            let (mut socket, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = socket.read(&mut buf).unwrap();
            let head = String::from_utf8_lossy(&buf[..n]).into_owned();
            paths.push(head.split_whitespace().nth(1).unwrap_or("").to_owned());
            let answer = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(answer.as_bytes()).unwrap();
        }
        paths
    });
    (format!("http://{addr}"), handle)
}

#[test]
fn a_live_window_scrapes_twice_and_measures_its_length() {
    let (url, server) = changing_metrics_server();
    let v = json(&["--url", &url, "--window", "0.5"]);
    assert_eq!(server.join().unwrap(), ["/metrics", "/metrics"]);
    assert_eq!(v["window_source"], "measured");
    let w = v["window_s"].as_f64().unwrap();
    assert!((0.5..5.0).contains(&w), "window {w}");
    let t = &v["total"];
    assert_eq!(t["requests_finished"].as_f64(), Some(40.0));
    let rate = t["rates"]["requests_per_s"].as_f64().unwrap();
    assert!((rate * w - 40.0).abs() < 1e-9, "{rate} x {w}");
}

#[test]
fn bad_input_is_one_line_naming_it() {
    let (before, after) = (
        capture("run1/metrics-before.txt"),
        capture("run1/metrics-after-1.txt"),
    );
    fails_naming(
        &["analyze", "metrics", "/nonexistent/before.txt", &after],
        &["/nonexistent/before.txt"],
    );
    let json_file = capture("run1/bench-1.json");
    fails_naming(
        &["analyze", "metrics", &before, &json_file],
        &["bench-1.json", "is not Prometheus text"],
    );
    fails_naming(
        &["analyze", "metrics", &after, &before],
        &["looks older than", "swap them"],
    );
    fails_naming(&["analyze", "metrics", &before], &["two scrape files"]);
    fails_naming(
        &[
            "analyze",
            "metrics",
            "--url",
            "http://127.0.0.1:1",
            "--window",
            "0.1",
        ],
        &["cannot scrape http://127.0.0.1:1/metrics"],
    );
    fails_naming(
        &["analyze", "metrics", &before, &after, "--window", "0"],
        &["--window"],
    );
}

fn bench(args: &[&str]) -> Value {
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args(["analyze", "bench"])
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    serde_json::from_str(&success_stdout(&out)).unwrap()
}

fn result_value(file: &str, key: &str) -> f64 {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(capture(file)).unwrap()).unwrap();
    v[key].as_f64().unwrap()
}

#[test]
fn vllms_result_with_its_scrapes_matches_requests_and_splits_ttft() {
    let (b, a) = ("run1/metrics-before.txt", "run1/metrics-after-1.txt");
    let v = bench(&[
        &capture("run1/bench-1.json"),
        "--before",
        &capture(b),
        "--after",
        &capture(a),
    ]);
    assert_eq!(v["scrapes_from"], "files");
    let r = &v["requests"];
    assert_eq!(r["client_completed"], 40);
    assert_eq!(r["server_finished"].as_f64(), Some(40.0));
    assert_eq!(r["matches"], true);
    // The client figures are the result's own.
    let client_ttft = result_value("run1/bench-1.json", "mean_ttft_ms");
    let c = &v["client"];
    assert_eq!(c["latency"][0]["name"], "ttft");
    assert_eq!(c["latency"][0]["mean_ms"].as_f64(), Some(client_ttft));
    assert_eq!(
        c["request_goodput"].as_f64(),
        Some(result_value("run1/bench-1.json", "request_goodput"))
    );
    // The split: server means straight from the scrapes' _sum / _count; the parts add up to
    // the client's mean TTFT.
    let mean_ms = |name: &str| {
        direct_delta(b, a, &format!("{name}_sum")) / direct_delta(b, a, &format!("{name}_count"))
            * 1000.0
    };
    let t = &v["ttft_split"];
    let get = |k: &str| t[k].as_f64().unwrap();
    assert_eq!(get("client_mean_ms"), client_ttft);
    assert!((get("server_mean_ms") - mean_ms("vllm:time_to_first_token_seconds")).abs() < 1e-9);
    assert!((get("queue_ms") - mean_ms("vllm:request_queue_time_seconds")).abs() < 1e-9);
    assert!((get("prefill_ms") - mean_ms("vllm:request_prefill_time_seconds")).abs() < 1e-9);
    let parts =
        get("queue_ms") + get("prefill_ms") + get("server_other_ms") + get("client_and_network_ms");
    assert!(
        (parts - client_ttft).abs() < 1e-9,
        "{parts} vs {client_ttft}"
    );
    // The client waited longer than the server measured, by a few ms on loopback.
    assert!((0.0..50.0).contains(&get("client_and_network_ms")), "{t}");
    assert_eq!(v["server"]["window_source"], "bench_duration");
    assert_eq!(
        v["server"]["window_s"].as_f64(),
        Some(result_value("run1/bench-1.json", "duration"))
    );
}

#[test]
fn scrapes_that_span_two_runs_are_flagged() {
    // run1's second bench sent 20 requests; before..after-2 spans both benches (40 + 20).
    let v = bench(&[
        &capture("run1/bench-2.json"),
        "--before",
        &capture("run1/metrics-before.txt"),
        "--after",
        &capture("run1/metrics-after-2.txt"),
    ]);
    assert_eq!(v["requests"]["server_finished"].as_f64(), Some(60.0));
    assert_eq!(v["requests"]["matches"], false);
    assert_eq!(v["findings"][0]["id"], "request-count-mismatch");
}

#[test]
fn a_result_without_scrapes_reports_the_client_and_says_what_is_missing() {
    let v = bench(&[&capture("run1/bench-1.json")]);
    assert!(v["server"].is_null());
    assert!(v["note"].as_str().unwrap().contains("--before and --after"));
    assert_eq!(v["client"]["completed"], 40);
}

#[test]
fn bench_serve_then_analyze_bench_on_its_result_alone() {
    let dir = std::env::temp_dir().join(format!("pm-analyze-bench-{}", std::process::id()));
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args(["bench", "serve", "--num-prompts", "12", "--disable-tqdm"])
        .args(["--random-input-len", "64", "--random-output-len", "8"])
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
    success_stdout(&out);
    let result = dir.join("r.json");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&result).unwrap()).unwrap();
    assert!(
        saved["server_scrapes"]["before"]
            .as_str()
            .unwrap()
            .contains("vllm:")
    );
    let v = bench(&[result.to_str().unwrap(), "--gpu", "h100-sxm"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(v["scrapes_from"], "result");
    assert_eq!(v["server"]["window_source"], "measured");
    assert_eq!(
        v["server"]["window_s"].as_f64(),
        saved["server_scrapes"]["elapsed_s"].as_f64()
    );
    assert_eq!(v["requests"]["client_completed"], 12);
    assert_eq!(v["requests"]["server_finished"].as_f64(), Some(12.0));
    assert_eq!(
        v["server"]["total"]["prompt_tokens"].as_f64(),
        saved["total_input_tokens"].as_f64()
    );
    let t = &v["ttft_split"];
    let parts: f64 = [
        "queue_ms",
        "prefill_ms",
        "server_other_ms",
        "client_and_network_ms",
    ]
    .iter()
    .map(|k| t[k].as_f64().unwrap())
    .sum();
    assert!(
        (parts - saved["mean_ttft_ms"].as_f64().unwrap()).abs() < 1e-9,
        "{t}"
    );
}

#[test]
fn bench_bad_input_is_one_line_naming_it() {
    let scrape = capture("run1/metrics-before.txt");
    fails_naming(
        &["analyze", "bench", "/nonexistent/r.json"],
        &["/nonexistent/r.json"],
    );
    fails_naming(
        &["analyze", "bench", &scrape],
        &["metrics-before.txt", "is not a bench serve result"],
    );
    fails_naming(
        &[
            "analyze",
            "bench",
            &capture("run1/bench-1.json"),
            "--before",
            &scrape,
        ],
        &["--after"],
    );
    fails_naming(
        &[
            "analyze",
            "bench",
            &capture("run1/bench-1.json"),
            "--before",
            &scrape,
            "--after",
            &capture("run1/bench-1.json"),
        ],
        &["bench-1.json", "is not Prometheus text"],
    );
}
