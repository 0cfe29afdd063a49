//! Dataset and workload tests.

use std::io::Write;

use super::*;
use crate::tokenizer::WordTokenizer;

fn opts(n: usize) -> SampleOptions {
    SampleOptions {
        num_prompts: n,
        seed: 0,
        request_id_prefix: "bench-x-".into(),
        no_oversample: false,
        disable_shuffle: false,
        token_ids: true,
        counting_ids: false,
    }
}

fn random(input_len: u64, output_len: u64, ratio: f64, prefix_len: u64) -> DatasetSpec {
    DatasetSpec::Random {
        input_len,
        output_len,
        range_ratio: RangeRatio {
            input: ratio,
            output: ratio,
        },
        prefix_len,
        batch_size: 1,
    }
}

fn temp_file(name: &str, body: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("pm-bench-{}-{name}", std::process::id()));
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(body.as_bytes()))
        .unwrap();
    path
}

#[test]
fn random_prompts_have_exact_lengths_as_token_ids_and_text() {
    let tok = WordTokenizer::default();
    let reqs = load_samples(&random(128, 32, 0.0, 0), &opts(10), &tok).unwrap();
    assert_eq!(reqs.len(), 10);
    for r in &reqs {
        let ClientPrompt::TokenIds(ids) = &r.prompt else {
            panic!("expected token ids")
        };
        assert_eq!(
            (ids.len(), r.prompt_len, r.expected_output_len),
            (128, 128, 32)
        );
    }
    let text = SampleOptions {
        token_ids: false,
        ..opts(3)
    };
    for r in load_samples(&random(64, 8, 0.0, 16), &text, &tok).unwrap() {
        let ClientPrompt::Text(t) = &r.prompt else {
            panic!("expected text")
        };
        assert_eq!(tok.count(t) as u64, r.prompt_len);
        assert_eq!(r.prompt_len, 80);
    }
    assert_eq!(reqs[3].request_id, "bench-x-3");
}

/// Kept as recipes for a client that never sends them, random prompts are the same requests
/// with the same ids, prefix and wrap included.
#[test]
fn random_prompts_kept_as_counting_ids_are_the_same_ids() {
    let tok = WordTokenizer::default();
    let spec = random(300, 8, 0.5, 5);
    let plain = load_samples(&spec, &opts(40), &tok).unwrap();
    let kept = SampleOptions {
        counting_ids: true,
        ..opts(40)
    };
    let kept = load_samples(&spec, &kept, &tok).unwrap();
    assert_eq!(plain.len(), kept.len());
    for (p, k) in plain.iter().zip(&kept) {
        let (ClientPrompt::TokenIds(ids), ClientPrompt::CountingIds(recipe)) =
            (&p.prompt, &k.prompt)
        else {
            panic!(
                "expected ids and their recipe, got {:?} / {:?}",
                p.prompt, k.prompt
            );
        };
        assert_eq!(&recipe.to_vec(), ids);
        assert_eq!(k.prompt_len, p.prompt_len);
        assert_eq!(k.expected_output_len, p.expected_output_len);
        assert_eq!(k.request_id, p.request_id);
    }
}

#[test]
fn random_range_ratio_and_prefix_bound_the_lengths() {
    let tok = WordTokenizer::default();
    let reqs = load_samples(&random(100, 10, 0.5, 7), &opts(300), &tok).unwrap();
    assert!(
        reqs.iter().all(
            |r| (57..=157).contains(&r.prompt_len) && (5..=15).contains(&r.expected_output_len)
        )
    );
    let lens: std::collections::BTreeSet<u64> = reqs.iter().map(|r| r.prompt_len).collect();
    assert!(lens.len() > 30, "lengths should vary");
    let prefix = |r: &SampleRequest| match &r.prompt {
        ClientPrompt::TokenIds(ids) => ids[..7].to_vec(),
        _ => vec![],
    };
    assert!(reqs.iter().all(|r| prefix(r) == prefix(&reqs[0])));
}

#[test]
fn random_is_seed_reproducible_and_rejects_empty_prompts() {
    let tok = WordTokenizer::default();
    let a = load_samples(&random(50, 5, 0.3, 0), &opts(20), &tok).unwrap();
    assert_eq!(
        a,
        load_samples(&random(50, 5, 0.3, 0), &opts(20), &tok).unwrap()
    );
    assert!(load_samples(&random(0, 5, 0.0, 0), &opts(2), &tok).is_err());
}

