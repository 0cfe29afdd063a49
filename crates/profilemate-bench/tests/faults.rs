//! Runs against fault-injecting loopback servers: 500/429, streams cut midway, malformed SSE,
//! stalls, empty streams. Every request must be accounted for, the run must end, and the
//! results must be written.

use std::time::{Duration, Instant};

use profilemate_bench::config::OutputConfig;
use profilemate_bench::output::{NameParts, ResultJson, result_filename, write_result};
use profilemate_bench::report::TaskMetrics;
use profilemate_bench::schedule::Arrivals;
use profilemate_bench::{CancelToken, EventSink, Report, cancel_pair, run};

use crate::util::{Reply, config, fault_server};

fn plan(i: usize) -> Reply {
    [
        Reply::Tokens(4),
        Reply::Status(500),
        Reply::Status(429),
        Reply::Cut,
        Reply::Malformed,
        Reply::Stall,
        Reply::NoTokens,
    ][i % 7]
}

fn generation(r: &Report) -> &profilemate_bench::metrics::BenchmarkMetrics {
    match &r.metrics {
        TaskMetrics::Generation(m) => m,
        TaskMetrics::Pooling(_) => panic!("expected generation metrics"),
    }
}

#[tokio::test]
async fn every_fault_is_accounted_for_and_results_are_written() {
    let base = fault_server(plan).await;
    let cfg = config(&base, 14);
    let started = Instant::now();
    let report = run(&cfg, &EventSink::discard(), &CancelToken::never())
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the run must end despite a stalled stream"
    );
    let m = generation(&report);
    assert_eq!((m.completed, m.failed, report.not_sent), (2, 12, 0));
    let want: Vec<(&str, u64)> = vec![
        ("http_429", 2),
        ("http_500", 2),
        ("malformed_sse", 2),
        ("no_token_chunk", 2),
        ("stream_interrupted", 2),
        ("timeout", 2),
    ];
    let got: Vec<(&str, u64)> = report
        .extras
        .error_counts
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        m.total_output, 8,
        "usage.completion_tokens of the two good streams"
    );
    assert_eq!(
        report.settings.model_id, "org/fault-model",
        "model resolved from /v1/models"
    );
    let errors: Vec<&str> = report
        .records
        .iter()
        .filter(|r| !r.success)
        .map(|r| r.error.as_str())
        .collect();
    assert!(
        errors.contains(&"Internal Server Error") && errors.contains(&"Too Many Requests"),
        "{errors:?}"
    );
    let extras = profilemate_bench::output::render_extras_table(&report);
    for line in [
        "http_500:                                2",
        "timeout:                                 2",
        "Prefix cache hit rate (%):               25.00",
    ] {
        assert!(extras.contains(line), "{line:?} missing from\n{extras}");
    }
    let server = report.server.as_ref().expect("server view from /metrics");
    assert_eq!(server.prefix_cache_hit_rate, Some(0.25));

    let dir = std::env::temp_dir().join(format!("pm-bench-faults-{}", std::process::id()));
    let out = OutputConfig {
        save_result: true,
        result_dir: Some(dir),
        ..Default::default()
    };
    let parts = NameParts {
        backend: "vllm",
        model_id: &report.settings.model_id,
        request_rate: f64::INFINITY,
        max_concurrency: None,
        ramp_up: None,
        date: &report.date,
    };
    let path = result_filename(&out, &parts).unwrap();
    write_result(&path, &ResultJson::new(&report, false).to_bytes(), false).unwrap();
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        (saved["completed"].as_u64(), saved["failed"].as_u64()),
        (Some(2), Some(12))
    );
    assert_eq!(saved["error_counts"]["timeout"].as_u64(), Some(2));
    // The two raw scrapes ride along, so `analyze bench` can read the server's view later.
    let scrapes = &saved["server_scrapes"];
    let (before, after) = (
        scrapes["before"].as_str().unwrap(),
        scrapes["after"].as_str().unwrap(),
    );
    assert!(
        before.starts_with("vllm:prefix_cache_queries_total{engine=\"0\"} "),
        "{before}"
    );
    // Line 1 is the queries counter, line 2 the hits: 25% of the queries in between hit.
    let value = |t: &str, line: usize| -> f64 {
        let l = t.lines().nth(line).unwrap();
        l.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let queries = value(after, 0) - value(before, 0);
    assert!(queries > 0.0, "{before}\n{after}");
    assert_eq!(value(after, 1) - value(before, 1), queries * 0.25);
    let elapsed = scrapes["elapsed_s"].as_f64().unwrap();
    let unix =
        scrapes["after_unix_s"].as_f64().unwrap() - scrapes["before_unix_s"].as_f64().unwrap();
    assert!(
        elapsed > 0.0 && (elapsed - unix).abs() < 0.5,
        "{elapsed} vs {unix}"
    );
    assert!(
        path.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("vllm-infqps-fault-model-")
    );
}

