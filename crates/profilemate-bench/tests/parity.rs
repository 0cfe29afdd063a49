//! Metric parity: vLLM's per-request arrays from real `vllm bench serve` runs go through our
//! metric math; every aggregate must equal vLLM's to 1e-9 relative (in fact to the bit), the JSON
//! must carry exactly vLLM's keys and bytes, and the console table must match vLLM's byte for byte.

use profilemate_bench::ClientRequestRecord;
use profilemate_bench::config::{Backend, PercentileMetric};
use profilemate_bench::metrics::Goodput;
use profilemate_bench::output::json::DETAILED_KEYS;
use profilemate_bench::output::pyjson::to_python_json;
use profilemate_bench::output::{ResultJson, render_vllm_table};
use profilemate_bench::report::{Report, ReportSettings};
use profilemate_bench::tokenizer::WordTokenizer;
use serde_json::Value;

use crate::util::{assert_close, fixture};

struct Case {
    dir: &'static str,
    backend: Backend,
    percentiles: &'static [f64],
    goodput: &'static [&'static str],
    max_concurrency: Option<usize>,
}

const CASES: [Case; 3] = [
    Case {
        dir: "run1/bench-1",
        backend: Backend::Vllm,
        percentiles: &[50.0, 90.0, 99.0],
        goodput: &["ttft:500", "tpot:50"],
        max_concurrency: None,
    },
    Case {
        dir: "run1/bench-2",
        backend: Backend::OpenaiChat,
        percentiles: &[99.0],
        goodput: &[],
        max_concurrency: Some(4),
    },
    Case {
        dir: "run2-sched/bench-1",
        backend: Backend::Vllm,
        percentiles: &[99.0],
        goodput: &[],
        max_concurrency: None,
    },
];

