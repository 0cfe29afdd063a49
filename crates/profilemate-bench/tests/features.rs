//! End-to-end runs of the other backends and run phases against a loopback server: chat with
//! reasoning deltas, embeddings, ramp-up events, warmups and the ready check.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use profilemate_bench::config::{Backend, PercentileMetric};
use profilemate_bench::output::{ResultJson, render_vllm_table};
use profilemate_bench::report::TaskMetrics;
use profilemate_bench::schedule::{Arrivals, RampUp};
use profilemate_bench::{BenchError, CancelToken, EventSink, run};

use crate::util::{Reply, config, fault_server, recording_server};

#[tokio::test]
async fn chat_reasoning_counts_for_ttft_and_content_for_ttfc() {
    let base = fault_server(|_| Reply::Tokens(1)).await;
    let mut cfg = config(&base, 3);
    cfg.workload.backend = Backend::OpenaiChat;
    cfg.endpoint.endpoint = "/v1/chat/completions".into();
    let report = run(&cfg, &EventSink::discard(), &CancelToken::never())
        .await
        .unwrap();
    let TaskMetrics::Generation(m) = &report.metrics else {
        panic!("generation")
    };
    assert_eq!((m.completed, m.total_output, m.total_input), (3, 18, 24));
    for r in &report.records {
        assert_eq!(r.generated_text, " a b c d", "only content is accumulated");
        assert_eq!(r.itl.len(), 4, "one ITL per chunk after the first");
        assert_eq!(r.chunk_tokens, vec![1, 1, 1, 2, 2]);
        let ttfc = r.ttfc.unwrap();
        assert!(
            ttfc >= r.ttft + 0.040,
            "content arrives three chunks after the first: ttft {} ttfc {ttfc}",
            r.ttft
        );
    }
    assert!(report.extras.ttfc.mean_ms > m.ttft.mean_ms);
    // Per-token ITL splits the two-token chunks: 6 entries per request against 4 per-chunk gaps.
    let mut per_token = Vec::new();
    report.records[0].per_token_itl(&mut per_token);
    assert_eq!(per_token.len(), 6);
}

#[tokio::test]
async fn embeddings_use_pooling_metrics_and_keys() {
    let base = fault_server(|_| Reply::Status(500)).await;
    let mut cfg = config(&base, 4);
    cfg.workload.backend = Backend::OpenaiEmbeddings;
    cfg.endpoint.endpoint = "/v1/embeddings".into();
    let report = run(&cfg, &EventSink::discard(), &CancelToken::never())
        .await
        .unwrap();
    let TaskMetrics::Pooling(m) = &report.metrics else {
        panic!("pooling")
    };
    assert_eq!(
        (m.completed, m.total_input, m.total_input_sequences),
        (4, 32, 4)
    );
    let json = ResultJson::new(&report, true).vllm;
    assert!(json.get("failed").is_none() && json.get("total_input_sequences").is_some());
    assert!(
        json.get("mean_e2el_ms").is_some() && json.get("mean_ttft_ms").is_none(),
        "pooling defaults to e2el"
    );
    assert!(render_vllm_table(&report).contains("Input throughput (inputs/s):"));
}

#[tokio::test]
async fn ramp_up_records_rate_changes() {
    let base = fault_server(|_| Reply::Tokens(1)).await;
    let mut cfg = config(&base, 9);
    cfg.workload.arrivals = Arrivals::Rate {
        request_rate: f64::INFINITY,
        burstiness: f64::INFINITY,
        ramp_up: Some(RampUp::Linear { start: 20, end: 60 }),
    };
    let report = run(&cfg, &EventSink::discard(), &CancelToken::never())
        .await
        .unwrap();
    let rps: Vec<u32> = report.rps_change_events.iter().map(|e| e.rps).collect();
    assert_eq!(rps, (20..=60).collect::<Vec<_>>());
    let json = ResultJson::new(&report, false).vllm;
    assert_eq!(
        json.get("ramp_up_strategy").and_then(|v| v.as_str()),
        Some("linear")
    );
    assert_eq!(
        json.get("rps_change_events")
            .and_then(|v| v.as_array())
            .map(Vec::len),
        Some(41)
    );
}

