//! `sim sweep`: grids of `sim run` command lines in virtual time, the `--slo` capacity search,
//! and the check that matters: the capacity it reports, re-run with `sim run`, meets the SLO,
//! and 1.2× that rate does not.

mod util;
use util::{fails_naming, success_stdout};

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// The workload every test sweeps: Llama-3.1-8B on an H100, 200 random 512/64 requests.
const WORKLOAD: [&str; 12] = [
    "--model",
    "llama-3.1-8b",
    "--gpu",
    "h100-sxm",
    "--num-prompts",
    "200",
    "--random-input-len",
    "512",
    "--random-output-len",
    "64",
    "--seed",
    "3",
];

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "profilemate-simsweep-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `sim run WORKLOAD --max-num-seqs N --request-rate R`, its result JSON.
fn sim_run(dir: &Path, max_num_seqs: u32, rate: f64) -> Value {
    let name = format!("run-{max_num_seqs}-{rate}.json");
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args(["sim", "run"])
        .args(WORKLOAD)
        .args([
            "--max-num-seqs",
            &max_num_seqs.to_string(),
            "--request-rate",
            &rate.to_string(),
        ])
        .args(["--disable-tqdm", "--save-result", "--result-dir"])
        .arg(dir)
        .args(["--result-filename", &name])
        .output()
        .unwrap();
    success_stdout(&out);
    read_json(&dir.join(name))
}

