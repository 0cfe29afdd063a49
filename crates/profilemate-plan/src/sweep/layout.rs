//! Where a sweep writes each run, as vLLM 0.32's `bench sweep serve` lays it out, so `--resume`
//! works across the two tools: `EXPERIMENT/SERVE--<serve>-BENCH--<bench>/run=N.json`.

use std::path::{Path, PathBuf};

use super::params::SweepItem;

/// vLLM's `sanitize_filename`: `/` → `_`, `..` → `__`, then quotes stripped from the ends.
pub fn sanitize_filename(name: &str) -> String {
    let replaced = name.replace('/', "_").replace("..", "__");
    replaced.trim_matches('\'').trim_matches('"').to_string()
}

/// The directory of one serve × bench combination (plus `extra` parts, e.g. `WL-`,
/// `request_rate=4`); an empty combination contributes nothing.
pub fn combination_dir(
    experiment_dir: &Path,
    serve: &SweepItem,
    bench: &SweepItem,
    extra: &[String],
) -> PathBuf {
    let mut parts: Vec<String> = Vec::new();
    if !serve.is_empty() {
        parts.extend(["SERVE-".to_string(), serve.name()]);
    }
    if !bench.is_empty() {
        parts.extend(["BENCH-".to_string(), bench.name()]);
    }
    parts.extend(extra.iter().cloned());
    experiment_dir.join(sanitize_filename(&parts.join("-")))
}

/// `run=N.json` for a measured run, `summary.json` for the combination (`None`).
pub fn run_path(combination_dir: &Path, run_number: Option<usize>) -> PathBuf {
    match run_number {
        Some(n) => combination_dir.join(format!("run={n}.json")),
        None => combination_dir.join("summary.json"),
    }
}

/// The warmup run's result, kept out of the summaries.
pub fn warmup_path(combination_dir: &Path) -> PathBuf {
    combination_dir.join("warmup.json")
}

/// Where a failed run's record goes under `--continue-on-error`: `run=N.failure.json`.
pub fn failure_path(run_path: &Path) -> PathBuf {
    let stem = run_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    run_path.with_file_name(format!("{stem}.failure.json"))
}

#[cfg(test)]
mod tests {
    use super::super::params::parse_sweep;
    use super::*;

    #[test]
    fn lays_out_runs_like_vllm() {
        let serve = parse_sweep("s", r#"[{"max_num_seqs": 32, "model": "org/m"}]"#)
            .unwrap()
            .remove(0);
        let bench = parse_sweep("b", r#"[{"request_rate": 2.5}]"#)
            .unwrap()
            .remove(0);
        let dir = combination_dir(Path::new("results/exp"), &serve, &bench, &[]);
        assert_eq!(
            dir,
            Path::new("results/exp/SERVE--max_num_seqs=32-model=org_m-BENCH--request_rate=2.5")
        );
        assert_eq!(run_path(&dir, Some(0)), dir.join("run=0.json"));
        assert_eq!(run_path(&dir, None), dir.join("summary.json"));
        assert_eq!(
            failure_path(&dir.join("run=2.json")),
            dir.join("run=2.failure.json")
        );
        let empty = SweepItem::default();
        let extra = ["WL-".to_string(), "max_concurrency=8".to_string()];
        assert_eq!(
            combination_dir(Path::new("e"), &empty, &bench, &extra),
            Path::new("e/BENCH--request_rate=2.5-WL--max_concurrency=8")
        );
        assert_eq!(sanitize_filename("'a/../b'"), "a____b");
    }
}
