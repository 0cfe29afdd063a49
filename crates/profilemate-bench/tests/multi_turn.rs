//! `multi_turn` over HTTP against a recording loopback server: each turn's prompt is the
//! previous prompt, the reply the server actually sent and the new user message; a turn leaves
//! only after the previous reply plus its think time; a failed turn ends its session.

use std::collections::HashMap;
use std::time::Duration;

use profilemate_bench::run::build_workload;
use profilemate_bench::tokenizer::{Tokenizer, WordTokenizer};
use profilemate_bench::workload::{DatasetSpec, MultiTurnSpec, RangeRatio};
use profilemate_bench::{BenchConfig, CancelToken, ClientRequestRecord, EventSink, run};
use serde_json::Value;

use crate::util::{Reply, config, recording_server};

fn multi_turn(base: &str, sessions: usize, turns: usize, think: Duration) -> BenchConfig {
    let mut cfg = config(base, sessions);
    cfg.workload.dataset = DatasetSpec::MultiTurn(MultiTurnSpec {
        turns,
        input_len: 6,
        output_len: 3,
        range_ratio: RangeRatio::default(),
        think_time: think,
        system_prompt_len: 4,
    });
    cfg.workload.seed = 3;
    cfg
}

/// The completion prompts the server received, by `x-request-id`.
fn prompts(seen: &[(String, String)]) -> HashMap<String, Vec<u32>> {
    seen.iter()
        .filter(|(head, _)| head.starts_with("post /v1/completions"))
        .map(|(head, body)| {
            let id = head
                .lines()
                .find_map(|l| l.strip_prefix("x-request-id:"))
                .expect("x-request-id header")
                .trim()
                .to_string();
            let body: Value = serde_json::from_str(body).unwrap();
            let ids = body["prompt"]
                .as_array()
                .expect("token-id prompt")
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            (id, ids)
        })
        .collect()
}

fn turn_record(recs: &[ClientRequestRecord], s: usize, k: usize) -> &ClientRequestRecord {
    recs.iter()
        .find(|r| r.session.is_some_and(|t| (t.session, t.turn) == (s, k)))
        .unwrap_or_else(|| panic!("no record for session {s} turn {k}"))
}

#[tokio::test]
async fn each_turn_resends_the_conversation_with_the_servers_reply() {
    let (base, seen) = recording_server(|_| Reply::Tokens(3)).await;
    let cfg = multi_turn(&base, 2, 3, Duration::from_millis(40));
    let plan = build_workload(&cfg.workload, &cfg.endpoint.request_id_prefix, None)
        .unwrap()
        .sessions
        .unwrap();
    let report = run(&cfg, &EventSink::discard(), &CancelToken::never())
        .await
        .unwrap();
    assert_eq!(report.records.len(), 6);
    assert!(report.records.iter().all(|r| r.success), "{report:?}");
    let stats = report.sessions.unwrap();
    assert_eq!(
        (stats.started, stats.completed, stats.ended_by_failure),
        (2, 2, 0)
    );
    let prompts = prompts(&seen.lock().unwrap());
    assert_eq!(prompts.len(), 6);
    let tok = WordTokenizer::default();
    for s in 0..2 {
        let first = &prompts[&format!("bench-test-{s}-0")];
        let mut want: Vec<u32> = plan.system.clone();
        want.extend(&plan.sessions[s].user[0]);
        assert_eq!(first, &want);
        for k in 1..3 {
            let prev = &prompts[&format!("bench-test-{s}-{}", k - 1)];
            let this = &prompts[&format!("bench-test-{s}-{k}")];
            let before = turn_record(&report.records, s, k - 1);
            // The reply as the server streamed it (" tok" three times), re-tokenized.
            assert_eq!(before.generated_text, " tok tok tok");
            let reply = tok.encode(&before.generated_text);
            let mut want = prev.clone();
            want.extend(&reply);
            want.extend(&plan.sessions[s].user[k]);
            assert_eq!(this, &want, "session {s} turn {k}");
            // Sent after the previous reply ended plus the drawn think time.
            let after = turn_record(&report.records, s, k);
            let think = plan.sessions[s].think[k].as_secs_f64();
            assert!(
                after.start_time >= before.start_time + before.latency + think,
                "session {s} turn {k}: sent at {}, previous reply ended at {} + think {think}",
                after.start_time,
                before.start_time + before.latency
            );
        }
    }
}

#[tokio::test]
async fn a_failed_turn_ends_its_session_and_the_others_go_on() {
    // The second completion the server sees fails (HTTP 500); one session at a time.
    let (base, _) = recording_server(|i| {
        if i == 1 {
            Reply::Status(500)
        } else {
            Reply::Tokens(2)
        }
    })
    .await;
    let mut cfg = multi_turn(&base, 2, 3, Duration::ZERO);
    cfg.workload.max_concurrency = Some(1);
    let report = run(&cfg, &EventSink::discard(), &CancelToken::never())
        .await
        .unwrap();
    let failed: Vec<&ClientRequestRecord> = report.records.iter().filter(|r| !r.success).collect();
    assert_eq!(failed.len(), 1);
    let lost = failed[0].session.unwrap();
    // Nothing of that session was sent after its failed turn.
    assert!(report.records.iter().all(|r| {
        let t = r.session.unwrap();
        t.session != lost.session || t.turn <= lost.turn
    }));
    let stats = report.sessions.unwrap();
    assert_eq!((stats.completed, stats.ended_by_failure), (1, 1));
    assert_eq!(stats.turns_skipped_after_failure, 2 - lost.turn);
    assert_eq!(report.records.len() + stats.turns_skipped_after_failure, 6);
    assert_eq!(report.not_sent, 0);
}
