//! Parameter grids for `bench sweep`, read and applied to command lines as vLLM 0.32's
//! `vllm bench sweep` does (`benchmarks/sweep/param_sweep.py`), so existing sweep files work.

use profilemate_metrics::number::python_repr;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// The key that names a combination instead of its parameters.
pub const NAME_KEY: &str = "_benchmark_name";

/// One combination of parameters: flag names (`max_num_seqs` or `max-num-seqs`) to values, in
/// the file's order (names and command lines depend on it, as in vLLM's dicts).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SweepItem(pub Vec<(String, Value)>);

/// A JSON object read with its keys in the file's order (a later duplicate replaces the value
/// in place, as Python's `dict` does).
struct OrderedObject(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for OrderedObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = OrderedObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedObject, A::Error> {
                let mut item = SweepItem::default();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    item.insert(key, value);
                }
                Ok(OrderedObject(item.0))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// A grid file's top level: a list of objects, or an object of named objects.
enum GridFile {
    List(Vec<OrderedObject>),
    Named(Vec<(String, OrderedObject)>),
}

impl<'de> Deserialize<'de> for GridFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TopVisitor;
        impl<'de> Visitor<'de> for TopVisitor {
            type Value = GridFile;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of objects or an object of named objects")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<GridFile, A::Error> {
                let mut items = Vec::new();
                while let Some(v) = seq.next_element::<OrderedObject>()? {
                    items.push(v);
                }
                Ok(GridFile::List(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<GridFile, A::Error> {
                let mut items = Vec::new();
                while let Some(entry) = map.next_entry::<String, OrderedObject>()? {
                    items.push(entry);
                }
                Ok(GridFile::Named(items))
            }
        }
        deserializer.deserialize_any(TopVisitor)
    }
}

/// Why a parameter file was refused.
#[derive(Debug, thiserror::Error)]
pub enum SweepParamsError {
    /// The file could not be read.
    #[error("cannot read parameter file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Not JSON, or not a list or dict of objects.
    #[error(
        "parameter file {path} is not a JSON list of objects or an object of named objects ({detail}): see `profilemate bench sweep serve --help`"
    )]
    Shape {
        /// The file.
        path: String,
        /// What was wrong.
        detail: String,
    },
    /// Two combinations share a `_benchmark_name`.
    #[error("parameter file {path} repeats _benchmark_name {name:?}: every name must be unique")]
    DuplicateName {
        /// The file.
        path: String,
        /// The repeated name.
        name: String,
    },
    /// A `--link-vars` item without `=`.
    #[error(
        "invalid --link-vars item {0:?}: use SERVE_KEY=BENCH_KEY pairs separated by commas (e.g. max_num_seqs=max_concurrency)"
    )]
    LinkVar(String),
}

/// Reads a grid: a JSON list of objects, or an object whose keys name its objects (each then
/// carries `_benchmark_name`). `path` is only used in errors.
pub fn parse_sweep(path: &str, text: &str) -> Result<Vec<SweepItem>, SweepParamsError> {
    let shape = |detail: &str| SweepParamsError::Shape {
        path: path.to_string(),
        detail: detail.to_string(),
    };
    let top: GridFile = serde_json::from_str(text).map_err(|e| shape(&e.to_string()))?;
    let items: Vec<SweepItem> = match top {
        GridFile::List(records) => records.into_iter().map(|r| SweepItem(r.0)).collect(),
        GridFile::Named(named) => named
            .into_iter()
            .map(|(name, params)| {
                let mut item = SweepItem(vec![(NAME_KEY.into(), Value::String(name))]);
                for (k, v) in params.0 {
                    item.insert(k, v);
                }
                item
            })
            .collect(),
    };
    let mut seen = std::collections::HashSet::new();
    for item in &items {
        if let Some(Value::String(name)) = item.get(NAME_KEY)
            && !seen.insert(name.clone())
        {
            return Err(SweepParamsError::DuplicateName {
                path: path.to_string(),
                name: name.clone(),
            });
        }
    }
    Ok(items)
}

/// Reads a grid file (`--serve-params`, `--bench-params`); without one, a single empty
/// combination (the command runs unmodified).
pub fn read_sweep_file(path: Option<&std::path::Path>) -> Result<Vec<SweepItem>, SweepParamsError> {
    let Some(path) = path else {
        return Ok(vec![SweepItem::default()]);
    };
    let text = std::fs::read_to_string(path).map_err(|source| SweepParamsError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse_sweep(&path.display().to_string(), &text)
}

/// Reads `--link-vars`: `a=b,c=d` → `[(a, b), (c, d)]`; empty gives none.
pub fn parse_link_vars(text: &str) -> Result<Vec<(String, String)>, SweepParamsError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|item| match item.split_once('=') {
            Some((a, b)) if !b.contains('=') => Ok((a.trim().to_string(), b.trim().to_string())),
            _ => Err(SweepParamsError::LinkVar(item.to_string())),
        })
        .collect()
}