#[tokio::test]
async fn all_failed_is_detectable() {
    let base = fault_server(|_| Reply::Status(500)).await;
    let report = run(
        &config(&base, 5),
        &EventSink::discard(),
        &CancelToken::never(),
    )
    .await
    .unwrap();
    assert!(report.all_failed());
    assert_eq!(generation(&report).failed, 5);
}

#[tokio::test]
async fn connection_refused_is_a_failed_request_not_an_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut cfg = config(&base, 3);
    cfg.endpoint.model = Some("m".into());
    let report = run(&cfg, &EventSink::discard(), &CancelToken::never())
        .await
        .unwrap();
    assert_eq!(report.extras.error_counts.get("connect"), Some(&3));
}

/// A fault server whose first two requests get two tokens each and every later one stalls.
async fn two_answered_then_stalls() -> String {
    fault_server(|i| {
        if i < 2 {
            Reply::Tokens(2)
        } else {
            Reply::Stall
        }
    })
    .await
}

#[tokio::test]
async fn stop_ends_sending_and_cuts_stalled_requests_after_the_grace() {
    let base = two_answered_then_stalls().await;
    let mut cfg = config(&base, 50);
    cfg.endpoint.request_timeout = None;
    cfg.endpoint.interrupt_grace = Duration::from_millis(200);
    cfg.workload.arrivals = Arrivals::Rate {
        request_rate: 20.0,
        burstiness: f64::INFINITY,
        ramp_up: None,
    };
    let (canceller, token) = cancel_pair();
    let (events, mut rx) = EventSink::channel();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        canceller.stop();
        // Held past the run so the stop is never upgraded to an abort by a drop.
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    let started = Instant::now();
    let report = run(&cfg, &events, &token).await.unwrap();
    drop(events);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the grace is bounded: {:?}",
        started.elapsed()
    );
    assert!(report.interrupted);
    let sent = report.records.len() + report.interrupted_requests;
    assert!((4..=8).contains(&sent), "sent {sent} in 300 ms at 20 req/s");
    assert_eq!(sent + report.not_sent, 50);
    let m = generation(&report);
    assert_eq!(
        (m.completed, m.failed),
        (2, 0),
        "interrupted are not failures"
    );
    assert_eq!(report.interrupted_requests, sent - 2);
    assert!(!report.extras.error_counts.contains_key("cancelled"));
    let mut stopping = None;
    while let Some(e) = rx.recv().await {
        if let profilemate_bench::Event::Stopping { in_flight, .. } = e {
            stopping = Some(in_flight);
        }
    }
    assert_eq!(
        stopping,
        Some(report.interrupted_requests),
        "the stalled requests in flight at the stop are the ones cut"
    );
}

