//! The client's own HTTP/1.1 connections: one per request in flight, reused by the requests
//! that follow, replaced when the server has closed them.

use std::sync::atomic::Ordering;
use std::time::Duration;

use profilemate_bench::client::Client;
use profilemate_bench::workload::{Prompt, SampleRequest};
use profilemate_bench::{CancelToken, EventSink, run};

use crate::util::{config, keep_alive_server};

fn request(i: usize) -> SampleRequest {
    SampleRequest {
        prompt: Prompt::Text("a b c d e f g h".into()),
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
    cfg.model = Some("m".into());
    cfg.max_concurrency = Some(4);
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
