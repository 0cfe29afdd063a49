//! `profilemate sim serve` as a user runs it: bad flags fail with exit 2, and a real server
//! answers on the port it reports.

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

// See: issue 13 (connection timeouts are flags of sim serve).
#[test]
fn zero_or_negative_request_timeouts_are_refused_with_the_flag_named() {
    for (flag, value) in [
        ("--timeout-request-head-s", "0"),
        ("--timeout-request-body-s", "-1"),
        ("--timeout-request-body-s", "inf"),
        ("--timeout-keep-alive", "0"),
    ] {
        let arg = format!("{flag}={value}");
        fails_naming(
            &["sim", "serve", &arg, "--port", "0", "--model", "tiny-llama"],
            &[flag],
        );
    }
}

// See: issue 13 (the request-body budget is a flag; it must hold one body of the largest size).
#[test]
fn a_body_budget_below_one_largest_body_is_refused_with_the_flag_named() {
    fails_naming(
        &[
            "sim",
            "serve",
            "--body-budget-mib",
            "8",
            "--port",
            "0",
            "--model",
            "tiny-llama",
        ],
        &["--body-budget-mib", "16777216"],
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
    let answer = util::sim_serve_get(
        &["--served-model-name", "tiny", "--model", "tiny-llama"],
        "/v1/models",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"id\":\"tiny\""), "{answer}");
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

// See: issue 13 (SIGTERM, what `docker stop` sends, is a graceful stop): a stream in flight
// at the signal runs to its end, then the server exits 0.
#[cfg(unix)]
#[test]
fn sigterm_lets_the_stream_in_flight_finish_then_exits_0() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let (mut child, addr) = util::spawn_sim_serve(
        &[
            "--model",
            "tiny-llama",
            "--served-model-name",
            "tiny",
            "--fixed-ttft-ms",
            "0",
            "--fixed-itl-ms",
            "20",
        ],
        &[],
    );
    let mut socket = std::net::TcpStream::connect(&addr).unwrap();
    let body = r#"{"prompt": "a b c", "max_tokens": 50, "stream": true}"#;
    let request = format!(
        "POST /v1/completions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).unwrap();
    let mut first = [0_u8; 512];
    let n = socket.read(&mut first).unwrap();
    let first = String::from_utf8_lossy(&first[..n]).into_owned();
    assert!(
        first.starts_with("HTTP/1.1 200"),
        "the stream started: {first}"
    );

    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let mut rest = String::new();
    socket.read_to_string(&mut rest).unwrap();
    assert!(
        rest.contains(r#""finish_reason":"length""#) && rest.contains("data: [DONE]"),
        "the stream in flight ran to its end: {rest}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 20 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "{status:?}");
}

/// `POST path` to a `sim serve tiny-llama` started with `env`, the raw HTTP response.
fn post_with_env(env: &[(&str, &str)], path: &str) -> String {
    let (mut child, addr) = util::spawn_sim_serve(&["tiny-llama"], env);
    let answer = util::http_request(&addr, "POST", path);
    child.kill().unwrap();
    let _ = child.wait();
    answer
}

/// vLLM serves its cache-reset routes only in dev mode; so does sim serve (bench sweep calls
/// them between runs).
#[test]
fn cache_reset_routes_exist_only_in_dev_mode() {
    let dev = [("VLLM_SERVER_DEV_MODE", "1")];
    let reset = post_with_env(&dev, "/reset_prefix_cache");
    assert!(reset.starts_with("HTTP/1.1 200"), "{reset}");
    assert!(reset.ends_with(r#"{"success":true}"#), "{reset}");
    let mm = post_with_env(&dev, "/reset_mm_cache");
    assert!(mm.starts_with("HTTP/1.1 200"), "{mm}");
    let off = post_with_env(&[("VLLM_SERVER_DEV_MODE", "0")], "/reset_prefix_cache");
    assert!(off.starts_with("HTTP/1.1 404"), "{off}");
}

/// `--data-parallel-size 3` serves three engines: every vLLM series once per engine label.
#[test]
fn data_parallel_engines_each_export_their_series() {
    let answer = util::sim_serve_get(
        &["--model", "tiny-llama", "--data-parallel-size", "3"],
        "/metrics",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let running: Vec<&str> = answer
        .lines()
        .filter(|l| l.starts_with("vllm:num_requests_running{"))
        .collect();
    assert_eq!(running.len(), 3, "{answer}");
    for engine in ["0", "1", "2"] {
        let label = format!("engine=\"{engine}\"");
        assert!(running.iter().any(|l| l.contains(&label)), "{answer}");
    }
}
