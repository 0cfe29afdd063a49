//! `bench sweep plot`'s data: the runs of a sweep's `summary.json` files, filtered, binned and
//! grouped into figures, subplot rows and columns, and curves, as vLLM 0.32's
//! `benchmarks/sweep/plot.py` groups them (it then draws with seaborn; we draw elsewhere).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::params::python_str;

/// One run's record, as a sweep's `summary.json` lists it.
pub type Run = Map<String, Value>;

/// Why the runs could not be read or grouped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlotDataError {
    /// No `summary.json` under the directory.
    #[error("did not find any parameter sweep results (summary.json) under {0}")]
    NoResults(String),
    /// A `summary.json` is not a JSON list of objects.
    #[error("{path}: {detail}")]
    BadFile {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// A `--filter-by` or `--bin-by` statement was not understood.
    #[error("invalid {what} '{text}': {detail}")]
    BadStatement {
        /// `plot filter` or `plot binner`.
        what: &'static str,
        /// The statement.
        text: String,
        /// What is wrong.
        detail: String,
    },
    /// A variable named on the command line is in no run.
    #[error(
        "cannot find {role}={name:?} in the parameter sweep results; available variables: {available}"
    )]
    MissingVariable {
        /// `var_x`, `row_by`, …
        role: &'static str,
        /// The variable.
        name: String,
        /// The keys the runs have.
        available: String,
    },
}

/// Every run of every `summary.json` under `dir` (recursively, in path order).
pub fn load_runs(dir: &Path) -> Result<Vec<Run>, PlotDataError> {
    let mut files = Vec::new();
    collect_summaries(dir, &mut files);
    files.sort();
    let mut runs = Vec::new();
    for path in &files {
        let bad = |detail: String| PlotDataError::BadFile {
            path: path.display().to_string(),
            detail,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let value: Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("not JSON ({e})")))?;
        let Value::Array(items) = value else {
            return Err(bad("not a JSON list of runs".into()));
        };
        for item in items {
            match item {
                Value::Object(map) => runs.push(map),
                _ => return Err(bad("a run that is not a JSON object".into())),
            }
        }
    }
    if runs.is_empty() {
        return Err(PlotDataError::NoResults(dir.display().to_string()));
    }
    Ok(runs)
}

fn collect_summaries(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_summaries(&path, out);
        } else if path.file_name().is_some_and(|n| n == "summary.json") {
            out.push(path);
        }
    }
}

/// A value as a float: numbers, and strings Python's `float` reads (`"inf"`, `"2.5"`).
pub fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "inf" | "+inf" | "infinity" => Some(f64::INFINITY),
            "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
            "nan" => Some(f64::NAN),
            t => t.parse().ok(),
        },
        _ => None,
    }
}

/// A comparison in `--filter-by` (`max_concurrency<1000`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<=`
    Le,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `>`
    Gt,
}

/// One `--filter-by` statement.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotFilter {
    /// The variable compared.
    pub var: String,
    /// The comparison.
    pub op: FilterOp,
    /// The value compared with (quotes stripped).
    pub target: String,
}

/// vLLM's operators, longer first so `<=` is not read as `<`.
const FILTER_OPS: [(&str, FilterOp); 6] = [
    ("==", FilterOp::Eq),
    ("!=", FilterOp::Ne),
    ("<=", FilterOp::Le),
    (">=", FilterOp::Ge),
    ("<", FilterOp::Lt),
    (">", FilterOp::Gt),
];

