//! `--data-parallel-size N`: N simulated engines behind vLLM's load balancer in one server,
//! each engine's metrics under its own `engine` label and its log lines under its own prefix.

use std::time::Duration;

use profilemate_metrics::query::Matcher;
use profilemate_server::{MemoryLog, spawn};
use serde_json::json;

use crate::util::{MODEL, fast_config};

/// The sum of `name`'s series for `engine`, 0 when it has none.
fn per_engine(scrape: &profilemate_metrics::Scrape, name: &str, engine: &str) -> f64 {
    let m = [Matcher::eq("engine", engine)];
    scrape.instant(name, &m).iter().map(|(_, v)| v).sum()
}

#[tokio::test]
async fn two_engines_share_a_burst_and_label_their_metrics_and_lines() {
    let log = MemoryLog::new();
    let mut config = fast_config();
    config.data_parallel_size = 2;
    config.logging.target = Some(log.target());
    config.logging.iteration_details = true;
    config.logging.stats_interval = Duration::from_millis(30);
    let server = spawn(config).await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/v1/completions", server.base_url());
    let sends = (0..8).map(|i| {
        let body = json!({"model": MODEL, "prompt": format!("p{i} a b c"), "max_tokens": 20});
        client.post(&url).json(&body).send()
    });
    for response in futures_util::future::join_all(sends).await {
        let v: serde_json::Value = response.unwrap().json().await.unwrap();
        assert_eq!(v["usage"]["completion_tokens"], 20);
    }
    tokio::time::sleep(Duration::from_millis(80)).await;
    let text = server.state().registry().render();
    let scrape = profilemate_metrics::parse(&text).unwrap();
    let done = |e| per_engine(&scrape, "vllm:request_success_total", e);
    let tokens = |e| per_engine(&scrape, "vllm:generation_tokens_total", e);
    // Each engine served some of the burst, and together exactly all of it.
    assert!(done("0") >= 1.0 && done("1") >= 1.0, "{text}");
    assert_eq!(done("0") + done("1"), 8.0);
    assert_eq!(tokens("0") + tokens("1"), 160.0);
    assert_eq!(tokens("0"), 20.0 * done("0"));
    let running = |e| scrape.instant("vllm:num_requests_running", &[Matcher::eq("engine", e)]);
    assert_eq!((running("0").len(), running("1").len()), (1, 1), "{text}");
    let status = server.state().engine_status();
    assert_eq!(status.live_requests, 0);
    assert_eq!(status.kv_block_holders, 0);
    assert_eq!(status.generated_tokens, 160);
    server.shutdown().await.unwrap();
    let lines = log.contents();
    for engine in ["000", "001"] {
        assert!(
            lines.contains(&format!("Engine {engine}: Iteration(0): ")),
            "{lines}"
        );
        assert!(
            lines.contains(&format!("Engine {engine}: Avg prompt throughput")),
            "{lines}"
        );
    }
}

#[tokio::test]
async fn a_data_parallel_size_of_zero_is_refused() {
    let mut config = fast_config();
    config.data_parallel_size = 0;
    let err = spawn(config).await.unwrap_err().to_string();
    assert!(err.contains("--data-parallel-size"), "{err}");
}
