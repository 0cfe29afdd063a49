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
const GENERATED_CASES: usize = 3312;

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