impl PlotFilter {
    /// Parses a comma-separated `--filter-by` list (empty: no filter).
    pub fn parse_list(text: &str) -> Result<Vec<Self>, PlotDataError> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        text.split(',').map(Self::parse).collect()
    }

    /// Parses one statement, `VAR<OP>VALUE`.
    pub fn parse(text: &str) -> Result<Self, PlotDataError> {
        for (token, op) in FILTER_OPS {
            if let Some((var, target)) = text.split_once(token) {
                return Ok(PlotFilter {
                    var: var.to_string(),
                    op,
                    target: target.trim_matches('\'').trim_matches('"').to_string(),
                });
            }
        }
        Err(PlotDataError::BadStatement {
            what: "plot filter",
            text: text.into(),
            detail: "valid operators are: !=, <, <=, ==, >, >=".into(),
        })
    }

    /// Whether `run` passes; a run without the variable does not. `==`/`!=` compare as numbers
    /// when the target is one, else as text; the others need numbers.
    pub fn keeps(&self, run: &Run) -> Result<bool, PlotDataError> {
        let Some(value) = run.get(&self.var) else {
            return Ok(false);
        };
        let number = as_number(value);
        let target = self.target.parse::<f64>().ok();
        let equal = || match target {
            Some(t) => number == Some(t),
            None => match value {
                Value::String(s) => *s == self.target,
                other => python_str(other) == self.target,
            },
        };
        let ordered = |f: fn(f64, f64) -> bool| -> Result<bool, PlotDataError> {
            let t = target.ok_or_else(|| PlotDataError::BadStatement {
                what: "plot filter",
                text: format!("{}{}", self.var, self.target),
                detail: "an ordering needs a number".into(),
            })?;
            Ok(number.is_some_and(|v| f(v, t)))
        };
        match self.op {
            FilterOp::Eq => Ok(equal()),
            FilterOp::Ne => Ok(!equal()),
            FilterOp::Le => ordered(|v, t| v <= t),
            FilterOp::Ge => ordered(|v, t| v >= t),
            FilterOp::Lt => ordered(|v, t| v < t),
            FilterOp::Gt => ordered(|v, t| v > t),
        }
    }
}

/// One `--bin-by` statement, `VAR%SIZE`: the variable floored to a multiple of `size`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotBinner {
    /// The variable binned.
    pub var: String,
    /// The bin width.
    pub size: f64,
}

impl PlotBinner {
    /// Parses a comma-separated `--bin-by` list (empty: no binning).
    pub fn parse_list(text: &str) -> Result<Vec<Self>, PlotDataError> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        text.split(',')
            .map(|item| {
                let bad = |detail: &str| PlotDataError::BadStatement {
                    what: "plot binner",
                    text: item.into(),
                    detail: detail.into(),
                };
                let (var, size) = item
                    .split_once('%')
                    .ok_or_else(|| bad("valid operators are: %"))?;
                let size: f64 = size
                    .parse()
                    .map_err(|_| bad("the bin size must be a number"))?;
                if !(size.is_finite() && size > 0.0) {
                    return Err(bad("the bin size must be positive"));
                }
                Ok(PlotBinner {
                    var: var.into(),
                    size,
                })
            })
            .collect()
    }

    /// Floors the run's value to the bin (`value // size * size`, as pandas does).
    pub fn apply(&self, run: &mut Run) {
        if let Some(v) = run.get(&self.var).and_then(as_number) {
            let binned = (v / self.size).floor() * self.size;
            if let Some(n) = serde_json::Number::from_f64(binned) {
                run.insert(self.var.clone(), Value::Number(n));
            }
        }
    }
}

/// A group's key: `(variable, str(value))` pairs.
pub type GroupKey = Vec<(String, String)>;

/// The group a run belongs to for `keys`: `(key, str(value))` pairs, as vLLM's `_get_group`
/// (a run without a key is in the group of `None`).
pub fn group_of(run: &Run, keys: &[String]) -> GroupKey {
    keys.iter()
        .map(|k| {
            let text = run.get(k).map_or("None".to_string(), python_str);
            (k.clone(), text)
        })
        .collect()
}

/// `runs` split by `keys`, groups in first-seen order (vLLM's `full_groupby`).
pub fn group_runs<'a>(
    runs: impl IntoIterator<Item = &'a Run>,
    keys: &[String],
) -> Vec<(GroupKey, Vec<&'a Run>)> {
    let mut groups: Vec<(GroupKey, Vec<&Run>)> = Vec::new();
    for run in runs {
        let key = group_of(run, keys);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(run),
            None => groups.push((key, vec![run])),
        }
    }
    groups
}