#[tokio::test]
async fn warmups_are_sent_and_discarded() {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let base = fault_server(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        Reply::Tokens(2)
    })
    .await;
    let mut cfg = config(&base, 4);
    cfg.endpoint.num_warmups = 3;
    cfg.workload.max_concurrency = Some(2);
    cfg.workload.percentile_metrics = Some(vec![PercentileMetric::Ttft]);
    let report = run(&cfg, &EventSink::discard(), &CancelToken::never())
        .await
        .unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 7);
    assert_eq!(report.records.len(), 4);
}

#[tokio::test]
async fn ready_check_gives_up_with_the_last_error() {
    let base = fault_server(|_| Reply::Status(500)).await;
    let mut cfg = config(&base, 2);
    cfg.endpoint.ready_check_timeout = Duration::from_millis(300);
    let err = run(&cfg, &EventSink::discard(), &CancelToken::never())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BenchError::NotReady(e) if e == "Internal Server Error"),
        "{err}"
    );
}

#[tokio::test]
async fn headers_and_bodies_reach_the_server_as_vllm_sends_them() {
    let (base, seen) = recording_server(|_| Reply::Tokens(1)).await;
    let mut cfg = config(&base, 2);
    cfg.endpoint.model = Some("org/model".into());
    cfg.endpoint.served_model_name = Some("served".into());
    cfg.endpoint.api_key = Some("sk-test".into());
    cfg.endpoint.headers = vec![("X-Tenant".into(), "blue".into())];
    cfg.endpoint.extra_body = serde_json::from_str(r#"{"temperature": 0.25}"#).unwrap();
    run(&cfg, &EventSink::discard(), &CancelToken::never())
        .await
        .unwrap();
    let seen = seen.lock().unwrap();
    let posts: Vec<&(String, String)> = seen
        .iter()
        .filter(|(h, _)| h.starts_with("post "))
        .collect();
    assert_eq!(posts.len(), 2);
    for (head, body) in posts {
        assert!(
            head.contains("authorization: bearer sk-test") && head.contains("x-tenant: blue"),
            "{head}"
        );
        assert!(head.contains("x-request-id: bench-test-"), "{head}");
        let b: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            (b["model"].as_str(), b["temperature"].as_f64()),
            (Some("served"), Some(0.25))
        );
        assert_eq!(
            b["prompt"].as_array().map(Vec::len),
            Some(8),
            "token-id prompt of exact length"
        );
        assert_eq!(b["ignore_eos"], true);
    }
}

#[tokio::test]
async fn multimodal_chat_bodies_reach_the_server_with_their_content_parts() {
    use profilemate_bench::workload::{
        BucketConfig, DatasetSpec, RandomMmSpec, RangeRatio, default_limit_mm_per_prompt,
    };
    let (base, seen) = recording_server(|_| Reply::Tokens(1)).await;
    let mut cfg = config(&base, 2);
    cfg.workload.backend = Backend::OpenaiChat;
    cfg.endpoint.endpoint = "/v1/chat/completions".into();
    cfg.workload.dataset = DatasetSpec::RandomMm(RandomMmSpec {
        input_len: 8,
        output_len: 4,
        range_ratio: RangeRatio::default(),
        prefix_len: 0,
        base_items_per_request: 2,
        num_mm_items_range_ratio: 0.0,
        limit_mm_per_prompt: default_limit_mm_per_prompt(),
        bucket_config: BucketConfig(vec![((16, 16, 1), 1.0)]),
        multimodal_chat: false,
    });
    let report = run(&cfg, &EventSink::discard(), &CancelToken::never())
        .await
        .unwrap();
    assert_eq!(report.records.iter().filter(|r| r.success).count(), 2);
    let seen = seen.lock().unwrap();
    let bodies: Vec<serde_json::Value> = seen
        .iter()
        .filter(|(h, _)| h.starts_with("post /v1/chat/completions"))
        .map(|(_, b)| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(bodies.len(), 2);
    for b in bodies {
        let content = b["messages"][0]["content"].as_array().unwrap();
        let kinds: Vec<&str> = content
            .iter()
            .map(|p| p["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, vec!["text", "image_url", "image_url"]);
        assert_eq!(
            content[0]["text"]
                .as_str()
                .unwrap()
                .split_whitespace()
                .count(),
            8
        );
        let url = content[1]["image_url"]["url"].as_str().unwrap();
        assert!(
            url.starts_with("data:image/jpeg;base64,/9j/4AAQSkZJRg"),
            "{}",
            &url[..40]
        );
        assert_eq!(b["max_completion_tokens"], 4);
    }
}
