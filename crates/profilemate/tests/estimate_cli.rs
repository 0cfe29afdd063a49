//! `profilemate estimate` as a user runs it: tables, JSON, golden cases and bad input.

use std::io::Read;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

mod util;

fn estimate() -> Command {
    let mut cmd = Command::cargo_bin("profilemate").unwrap();
    cmd.arg("estimate");
    cmd
}

/// The golden cases copied into the repository (see `testdata/README.md`).
fn goldens() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/goldens/perf")
}

/// Every `step`-th visible golden case line, decompressed: a sample across all the models.
fn golden_sample(step: usize) -> Vec<String> {
    let file = std::fs::File::open(goldens().join("visible.jsonl.gz")).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .unwrap();
    text.lines().step_by(step).map(str::to_owned).collect()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "profilemate-estimate-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_config(name: &str, text: &str) -> PathBuf {
    let dir = temp_dir(name);
    std::fs::write(dir.join("config.json"), text).unwrap();
    dir
}

/// `estimate ARGS` failing with exit status 2 and a message holding every one of `needles`.
#[track_caller]
fn fails_naming(args: &[&str], needles: &[&str]) {
    util::fails_naming(&[&["estimate"], args].concat(), needles);
}

/// `estimate --config DIR --prefill 8` failing with a message holding `needles`.
fn config_fails_naming(dir: &Path, needles: &[&str]) {
    let dir = dir.to_str().unwrap();
    fails_naming(&["--config", dir, "--prefill", "8"], needles);
}

