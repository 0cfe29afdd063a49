//! Every case of `testdata/goldens/perf/generated.jsonl.gz` (made by `tools/goldens/generate.py`
//! with vLLM 0.32's own `ModelMetrics`, over model families beyond the visible set) must be
//! reproduced exactly by the case runner `estimate --cases` uses. Families not exact yet are listed
//! in [`KNOWN_GAPS`] with the reason; the test fails if a listed family becomes exact (stale entry)
//! or an unlisted one differs.

use std::collections::BTreeMap;

use profilemate_model::cases::CaseRunner;
use serde_json::Value;

mod golden_common;
use golden_common::{difference, goldens_dir, read_cases};

/// The number of generated cases (see `testdata/goldens/perf/README.md`).
const GENERATED_CASES: usize = 6816;

/// Models whose generated cases are not all exact yet, with the reason. Empty means every
/// generated family is exact.
const KNOWN_GAPS: &[(&str, &str)] = &[];

#[test]
fn every_generated_golden_case_is_exact_or_a_listed_gap() {
    let dir = goldens_dir();
    let text = read_cases("generated.jsonl.gz");
    let mut runner = CaseRunner::new(&dir.join("configs"));
    let mut failing: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut total = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        total += 1;
        let expected: Value = serde_json::from_str(line).unwrap();
        let (got, ok) = runner.answer_line(line);
        if let Some(diff) = difference(&expected, &got, ok) {
            let model = expected["model"].as_str().unwrap().to_owned();
            let entry = failing
                .entry(model)
                .or_insert_with(|| (0, format!("{}: {diff}", expected["id"])));
            entry.0 += 1;
        }
    }
    assert_eq!(total, GENERATED_CASES, "the generated golden cases");
    let listed: Vec<&str> = KNOWN_GAPS.iter().map(|(m, _)| *m).collect();
    let unlisted: Vec<String> = failing
        .iter()
        .filter(|(m, _)| !listed.contains(&m.as_str()))
        .map(|(m, (n, first))| format!("{m}: {n} cases differ; first: {first}"))
        .collect();
    assert!(
        unlisted.is_empty(),
        "families not exact (fix the model, or list them in KNOWN_GAPS with the reason):\n{}",
        unlisted.join("\n")
    );
    let stale: Vec<&str> = listed
        .into_iter()
        .filter(|m| !failing.contains_key(*m))
        .collect();
    assert!(
        stale.is_empty(),
        "now exact: remove from KNOWN_GAPS: {stale:?}"
    );
}

/// Every refusal vLLM recorded while generating the cases (`generated-refusals.jsonl`) is ours
/// too: a layout vLLM refused when it built the config (`stage: engine_config`, attention heads
/// not divisible by TP) is refused by the case runner with the typed error, and a component vLLM
/// skipped (`stage: component`, a quantization method outside its byte-size table) is skipped by
/// ours, naming the same method.
#[test]
fn every_generated_refusal_is_refused_by_us_too() {
    let dir = goldens_dir();
    let text = std::fs::read_to_string(dir.join("generated-refusals.jsonl")).unwrap();
    let mut runner = CaseRunner::new(&dir.join("configs"));
    let (mut engine, mut component) = (0, 0);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let refusal: Value = serde_json::from_str(line).unwrap();
        let model = refusal["model"].as_str().unwrap();
        let message = refusal["message"].as_str().unwrap();
        let case = serde_json::json!({
            "id": format!("{model}/refusal"), "model": model, "dtype": refusal["dtype"],
            "kv_cache_dtype": refusal["kv_cache_dtype"], "parallel": refusal["parallel"],
            "batch": [[1, 1, false]], "per_gpu": true,
        });
        let parsed: profilemate_model::cases::Case = serde_json::from_value(case.clone()).unwrap();
        match refusal["stage"].as_str().unwrap() {
            "engine_config" => {
                engine += 1;
                assert!(
                    message.contains("must be divisible by tensor parallel size"),
                    "an engine_config refusal we do not know: {message}"
                );
                let err = runner.answer(&parsed).unwrap_err();
                assert!(
                    matches!(
                        err,
                        profilemate_model::ModelError::HeadsNotDivisibleByTp { tp, .. }
                            if tp == refusal["parallel"]["tp"].as_u64().unwrap()
                    ),
                    "{model} {}: want the TP refusal, have {err}",
                    refusal["layout"]
                );
            }
            "component" => {
                component += 1;
                let spec =
                    profilemate_model::ModelSpec::load(&dir.join("configs").join(model)).unwrap();
                let deployment = parsed.deployment().unwrap();
                let ours = profilemate_model::PerfModel::vllm_exact_lenient(&spec, &deployment);
                let method = message.rsplit(": ").next().unwrap();
                let what = if message.contains("attention") {
                    "attn"
                } else {
                    "ffn"
                };
                assert!(
                    ours.skipped()
                        .iter()
                        .any(|s| s.component == what && s.reason.contains(method)),
                    "{model}: vLLM skipped {what} ({message}); ours skipped {:?}",
                    ours.skipped()
                );
            }
            other => panic!("unexpected refusal stage {other}"),
        }
    }
    assert_eq!((engine, component), (10, 16), "the refusals in the file");
}
