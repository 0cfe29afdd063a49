//! `multi_turn` in virtual time: each session's turns run closed loop (the next turn enters
//! when the previous one finished plus its think time) and resend the conversation so far, so
//! the engine's prefix cache hits it.

use std::time::Duration;

use profilemate_bench::config::WorkloadConfig;
use profilemate_bench::output::ResultJson;
use profilemate_bench::run::build_workload;
use profilemate_bench::workload::{DatasetSpec, MultiTurnSpec, RangeRatio, SessionTurn};
use profilemate_bench::{ClientRequestRecord, Report};
use profilemate_plan::virtual_run::{VirtualRun, run_virtual};
use profilemate_sim::{ConstantStepTimer, EngineConfig};

use crate::util::config;

fn engine(max_model_len: u32) -> (EngineConfig, ConstantStepTimer) {
    let engine = EngineConfig {
        async_scheduling: false,
        max_model_len,
        ..Default::default()
    };
    (engine, ConstantStepTimer(Duration::from_millis(10)))
}

/// `sessions` sessions of `turns` turns: 32 new user tokens and 16 output tokens per turn.
fn chat(sessions: usize, turns: usize, think: Duration) -> WorkloadConfig {
    WorkloadConfig {
        dataset: DatasetSpec::MultiTurn(MultiTurnSpec {
            turns,
            input_len: 32,
            output_len: 16,
            range_ratio: RangeRatio::default(),
            think_time: think,
            system_prompt_len: 0,
        }),
        seed: 11,
        ..config(sessions)
    }
}

fn run(c: &WorkloadConfig, max_model_len: u32) -> Report {
    let (engine, timer) = engine(max_model_len);
    let VirtualRun { report, .. } = run_virtual(c, engine, timer, "tiny").unwrap();
    report
}

/// The records of `session`, in turn order.
fn session(report: &Report, s: usize) -> Vec<&ClientRequestRecord> {
    let mut recs: Vec<&ClientRequestRecord> = report
        .records
        .iter()
        .filter(|r| r.session.is_some_and(|t| t.session == s))
        .collect();
    recs.sort_by_key(|r| r.session.unwrap().turn);
    recs
}

#[test]
fn each_turn_leaves_after_the_previous_reply_plus_its_think_time() {
    let c = chat(3, 4, Duration::from_millis(700));
    let plan = build_workload(&c, "bench-", None)
        .unwrap()
        .sessions
        .unwrap();
    let report = run(&c, 8192);
    assert_eq!(report.records.len(), 12);
    assert!(report.records.iter().all(|r| r.success));
    assert_eq!(report.not_sent, 0);
    let stats = report.sessions.unwrap();
    assert_eq!((stats.planned, stats.started, stats.completed), (3, 3, 3));
    // Records stay in send order.
    assert!(
        report
            .records
            .windows(2)
            .all(|w| w[0].start_time <= w[1].start_time)
    );
    for s in 0..3 {
        let turns = session(&report, s);
        let tags: Vec<SessionTurn> = turns.iter().map(|r| r.session.unwrap()).collect();
        assert_eq!(
            tags.iter().map(|t| t.turn).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        for k in 1..4 {
            let (prev, next) = (turns[k - 1], turns[k]);
            let think = plan.sessions[s].think[k].as_secs_f64();
            assert!(think > 0.0);
            let due = prev.start_time + prev.latency + think;
            assert!(
                next.start_time >= due - 1e-9 && next.start_time - due < 1e-6,
                "session {s} turn {k}: sent at {}, due at {due}",
                next.start_time
            );
            // The prompt grows by the previous reply and the new user message.
            assert_eq!(next.prompt_len, prev.prompt_len + prev.output_tokens + 32);
        }
    }
}

#[test]
fn the_conversation_hits_the_prefix_cache_and_random_prompts_do_not() {
    // Prompts of 32, 80 and 128 tokens (16-token blocks). Turn 1 finds turn 0's 32 prompt
    // tokens, turn 2 turn 1's 80; the replies are recomputed (the engine's output blocks are
    // unique to their request). Hit rate = (32 + 80) / (32 + 80 + 128).
    let report = run(&chat(4, 3, Duration::ZERO), 8192);
    assert!(report.records.iter().all(|r| r.success));
    let hit = report.server.unwrap().prefix_cache_hit_rate.unwrap();
    assert!(
        (hit - 112.0 / 240.0).abs() < 1e-9,
        "multi_turn hit rate {hit}"
    );
    // The random dataset at the same prompt lengths shares nothing.
    let mut random = config(12);
    random.dataset = DatasetSpec::Random {
        input_len: 80,
        output_len: 16,
        range_ratio: RangeRatio::default(),
        prefix_len: 0,
        batch_size: 1,
    };
    let random_hit = run(&random, 8192)
        .server
        .unwrap()
        .prefix_cache_hit_rate
        .unwrap();
    assert_eq!(random_hit, 0.0);
}

#[test]
fn a_turn_the_engine_refuses_ends_its_session() {
    // max_model_len 100: turns 0 (32) and 1 (80) fit, turn 2 (128) is refused with vLLM's
    // 400, and the session's last turn is skipped.
    let report = run(&chat(2, 4, Duration::ZERO), 100);
    assert_eq!(report.records.len(), 6);
    let failed: Vec<SessionTurn> = report
        .records
        .iter()
        .filter(|r| !r.success)
        .map(|r| r.session.unwrap())
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|t| t.turn == 2));
    let stats = report.sessions.unwrap();
    assert_eq!(
        (
            stats.completed,
            stats.ended_by_failure,
            stats.turns_skipped_after_failure
        ),
        (0, 2, 2)
    );
    assert_eq!(report.not_sent, 0);
}

#[test]
fn duration_stops_later_turns_at_the_window() {
    // A mean think time of 1000 s puts (all but surely) every later turn past a 1 s window:
    // only the first turns are sent.
    let mut c = chat(3, 3, Duration::from_secs(1000));
    c.duration = Some(Duration::from_secs(1));
    let report = run(&c, 8192);
    assert_eq!(report.records.len(), 3);
    assert!(report.records.iter().all(|r| r.session.unwrap().turn == 0));
    assert_eq!(report.not_sent, 6);
    let stats = report.sessions.unwrap();
    assert_eq!((stats.started, stats.completed), (3, 0));
}

#[test]
fn the_result_json_tags_each_request_with_its_session_and_turn() {
    let report = run(&chat(2, 2, Duration::ZERO), 8192);
    let json = ResultJson::new(&report, true);
    let sessions = json.extras.get("session_ids").unwrap().as_array().unwrap();
    let turns = json.extras.get("turn_indices").unwrap().as_array().unwrap();
    assert_eq!(sessions.len(), 4);
    let mut pairs: Vec<(u64, u64)> = sessions
        .iter()
        .zip(turns)
        .map(|(s, t)| (s.as_u64().unwrap(), t.as_u64().unwrap()))
        .collect();
    pairs.sort_unstable();
    assert_eq!(pairs, [(0, 0), (0, 1), (1, 0), (1, 1)]);
    let mt = json.extras.get("multi_turn").unwrap();
    assert_eq!(mt["completed"], 2);
    // vLLM's keys are untouched: the tags are extras only.
    assert!(json.vllm.get("session_ids").is_none());
    // Without --save-detailed the per-request tags go, the summary stays.
    let brief = ResultJson::new(&report, false);
    assert!(brief.extras.get("session_ids").is_none());
    assert!(brief.extras.get("multi_turn").is_some());
}
