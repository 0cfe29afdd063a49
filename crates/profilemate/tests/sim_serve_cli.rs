//! `profilemate sim serve` as a user runs it: bad flags fail with exit 2, and a real server
//! answers on the port it reports.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command as StdCommand, Stdio};

mod util;
use util::fails_naming;

#[test]
fn negative_time_scale_is_refused_with_the_flag_named() {
    fails_naming(
        &[
            "sim",
            "serve",
            "--time-scale=-1",
            "--port",
            "0",
            "--model",
            "tiny-llama",
        ],
        &["--time-scale"],
    );
}

#[test]
fn fixed_ttft_needs_fixed_itl() {
    fails_naming(
        &["sim", "serve", "--fixed-ttft-ms", "50"],
        &["--fixed-itl-ms"],
    );
}

#[test]
fn serves_models_on_the_reported_port() {
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("profilemate"))
        .args([
            "sim",
            "serve",
            "--port",
            "0",
            "--served-model-name",
            "tiny",
            "--model",
            "tiny-llama",
        ])
        .args(["--max-model-len", "2048", "--disable-log-stats"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next());
    let answer = addr.map(|a| get(a, "/v1/models"));
    child.kill().unwrap();
    let _ = child.wait();
    let answer = answer.unwrap_or_else(|| panic!("no address in {line:?}"));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"id\":\"tiny\""), "{answer}");
}

fn get(addr: &str, path: &str) -> String {
    let mut socket = TcpStream::connect(addr).unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).unwrap();
    let mut text = String::new();
    socket.read_to_string(&mut text).unwrap();
    text
}

#[test]
fn a_profiler_config_that_is_not_a_json_object_is_refused() {
    fails_naming(
        &["sim", "serve", "--profiler-config", "torch"],
        &[
            "--profiler-config torch",
            "JSON object",
            r#"{"profiler": "torch"}"#,
        ],
    );
}
