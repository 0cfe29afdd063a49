//! `profilemate bench serve` with vLLM 0.32's dataset names and flags: each name is listed in
//! `--help`, the file datasets run end to end against a loopback server, and what cannot work
//! here fails in one line (exit 2) saying what to pass instead.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;

use assert_cmd::Command;

mod util;
use util::{fails_naming, success_stdout};

/// vLLM 0.32's `--dataset-name` choices (`add_dataset_parser()` in
/// vllm/benchmarks/datasets/datasets.py).
const VLLM_DATASETS: [&str; 13] = [
    "sharegpt",
    "burstgpt",
    "random",
    "random-mm",
    "random-rerank",
    "hf",
    "custom",
    "custom_audio",
    "custom_image",
    "prefix_repetition",
    "spec_bench",
    "speed_bench",
    "timed_trace",
];

/// Words in the prompt a request body carries (token ids for a list; the text part of chat).
fn prompt_tokens(body: &[u8]) -> usize {
    let b: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    match &b["prompt"] {
        serde_json::Value::Array(ids) => ids.len(),
        serde_json::Value::String(t) => t.split_whitespace().count(),
        _ => b["messages"][0]["content"][0]["text"]
            .as_str()
            .unwrap_or("")
            .split_whitespace()
            .count(),
    }
}

/// A loopback server answering every request with a 3-token completion stream whose usage
/// reports the prompt it received.
fn server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let (mut len, mut line) = (0, String::new());
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                let usage = format!(
                    r#"{{"choices":[],"usage":{{"prompt_tokens":{},"completion_tokens":3}}}}"#,
                    prompt_tokens(&body)
                );
                let events: String = [r#"{"choices":[{"text":" x","delta":{"content":" x"}}]}"#; 3]
                    .into_iter()
                    .chain([usage.as_str(), "[DONE]"])
                    .map(|d| format!("data: {d}\n\n"))
                    .collect();
                let _ = stream.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{events}",
                        events.len()
                    )
                    .as_bytes(),
                );
            });
        }
    });
    port
}