#[tokio::test]
async fn abort_cuts_requests_in_flight_at_once() {
    let base = two_answered_then_stalls().await;
    let mut cfg = config(&base, 10);
    cfg.endpoint.request_timeout = None;
    cfg.workload.max_concurrency = Some(3);
    let (canceller, token) = cancel_pair();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        canceller.abort();
    });
    let started = Instant::now();
    let report = run(&cfg, &EventSink::discard(), &token).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no grace on abort"
    );
    let m = generation(&report);
    assert_eq!(
        (
            m.completed,
            m.failed,
            report.interrupted_requests,
            report.not_sent
        ),
        (2, 0, 3, 5),
        "2 done, the 3 stalled slots cut, the rest never sent"
    );
}

#[tokio::test]
async fn duration_caps_sending_and_in_flight_requests_drain() {
    let base = fault_server(|_| Reply::Tokens(3)).await;
    let mut cfg = config(&base, 100);
    cfg.workload.arrivals = Arrivals::Rate {
        request_rate: 50.0,
        burstiness: f64::INFINITY,
        ramp_up: None,
    };
    cfg.workload.duration = Some(Duration::from_millis(200));
    let report = run(&cfg, &EventSink::discard(), &CancelToken::never())
        .await
        .unwrap();
    let sent = report.records.len();
    // Constant gaps of 20 ms: offsets 20, 40, ..., 180 ms fall inside the 200 ms window.
    // (A starved CI box may cut the last one at the real-time check.)
    assert!((8..=9).contains(&sent), "sent {sent}");
    assert_eq!(generation(&report).completed as usize, sent);
    assert_eq!(report.not_sent, 100 - sent);
    assert!(!report.interrupted);
}

#[tokio::test]
async fn max_concurrency_queues_on_the_client_and_reports_it() {
    let base = fault_server(|_| Reply::Tokens(5)).await;
    let mut cfg = config(&base, 6);
    cfg.workload.max_concurrency = Some(1);
    cfg.workload.percentile_metrics = Some(
        profilemate_bench::config::PercentileMetric::parse_list("ttft,client_queue_time").unwrap(),
    );
    let report = run(&cfg, &EventSink::discard(), &CancelToken::never())
        .await
        .unwrap();
    let m = generation(&report);
    assert_eq!(m.completed, 6);
    let queued = report
        .records
        .iter()
        .filter(|r| r.client_queue_time > 0.005)
        .count();
    assert!(queued >= 4, "with one slot, later requests wait: {queued}");
    let blocks: Vec<&str> = report
        .metric_blocks()
        .iter()
        .map(|b| b.metric.key())
        .collect();
    assert_eq!(blocks, vec!["ttft", "client_queue_time"]);
}

#[tokio::test]
async fn an_sse_line_that_never_ends_fails_its_request_not_the_run() {
    let base = fault_server(|i| {
        if i == 1 {
            Reply::EndlessLine(17 << 20)
        } else {
            Reply::Tokens(2)
        }
    })
    .await;
    let mut cfg = config(&base, 3);
    cfg.endpoint.model = Some("m".into());
    cfg.workload.max_concurrency = Some(1);
    cfg.endpoint.request_timeout = Some(Duration::from_secs(20));
    let report = run(&cfg, &EventSink::discard(), &CancelToken::never())
        .await
        .unwrap();
    let m = generation(&report);
    assert_eq!((m.completed, m.failed), (2, 1));
    let failed = report.records.iter().find(|r| !r.success).unwrap();
    assert!(
        failed
            .error
            .starts_with("an SSE line or event grew past 16 MiB without ending"),
        "{}",
        failed.error
    );
    assert_eq!(report.extras.error_counts.get("malformed_sse"), Some(&1));
}

