//! Provides the `spec_bench` and `speed_bench` datasets: the first user turn of each question
//! in a local JSONL file, with a fixed output length.
//!
//! Mirrors `SpecBench.load_data()` (a JSONL file with `turns` and `category`; the prompt is
//! `turns[0]`) and `SpeedBench.load_data()` (a directory holding `<subset>.jsonl` with
//! `messages` and `category`; the prompt is `messages[0].content`) in
//! vllm/benchmarks/datasets/datasets.py, vLLM 0.32, then `CustomDataset.sample()`. As there,
//! `--seed` does not reach these datasets: they are shuffled with seed 0 (vLLM constructs them
//! without `random_seed`), and prompts are not chat-templated here (no client-side template).

use std::path::PathBuf;

use serde_json::Value;

use super::table::read_rows;
use super::{SampleOptions, SampleRequest, shuffle};
use crate::error::DatasetError;
use crate::tokenizer::Tokenizer;

/// Which question file layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnsKind {
    /// `spec_bench`: `--dataset-path` is `question.jsonl` with `turns`.
    SpecBench,
    /// `speed_bench`: `--dataset-path` is a directory with `<subset>.jsonl` holding `messages`.
    SpeedBench,
}

/// The `spec_bench` / `speed_bench` parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnsSpec {
    /// The layout.
    pub kind: TurnsKind,
    /// `--dataset-path`.
    pub path: PathBuf,
    /// `--speed-bench-dataset-subset` (speed_bench only).
    pub subset: String,
    /// `--spec-bench-category` / `--speed-bench-category`: keep only this category.
    pub category: Option<String>,
    /// `--spec-bench-output-len` / `--speed-bench-output-len`.
    pub output_len: u64,
}

/// The `speed_bench` download hint vLLM prints.
const SPEED_BENCH_HINT: &str = "download it with `curl -LsSf https://raw.githubusercontent.com/NVIDIA-NeMo/Skills/refs/heads/main/nemo_skills/dataset/speed-bench/prepare.py | python3 -` and pass its directory";

fn prompts(spec: &TurnsSpec) -> Result<Vec<String>, DatasetError> {
    let (file, column) = match spec.kind {
        TurnsKind::SpecBench => (spec.path.clone(), "turns"),
        TurnsKind::SpeedBench => {
            if !spec.path.is_dir() {
                return Err(DatasetError::Params(format!(
                    "speed_bench: --dataset-path {} is not a directory; {SPEED_BENCH_HINT}",
                    spec.path.display()
                )));
            }
            (spec.path.join(format!("{}.jsonl", spec.subset)), "messages")
        }
    };
    let rows = read_rows(&file)?;
    let mut out = Vec::new();
    for row in &rows {
        let Some(value) = row.fields.get(column) else {
            return Err(row.error(format!("JSONL file must contain a '{column}' column")));
        };
        let category = row.fields.get("category").and_then(Value::as_str);
        if spec
            .category
            .as_deref()
            .is_some_and(|c| Some(c) != category)
        {
            continue;
        }
        let first = match spec.kind {
            TurnsKind::SpecBench => value.get(0).and_then(Value::as_str),
            TurnsKind::SpeedBench => value
                .get(0)
                .and_then(|m| m.get("content"))
                .and_then(Value::as_str),
        };
        let what = if column == "turns" {
            "turns[0]"
        } else {
            "messages[0].content"
        };
        out.push(
            first
                .ok_or_else(|| row.error(format!("{what} must be a string")))?
                .to_string(),
        );
    }
    Ok(out)
}

pub(super) fn sample(
    spec: &TurnsSpec,
    opts: &SampleOptions,
    tok: &dyn Tokenizer,
) -> Result<Vec<SampleRequest>, DatasetError> {
    let mut prompts = prompts(spec)?;
    if !opts.disable_shuffle {
        shuffle(&mut prompts, 0);
    }
    let limit = if opts.num_prompts == 0 {
        prompts.len()
    } else {
        opts.num_prompts
    };
    Ok(prompts
        .into_iter()
        .take(limit)
        .enumerate()
        .map(|(i, p)| SampleRequest::from_text(p, spec.output_len, i, opts, tok))
        .collect())
}
