//! Runs against servers that stop answering outside the timed requests: a `/metrics` scrape,
//! `/v1/models`, the ready check. Each wait has a deadline (`--control-timeout-sec`,
//! `--ready-check-timeout-sec`) or ends on Ctrl-C, and no record of the run is lost.

use std::time::{Duration, Instant};

use profilemate_bench::output::ResultJson;
use profilemate_bench::report::TaskMetrics;
use profilemate_bench::{BenchError, CancelToken, Event, EventSink, Report, cancel_pair, run};

use crate::util::{Reply, ScrapeReply, Stages, config, staged_server};

/// The deadline the tests give each control request.
const CONTROL: Duration = Duration::from_millis(200);

fn completed(r: &Report) -> u64 {
    match &r.metrics {
        TaskMetrics::Generation(m) => m.completed,
        TaskMetrics::Pooling(m) => m.completed,
    }
}

/// Runs 4 two-token requests against a server whose stages are `stages`; returns the result,
/// the warnings emitted and how long the run took.
async fn run_staged(stages: Stages) -> (Result<Report, BenchError>, Vec<String>, Duration) {
    let (base, _) = staged_server(|_| Reply::Tokens(2), stages).await;
    let mut cfg = config(&base, 4);
    cfg.endpoint.control_timeout = CONTROL;
    let (events, mut rx) = EventSink::channel();
    let started = Instant::now();
    let result = run(&cfg, &events, &CancelToken::never()).await;
    let took = started.elapsed();
    drop(events);
    let mut warnings = Vec::new();
    while let Some(e) = rx.recv().await {
        if let Event::Warning(w) = e {
            warnings.push(w);
        }
    }
    (result, warnings, took)
}

#[tokio::test]
async fn a_metrics_scrape_that_hangs_before_the_run_is_a_warning_and_the_run_goes_on() {
    let (report, warnings, took) = run_staged(Stages {
        scrapes: [ScrapeReply::Hang, ScrapeReply::Counters],
        ..Stages::default()
    })
    .await;
    let report = report.unwrap();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(completed(&report), 4, "every request was sent and served");
    assert!(report.server.is_none() && report.server_scrapes.is_none());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with(
            "/metrics scrape before the run failed: no answer within 0.2 s (--control-timeout-sec)"
        ),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn a_metrics_scrape_that_hangs_after_the_run_keeps_every_record() {
    let (report, warnings, took) = run_staged(Stages {
        scrapes: [ScrapeReply::Counters, ScrapeReply::Hang],
        ..Stages::default()
    })
    .await;
    let report = report.unwrap();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(
        warnings[0].starts_with("/metrics scrape after the run failed: no answer within"),
        "{warnings:?}"
    );
    assert!(report.server.is_none());
    let saved: serde_json::Value =
        serde_json::from_slice(&ResultJson::new(&report, true).to_bytes()).unwrap();
    assert_eq!(saved["completed"].as_u64(), Some(4));
    assert_eq!(saved["ttfts"].as_array().map(Vec::len), Some(4));
}

#[tokio::test]
async fn ctrl_c_ends_a_metrics_scrape_that_hangs_before_the_run_and_sends_nothing() {
    let (base, seen) = staged_server(
        |_| Reply::Tokens(2),
        Stages {
            scrapes: [ScrapeReply::Hang, ScrapeReply::Counters],
            ..Stages::default()
        },
    )
    .await;
    let mut cfg = config(&base, 4);
    cfg.endpoint.control_timeout = Duration::from_secs(600);
    let (canceller, token) = cancel_pair();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        canceller.stop();
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    let started = Instant::now();
    let result = run(&cfg, &EventSink::discard(), &token).await;
    assert!(matches!(result, Err(BenchError::Interrupted)), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let completions = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(head, _)| head.starts_with("post /v1/completions"))
        .count();
    assert_eq!(completions, 0, "no request left after the Ctrl-C");
}

#[tokio::test]
async fn a_models_lookup_that_hangs_fails_at_the_control_timeout() {
    let (report, _, took) = run_staged(Stages {
        models_hang: true,
        ..Stages::default()
    })
    .await;
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let err = report.unwrap_err();
    assert!(matches!(err, BenchError::Models { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("/v1/models")
            && msg.ends_with("no answer within 0.2 s (--control-timeout-sec)"),
        "{msg}"
    );
}

#[tokio::test]
async fn the_ready_check_ends_at_its_deadline_when_the_server_never_answers() {
    let (base, _) = staged_server(|_| Reply::Hang, Stages::default()).await;
    let mut cfg = config(&base, 4);
    cfg.endpoint.model = Some("m".into());
    cfg.endpoint.request_timeout = None;
    cfg.endpoint.ready_check_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = run(&cfg, &EventSink::discard(), &CancelToken::never())
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "took {took:?}"
    );
    assert!(matches!(err, BenchError::NotReady(_)), "{err:?}");
    assert!(
        err.to_string()
            .ends_with("no successful answer within --ready-check-timeout-sec 0.3"),
        "{err}"
    );
}

// See: issue 13 (warmups had no deadline without --request-timeout: a server that answered
// the initial test request and then hung stalled the run before it began).
#[tokio::test]
async fn warmups_on_a_server_that_hangs_end_the_run_at_their_deadline() {
    let (base, seen) = staged_server(
        |i| {
            if i == 0 {
                Reply::Tokens(2)
            } else {
                Reply::Hang
            }
        },
        Stages::default(),
    )
    .await;
    let mut cfg = config(&base, 4);
    cfg.endpoint.model = Some("m".into());
    cfg.endpoint.request_timeout = None;
    cfg.endpoint.ready_check_timeout = Duration::from_millis(300);
    cfg.endpoint.num_warmups = 2;
    let started = Instant::now();
    let err = run(&cfg, &EventSink::discard(), &CancelToken::never())
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "took {took:?}"
    );
    assert!(matches!(err, BenchError::WarmupTimeout { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the 2 warmup requests did not finish within 0.3 s (--ready-check-timeout-sec); the \
         server may be hung. Nothing was measured"
    );
    let completions = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(head, _)| head.starts_with("post /v1/completions"))
        .count();
    assert_eq!(
        completions, 3,
        "the test request and 2 warmups; no timed request"
    );
}
