//! Reads local tabular data files into rows of JSON objects: JSON (a list of objects), JSON
//! Lines, CSV (header row; numbers typed) and Parquet (uncompressed or Snappy, as the hub's
//! files are; binary columns become base64 strings), as the Hugging Face `datasets` loaders
//! read them.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{csv, format_error, jsonl_rows, read_file};
use crate::error::DatasetError;

/// One row and where it came from (for error messages).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    /// The file.
    pub path: PathBuf,
    /// 1-based line (0 for rows of a JSON list).
    pub line: usize,
    /// The row's columns.
    pub fields: Map<String, Value>,
}

impl Row {
    /// A format error at this row.
    pub(crate) fn error(&self, reason: String) -> DatasetError {
        format_error(&self.path, self.line, reason)
    }

    /// The string column `key`, or an error naming it.
    pub(crate) fn str(&self, key: &str) -> Result<&str, DatasetError> {
        self.fields
            .get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| self.error(format!("expected a string column {key:?}")))
    }
}

/// File extensions read as data.
pub(crate) const DATA_EXTENSIONS: &[&str] = &["json", "jsonl", "ndjson", "csv", "parquet"];

/// Reads every row of `path` (one file) by its extension.
pub(crate) fn read_rows(path: &Path) -> Result<Vec<Row>, DatasetError> {
    let ext = extension(path);
    if ext == "parquet" {
        return parquet_rows(path);
    }
    let text = read_file(path)?;
    match ext.as_str() {
        "csv" => csv_rows(path, &text),
        "json" if !text.trim_start().starts_with('[') => jsonl(path, &text),
        "json" => {
            let list: Vec<Value> = serde_json::from_str(&text).map_err(|e| {
                format_error(
                    path,
                    e.line(),
                    format!("expected a JSON list of objects: {e}"),
                )
            })?;
            list.into_iter()
                .enumerate()
                .map(|(i, v)| {
                    object(path, 0, v).map_err(|_| {
                        format_error(
                            path,
                            0,
                            format!("item {i} of the list is not a JSON object"),
                        )
                    })
                })
                .collect()
        }
        _ => jsonl(path, &text),
    }
}

/// What to do when a Parquet file cannot be read here.
const PARQUET_HINT: &str = "profilemate reads Parquet without compression or with Snappy; convert other files once with `python -c \"import pandas as p; p.read_parquet('F.parquet').to_json('F.jsonl', orient='records', lines=True)\"` and pass the .jsonl via --dataset-path";

/// The rows of a Parquet file (row groups in order), each converted to a JSON object.
fn parquet_rows(path: &Path) -> Result<Vec<Row>, DatasetError> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let file = std::fs::File::open(path).map_err(|source| DatasetError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |line: usize, e: parquet::errors::ParquetError| {
        format_error(
            path,
            line,
            format!("cannot read this Parquet file ({e}); {PARQUET_HINT}"),
        )
    };
    // The parquet crate can panic on some malformed files instead of returning an error; such a
    // file is reported like any other unreadable one.
    let read = || -> Result<Vec<Row>, DatasetError> {
        let reader = SerializedFileReader::new(file).map_err(|e| bad(0, e))?;
        let rows = reader.get_row_iter(None).map_err(|e| bad(0, e))?;
        let mut out = Vec::new();
        for (i, row) in rows.enumerate() {
            let row = row.map_err(|e| bad(i + 1, e))?;
            out.push(object(path, i + 1, row.to_json_value())?);
        }
        Ok(out)
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|_| {
        Err(format_error(
            path,
            0,
            format!("malformed Parquet file; {PARQUET_HINT}"),
        ))
    })
}

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn object(path: &Path, line: usize, v: Value) -> Result<Row, DatasetError> {
    match v {
        Value::Object(fields) => Ok(Row {
            path: path.to_path_buf(),
            line,
            fields,
        }),
        _ => Err(format_error(path, line, "expected a JSON object".into())),
    }
}

fn jsonl(path: &Path, text: &str) -> Result<Vec<Row>, DatasetError> {
    jsonl_rows(text)
        .map(|(line, raw)| {
            let v: Value = serde_json::from_str(raw)
                .map_err(|e| format_error(path, line, format!("not a JSON object: {e}")))?;
            object(path, line, v)
        })
        .collect()
}

fn csv_rows(path: &Path, text: &str) -> Result<Vec<Row>, DatasetError> {
    let records = csv::parse(text).map_err(|e| format_error(path, e.line, e.reason.into()))?;
    let mut records = records.into_iter();
    let Some((_, header)) = records.next() else {
        return Ok(Vec::new());
    };
    records
        .map(|(line, cells)| {
            if cells.len() != header.len() {
                return Err(format_error(
                    path,
                    line,
                    format!(
                        "{} fields where the header has {}",
                        cells.len(),
                        header.len()
                    ),
                ));
            }
            let fields = header
                .iter()
                .cloned()
                .zip(cells.into_iter().map(typed))
                .collect();
            Ok(Row {
                path: path.to_path_buf(),
                line,
                fields,
            })
        })
        .collect()
}

/// A CSV cell as pandas would type it: integer, float, else string.
fn typed(cell: String) -> Value {
    if let Ok(i) = cell.trim().parse::<i64>() {
        return Value::from(i);
    }
    match cell.trim().parse::<f64>() {
        Ok(f) if f.is_finite() && !cell.trim().is_empty() => Value::from(f),
        _ => Value::String(cell),
    }
}

