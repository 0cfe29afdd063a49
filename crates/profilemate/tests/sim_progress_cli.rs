//! `profilemate sim run` progress with output piped: greppable lines on stderr with requests
//! done and virtual seconds simulated, none with `--disable-tqdm`.

use std::process::Command;

fn run(extra: &[&str]) -> (String, String) {
    let out = Command::new(assert_cmd::cargo::cargo_bin("profilemate"))
        .args(["sim", "run", "--model", "llama-3.1-8b"])
        .args(["--num-prompts", "1000", "--request-rate", "20"])
        .args(extra)
        // A line for every progress event (they come at most every 100 ms of wall time).
        .env("PROFILEMATE_PROGRESS_EVERY_MS", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    (stdout, stderr)
}

/// `(done, total, simulated seconds)` of each `profilemate: …` line.
fn progress_lines(stderr: &str) -> Vec<(usize, usize, f64)> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("profilemate: ")?;
            let (counts, rest) = rest.split_once(" requests, ")?;
            let (sim, rest) = rest.split_once(" s simulated, ")?;
            assert!(rest.ends_with(" s elapsed"), "{l}");
            let (d, t) = counts.split_once('/')?;
            Some((d.parse().ok()?, t.parse().ok()?, sim.parse().ok()?))
        })
        .collect()
}

#[test]
fn piped_sim_run_prints_virtual_progress_unless_disabled() {
    let (stdout, stderr) = run(&[]);
    let lines = progress_lines(&stderr);
    assert!(lines.len() >= 2, "{stderr}");
    assert!(lines.iter().all(|l| l.1 == 1000), "{stderr}");
    assert!(
        lines
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].2 <= w[1].2),
        "{stderr}"
    );
    let last = lines.last().unwrap();
    assert_eq!((last.0, last.1), (1000, 1000), "{stderr}");
    // 1000 requests at 20 req/s: the last is sent near 50 s of virtual time.
    assert!((45.0..120.0).contains(&last.2), "{stderr}");
    assert!(stdout.contains("Successful requests:                     1000"));
    let (_, quiet) = run(&["--disable-tqdm"]);
    assert!(progress_lines(&quiet).is_empty(), "{quiet}");
}

#[test]
fn sigint_stops_sim_run_and_reports_what_was_simulated() {
    let dir = std::env::temp_dir().join(format!("profilemate-sim-int-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let child = Command::new(assert_cmd::cargo::cargo_bin("profilemate"))
        .args(["sim", "run", "--model", "llama-3.1-8b", "--disable-tqdm"])
        // Far longer than the test: ~1000 s of virtual time.
        .args(["--num-prompts", "20000", "--request-rate", "20"])
        .args(["--save-result", "--result-filename", "r.json"])
        .arg("--result-dir")
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).unwrap()).unwrap();
    let get = |k: &str| json[k].as_u64().unwrap();
    assert_eq!(json["interrupted"], true);
    assert!(get("completed") > 0 && get("not_sent") > 0, "{json}");
    assert_eq!(
        get("completed") + get("failed") + get("interrupted_requests") + get("not_sent"),
        20_000
    );
    assert!(stdout.contains("Run interrupted: "), "{stdout}");
    assert!(!stdout.contains("All requests failed"));
}
