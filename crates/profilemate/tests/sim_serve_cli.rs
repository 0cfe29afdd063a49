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
    ] {
        let arg = format!("{flag}={value}");
        fails_naming(
            &["sim", "serve", &arg, "--port", "0", "--model", "tiny-llama"],
            &[flag],
        );
    }
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