#[tokio::test]
async fn a_servers_error_body_is_kept_in_the_request_error() {
    const CONTEXT: &str = r#"{"object":"error","message":"This model's maximum context length is 2048 tokens. However, you requested 4096 tokens.","type":"BadRequestError","param":null,"code":400}"#;
    const LONG: &str = concat!(
        "{\"message\":\"",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "\"}"
    );
    let base = fault_server(|i| match i {
        0 => Reply::StatusBody(400, CONTEXT),
        _ => Reply::StatusBody(400, LONG),
    })
    .await;
    let mut cfg = config(&base, 2);
    cfg.endpoint.model = Some("m".into());
    cfg.workload.max_concurrency = Some(1);
    let report = run(&cfg, &EventSink::discard(), &CancelToken::never())
        .await
        .unwrap();
    let errors: Vec<&str> = report.records.iter().map(|r| r.error.as_str()).collect();
    assert_eq!(errors[0], format!("Bad Request: {CONTEXT}"));
    let max = profilemate_bench::client::MAX_ERROR_BODY;
    assert!(LONG.len() > max);
    assert_eq!(errors[1], format!("Bad Request: {}…", &LONG[..max]));
    assert_eq!(report.extras.error_counts.get("http_400"), Some(&2));
}

#[tokio::test]
async fn a_hostile_scrape_shows_n_a_in_the_table_and_null_in_the_json() {
    use crate::util::{ScrapeReply, Stages, staged_server};
    let (base, _) = staged_server(
        |_| Reply::Tokens(2),
        Stages {
            scrapes: [
                ScrapeReply::Text(
                    "vllm:estimated_flops_per_gpu_total 0\nvllm:estimated_read_bytes_per_gpu_total 0\nvllm:num_preemptions_total 0\n",
                ),
                ScrapeReply::Text(
                    "vllm:estimated_flops_per_gpu_total NaN\nvllm:estimated_read_bytes_per_gpu_total 1e9\nvllm:num_preemptions_total +Inf\n",
                ),
            ],
            ..Stages::default()
        },
    )
    .await;
    let mut cfg = config(&base, 2);
    cfg.endpoint.model = Some("m".into());
    cfg.endpoint.gpu = Some(profilemate_bench::server_metrics::GpuPeak {
        tflops: 989.0,
        gbps: 3350.0,
    });
    let report = run(&cfg, &EventSink::discard(), &CancelToken::never())
        .await
        .unwrap();
    let table = profilemate_bench::output::render_extras_table(&report);
    for line in [
        "Estimated TF/s per GPU:                  n/a",
        "MFU (%):                                 n/a",
        "Preemptions:                             n/a",
    ] {
        assert!(table.contains(line), "{line:?} missing from\n{table}");
    }
    assert!(table.contains("MBU (%):"), "{table}");
    for bad in ["NaN", "inf", "Reading:"] {
        assert!(!table.contains(bad), "{bad:?} in\n{table}");
    }
    let bytes = ResultJson::new(&report, false).to_bytes();
    let saved: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let server = &saved["server_metrics"];
    let text = server.to_string();
    assert!(
        !text.contains("NaN") && !text.contains("Infinity"),
        "{text}"
    );
    assert!(
        server["mfu_pct"].is_null() && server["preemptions"].is_null(),
        "{server}"
    );
    assert!(server["mbu_pct"].as_f64().unwrap() > 0.0, "{server}");
}

#[tokio::test]
async fn requests_cut_while_connecting_are_not_sent_not_cancelled() {
    // A server that accepts two connections, reads their requests and never answers, then
    // accepts no more: with a backlog of 1, later connects queue (at most 2) or hang.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        for _ in 0..2 {
            let (sock, _) = listener.accept().await.unwrap();
            held.push(sock);
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
        drop((held, listener));
    });
    let mut cfg = config(&base, 10);
    cfg.endpoint.model = Some("m".into());
    cfg.endpoint.request_timeout = None;
    cfg.endpoint.cold_connections = true;
    cfg.endpoint.control_timeout = Duration::from_millis(100);
    let (canceller, token) = cancel_pair();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        canceller.abort();
    });
    let started = Instant::now();
    let report = run(&cfg, &EventSink::discard(), &token).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    let m = generation(&report);
    assert_eq!((m.completed, m.failed), (0, 0));
    let cut = report.interrupted_requests;
    assert!(
        (2..=4).contains(&cut),
        "only requests on a connection were in flight: {cut} cut, {} not sent",
        report.not_sent
    );
    assert_eq!(cut + report.not_sent, 10);
}
