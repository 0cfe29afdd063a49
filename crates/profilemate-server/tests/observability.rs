//! Metrics that depend on engine features: MFU counters from the roofline timer, and the
//! speculative-decoding counters.

use std::time::Duration;

use profilemate_model::hardware;
use profilemate_model::roofline::{Efficiency, Roofline, StepTimeEstimator};
use profilemate_model::{Deployment, Dtype, PerfModel, presets};
use profilemate_server::{EngineStepTimer, MemoryLog, MfuMetricsStepTimer, TokenTiming, spawn};
use profilemate_sim::RooflineStepTimer;
use profilemate_sim::{KvOffloadConfig, SpecDecodeConfig};
use serde_json::{Value, json};

use crate::util::{MODEL, fast_config};

fn roofline_timer() -> EngineStepTimer {
    let spec = presets::spec("tiny-llama").unwrap();
    let model = PerfModel::vllm_exact(&spec, &Deployment::new(Dtype::Bfloat16)).unwrap();
    let roofline = Roofline::new(hardware::preset("h100-sxm").unwrap(), Efficiency::default());
    let timer = RooflineStepTimer::new(StepTimeEstimator::new(model, roofline));
    EngineStepTimer::Roofline(Box::new(MfuMetricsStepTimer::new(timer)))
}

async fn complete(base: &str, body: Value) -> Value {
    let url = format!("{base}/v1/completions");
    let response = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn roofline_steps_feed_the_mfu_counters_and_line() {
    let log = MemoryLog::new();
    let mut config = fast_config();
    config.timing = TokenTiming::Engine(roofline_timer());
    config.logging.target = Some(log.target());
    config.logging.mfu_metrics = true;
    config.logging.stats_interval = Duration::from_millis(30);
    let server = spawn(config).await.unwrap();
    let v = complete(
        &server.base_url(),
        json!({"model": MODEL, "prompt": "a b c d", "max_tokens": 50}),
    )
    .await;
    assert_eq!(v["usage"]["completion_tokens"], 50);
    tokio::time::sleep(Duration::from_millis(80)).await;
    let text = server.state().registry().render();
    let scrape = profilemate_metrics::parse(&text).unwrap();
    let flops = scrape
        .value("vllm:estimated_flops_per_gpu_total", &[])
        .unwrap();
    assert!(flops > 0.0, "{text}");
    server.shutdown().await.unwrap();
    let lines = log.contents();
    assert!(
        lines.contains("[perf.py:1725] Engine 000: MFU: "),
        "{lines}"
    );
}

#[tokio::test]
async fn speculative_decoding_exports_its_counters_and_keeps_counts_exact() {
    let mut config = fast_config();
    config.engine.spec_decode = Some(SpecDecodeConfig {
        num_speculative_tokens: 3,
        acceptance_probability: 0.6,
        num_lookahead_tokens: 0,
    });
    let server = spawn(config).await.unwrap();
    let v = complete(
        &server.base_url(),
        json!({"prompt": "a b c", "max_tokens": 40}),
    )
    .await;
    assert_eq!(v["usage"]["completion_tokens"], 40);
    assert_eq!(
        v["choices"][0]["text"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count(),
        40
    );
    let scrape = profilemate_metrics::parse(&server.state().registry().render()).unwrap();
    let drafts = scrape
        .value("vllm:spec_decode_num_drafts_total", &[])
        .unwrap();
    let accepted = scrape
        .value("vllm:spec_decode_num_accepted_tokens_total", &[])
        .unwrap();
    assert!(
        drafts > 0.0 && accepted > 0.0,
        "drafts {drafts}, accepted {accepted}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn kv_offloading_exports_vllm_offload_metrics_and_the_transfer_line() {
    let log = MemoryLog::new();
    let mut config = fast_config();
    config.engine.kv_offload = Some(KvOffloadConfig::new(64 << 20, 128 << 10));
    config.logging.target = Some(log.target());
    config.logging.stats_interval = Duration::from_millis(30);
    let server = spawn(config).await.unwrap();
    let prompt = "w ".repeat(200);
    for _ in 0..2 {
        let v = complete(
            &server.base_url(),
            json!({"prompt": prompt, "max_tokens": 8}),
        )
        .await;
        assert_eq!(v["usage"]["completion_tokens"], 8);
    }
    tokio::time::sleep(Duration::from_millis(80)).await;
    let text = server.state().registry().render();
    let scrape = profilemate_metrics::parse(&text).unwrap();
    let stored = scrape.value("vllm:kv_offload_store_bytes_total", &[]);
    assert!(stored.is_some_and(|b| b > 0.0), "{text}");
    assert!(
        text.contains("vllm:kv_offload_cpu_cache_usage_perc"),
        "{text}"
    );
    server.shutdown().await.unwrap();
    assert!(
        log.contents()
            .contains("[metrics.py:103] KV Transfer metrics: "),
        "{}",
        log.contents()
    );
}