/// The data files of a local dataset, as `load_dataset(path, name=subset, split=split)` picks
/// them: a file is itself; in a directory (or its `subset` subdirectory), the files whose name
/// or parent directory names the split (`train.jsonl`, `test-00000-of-00001.json`,
/// `data/validation/x.csv`); when no file names any split, all files form the `train` split.
pub(crate) fn data_files(
    path: &Path,
    subset: Option<&str>,
    split: &str,
) -> Result<Vec<PathBuf>, DatasetError> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let read_err = |source| DatasetError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut base = path.to_path_buf();
    if let Some(s) = subset.filter(|s| path.join(s).is_dir()) {
        base = path.join(s);
    }
    let mut files = Vec::new();
    walk(&base, 0, &mut files).map_err(read_err)?;
    files.sort();
    if files.is_empty() {
        return Err(DatasetError::Params(format!(
            "{}: no data files ({}) in this directory",
            base.display(),
            DATA_EXTENSIONS.join(", ")
        )));
    }
    let named: Vec<(PathBuf, String)> = files
        .iter()
        .filter_map(|f| split_of(&base, f).map(|s| (f.clone(), s)))
        .collect();
    if named.is_empty() {
        return if split == "train" {
            Ok(files)
        } else {
            Err(DatasetError::Params(format!(
                "{}: no file names a split, so all files are the 'train' split; pass --hf-split train or name files like {split}.jsonl",
                base.display()
            )))
        };
    }
    let chosen: Vec<PathBuf> = named
        .iter()
        .filter(|(_, s)| s == split)
        .map(|(f, _)| f.clone())
        .collect();
    if chosen.is_empty() {
        let mut splits: Vec<&str> = named.iter().map(|(_, s)| s.as_str()).collect();
        splits.sort_unstable();
        splits.dedup();
        return Err(DatasetError::Params(format!(
            "{}: no files for split '{split}'; found splits: {}; pass one with --hf-split",
            base.display(),
            splits.join(", ")
        )));
    }
    Ok(chosen)
}

/// Split names the `datasets` library recognises in file and directory names.
const SPLITS: &[&str] = &["train", "test", "validation", "valid", "dev", "val", "eval"];

fn split_of(base: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(base).ok()?;
    let stem = rel.file_stem()?.to_str()?;
    let from_name = stem
        .split(['-', '_', '.'])
        .find(|part| SPLITS.contains(part));
    let from_dir = rel
        .parent()
        .into_iter()
        .flat_map(|p| p.components())
        .filter_map(|c| c.as_os_str().to_str())
        .find(|c| SPLITS.contains(c));
    from_name.or(from_dir).map(str::to_string)
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if p.is_dir() && depth < 3 {
            walk(&p, depth + 1, out)?;
        } else if p.is_file() && DATA_EXTENSIONS.contains(&extension(&p).as_str()) {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let root = std::env::temp_dir().join(format!("pm-table-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (rel, body) in files {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        root
    }

    #[test]
    fn reads_json_list_jsonl_and_typed_csv() {
        let d = dir(
            "formats",
            &[
                ("a.json", r#"[{"q": "x"}, {"q": "y"}]"#),
                ("b.jsonl", "{\"q\": \"z\"}\n\n{\"q\": 1}\n"),
                ("c.csv", "q,n,f\nhello,3,0.5\n\"a,b\",-1,x\n"),
            ],
        );
        let a = read_rows(&d.join("a.json")).unwrap();
        assert_eq!(a[1].fields["q"], "y");
        let b = read_rows(&d.join("b.jsonl")).unwrap();
        assert_eq!((b.len(), b[1].line), (2, 3));
        let c = read_rows(&d.join("c.csv")).unwrap();
        assert_eq!(c[0].fields["n"], 3);
        assert_eq!(c[0].fields["f"], 0.5);
        assert_eq!(c[1].fields["q"], "a,b");
        assert_eq!(c[1].fields["f"], "x");
    }

    #[test]
    fn a_file_that_is_not_parquet_names_the_conversion() {
        let d = dir("bad-parquet", &[("x.parquet", "PAR1 not really")]);
        let err = read_rows(&d.join("x.parquet")).unwrap_err().to_string();
        assert!(
            err.contains("x.parquet:0:") && err.contains(".jsonl"),
            "{err}"
        );
    }

    #[test]
    fn directories_pick_files_by_subset_and_split() {
        let d = dir(
            "splits",
            &[
                ("main/train-00000-of-00001.jsonl", "{}"),
                ("main/test.jsonl", "{}"),
                ("other/test.jsonl", "{}"),
                ("README.md", "x"),
            ],
        );
        let test = data_files(&d, Some("main"), "test").unwrap();
        assert_eq!(test, vec![d.join("main/test.jsonl")]);
        let train = data_files(&d, Some("main"), "train").unwrap();
        assert_eq!(train, vec![d.join("main/train-00000-of-00001.jsonl")]);
        let err = data_files(&d, Some("main"), "validation")
            .unwrap_err()
            .to_string();
        assert!(err.contains("found splits: test, train"), "{err}");
        let flat = dir("flat", &[("rows.jsonl", "{}"), ("more.csv", "a\n1\n")]);
        assert_eq!(data_files(&flat, None, "train").unwrap().len(), 2);
        assert!(data_files(&flat, None, "test").is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256), ext in "(json|jsonl|csv|parquet)") {
            let p = std::env::temp_dir().join(format!("pm-table-prop-{}.{ext}", std::process::id()));
            std::fs::write(&p, &bytes).unwrap();
            let _ = read_rows(&p);
        }
    }
}
