//! `profilemate analyze log` as a user runs it, over the real vLLM 0.32 captures.

use std::io::Write;

use assert_cmd::Command;
use serde_json::Value;

mod util;
use util::{fails_naming, success_stdout};

fn capture(run: &str) -> String {
    format!(
        "{}/../../testdata/vllm-0.32-cpu/{run}/server.log",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn analyze(args: &[&str], stdin: Option<Vec<u8>>) -> std::process::Output {
    let mut cmd = Command::cargo_bin("profilemate").unwrap();
    cmd.args(["analyze", "log"]).args(args);
    if let Some(bytes) = stdin {
        cmd.write_stdin(bytes);
    }
    cmd.output().unwrap()
}

fn json(args: &[&str], stdin: Option<Vec<u8>>) -> Value {
    let out = analyze(args, stdin);
    serde_json::from_str(&success_stdout(&out)).unwrap()
}

#[test]
fn text_report_of_the_scheduling_capture() {
    let out = success_stdout(&analyze(&[&capture("run2-sched")], None));
    for needle in [
        "vLLM 0.32.0, model ./tiny-llama (bfloat16, device cpu",
        "max_num_seqs 8, max_num_batched_tokens 512",
        "125 steps (0 dummy): 7200 context tokens",
        "2 stats lines",
        "Findings\n  1. ",
        "requests queue: Waiting > 0 in 50% of stats intervals",
        "-> the max_num_seqs limit is reached",
    ] {
        assert!(out.contains(needle), "{needle:?} not in\n{out}");
    }
}

#[test]
fn json_report_has_the_documented_keys_and_counts() {
    let v = json(&["--json", &capture("run1"), "--gpu", "h100"], None);
    assert_eq!(v["iterations"]["count"], 759);
    assert_eq!(v["stats_lines"]["count"], 4);
    assert_eq!(v["mfu"]["lines"], 4);
    assert_eq!(v["preemptions"], 0);
    assert_eq!(v["gpu"]["name"], "h100-sxm");
    assert_eq!(v["gpu"]["source"], "--gpu");
    for key in ["mean", "p50", "p99"] {
        assert!(v["iterations"]["elapsed_ms"][key].as_f64().unwrap() > 0.0);
    }
    assert!(v["mfu"]["tflops_per_gpu"]["mean"].is_number());
    assert!(v["mfu"]["gbps_per_gpu"]["mean"].as_f64().unwrap() > 0.0);
    let findings = v["findings"].as_array().unwrap();
    assert!(!findings.is_empty());
    assert!(
        findings
            .iter()
            .all(|f| f["evidence"].is_string() && f["suggestion"].is_string())
    );
}

#[test]
fn stdin_and_gzip_give_the_same_report() {
    let path = capture("run2-sched");
    let plain = std::fs::read(&path).unwrap();
    let from_file = json(&["--json", &path], None);
    let from_stdin = json(&["--json", "-"], Some(plain.clone()));
    assert_eq!(from_stdin, from_file);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let from_gzip = json(&["--json", "-"], Some(gz.finish().unwrap()));
    assert_eq!(from_gzip, from_file);
}

#[test]
fn several_files_give_one_report_each() {
    let out = analyze(&["--json", &capture("run1"), &capture("run2-sched")], None);
    let text = success_stdout(&out);
    let reports: Vec<Value> = serde_json::Deserializer::from_str(&text)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["iterations"]["count"], 759);
    assert_eq!(reports[1]["iterations"]["count"], 125);
}

#[test]
fn a_file_without_vllm_lines_is_reported_and_exits_1() {
    let out = analyze(&["-"], Some(b"hello\nworld\n".to_vec()));
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("nothing recognised: none of its 2 lines"),
        "{text}"
    );
}

#[test]
fn bad_input_is_one_line_naming_it() {
    fails_naming(
        &["analyze", "log", "/nonexistent/server.log"],
        &["/nonexistent/server.log"],
    );
    fails_naming(
        &["analyze", "log", &capture("run1"), "--gpu", "v100"],
        &["--gpu", "v100"],
    );
}
