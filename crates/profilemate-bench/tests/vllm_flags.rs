//! vLLM 0.32's request-shaping flags against a recording loopback server: `--lora-modules` /
//! `--lora-assignment`, `--profile`, `--probe-request-rate`.

use profilemate_bench::config::LoraAssignment;
use profilemate_bench::{CancelToken, Event, EventSink, Report, run};

use crate::util::{Reply, Seen, config, recording_server};

/// The POSTs the server saw, as (request line, JSON body or Null), in arrival order.
fn posts(seen: &Seen) -> Vec<(String, serde_json::Value)> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|(h, _)| h.starts_with("post "))
        .map(|(h, b)| {
            (
                h.lines().next().unwrap_or_default().to_string(),
                serde_json::from_str(b).unwrap_or(serde_json::Value::Null),
            )
        })
        .collect()
}

async fn run_collecting(cfg: &profilemate_bench::BenchConfig) -> (Report, Vec<String>) {
    let (events, mut rx) = EventSink::channel();
    let report = run(cfg, &events, &CancelToken::never()).await.unwrap();
    drop(events);
    let mut lines = Vec::new();
    while let Some(e) = rx.recv().await {
        match e {
            Event::Message(m) => lines.push(m),
            Event::Warning(w) => lines.push(format!("WARNING: {w}")),
            _ => {}
        }
    }
    (report, lines)
}

#[tokio::test]
async fn round_robin_lora_modules_are_sent_as_the_model_in_dispatch_order() {
    let (base, seen) = recording_server(|_| Reply::Tokens(1)).await;
    let mut cfg = config(&base, 7);
    cfg.endpoint.model = Some("base-model".into());
    cfg.endpoint.served_model_name = Some("served".into());
    cfg.workload.max_concurrency = Some(1);
    cfg.endpoint.num_warmups = 1;
    cfg.endpoint.lora_modules = vec!["sql-lora".into(), "chat-lora".into(), "math-lora".into()];
    cfg.endpoint.lora_assignment = LoraAssignment::RoundRobin;
    run(&cfg, &EventSink::discard(), &CancelToken::never())
        .await
        .unwrap();
    let models: Vec<String> = posts(&seen)
        .iter()
        .map(|(_, b)| b["model"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        models,
        [
            "served", // the warmup keeps the model, as vLLM's test_input
            "sql-lora",
            "chat-lora",
            "math-lora",
            "sql-lora",
            "chat-lora",
            "math-lora",
            "sql-lora"
        ]
    );
}

#[tokio::test]
async fn random_lora_assignment_draws_from_the_modules_repeatably() {
    let mut draws = Vec::new();
    for _ in 0..2 {
        let (base, seen) = recording_server(|_| Reply::Tokens(1)).await;
        let mut cfg = config(&base, 40);
        cfg.endpoint.model = Some("m".into());
        cfg.workload.max_concurrency = Some(1);
        cfg.endpoint.lora_modules = vec!["a".into(), "b".into()];
        run(&cfg, &EventSink::discard(), &CancelToken::never())
            .await
            .unwrap();
        let models: Vec<String> = posts(&seen)
            .iter()
            .map(|(_, b)| b["model"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(models.len(), 40);
        let a = models.iter().filter(|m| *m == "a").count();
        assert!(
            (8..=32).contains(&a) && models.iter().all(|m| m == "a" || m == "b"),
            "{models:?}"
        );
        draws.push(models);
    }
    assert_eq!(draws[0], draws[1], "the same --seed draws the same modules");
}

#[tokio::test]
async fn profile_posts_start_before_the_run_and_stop_after_it() {
    let (base, seen) = recording_server(|_| Reply::Tokens(1)).await;
    let mut cfg = config(&base, 3);
    cfg.endpoint.model = Some("m".into());
    cfg.endpoint.profile = true;
    let (_, lines) = run_collecting(&cfg).await;
    let posts = posts(&seen);
    let paths: Vec<&str> = posts
        .iter()
        .map(|(l, _)| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/start_profile",
            "/v1/completions",
            "/v1/completions",
            "/v1/completions",
            "/stop_profile"
        ]
    );
    assert_eq!(posts[0].1, serde_json::Value::Null, "no body, as vLLM");
    let at = |s: &str| lines.iter().position(|l| l == s).unwrap_or(usize::MAX);
    assert!(
        at("Starting main benchmark run...") < at("Starting profiler...")
            && at("Starting profiler...") < at("Profiler started")
            && at("Profiler started") < at("Stopping profiler...")
            && at("Stopping profiler...") < at("Profiler stopped")
            && at("Profiler stopped") < usize::MAX,
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_server_without_a_profiler_is_a_warning_not_a_failure() {
    // The keep-alive server answers every path with a stream, so use a fault server whose
    // plan fails the profile calls: requests 0 and 4 are the two profile POSTs.
    let (base, _seen) = recording_server(|i| match i {
        0 | 4 => Reply::Status(404),
        _ => Reply::Tokens(1),
    })
    .await;
    let mut cfg = config(&base, 3);
    cfg.endpoint.model = Some("m".into());
    cfg.workload.max_concurrency = Some(1);
    cfg.endpoint.profile = true;
    let (report, lines) = run_collecting(&cfg).await;
    assert_eq!(report.records.iter().filter(|r| r.success).count(), 3);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("WARNING: /start_profile failed: 404")),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l == "Profiler started"), "{lines:?}");
}

#[tokio::test]
async fn probes_are_one_token_his_beside_the_load_and_reported_apart() {
    let (base, seen) = recording_server(|_| Reply::Tokens(3)).await;
    let mut cfg = config(&base, 20);
    cfg.endpoint.model = Some("m".into());
    cfg.workload.max_concurrency = Some(1);
    cfg.endpoint.probe_request_rate = 200.0;
    let (report, lines) = run_collecting(&cfg).await;
    assert_eq!(report.records.len(), 20, "probes are not in the records");
    let probe = report.probe.clone().expect("probe figures");
    let probes: Vec<serde_json::Value> = posts(&seen)
        .into_iter()
        .map(|(_, b)| b)
        .filter(|b| b["prompt"] == "Hi")
        .collect();
    assert!(!probes.is_empty());
    assert_eq!(probe.completed + probe.failed, probes.len());
    for b in &probes {
        assert_eq!(
            (b["max_tokens"].as_u64(), b["model"].as_str()),
            (Some(1), Some("m"))
        );
    }
    assert!(probe.median_e2el_ms > 0.0 && probe.median_e2el_ms <= probe.max_e2el_ms);
    assert!(probe.p99_e2el_ms <= probe.max_e2el_ms);
    assert!(
        lines.iter().any(|l| l == "Probe request rate: 200.0 req/s"),
        "{lines:?}"
    );
    let table = profilemate_bench::output::render_vllm_table(&report);
    assert!(
        table.contains(&format!(
            "------------------Probe Requests------------------\nProbe requests completed:                {:<10}\n",
            probe.completed
        )),
        "{table}"
    );
    let v =
        serde_json::to_value(profilemate_bench::output::ResultJson::new(&report, false).merged())
            .unwrap();
    assert_eq!(v["probe_completed"], probe.completed);
    assert!(v["probe_p99_e2el_ms"].as_f64().is_some());
}
