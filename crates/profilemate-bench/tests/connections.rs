//! The client's own HTTP/1.1 connections: one per request in flight, reused by the requests
//! that follow, replaced when the server has closed them.

use std::sync::atomic::Ordering;
use std::time::Duration;

use profilemate_bench::client::Client;
use profilemate_bench::workload::{ClientPrompt, SampleRequest};
use profilemate_bench::{CancelToken, EventSink, run};

use crate::util::{config, counting_keep_alive_server, keep_alive_server};

fn request(i: usize) -> SampleRequest {
    SampleRequest {
        prompt: ClientPrompt::Text("a b c d e f g h".into()),
        prompt_len: 8,
        expected_output_len: 4,
        request_id: format!("conn-test-{i}"),
        timestamp: None,
        mm_content: Vec::new(),
    }
}

#[tokio::test]
async fn max_concurrency_bounds_the_connections_and_they_are_reused() {
    let (base, connections) = keep_alive_server(None).await;
    let mut cfg = config(&base, 40);
    cfg.endpoint.model = Some("m".into());
    cfg.workload.max_concurrency = Some(4);
    let report = run(&cfg, &EventSink::discard(), &CancelToken::never())
        .await
        .unwrap();
    let done = report.records.iter().filter(|r| r.success).count();
    assert_eq!(done, 40, "{:?}", report.extras.error_counts);
    assert_eq!(
        connections.load(Ordering::SeqCst),
        4,
        "40 requests in 4 slots: one connection per slot"
    );
}

#[tokio::test]
async fn a_connection_the_server_closed_while_idle_is_replaced() {
    let (base, connections) = keep_alive_server(Some(Duration::from_millis(30))).await;
    let cfg = config(&base, 1);
    let client = Client::new(&cfg, "m", None).unwrap();
    let never = CancelToken::never();
    let first = client.send(&request(0), &never).await;
    let again = client.send(&request(1), &never).await;
    assert!(first.success && again.success, "{first:?} {again:?}");
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "back to back: reused"
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    let later = client.send(&request(2), &never).await;
    assert!(later.success, "after the server's idle close: {later:?}");
    assert_eq!(later.output_tokens, 4);
    assert_eq!(connections.load(Ordering::SeqCst), 2, "a new connection");
}

#[tokio::test]
async fn a_host_name_is_resolved() {
    let (base, connections) = keep_alive_server(None).await;
    let cfg = config(&base.replace("127.0.0.1", "localhost"), 1);
    let client = Client::new(&cfg, "m", None).unwrap();
    for i in 0..3 {
        let rec = client.send(&request(i), &CancelToken::never()).await;
        assert!(rec.success, "{rec:?}");
    }
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_https_or_malformed_url_fails_each_request_naming_the_url() {
    for (url, says) in [
        ("https://127.0.0.1:9", "only http:// is supported"),
        ("http://bad host", "invalid URL"),
    ] {
        let cfg = config(url, 1);
        let client = Client::new(&cfg, "m", None).unwrap();
        let rec = client.send(&request(0), &CancelToken::never()).await;
        assert!(!rec.success);
        assert!(
            rec.error.contains(says) && rec.error.contains(url),
            "{url}: {}",
            rec.error
        );
    }
}

#[tokio::test]
async fn the_slots_connections_are_opened_before_the_first_request_and_reused() {
    let server = counting_keep_alive_server(None).await;
    let mut cfg = config(&server.base, 40);
    cfg.endpoint.model = Some("m".into());
    cfg.workload.max_concurrency = Some(4);
    let report = run(&cfg, &EventSink::discard(), &CancelToken::never())
        .await
        .unwrap();
    assert_eq!(report.records.iter().filter(|r| r.success).count(), 40);
    assert_eq!(
        server.accepted_at_first_request.load(Ordering::SeqCst),
        4,
        "all four slots' connections were open when the first request arrived"
    );
    assert_eq!(server.accepted.load(Ordering::SeqCst), 4, "and no other");
    assert_eq!(server.carried.load(Ordering::SeqCst), 4, "each one used");
    let c = report.connections.clone().expect("connection figures");
    assert!(c.warm);
    assert_eq!((c.opened_before_run, c.opened_during_run), (4, 0));
    assert!(
        c.mean_connect_ms > 0.0 && c.mean_connect_ms <= c.p99_connect_ms,
        "{c:?}"
    );
    assert!(c.p99_connect_ms < 1000.0, "a loopback connect: {c:?}");
    let json = profilemate_bench::output::ResultJson::new(&report, false).merged();
    let v = serde_json::to_value(&json).unwrap();
    assert_eq!(v["connections"]["opened_before_run"], 4);
    assert_eq!(v["connections"]["warm"], true);
}

#[tokio::test]
async fn cold_connections_connect_inside_the_run_as_vllms_client() {
    let server = counting_keep_alive_server(None).await;
    let mut cfg = config(&server.base, 40);
    cfg.endpoint.model = Some("m".into());
    cfg.workload.max_concurrency = Some(4);
    cfg.endpoint.cold_connections = true;
    let report = run(&cfg, &EventSink::discard(), &CancelToken::never())
        .await
        .unwrap();
    assert_eq!(report.records.iter().filter(|r| r.success).count(), 40);
    assert_eq!(server.accepted.load(Ordering::SeqCst), 4);
    let c = report.connections.unwrap();
    assert!(!c.warm);
    assert_eq!((c.opened_before_run, c.opened_during_run), (0, 4));
    assert!(c.mean_connect_during_run_ms > 0.0);
}

#[tokio::test]
async fn without_a_concurrency_limit_each_prompt_gets_a_connection_up_to_the_cap() {
    let server = counting_keep_alive_server(None).await;
    let mut cfg = config(&server.base, 6);
    cfg.endpoint.model = Some("m".into());
    let report = run(&cfg, &EventSink::discard(), &CancelToken::never())
        .await
        .unwrap();
    assert_eq!(server.accepted_at_first_request.load(Ordering::SeqCst), 6);
    let c = report.connections.unwrap();
    assert_eq!((c.opened_before_run, c.opened_during_run), (6, 0));
}