fn temp(name: &str, body: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("pm-ds-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, body).unwrap();
    path
}

fn bench(port: u16, args: &[&str]) -> String {
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args([
            "bench",
            "serve",
            "--port",
            &port.to_string(),
            "--model",
            "org/m",
            "--disable-tqdm",
        ])
        .args(args)
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    success_stdout(&out)
}

#[test]
fn help_lists_every_vllm_dataset_name() {
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args(["bench", "serve", "--help"])
        .output()
        .unwrap();
    let help = success_stdout(&out);
    for name in VLLM_DATASETS {
        assert!(
            help.contains(&format!("- {name}:")),
            "--help lacks {name}:\n{help}"
        );
    }
    for flag in [
        "--hf-name",
        "--random-mm-bucket-config",
        "--no-reranker",
        "--speed-bench-dataset-subset",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn burstgpt_and_hf_files_run_against_a_server() {
    let port = server();
    let csv = temp(
        "burst.csv",
        "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n1,GPT-4,6,3,9,API log\n2,ChatGPT,9,9,18,API log\n",
    );
    let stdout = bench(
        port,
        &[
            "--dataset-name",
            "burstgpt",
            "--dataset-path",
            csv.to_str().unwrap(),
            "--num-prompts",
            "2",
        ],
    );
    assert!(
        stdout.contains("Successful requests:                     2 "),
        "{stdout}"
    );
    assert!(
        stdout.contains("Total input tokens:                      12 "),
        "two 6-token GPT-4 prompts:\n{stdout}"
    );
    let jsonl = temp("mt.jsonl", "{\"turns\": [\"one two three four five\"]}\n");
    let stdout = bench(
        port,
        &[
            "--dataset-name",
            "hf",
            "--dataset-path",
            jsonl.to_str().unwrap(),
            "--hf-name",
            "philschmid/mt-bench",
            "--num-prompts",
            "3",
        ],
    );
    assert!(
        stdout.contains("Successful requests:                     3 "),
        "{stdout}"
    );
    assert!(
        stdout.contains("Total input tokens:                      15 "),
        "{stdout}"
    );
}

#[test]
fn spec_bench_and_custom_image_run_with_their_flags() {
    let port = server();
    let questions = temp(
        "q.jsonl",
        "{\"category\": \"a\", \"turns\": [\"x y\"]}\n{\"category\": \"b\", \"turns\": [\"x y z\"]}\n",
    );
    let stdout = bench(
        port,
        &[
            "--dataset-name",
            "spec_bench",
            "--dataset-path",
            questions.to_str().unwrap(),
            "--spec-bench-category",
            "b",
            "--num-prompts",
            "2",
        ],
    );
    assert!(
        stdout.contains("Total input tokens:                      6 "),
        "category b only, oversampled:\n{stdout}"
    );
    let images = temp(
        "img.jsonl",
        "{\"prompt\": \"what is this\", \"image_files\": [\"/tmp/a.png\"]}\n",
    );
    let stdout = bench(
        port,
        &[
            "--dataset-name",
            "custom_image",
            "--dataset-path",
            images.to_str().unwrap(),
            "--backend",
            "openai-chat",
            "--endpoint",
            "/v1/chat/completions",
            "--enable-multimodal-chat",
            "--num-prompts",
            "1",
        ],
    );
    assert!(
        stdout.contains("Successful requests:                     1 "),
        "{stdout}"
    );
}

#[test]
fn dataset_names_print_as_typed_in_errors() {
    let b = ["bench", "serve", "--port", "1", "--model", "org/m"];
    let with = |extra: &[&'static str]| [&b[..], extra].concat();
    fails_naming(
        &with(&["--dataset-name", "sharegpt"]),
        &["--dataset-name sharegpt needs --dataset-path"],
    );
    fails_naming(
        &with(&[
            "--dataset-name",
            "custom_image",
            "--backend",
            "openai-chat",
            "--endpoint",
            "/v1/chat/completions",
        ]),
        &["--dataset-name custom_image needs --dataset-path"],
    );
    fails_naming(
        &with(&["--dataset-name", "random-mm"]),
        &["random-mm", "--backend openai-chat"],
    );
}

#[test]
fn what_needs_the_hub_or_a_missing_backend_says_what_to_pass() {
    let b = [
        "bench",
        "serve",
        "--port",
        "1",
        "--model",
        "org/m",
        "--dataset-name",
    ];
    let with = |extra: &[&'static str]| [&b[..], extra].concat();
    fails_naming(
        &with(&["hf", "--hf-name", "likaixin/InstructCoder"]),
        &["hub", "--dataset-path DIR --hf-name likaixin/InstructCoder"],
    );
    fails_naming(
        &with(&["hf", "--dataset-path", "philschmid/mt-bench"]),
        &["not a local file", "huggingface-cli download"],
    );
    let local = temp("plain.jsonl", "{}\n");
    let local = local.to_str().unwrap();
    fails_naming(
        &[&b[..], &["hf", "--dataset-path", local]].concat(),
        &["--hf-name"],
    );
    fails_naming(&with(&["random-rerank"]), &["--backend openai-embeddings"]);
    fails_naming(
        &with(&[
            "custom_audio",
            "--dataset-path",
            "a.jsonl",
            "--backend",
            "openai-chat",
            "--endpoint",
            "/v1/chat/completions",
        ]),
        &["--enable-multimodal-chat"],
    );
    fails_naming(
        &with(&[
            "random-mm",
            "--backend",
            "openai-chat",
            "--endpoint",
            "/v1/chat/completions",
            "--random-mm-bucket-config",
            "{(1, 2): 1}",
        ]),
        &["--random-mm-bucket-config"],
    );
    let parquet = temp("rows.parquet", "PAR1");
    fails_naming(
        &[
            &b[..],
            &[
                "hf",
                "--dataset-path",
                parquet.to_str().unwrap(),
                "--hf-name",
                "openai/gsm8k",
                "--num-prompts",
                "1",
            ],
        ]
        .concat(),
        &["cannot read this Parquet file", ".jsonl"],
    );
}

#[test]
fn sim_run_takes_the_media_datasets_on_the_chat_path() {
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args([
            "sim",
            "run",
            "--model",
            "llama-3.1-8b",
            "--dataset-name",
            "random-mm",
            "--num-prompts",
            "3",
        ])
        .args([
            "--random-input-len",
            "16",
            "--random-mm-bucket-config",
            "{(8, 8, 1): 1.0}",
        ])
        .output()
        .unwrap();
    let stdout = success_stdout(&out);
    assert!(
        stdout.contains("Successful requests:                     3 "),
        "{stdout}"
    );
    assert!(
        stdout.contains("Total input tokens:                      48 "),
        "{stdout}"
    );
    fails_naming(
        &[
            "sim",
            "run",
            "--model",
            "llama-3.1-8b",
            "--dataset-name",
            "random-rerank",
        ],
        &["pooling", "bench serve"],
    );
}
