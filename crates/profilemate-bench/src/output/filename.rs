//! Provides the result-file naming rule and the writer that saves or appends a result.
//!
//! Mirrors `compute_result_filename()` and the save block of `main_async()` in
//! vllm/benchmarks/serve.py, vLLM 0.32.

use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;

use super::json::py_str_float;
use crate::config::OutputConfig;
use crate::error::BenchError;
use crate::schedule::RampUp;

/// What the file name is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct NameParts<'a> {
    /// `--backend` name (the label's default).
    pub backend: &'a str,
    /// Model id; only the part after the last `/` is used.
    pub model_id: &'a str,
    /// `--request-rate`.
    pub request_rate: f64,
    /// `--max-concurrency`.
    pub max_concurrency: Option<usize>,
    /// Ramp-up, if any.
    pub ramp_up: Option<RampUp>,
    /// `%Y%m%d-%H%M%S`.
    pub date: &'a str,
}

/// The result path, or `None` when neither `--save-result` nor `--append-result` is set.
pub fn result_filename(out: &OutputConfig, p: &NameParts<'_>) -> Option<PathBuf> {
    if !(out.save_result || out.append_result) {
        return None;
    }
    let base_model = p.model_id.rsplit('/').next().unwrap_or(p.model_id);
    let conc = p
        .max_concurrency
        .map(|c| format!("-concurrency{c}"))
        .unwrap_or_default();
    let label = out
        .label
        .as_deref()
        .filter(|l| !l.is_empty())
        .unwrap_or(p.backend);
    let name = match (&out.result_filename, p.ramp_up) {
        (Some(name), _) => name.clone(),
        (None, Some(ramp)) => {
            let (start, end) = ramp.bounds();
            format!(
                "{label}-ramp-up-{}-{start}qps-{end}qps{conc}-{base_model}-{}.json",
                ramp.name(),
                p.date
            )
        }
        (None, None) => format!(
            "{label}-{}qps{conc}-{base_model}-{}.json",
            py_str_float(p.request_rate),
            p.date
        ),
    };
    Some(match &out.result_dir {
        Some(dir) => dir.join(name),
        None => PathBuf::from(name),
    })
}

/// Writes `bytes` to `path` (creating its directory), or appends as a new JSON line.
pub fn write_result(path: &std::path::Path, bytes: &[u8], append: bool) -> Result<(), BenchError> {
    let err = |source| BenchError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(path)
        .map_err(err)?;
    if append && f.seek(SeekFrom::End(0)).map_err(err)? != 0 {
        f.write_all(b"\n").map_err(err)?;
    }
    f.write_all(bytes).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(rate: f64) -> NameParts<'static> {
        NameParts {
            backend: "vllm",
            model_id: "meta-llama/Llama-3-8B",
            request_rate: rate,
            max_concurrency: None,
            ramp_up: None,
            date: "20261122-172338",
        }
    }

    #[test]
    fn names_follow_vllm() {
        let save = OutputConfig {
            save_result: true,
            ..Default::default()
        };
        assert_eq!(
            result_filename(&save, &parts(f64::INFINITY)).unwrap(),
            PathBuf::from("vllm-infqps-Llama-3-8B-20261122-172338.json")
        );
        let with = NameParts {
            max_concurrency: Some(4),
            ..parts(10.0)
        };
        assert_eq!(
            result_filename(&save, &with).unwrap(),
            PathBuf::from("vllm-10.0qps-concurrency4-Llama-3-8B-20261122-172338.json")
        );
        let ramp = NameParts {
            ramp_up: Some(RampUp::Exponential { start: 1, end: 8 }),
            ..parts(f64::INFINITY)
        };
        let labelled = OutputConfig {
            label: Some("exp".into()),
            result_dir: Some("res".into()),
            ..save.clone()
        };
        assert_eq!(
            result_filename(&labelled, &ramp).unwrap(),
            PathBuf::from("res/exp-ramp-up-exponential-1qps-8qps-Llama-3-8B-20261122-172338.json")
        );
        let fixed = OutputConfig {
            result_filename: Some("x.json".into()),
            ..save
        };
        assert_eq!(
            result_filename(&fixed, &parts(1.0)).unwrap(),
            PathBuf::from("x.json")
        );
        assert_eq!(result_filename(&OutputConfig::default(), &parts(1.0)), None);
    }

    #[test]
    fn append_writes_json_lines() {
        let path =
            std::env::temp_dir().join(format!("pm-bench-append-{}/r.json", std::process::id()));
        let _ = std::fs::remove_file(&path);
        write_result(&path, b"{\"a\": 1}", true).unwrap();
        write_result(&path, b"{\"a\": 2}", true).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\": 1}\n{\"a\": 2}"
        );
        write_result(&path, b"{}", false).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}");
    }
}