#[test]
fn custom_jsonl_uses_file_lengths_or_the_flag_and_oversamples() {
    let tok = WordTokenizer::default();
    let path = temp_file(
        "custom.jsonl",
        "{\"prompt\": \"a b c\", \"output_tokens\": 5}\n\n{\"prompt\": \"d e\", \"output_tokens\": 9}\n",
    );
    let spec = DatasetSpec::Custom {
        path: path.clone(),
        output_len: None,
    };
    let reqs = load_samples(
        &spec,
        &SampleOptions {
            disable_shuffle: true,
            ..opts(5)
        },
        &tok,
    )
    .unwrap();
    assert_eq!(reqs.len(), 5);
    assert_eq!((reqs[0].prompt_len, reqs[0].expected_output_len), (3, 5));
    assert_eq!((reqs[1].prompt_len, reqs[1].expected_output_len), (2, 9));
    assert_eq!(reqs[4].request_id, "bench-x-4");
    let fixed = DatasetSpec::Custom {
        path: path.clone(),
        output_len: Some(7),
    };
    assert!(
        load_samples(&fixed, &opts(2), &tok)
            .unwrap()
            .iter()
            .all(|r| r.expected_output_len == 7)
    );
    let missing = temp_file("bad.jsonl", "{\"prompt\": \"x\"}\n");
    let err = load_samples(
        &DatasetSpec::Custom {
            path: missing,
            output_len: None,
        },
        &opts(1),
        &tok,
    )
    .unwrap_err();
    assert!(err.to_string().contains("--custom-output-len"), "{err}");
}

#[test]
fn sharegpt_takes_first_two_turns_and_skips_invalid() {
    let tok = WordTokenizer::default();
    let long = "w ".repeat(5);
    let body = format!(
        r#"[{{"conversations": [{{"value": "{long}"}}, {{"value": "{long}{long}"}}]}},
            {{"conversations": [{{"value": "too short"}}, {{"value": "{long}"}}]}},
            {{"conversations": [{{"value": "{long}"}}]}}]"#
    );
    let path = temp_file("sharegpt.json", &body);
    let reqs = load_samples(
        &DatasetSpec::ShareGpt {
            path,
            output_len: None,
        },
        &SampleOptions {
            no_oversample: true,
            ..opts(10)
        },
        &tok,
    )
    .unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!((reqs[0].prompt_len, reqs[0].expected_output_len), (5, 10));
}

#[test]
fn prefix_repetition_groups_share_prefixes() {
    let tok = WordTokenizer::default();
    let spec = DatasetSpec::PrefixRepetition {
        prefix_len: 20,
        suffix_len: 10,
        num_prefixes: 3,
        output_len: 4,
    };
    let reqs = load_samples(
        &spec,
        &SampleOptions {
            disable_shuffle: true,
            ..opts(9)
        },
        &tok,
    )
    .unwrap();
    assert_eq!(reqs.len(), 9);
    let ids = |r: &SampleRequest| match &r.prompt {
        ClientPrompt::TokenIds(ids) => ids.clone(),
        _ => vec![],
    };
    assert_eq!(ids(&reqs[0])[..20], ids(&reqs[2])[..20]);
    assert_ne!(ids(&reqs[0])[..20], ids(&reqs[3])[..20]);
    assert!(reqs.iter().all(|r| r.prompt_len == 30));
    assert!(load_samples(&spec, &opts(2), &tok).is_err());
}

#[test]
fn timed_trace_carries_timestamps_into_a_self_timed_schedule() {
    let tok = WordTokenizer::default();
    let body = "{\"timestamp\": 2, \"input_length\": 20, \"output_length\": 3, \"hash_ids\": [1, 2]}\n{\"timestamp\": 0.5, \"input_length\": 10, \"output_length\": 4, \"hash_ids\": [1]}\n";
    let spec = DatasetSpec::TimedTrace(TraceSpec {
        path: temp_file("trace.jsonl", body),
        chunk_hash_size: 16,
        sec_multiplier: 0.5,
        label_timestamp: "timestamp".into(),
        label_input_length: "input_length".into(),
        label_output_length: "output_length".into(),
        label_hash_ids: "hash_ids".into(),
    });
    let reqs = load_samples(
        &spec,
        &SampleOptions {
            no_oversample: true,
            ..opts(10)
        },
        &tok,
    )
    .unwrap();
    assert_eq!(
        reqs.iter()
            .map(|r| (r.prompt_len, r.timestamp))
            .collect::<Vec<_>>(),
        vec![(20, Some(1.0)), (10, Some(0.25))]
    );
    let w = Workload {
        requests: reqs,
        arrivals: Arrivals::SelfTimed,
        seed: 0,
        sessions: None,
    };
    let sched = w.schedule().unwrap();
    assert_eq!(sched[0].send_at, Duration::from_millis(1000));
    assert_eq!(sched[1].send_at, Duration::from_millis(250));
}

#[test]
fn workload_schedule_is_pure_and_indexes_requests() {
    let tok = WordTokenizer::default();
    let requests = load_samples(&random(8, 2, 0.0, 0), &opts(6), &tok).unwrap();
    let w = Workload {
        requests,
        arrivals: Arrivals::Rate {
            request_rate: 3.0,
            burstiness: 1.0,
            ramp_up: None,
        },
        seed: 9,
        sessions: None,
    };
    let a = w.schedule().unwrap();
    assert_eq!(a, w.schedule().unwrap());
    assert_eq!(
        a.iter().map(|s| s.index).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4, 5]
    );
    assert!((a[5].send_at.as_secs_f64() - 2.0).abs() < 1e-6);
}