#[test]
fn json_mode_carries_exact_integers() {
    let out = estimate()
        .args(["--model", "llama-3.1-8b", "--prefill", "2048", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["components"],
        serde_json::json!(["attn", "ffn", "unembed"])
    );
    assert_eq!(
        doc["per_gpu"]["flops"]["attn.attn_qk"],
        1_099_511_627_776u64
    );
    assert_eq!(doc["per_gpu"]["total_flops"], 30_787_376_250_880u64);
}

#[test]
fn table_mode_names_components_and_totals() {
    let out = estimate()
        .args(["--model", "gpt-oss-20b", "--decode", "8@8192", "-t", "2"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("components  unembed (vLLM 0.32-exact)"),
        "{text}"
    );
    assert!(
        text.contains("Unsupported quantization method for attention metrics: gpt_oss_mxfp4"),
        "{text}"
    );
    assert!(text.contains("unembed.unembed"), "{text}");
}

#[test]
fn case_mode_reproduces_goldens_and_reports_errors_per_line() {
    let sample = golden_sample(400);
    assert_eq!(sample.len(), 13, "every 400th of the 4,944 cases");
    let cases = temp_dir("cases").join("cases.jsonl");
    let broken = r#"{"id":"broken","model":"No-Such-Model","dtype":"bfloat16","kv_cache_dtype":"auto","parallel":{"tp":1,"pp":1,"dp":1,"ep":false},"batch":[[1,1,false]],"per_gpu":true}"#;
    std::fs::write(&cases, format!("{}\n{broken}\n", sample.join("\n"))).unwrap();
    let out = estimate()
        .arg("--cases")
        .arg(&cases)
        .arg("--configs-dir")
        .arg(goldens().join("configs"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "one case errored");
    let answers: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), sample.len() + 1);
    for (answer, line) in answers.iter().zip(&sample) {
        let expected: Value = serde_json::from_str(line).unwrap();
        for key in ["id", "components", "flops", "read_bytes", "write_bytes"] {
            assert_eq!(answer[key], expected[key], "{key}");
        }
    }
    let last = &answers[sample.len()];
    assert_eq!(last["id"], "broken");
    assert!(
        last["error"].as_str().unwrap().contains("No-Such-Model"),
        "{last}"
    );
}

#[test]
fn missing_config_file_is_named() {
    config_fails_naming(
        Path::new("/nonexistent/model"),
        &["/nonexistent/model", "cannot read"],
    );
}

#[test]
fn invalid_json_is_named_with_its_position() {
    let dir = write_config("badjson", "{\"hidden_size\": 64,,}");
    config_fails_naming(&dir, &["is not valid JSON", "line 1"]);
}

#[test]
fn config_without_attention_heads_is_named() {
    let dir = write_config(
        "noheads",
        r#"{"model_type":"llama","hidden_size":64,"num_hidden_layers":2,"vocab_size":10,"intermediate_size":128}"#,
    );
    config_fails_naming(&dir, &["num_attention_heads"]);
}

#[test]
fn zero_and_negative_sizes_are_named() {
    let dir = write_config(
        "zero",
        r#"{"hidden_size":0,"num_attention_heads":4,"num_hidden_layers":2,"vocab_size":10}"#,
    );
    config_fails_naming(&dir, &["`hidden_size` must be > 0 (got 0)"]);
    let model = ["--model", "llama-3.1-8b"];
    fails_naming(
        &[&model[..], &["--decode", "0@10"]].concat(),
        &["--decode `0@10`", "COUNT"],
    );
    fails_naming(
        &[&model[..], &["--prefill", "8", "-t", "0"]].concat(),
        &["tensor-parallel-size"],
    );
}

#[test]
fn unknown_dtype_and_preset_are_named() {
    let base = ["--model", "llama-3.1-8b", "--prefill", "8"];
    fails_naming(
        &[&base[..], &["--dtype", "int3"]].concat(),
        &["unknown dtype `int3`"],
    );
    fails_naming(
        &[&base[..], &["--kv-cache-dtype", "fp6"]].concat(),
        &["kv-cache-dtype `fp6`"],
    );
    fails_naming(
        &["--model", "llama-9", "--prefill", "8"],
        &["--model llama-9: no preset", "did you mean llama-3.1-8b"],
    );
}

/// vLLM 0.32 refuses a TP size that does not divide the attention heads (config verification);
/// so does `estimate`, in one line naming the field, the TP size and the sizes that work, exit 2.
/// The golden cases of such layouts are refused the same way (an error line, exit 1).
#[test]
fn attention_heads_not_divisible_by_tp_are_refused_in_one_line() {
    let ernie = goldens().join("configs/ERNIE-4.5-21B-A3B");
    let args = [
        "--model",
        ernie.to_str().unwrap(),
        "--tp",
        "8",
        "--prefill",
        "8",
    ];
    fails_naming(
        &args,
        &[
            "`num_attention_heads` (20) is not divisible by --tensor-parallel-size 8",
            "(1, 2, 4, 5, 10, 20)",
        ],
    );
    let out = estimate().args(args).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    estimate()
        .args([
            "--model",
            ernie.to_str().unwrap(),
            "--tp",
            "4",
            "--prefill",
            "8",
        ])
        .assert()
        .success();
    let dir = temp_dir("tp-refusal");
    let cases = dir.join("cases.jsonl");
    std::fs::write(
        &cases,
        r#"{"id":"e/tp8","model":"ERNIE-4.5-21B-A3B","dtype":"bfloat16","kv_cache_dtype":"auto","parallel":{"tp":8,"pp":1,"dp":1,"ep":false},"batch":[[1,1,false]],"per_gpu":true}
"#,
    )
    .unwrap();
    let configs = goldens().join("configs");
    let out = estimate()
        .args([
            "--cases",
            cases.to_str().unwrap(),
            "--configs-dir",
            configs.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        line["error"]
            .as_str()
            .unwrap()
            .contains("not divisible by --tensor-parallel-size 8"),
        "{line}"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn directory_with_separate_quant_config_is_read() {
    let dir = write_config(
        "modelopt",
        r#"{"model_type":"llama","hidden_size":64,"num_attention_heads":4,"num_hidden_layers":2,"vocab_size":10,"intermediate_size":128}"#,
    );
    std::fs::write(
        Path::new(&dir).join("hf_quant_config.json"),
        r#"{"producer":{"name":"modelopt"},"quantization":{"quant_algo":"FP8"}}"#,
    )
    .unwrap();
    let out = estimate()
        .arg("--config")
        .arg(&dir)
        .args(["--prefill", "8", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["quantization"], "modelopt");
    assert_eq!(
        doc["per_gpu"]["read_bytes"]["attn.qkv_weight"],
        64 * (4 + 2 * 4) * 16 * 2
    );
}