#[test]
fn the_capacity_it_reports_meets_the_slo_in_sim_run_and_1_2x_that_rate_does_not() {
    let dir = temp_dir("consistency");
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args([
            "sim",
            "sweep",
            "--slo",
            "ttft_p99_ms:150",
            "--search-start",
            "4",
            "-o",
        ])
        .arg(dir.join("sweep.json"))
        .args(["--", "--max-num-seqs", "32", "--disable-tqdm"])
        .args(WORKLOAD)
        .output()
        .unwrap();
    let stdout = success_stdout(&out);
    assert!(
        stdout.contains("Recommendation: max_num_seqs")
            || stdout.contains("Recommendation: (default)"),
        "{stdout}"
    );
    let sweep = read_json(&dir.join("sweep.json"));
    let config = &sweep["configurations"][0];
    let capacity = config["capacity_rps"].as_f64().expect("a capacity");
    assert!(capacity > 4.0, "{config}");
    assert_eq!(config["gpus"], 1);
    // $/M tokens = $2.99/h / (tok/s × 3600) × 10⁶ at the default H100 price.
    let tok_s = config["output_throughput"].as_f64().unwrap();
    let cost = config["cost_per_million_output_tokens"].as_f64().unwrap();
    assert!((cost - 2.99 / (tok_s * 3600.0) * 1e6).abs() < 1e-9);

    // Probes above capacity stop as soon as their p99 TTFT has certainly failed; none below.
    let probes = config["probes"].as_array().unwrap();
    assert!(
        probes.iter().any(|p| p["early_stopped"] == true),
        "{config}"
    );
    for p in probes {
        if p["early_stopped"] == true {
            assert_eq!(p["meets_slos"], false);
            assert!(p["load"].as_f64().unwrap() > capacity);
        }
    }

    let at = sim_run(&dir, 32, capacity);
    assert!(
        at["p99_ttft_ms"].as_f64().unwrap() <= 150.0,
        "at capacity {capacity}: {}",
        at["p99_ttft_ms"]
    );
    assert_eq!(
        at["output_throughput"].as_f64().unwrap(),
        tok_s,
        "sim sweep's probe is sim run"
    );
    let above = sim_run(&dir, 32, capacity * 1.2);
    assert!(
        above["p99_ttft_ms"].as_f64().unwrap() > 150.0,
        "at 1.2 × {capacity}: {}",
        above["p99_ttft_ms"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_grid_without_slos_runs_each_combination_once_as_sim_run_would() {
    let dir = temp_dir("grid");
    std::fs::write(
        dir.join("serve.json"),
        r#"[{"max_num_seqs": 4}, {"max_num_seqs": 64}]"#,
    )
    .unwrap();
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args(["sim", "sweep", "--serve-params"])
        .arg(dir.join("serve.json"))
        .arg("-o")
        .arg(dir.join("grid.json"))
        .args([
            "--jobs",
            "2",
            "--",
            "--request-rate",
            "20",
            "--disable-tqdm",
        ])
        .args(WORKLOAD)
        .output()
        .unwrap();
    let stdout = success_stdout(&out);
    assert!(
        stdout.contains("max_num_seqs=4 ") && stdout.contains("max_num_seqs=64 "),
        "{stdout}"
    );
    let grid = read_json(&dir.join("grid.json"));
    for (row, seqs) in grid.as_array().unwrap().iter().zip([4, 64]) {
        let alone = sim_run(&dir, seqs, 20.0);
        for key in [
            "completed",
            "total_output_tokens",
            "output_throughput",
            "p99_ttft_ms",
            "mean_tpot_ms",
        ] {
            assert_eq!(row["result"][key], alone[key], "max_num_seqs {seqs}: {key}");
        }
    }
    // Four sequences at a time fall far behind 20 req/s; 64 keep up.
    let tput = |i: usize| grid[i]["result"]["request_throughput"].as_f64().unwrap();
    assert!(tput(0) < tput(1), "{} vs {}", tput(0), tput(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn data_parallel_is_a_grid_axis_and_counts_every_engines_gpus() {
    // Four sequences per engine fall far behind 20 req/s: a second engine (a second GPU)
    // doubles what the deployment serves, and the row says it takes two GPUs.
    let dir = temp_dir("dp");
    std::fs::write(
        dir.join("serve.json"),
        r#"[{"data_parallel_size": 1}, {"data_parallel_size": 2}]"#,
    )
    .unwrap();
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args(["sim", "sweep", "--serve-params"])
        .arg(dir.join("serve.json"))
        .arg("-o")
        .arg(dir.join("grid.json"))
        .args([
            "--",
            "--max-num-seqs",
            "4",
            "--request-rate",
            "20",
            "--disable-tqdm",
        ])
        .args(WORKLOAD)
        .output()
        .unwrap();
    let stdout = success_stdout(&out);
    assert!(stdout.contains("data_parallel_size=2 "), "{stdout}");
    let grid = read_json(&dir.join("grid.json"));
    let rows = grid.as_array().unwrap();
    assert_eq!(
        (rows[0]["gpus"].clone(), rows[1]["gpus"].clone()),
        (1.into(), 2.into())
    );
    let tput = |i: usize| rows[i]["result"]["request_throughput"].as_f64().unwrap();
    let ratio = tput(1) / tput(0);
    assert!((1.7..=2.1).contains(&ratio), "DP2 / DP1 throughput {ratio}");
    assert_eq!(rows[1]["result"]["completed"], 200);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_combinations_are_refused_before_anything_runs() {
    fails_naming(
        &[
            "sim",
            "sweep",
            "--",
            "--model",
            "llama-3.1-8b",
            "--bogus-flag",
            "1",
        ],
        &["combination \"(default)\"", "--bogus-flag"],
    );
    fails_naming(
        &[
            "sim",
            "sweep",
            "--slo",
            "ttft_p99_ms:100",
            "--search-start",
            "0",
            "--",
            "--model",
            "llama-3.1-8b",
        ],
        &["search bounds must satisfy 0 < min ≤ start ≤ max"],
    );
}

#[test]
fn the_search_runs_short_probes_first_and_rests_on_full_length_ones() {
    let dir = temp_dir("staged");
    let search = |share: &str, name: &str| {
        let out = Command::cargo_bin("profilemate")
            .unwrap()
            .args([
                "sim",
                "sweep",
                "--slo",
                "ttft_p99_ms:150",
                "--search-start",
                "4",
            ])
            .args(["--short-probe-share", share, "-o"])
            .arg(dir.join(name))
            .args(["--", "--max-num-seqs", "32", "--disable-tqdm"])
            .args(WORKLOAD)
            .output()
            .unwrap();
        let stdout = success_stdout(&out);
        (
            stdout,
            read_json(&dir.join(name))["configurations"][0].clone(),
        )
    };
    let (stdout, staged) = search("0.1", "staged.json");
    // 10 % of 200 requests is under the floor of 100.
    let short = staged["short_probes"].as_array().unwrap();
    assert!(!short.is_empty(), "{staged}");
    assert!(
        short
            .iter()
            .all(|p| p["completed"].as_f64().unwrap() <= 100.0)
    );
    assert!(
        stdout.contains(&format!("Search probes: {} short", short.len())),
        "{stdout}"
    );
    // The capacity is a passing full-length probe; every passing full-length probe completed
    // all 200 requests.
    let capacity = staged["capacity_rps"].as_f64().unwrap();
    let full = staged["probes"].as_array().unwrap();
    let at = full.iter().find(|p| p["load"] == capacity).unwrap();
    assert_eq!(
        (at["meets_slos"].clone(), at["completed"].clone()),
        (true.into(), 200.0.into())
    );
    assert!(full.iter().any(|p| p["meets_slos"] == false
        && p["load"].as_f64().unwrap() <= capacity * 1.05 * (1.0 + 1e-9)
        && p["load"].as_f64().unwrap() > capacity));

    // 100 requests or fewer cannot be shortened: full-length probes only.
    let small: Vec<&str> = WORKLOAD
        .iter()
        .map(|a| if *a == "200" { "80" } else { a })
        .collect();
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args([
            "sim",
            "sweep",
            "--slo",
            "ttft_p99_ms:150",
            "--search-start",
            "4",
            "-o",
        ])
        .arg(dir.join("small.json"))
        .args(["--", "--max-num-seqs", "32", "--disable-tqdm"])
        .args(&small)
        .output()
        .unwrap();
    assert!(success_stdout(&out).contains("Search probes: 0 short"));

    // Share 1: full-length probes only, no short stage.
    let (_, single) = search("1", "single.json");
    assert_eq!(single["short_probes"].as_array().unwrap().len(), 0);
    assert!(single["probes"].as_array().unwrap().len() > 2);

    fails_naming(
        &[
            "sim",
            "sweep",
            "--slo",
            "ttft_p99_ms:100",
            "--short-probe-share",
            "0",
            "--",
            "--model",
            "llama-3.1-8b",
        ],
        &["--short-probe-share 0 must be in (0, 1]"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Chunked prefill is a grid axis too (`--no-enable-chunked-prefill`, vLLM's flag): with it
/// off, a prompt that does not fit beside the running decodes in a 640-token budget waits for a
/// step with room instead of being split, so the two runs' latencies differ (slightly, here:
/// p99 TTFT 32.11 ms chunked, 31.86 ms whole, when written).
#[test]
fn chunked_prefill_is_a_grid_axis() {
    let dir = temp_dir("chunked");
    std::fs::write(
        dir.join("serve.json"),
        r#"[{"enable_chunked_prefill": true}, {"enable_chunked_prefill": false}]"#,
    )
    .unwrap();
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args(["sim", "sweep", "--serve-params"])
        .arg(dir.join("serve.json"))
        .arg("-o")
        .arg(dir.join("grid.json"))
        .args(["--", "--request-rate", "20", "--disable-tqdm"])
        .args(["--max-model-len", "640", "--max-num-batched-tokens", "640"])
        .args(["--max-num-seqs", "32"])
        .args(WORKLOAD)
        .output()
        .unwrap();
    let stdout = success_stdout(&out);
    assert!(stdout.contains("enable_chunked_prefill=False"), "{stdout}");
    let grid = read_json(&dir.join("grid.json"));
    let rows = grid.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!(row["result"]["completed"], 200, "{row}");
    }
    let p99 = |i: usize| rows[i]["result"]["p99_ttft_ms"].as_f64().unwrap();
    assert!(p99(0) != p99(1), "chunked {} vs whole {}", p99(0), p99(1));
    // Each row is the `sim run` its flag names, to the last digit.
    for (row, flag) in rows
        .iter()
        .zip(["--enable-chunked-prefill", "--no-enable-chunked-prefill"])
    {
        let name = format!("alone{flag}.json");
        let alone = Command::cargo_bin("profilemate")
            .unwrap()
            .args(["sim", "run", flag, "--request-rate", "20", "--disable-tqdm"])
            .args(["--max-model-len", "640", "--max-num-batched-tokens", "640"])
            .args(["--max-num-seqs", "32"])
            .args(WORKLOAD)
            .args(["--save-result", "--result-filename", &name, "--result-dir"])
            .arg(&dir)
            .output()
            .unwrap();
        success_stdout(&alone);
        let alone = read_json(&dir.join(&name));
        for key in ["p99_ttft_ms", "mean_ttft_ms", "mean_tpot_ms"] {
            assert_eq!(row["result"][key], alone[key], "{flag}: {key}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A probe keeps every chunk's time only when an SLO needs it: with an ITL bound its ITL is
/// measured (and judged, equal to `sim run`'s at the same rate); without, it is left out.
#[test]
fn an_itl_slo_is_measured_on_every_chunk_and_judged_as_sim_run_measures_it() {
    let dir = temp_dir("itl");
    let sweep = |slos: &[&str], name: &str| {
        let mut cmd = Command::cargo_bin("profilemate").unwrap();
        cmd.args(["sim", "sweep", "--search-start", "4", "-o"])
            .arg(dir.join(name));
        for slo in slos {
            cmd.args(["--slo", slo]);
        }
        let out = cmd
            .args(["--", "--max-num-seqs", "32", "--disable-tqdm"])
            .args(WORKLOAD)
            .output()
            .unwrap();
        success_stdout(&out);
        read_json(&dir.join(name))["configurations"][0].clone()
    };
    let with_itl = sweep(&["ttft_p99_ms:150", "itl_p99_ms:1000"], "itl.json");
    // The passing probe at the capacity ran to the end (failing ones stop early).
    let capacity = with_itl["capacity_rps"].as_f64().expect("a capacity");
    let probes = with_itl["probes"].as_array().unwrap();
    let probe = probes
        .iter()
        .find(|p| p["load"].as_f64() == Some(capacity))
        .expect("the probe at the capacity");
    let itl = probe["slo_values"]["p99_itl_ms"]
        .as_f64()
        .expect("ITL measured");
    assert_eq!(
        sim_run(&dir, 32, capacity)["p99_itl_ms"].as_f64(),
        Some(itl)
    );
    // An ITL bound of 1 s binds nothing here: the capacity is the TTFT search's.
    let ttft_only = sweep(&["ttft_p99_ms:150"], "ttft.json");
    assert_eq!(with_itl["capacity_rps"], ttft_only["capacity_rps"]);
    let probe = &ttft_only["probes"][0];
    assert!(probe["slo_values"].get("p99_itl_ms").is_none(), "{probe}");
    let _ = std::fs::remove_dir_all(&dir);
}