/// Whether a serve and a bench combination agree on every linked pair (both present, equal).
pub fn is_linked(serve: &SweepItem, bench: &SweepItem, link_vars: &[(String, String)]) -> bool {
    link_vars
        .iter()
        .all(|(s, b)| match (serve.get(s), bench.get(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        })
}

impl SweepItem {
    /// The value of `key` as written (no respelling).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key`, in place when present (keeping its position), else at the end.
    pub fn insert(&mut self, key: String, value: Value) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// Whether the item sets nothing (the command runs unmodified).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `_benchmark_name`, or `k=v` pairs joined by `-`.
    pub fn name(&self) -> String {
        match self.get(NAME_KEY) {
            Some(name) => python_str(name),
            None => self.as_text("-"),
        }
    }

    /// `k=v` pairs (Python `str` of each value) joined by `sep`, the name left out.
    pub fn as_text(&self, sep: &str) -> String {
        self.0
            .iter()
            .filter(|(k, _)| k.as_str() != NAME_KEY)
            .map(|(k, v)| format!("{k}={}", python_str(v)))
            .collect::<Vec<_>>()
            .join(sep)
    }

    /// Whether the item sets `key` under any of its spellings (`-` or `_`).
    pub fn has_param(&self, key: &str) -> bool {
        key_candidates(key).iter().any(|k| self.get(k).is_some())
    }

    /// This item with `other`'s entries added or replacing (Python's `dict | dict`).
    pub fn merged(&self, other: &SweepItem) -> SweepItem {
        let mut merged = self.clone();
        for (k, v) in &other.0 {
            merged.insert(k.clone(), v.clone());
        }
        merged
    }

    /// The command with each parameter replaced where its flag already appears (under any
    /// spelling) or appended: `--key value`, `--flag` / `--no-flag` for booleans
    /// (`--a.b=true` for dotted keys), objects as JSON.
    pub fn apply_to_cmd(&self, cmd: &[String]) -> Vec<String> {
        let mut cmd = cmd.to_vec();
        for (key, value) in &self.0 {
            if key == NAME_KEY {
                continue;
            }
            let value = match value {
                Value::Object(_) => Value::String(python_json_dumps(value)),
                other => other.clone(),
            };
            let pair = flag_pair(key, &value);
            let existing = cmd_key_candidates(key)
                .into_iter()
                .find_map(|flag| cmd.iter().position(|arg| *arg == flag));
            match existing {
                Some(i) => {
                    // As vLLM: a boolean replaces the flag alone; a value also the next word.
                    cmd[i] = pair[0].clone();
                    if let Some(v) = pair.get(1) {
                        if i + 1 < cmd.len() {
                            cmd[i + 1] = v.clone();
                        } else {
                            cmd.push(v.clone());
                        }
                    }
                }
                None => cmd.extend(pair),
            }
        }
        cmd
    }
}

/// The spellings vLLM tries for a JSON key: as given, `-`→`_`, `_`→`-`; only the part before
/// the first `.` is respelled (inner config keys are not converted by the CLI).
fn key_candidates(key: &str) -> Vec<String> {
    if let Some((prefix, rest)) = key.split_once('.') {
        return key_candidates(prefix)
            .into_iter()
            .map(|p| format!("{p}.{rest}"))
            .collect();
    }
    vec![
        key.to_string(),
        key.replace('-', "_"),
        key.replace('_', "-"),
    ]
}

/// The command-line flags tried, most CLI-like (`-`) first.
fn cmd_key_candidates(key: &str) -> Vec<String> {
    key_candidates(key)
        .into_iter()
        .rev()
        .map(|k| format!("--{k}"))
        .collect()
}

fn flag_pair(key: &str, value: &Value) -> Vec<String> {
    match value {
        Value::Bool(b) if key.contains('.') => {
            vec![format!("{}={}", cmd_key_candidates(key)[0], b)]
        }
        Value::Bool(true) => vec![cmd_key_candidates(key)[0].clone()],
        Value::Bool(false) => vec![cmd_key_candidates(&format!("no-{key}"))[0].clone()],
        other => vec![cmd_key_candidates(key)[0].clone(), python_str(other)],
    }
}

/// Python's `str()` of a JSON value as `json.load` gives it.
pub fn python_str(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => python_repr(f),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(python_value_repr)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!(
                    "{}: {}",
                    python_value_repr(&Value::String(k.clone())),
                    python_value_repr(v)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Python's `repr()` of a JSON value (strings quoted with `'`).
fn python_value_repr(value: &Value) -> String {
    match value {
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        other => python_str(other),
    }
}

/// `json.dumps(value)` with Python's default separators (`, ` and `: `).
fn python_json_dumps(value: &Value) -> String {
    match value {
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(python_json_dumps)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), python_json_dumps(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => python_repr(f),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn reads_lists_and_named_dicts() {
        let list = parse_sweep(
            "a.json",
            r#"[{"max_num_seqs": 32}, {"max_num_seqs": 64, "enable_prefix_caching": false}]"#,
        )
        .unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(
            list[1].name(),
            "max_num_seqs=64-enable_prefix_caching=False"
        );
        let named = parse_sweep(
            "b.json",
            r#"{"small": {"max_num_seqs": 8}, "big": {"max_num_seqs": 256}}"#,
        )
        .unwrap();
        assert_eq!(named[0].name(), "small");
        assert_eq!(named[0].as_text(", "), "max_num_seqs=8");
        assert!(parse_sweep("c.json", "[1]").is_err());
        assert!(parse_sweep("c.json", "3").is_err());
        let dup = parse_sweep(
            "d.json",
            r#"[{"_benchmark_name": "x"}, {"_benchmark_name": "x"}]"#,
        )
        .unwrap_err();
        assert!(dup.to_string().contains("repeats _benchmark_name \"x\""));
    }

    #[test]
    fn applies_parameters_like_vllm() {
        let item = parse_sweep("p", r#"[{"max_num_seqs": 32, "request-rate": 2.0, "enable_prefix_caching": false, "enforce_eager": true, "compilation_config.cudagraph_mode": "PIECEWISE", "speculative_config": {"method": "ngram", "num_speculative_tokens": 4}}]"#).unwrap().remove(0);
        let cmd = words("vllm serve m --max-num-seqs 8 --request_rate 1");
        assert_eq!(
            item.apply_to_cmd(&cmd),
            [
                "vllm",
                "serve",
                "m",
                "--max-num-seqs",
                "32",
                "--request-rate",
                "2.0",
                "--no-enable-prefix-caching",
                "--enforce-eager",
                "--compilation-config.cudagraph_mode",
                "PIECEWISE",
                "--speculative-config",
                r#"{"method": "ngram", "num_speculative_tokens": 4}"#,
            ]
        );
        // A boolean replaces an existing flag in place.
        let item = parse_sweep("p", r#"[{"enforce_eager": false}]"#)
            .unwrap()
            .remove(0);
        assert_eq!(
            item.apply_to_cmd(&words("vllm serve m --enforce-eager --port 8000")),
            words("vllm serve m --no-enforce-eager --port 8000")
        );
        let item = parse_sweep("p", r#"[{"a.b": true}]"#).unwrap().remove(0);
        assert_eq!(item.apply_to_cmd(&[]), ["--a.b=true"]);
    }

    #[test]
    fn link_vars_pair_serve_and_bench_keys() {
        let links = parse_link_vars("max_num_seqs=max_concurrency, max_model_len=random_input_len")
            .unwrap();
        assert_eq!(
            links[1],
            ("max_model_len".into(), "random_input_len".into())
        );
        assert!(parse_link_vars("a").is_err());
        assert!(parse_link_vars("").unwrap().is_empty());
        let serve = parse_sweep("s", r#"[{"max_num_seqs": 8}]"#)
            .unwrap()
            .remove(0);
        let bench = parse_sweep(
            "b",
            r#"[{"max_concurrency": 8}, {"max_concurrency": 16}, {}]"#,
        )
        .unwrap();
        let links = parse_link_vars("max_num_seqs=max_concurrency").unwrap();
        let linked: Vec<bool> = bench.iter().map(|b| is_linked(&serve, b, &links)).collect();
        assert_eq!(linked, [true, false, false]);
    }

    #[test]
    fn python_str_of_json_values() {
        for (json, text) in [
            ("1", "1"),
            ("1.0", "1.0"),
            ("0.5", "0.5"),
            ("1e20", "1e+20"),
            ("0.00001", "1e-05"),
            ("null", "None"),
            ("true", "True"),
            (r#""x""#, "x"),
            (r#"[1, "a", 2.5]"#, "[1, 'a', 2.5]"),
            (r#"{"k": "v"}"#, "{'k': 'v'}"),
        ] {
            assert_eq!(
                python_str(&serde_json::from_str(json).unwrap()),
                text,
                "{json}"
            );
        }
    }
}
