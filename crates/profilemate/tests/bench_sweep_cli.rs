//! `bench sweep serve`: real `profilemate sim serve` servers started per serve combination,
//! real `profilemate bench serve` runs, vLLM's layout on disk, `--resume`, `--dry-run` and the
//! `--slo` capacity search.

mod util;
use util::{fails_naming, success_stdout};

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

/// A port free right now (the sweep needs it in the server command, as vLLM's does).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `bench sweep serve` against `sim serve tiny-llama --time-scale 0` on a free port.
fn sweep(dir: &Path, extra: &[&str]) -> std::process::Output {
    let bin = assert_cmd::cargo::cargo_bin("profilemate");
    let bin = bin.display();
    let port = free_port();
    let serve_cmd =
        format!("{bin} sim serve tiny-llama --port {port} --time-scale 0 --disable-log-stats");
    let bench_cmd = format!(
        "{bin} bench serve --port {port} --model tiny-llama --num-prompts 50 \
         --random-input-len 32 --random-output-len 4 --disable-tqdm"
    );
    Command::cargo_bin("profilemate")
        .unwrap()
        .current_dir(dir)
        .args([
            "bench",
            "sweep",
            "serve",
            "--serve-cmd",
            &serve_cmd,
            "--bench-cmd",
            &bench_cmd,
        ])
        .args(["-e", "exp"])
        .args(extra)
        .output()
        .unwrap()
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Records in a CSV text (newlines inside quoted cells do not end one).
fn csv_records(csv: &str) -> usize {
    let mut quoted = false;
    let mut records = 0;
    for c in csv.chars() {
        match c {
            '"' => quoted = !quoted,
            '\n' if !quoted => records += 1,
            _ => {}
        }
    }
    records
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("profilemate-sweep-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn sweeps_every_combination_in_vllms_layout_and_resumes_without_rerunning() {
    let dir = temp_dir("grid");
    std::fs::write(dir.join("serve.json"), r#"[{"max_num_seqs": 4}]"#).unwrap();
    std::fs::write(
        dir.join("bench.json"),
        r#"{"short": {"random_output_len": 4}, "long": {"random_output_len": 8}}"#,
    )
    .unwrap();
    let grid = [
        "--serve-params",
        "serve.json",
        "--bench-params",
        "bench.json",
        "--num-runs",
        "2",
    ];
    let out = success_stdout(&sweep(&dir, &grid));
    assert_eq!(out.matches("[BEGIN SERVER]").count(), 1, "{out}");
    assert_eq!(out.matches("[BEGIN BENCHMARK]").count(), 4, "{out}");
    assert!(out.contains("--max-num-seqs 4"), "{out}");
    let exp = dir.join("results/exp");
    for (name, output_len) in [("short", 4), ("long", 8)] {
        let combo = exp.join(format!("SERVE--max_num_seqs=4-BENCH--{name}"));
        let runs = read_json(&combo.join("summary.json"));
        let runs = runs.as_array().unwrap();
        assert_eq!(runs.len(), 2);
        for (n, run) in runs.iter().enumerate() {
            assert_eq!(run["run_number"], n);
            assert_eq!(run["max_num_seqs"], 4);
            assert_eq!(run["_benchmark_name"], name);
            assert_eq!(run["completed"], 50);
            assert_eq!(run["total_output_tokens"], 50 * output_len);
            assert_eq!(read_json(&combo.join(format!("run={n}.json"))), *run);
        }
    }
    let csv = std::fs::read_to_string(exp.join("summary.csv")).unwrap();
    assert_eq!(csv_records(&csv), 5, "a header and four runs: {csv}");
    assert!(csv.starts_with(','), "pandas' unnamed index column: {csv}");
    // vLLM 0.32's column order: the bench result file's keys as written (serve.py builds
    // `date` … `max_concurrency` first), then `run_number`, then the serve and bench overrides.
    let header = csv.lines().next().unwrap();
    assert!(
        header.starts_with(
            ",date,endpoint_type,backend,label,model_id,tokenizer_id,num_prompts,request_rate,\
             burstiness,max_concurrency,"
        ),
        "{header}"
    );
    assert!(
        header.ends_with(",run_number,max_num_seqs,_benchmark_name,random_output_len"),
        "{header}"
    );
    // The table: one row per combination, with its two runs.
    assert!(
        out.contains("max_num_seqs=4 _benchmark_name=short"),
        "{out}"
    );

    // Everything is on disk: --resume starts no server and reruns nothing.
    let again = success_stdout(&sweep(&dir, &[&grid[..], &["--resume"]].concat()));
    assert!(!again.contains("[BEGIN SERVER]"), "{again}");
    assert_eq!(again.matches("[SKIPPED BENCHMARK]").count(), 4, "{again}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_dry_run_prints_the_commands_and_writes_nothing() {
    let dir = temp_dir("dry");
    std::fs::write(dir.join("bench.json"), r#"[{"request_rate": 2.5}]"#).unwrap();
    let out = success_stdout(&sweep(&dir, &["--bench-params", "bench.json", "--dry-run"]));
    assert!(out.contains("Server command: "), "{out}");
    assert!(out.contains("--request-rate 2.5 --percentile-metrics ttft,tpot,itl,e2el --save-result --result-dir results/exp/BENCH--request_rate=2.5"), "{out}");
    assert!(
        out.contains("--result-filename run=2.json"),
        "three runs by default: {out}"
    );
    assert!(!dir.join("results").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_existing_experiment_is_not_overwritten_and_resume_needs_one() {
    let dir = temp_dir("exists");
    let out = sweep(&dir, &["--resume"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot resume"));
    std::fs::create_dir_all(dir.join("results/exp")).unwrap();
    let out = sweep(&dir, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists already: pass --resume"));
    let _ = std::fs::remove_dir_all(&dir);
    fails_naming(
        &[
            "bench",
            "sweep",
            "serve",
            "--serve-cmd",
            "x",
            "--bench-cmd",
            "y",
            "--slo",
            "ttft_p99:5",
        ],
        &["invalid --slo value \"ttft_p99:5\""],
    );
}

#[test]
fn the_slo_search_halves_down_to_the_minimum_when_nothing_meets() {
    let dir = temp_dir("none");
    let search = [
        "--num-runs",
        "1",
        "--slo",
        "ttft_p99_ms:0.000001",
        "--search-start",
        "40",
        "--search-min",
        "10",
    ];
    let out = success_stdout(&sweep(&dir, &search));
    assert!(out.contains("none — the SLOs fail even at 10"), "{out}");
    let capacity = read_json(&dir.join("results/exp/capacity.json"));
    assert_eq!(capacity[0]["capacity"], Value::Null);
    let loads: Vec<f64> = capacity[0]["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["load"].as_f64().unwrap())
        .collect();
    assert_eq!(loads, [40.0, 20.0, 10.0]);
    assert!(
        dir.join("results/exp/SLO--request_rate=20.0/run=0.json")
            .exists()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_slo_search_doubles_up_to_the_maximum_when_the_slos_always_hold() {
    let dir = temp_dir("max");
    let search = [
        "--num-runs",
        "1",
        "--slo",
        "e2el_p99_ms:60000",
        "--search-start",
        "25",
        "--search-max",
        "100",
    ];
    let out = success_stdout(&sweep(&dir, &search));
    assert!(
        out.contains("100 — the SLOs hold up to --search-max; 3 probes"),
        "{out}"
    );
    let capacity = read_json(&dir.join("results/exp/capacity.json"));
    assert_eq!(capacity[0]["capacity"], 100.0);
    for probe in capacity[0]["probes"].as_array().unwrap() {
        assert_eq!(probe["meets_slos"], true);
        assert_eq!(probe["saturated"], false, "{probe}");
        assert_eq!(probe["result"]["completed"], 50.0);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `serve_workload`: the serial run (one request at a time), the batch run (all at once), then
/// up to `--workload-iters` − 2 levels between what they achieved, laid out as vLLM lays them.
#[test]
fn serve_workload_explores_between_serial_and_batch_inference() {
    let dir = temp_dir("workload");
    let bin = assert_cmd::cargo::cargo_bin("profilemate");
    let bin = bin.display();
    let port = free_port();
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .current_dir(&dir)
        .args(["bench", "sweep", "serve_workload", "--serve-cmd"])
        .arg(format!(
            "{bin} sim serve tiny-llama --port {port} --time-scale 0 --disable-log-stats"
        ))
        .arg("--bench-cmd")
        .arg(format!(
            "{bin} bench serve --port {port} --model tiny-llama --num-prompts 30 \
             --random-input-len 32 --random-output-len 4 --disable-tqdm"
        ))
        .args([
            "-e",
            "wl",
            "--num-runs",
            "1",
            "--workload-var",
            "max_concurrency",
        ])
        .args(["--workload-iters", "4"])
        .output()
        .unwrap();
    let stdout = success_stdout(&out);
    assert!(stdout.contains("Dataset size: 30"), "{stdout}");
    assert!(
        stdout.contains("Serial inference: max_concurrency=1"),
        "{stdout}"
    );
    let exp = dir.join("results/wl");
    let serial = read_json(&exp.join("BENCH--max_concurrency=1-WL--max_concurrency=1/run=0.json"));
    assert_eq!(serial["max_concurrency"], 1);
    assert_eq!(serial["completed"], 30);
    let batch = read_json(&exp.join("BENCH--max_concurrency=30-WL--max_concurrency=30/run=0.json"));
    assert_eq!(batch["max_concurrency"], 30);
    let levels: Vec<String> = std::fs::read_dir(&exp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("WL--max_concurrency="))
        .collect();
    assert!((1..=2).contains(&levels.len()), "{levels:?}");
    let csv = std::fs::read_to_string(exp.join("summary.csv")).unwrap();
    assert_eq!(csv_records(&csv), 1 + 2 + levels.len(), "{csv}");

    let refused = Command::cargo_bin("profilemate")
        .unwrap()
        .current_dir(&dir)
        .args([
            "bench",
            "sweep",
            "serve_workload",
            "--serve-cmd",
            "x",
            "--bench-cmd",
            "y",
        ])
        .args(["-e", "other", "--workload-iters", "1"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--workload-iters must be at least 2")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