/// Checks that every named variable is in some run (vLLM refuses a figure otherwise).
pub fn check_variables(runs: &[&Run], named: &[(&'static str, &str)]) -> Result<(), PlotDataError> {
    for (role, name) in named {
        if !runs.iter().any(|r| r.contains_key(*name)) {
            let mut keys: Vec<&str> = Vec::new();
            for r in runs {
                for k in r.keys() {
                    if !keys.contains(&k.as_str()) {
                        keys.push(k);
                    }
                }
            }
            return Err(PlotDataError::MissingVariable {
                role,
                name: name.to_string(),
                available: keys.join(", "),
            });
        }
    }
    Ok(())
}

/// One curve's points: for each x (ascending), the mean of its y values and their sample
/// standard deviation (seaborn's `errorbar="sd"`; 0 for a single value).
pub fn curve_points(runs: &[&Run], var_x: &str, var_y: &str) -> Vec<(f64, f64, f64)> {
    let mut pairs: Vec<(f64, f64)> = runs
        .iter()
        .filter_map(|r| Some((as_number(r.get(var_x)?)?, as_number(r.get(var_y)?)?)))
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = Vec::new();
    for chunk in pairs.chunk_by(|a, b| a.0 == b.0) {
        let n = chunk.len() as f64;
        let mean = chunk.iter().map(|p| p.1).sum::<f64>() / n;
        let sd = if chunk.len() > 1 {
            (chunk.iter().map(|p| (p.1 - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        out.push((chunk[0].0, mean, sd));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(value: serde_json::Value) -> Run {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn filters_parse_longest_operator_first_and_compare_like_pandas() {
        let f = PlotFilter::parse_list("max_concurrency<=8,backend=='openai',x>1").unwrap();
        assert_eq!(f[0].op, FilterOp::Le);
        assert_eq!(f[1].op, FilterOp::Eq);
        assert_eq!(f[1].target, "openai");
        let a = run(json!({"max_concurrency": 8, "backend": "openai", "x": 2}));
        let b = run(json!({"max_concurrency": 16, "backend": "vllm", "x": "inf"}));
        assert!(f.iter().all(|f| f.keeps(&a).unwrap()));
        assert!(!f[0].keeps(&b).unwrap() && !f[1].keeps(&b).unwrap() && f[2].keeps(&b).unwrap());
        assert!(
            PlotFilter::parse("x~3")
                .unwrap_err()
                .to_string()
                .contains("valid operators")
        );
        assert!(PlotFilter::parse("x<abc").unwrap().keeps(&a).is_err());
    }

    #[test]
    fn binners_floor_to_the_bin() {
        let b = PlotBinner::parse_list("request_throughput%2.5").unwrap();
        let mut r = run(json!({"request_throughput": 7.4}));
        b[0].apply(&mut r);
        assert_eq!(r["request_throughput"], 5.0);
        assert!(PlotBinner::parse_list("x%0").is_err());
        assert!(PlotBinner::parse_list("x/2").is_err());
    }

    #[test]
    fn groups_in_first_seen_order_and_curves_average_repeated_runs() {
        let runs = [
            run(json!({"gpu": "h100", "rate": 1, "ttft": 10.0})),
            run(json!({"gpu": "a100", "rate": 1, "ttft": 30.0})),
            run(json!({"gpu": "h100", "rate": 1, "ttft": 14.0})),
            run(json!({"gpu": "h100", "rate": 2, "ttft": 20.0})),
        ];
        let groups = group_runs(&runs, &["gpu".to_string()]);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].0, [("gpu".to_string(), "h100".to_string())]);
        let points = curve_points(&groups[0].1, "rate", "ttft");
        // Mean 12 and sample sd √8 at rate 1; one run at rate 2.
        assert_eq!(points[0].0, 1.0);
        assert_eq!(points[0].1, 12.0);
        assert!((points[0].2 - 8f64.sqrt()).abs() < 1e-12);
        assert_eq!(points[1], (2.0, 20.0, 0.0));
        let refs: Vec<&Run> = runs.iter().collect();
        assert!(check_variables(&refs, &[("var_x", "rate")]).is_ok());
        let err = check_variables(&refs, &[("var_y", "tpot")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("var_y=\"tpot\"") && err.contains("gpu, rate, ttft"),
            "{err}"
        );
    }

    #[test]
    fn loads_every_summary_json_below_a_directory() {
        let dir = std::env::temp_dir().join(format!("pm-figures-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("a/summary.json"), r#"[{"x": 1}, {"x": 2}]"#).unwrap();
        std::fs::write(dir.join("a/b/summary.json"), r#"[{"x": 3}]"#).unwrap();
        std::fs::write(dir.join("a/run=0.json"), r#"{"x": 9}"#).unwrap();
        assert_eq!(load_runs(&dir).unwrap().len(), 3);
        std::fs::write(dir.join("a/b/summary.json"), r#"{"x": 3}"#).unwrap();
        assert!(
            load_runs(&dir)
                .unwrap_err()
                .to_string()
                .contains("not a JSON list")
        );
        let empty = dir.join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        assert!(matches!(
            load_runs(&empty),
            Err(PlotDataError::NoResults(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
