//! What the golden-case tests share: where the cases live, reading a compressed case file, and
//! comparing one case with the runner's answer.

use std::io::Read;
use std::path::PathBuf;

use serde_json::Value;

/// The golden cases copied into the repository (see `testdata/README.md`).
pub(crate) fn goldens_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/goldens/perf")
}

/// The case file `name` (gzip) under [`goldens_dir`], decompressed.
pub(crate) fn read_cases(name: &str) -> String {
    let path = goldens_dir().join(name);
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text
}

/// The ordered `(key, value)` pairs of a breakdown object.
fn entries(value: &Value) -> Vec<(String, u64)> {
    value
        .as_object()
        .expect("breakdown is an object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("integer value")))
        .collect()
}

/// The first difference between a golden case and the runner's answer (`ok`: the runner
/// answered without error), if any: components, then every breakdown key in vLLM's order.
pub(crate) fn difference(expected: &Value, got: &Value, ok: bool) -> Option<String> {
    if !ok {
        return Some(format!("error {}", got["error"]));
    }
    if expected["components"] != got["components"] {
        return Some(format!(
            "components: want {} have {}",
            expected["components"], got["components"]
        ));
    }
    ["flops", "read_bytes", "write_bytes"]
        .into_iter()
        .find_map(|key| {
            let (want, have) = (entries(&expected[key]), entries(&got[key]));
            (want != have).then(|| format!("{key}:\n  want {want:?}\n  have {have:?}"))
        })
}