fn load(case: &Case) -> Value {
    let text = std::fs::read_to_string(fixture(&format!("{}.json", case.dir))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// vLLM's per-request arrays, back into records.
fn records(v: &Value) -> Vec<ClientRequestRecord> {
    let n = v["ttfts"].as_array().unwrap().len();
    let (ttfts, lats, starts, queues) = (
        floats(&v["ttfts"]),
        floats(&v["latencies"]),
        floats(&v["start_times"]),
        floats(&v["queue_times"]),
    );
    (0..n)
        .map(|i| ClientRequestRecord {
            success: v["errors"][i].as_str() == Some(""),
            prompt_len: v["input_lens"][i].as_u64().unwrap(),
            output_tokens: v["output_lens"][i].as_u64().unwrap(),
            ttft: ttfts[i],
            itl: floats(&v["itls"][i]),
            latency: lats[i],
            start_time: starts[i],
            client_queue_time: queues[i],
            generated_text: v["generated_texts"][i].as_str().unwrap().to_string(),
            error: v["errors"][i].as_str().unwrap().to_string(),
            num_input_sequences: 1,
            ..Default::default()
        })
        .collect()
}

fn report(case: &Case, v: &Value) -> Report {
    let rate = v["request_rate"].as_f64().unwrap_or(f64::INFINITY);
    let settings = ReportSettings {
        backend: case.backend,
        label: None,
        model_id: v["model_id"].as_str().unwrap().into(),
        tokenizer_id: v["tokenizer_id"].as_str().map(Into::into),
        num_prompts: v["num_prompts"].as_u64().unwrap() as usize,
        metadata: vec![],
        request_rate: rate,
        burstiness: v["burstiness"].as_f64().unwrap(),
        max_concurrency: case.max_concurrency,
        ramp_up: None,
        percentile_metrics: PercentileMetric::parse_list("ttft,tpot,itl,e2el").unwrap(),
        percentiles: case.percentiles.to_vec(),
        goodput: Goodput::parse(case.goodput).unwrap(),
        has_tokenizer: true,
    };
    let tok = WordTokenizer::default();
    let date = v["date"].as_str().unwrap().to_string();
    Report::new(
        settings,
        records(v),
        v["duration"].as_f64().unwrap(),
        Some(&tok),
        date,
    )
}

#[test]
fn aggregates_equal_vllm_to_1e9() {
    for case in &CASES {
        let want = load(case);
        let ours = ResultJson::new(&report(case, &want), true).vllm;
        let mut compared = 0;
        for (key, w) in want.as_object().unwrap() {
            let g = ours
                .get(key)
                .unwrap_or_else(|| panic!("{}: missing key {key}", case.dir));
            match (g.as_f64(), w.as_f64()) {
                (Some(g), Some(w)) => {
                    assert_close(&format!("{}: {key}", case.dir), g, w);
                    compared += 1;
                }
                _ => assert_eq!(g, w, "{}: {key}", case.dir),
            }
        }
        assert!(
            compared >= 25,
            "{}: only {compared} numeric keys compared",
            case.dir
        );
    }
}

#[test]
fn json_has_exactly_vllms_keys_in_vllms_order() {
    for case in &CASES {
        let want = load(case);
        let ours = ResultJson::new(&report(case, &want), true).vllm;
        let want_keys: Vec<&str> = fixture_key_order(case);
        let got_keys: Vec<&str> = ours.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(got_keys, want_keys, "{}", case.dir);
        assert_eq!(want.as_object().unwrap().len(), want_keys.len());
    }
}

/// Key order as written in the fixture file (serde_json's map sorts, so scan the text).
fn fixture_key_order(case: &Case) -> Vec<&'static str> {
    let text: &'static str = std::fs::read_to_string(fixture(&format!("{}.json", case.dir)))
        .unwrap()
        .leak();
    let v: Value = serde_json::from_str(text).unwrap();
    let mut keys: Vec<(usize, &'static str)> = v
        .as_object()
        .unwrap()
        .keys()
        .map(|k| {
            let k: &'static str = k.clone().leak();
            (text.find(&format!("\"{k}\": ")).unwrap(), k)
        })
        .collect();
    keys.sort();
    keys.into_iter().map(|(_, k)| k).collect()
}

#[test]
fn console_table_matches_vllm_byte_for_byte() {
    for case in &CASES {
        let want = load(case);
        let txt = std::fs::read_to_string(fixture(&format!("{}.txt", case.dir))).unwrap();
        let start = txt.find("============ Serving Benchmark Result").unwrap();
        let end = start + txt[start..].find(&format!("\n{}", "=".repeat(50))).unwrap() + 52;
        assert_eq!(
            render_vllm_table(&report(case, &want)),
            txt[start..end],
            "{}",
            case.dir
        );
    }
}

#[test]
fn without_save_detailed_the_arrays_vllm_drops_are_dropped() {
    let case = &CASES[0];
    let ours = ResultJson::new(&report(case, &load(case)), false).vllm;
    for k in DETAILED_KEYS {
        assert!(ours.get(k).is_none(), "{k}");
    }
    assert!(ours.get("latencies").is_some() && ours.get("queue_times").is_some());
}

/// Stronger than 1e-9: with numpy's pairwise summation and percentile indexing, and Python's
/// `json.dump` formatting, the saved result is vLLM's file byte for byte.
#[test]
fn saved_json_is_byte_identical_to_vllms() {
    for case in &CASES {
        let want = std::fs::read_to_string(fixture(&format!("{}.json", case.dir))).unwrap();
        let ours = ResultJson::new(&report(case, &load(case)), true).vllm;
        let got = String::from_utf8(to_python_json(&ours)).unwrap();
        if let Some(at) = got.bytes().zip(want.bytes()).position(|(a, b)| a != b) {
            let ctx = |s: &str| s[at.saturating_sub(80)..(at + 40).min(s.len())].to_string();
            panic!(
                "{}: first difference at byte {at}:\n ours: {}\n vLLM: {}",
                case.dir,
                ctx(&got),
                ctx(&want)
            );
        }
        assert_eq!(got.len(), want.len(), "{}", case.dir);
    }
}
