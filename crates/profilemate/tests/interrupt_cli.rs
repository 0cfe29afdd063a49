//! Ctrl-C and progress of `profilemate bench serve` as a user sees them, against a std-only
//! loopback server that counts the requests it has received and answers each at once, slowly,
//! or never, so the number of requests in flight at the signal is known exactly.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How the server answers one request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// Three tokens at once.
    Fast,
    /// One token, then the rest after this many milliseconds.
    Slow(u64),
    /// One token, then nothing until the client goes away.
    Hang,
}

/// Serves completions by `plan(request_index)`; returns the port and the count of requests
/// received so far (counted once the whole request has been read).
fn server(plan: fn(usize) -> Answer) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut len = 0;
                    let mut line = String::new();
                    let mut got_head = false;
                    let mut post = false;
                    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                        post = post || (!got_head && line.starts_with("POST "));
                        got_head = true;
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        line.clear();
                    }
                    if !got_head {
                        return;
                    }
                    let mut body = vec![0; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    if !post {
                        // `/metrics` and the like: none here.
                        let _ = stream
                            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
                        continue;
                    }
                    let i = counter.fetch_add(1, Ordering::SeqCst);
                    if answer(&mut stream, plan(i)).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, seen)
}

fn answer(stream: &mut impl Write, how: Answer) -> std::io::Result<()> {
    let event = |d: &str| format!("data: {d}\n\n");
    let token = event(r#"{"choices":[{"text":" x"}]}"#);
    let tail = format!(
        "{token}{token}{}{}",
        event(r#"{"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":3}}"#),
        event("[DONE]")
    );
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n",
        token.len() + tail.len()
    );
    stream.write_all(format!("{head}{token}").as_bytes())?;
    stream.flush()?;
    match how {
        Answer::Fast => {}
        Answer::Slow(ms) => std::thread::sleep(Duration::from_millis(ms)),
        Answer::Hang => std::thread::sleep(Duration::from_secs(3600)),
    }
    stream.write_all(tail.as_bytes())?;
    stream.flush()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "profilemate-interrupt-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts `bench serve` on `port` with 20 prompts at most 4 in flight, saving into `dir`.
fn start(port: u16, dir: &Path, extra: &[&str]) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("profilemate"))
        .args(["bench", "serve", "--port", &port.to_string()])
        .args(["--model", "org/m", "--ready-check-timeout-sec", "0"])
        .args(["--num-prompts", "20", "--max-concurrency", "4"])
        .args(["--random-input-len", "4", "--random-output-len", "3"])
        .args(["--save-result", "--result-filename", "r.json"])
        .arg("--result-dir")
        .arg(dir)
        .args(extra)
        .env_remove("OPENAI_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for(seen: &AtomicUsize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.load(Ordering::SeqCst) < n {
        assert!(
            Instant::now() < deadline,
            "the server saw only {seen:?} requests"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn sigint(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

struct Finished {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    json: serde_json::Value,
}

fn finish(child: Child, dir: &Path) -> Finished {
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    let saved = std::fs::read_to_string(dir.join("r.json"))
        .unwrap_or_else(|e| panic!("no result file ({e}):\n{stdout}\n{stderr}"));
    Finished {
        code: status.code(),
        stdout,
        stderr,
        json: serde_json::from_str(&saved).unwrap(),
    }
}

/// `(completed, failed, interrupted_requests, not_sent)` from the JSON, checked to add up to
/// the 20 prompts.
fn counts(j: &serde_json::Value) -> (u64, u64, u64, u64) {
    let get = |k: &str| j[k].as_u64().unwrap_or_else(|| panic!("{k} missing: {j}"));
    let c = (
        get("completed"),
        get("failed"),
        get("interrupted_requests"),
        get("not_sent"),
    );
    assert_eq!(c.0 + c.1 + c.2 + c.3, 20, "{c:?}");
    c
}

fn first_six_fast_then_hang(i: usize) -> Answer {
    if i < 6 { Answer::Fast } else { Answer::Hang }
}

#[test]
fn second_sigint_cuts_the_requests_in_flight_and_keeps_the_completed() {
    let (port, seen) = server(first_six_fast_then_hang);
    let dir = temp_dir("twice");
    let child = start(port, &dir, &[]);
    // The 10th request needs a 7th free slot of 4: the 6 fast ones are done, 4 hang in flight.
    wait_for(&seen, 10);
    sigint(&child);
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    sigint(&child);
    let f = finish(child, &dir);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the second Ctrl-C stops at once, not after the 5 s grace"
    );
    assert_eq!(f.code, Some(1), "{}\n{}", f.stdout, f.stderr);
    assert_eq!(counts(&f.json), (6, 0, 4, 10));
    assert_eq!(f.json["interrupted"], true);
    assert_eq!(seen.load(Ordering::SeqCst), 10, "nothing sent after Ctrl-C");
    assert!(
        f.stdout
            .contains("Successful requests:                     6         \n"),
        "{}",
        f.stdout
    );
    assert!(
        f.stdout
            .contains("Failed requests:                         0         \n")
    );
    assert!(
        f.stdout
            .contains("Interrupted requests (in flight):        4         \n")
    );
    assert!(
        f.stdout
            .contains("Not sent requests:                       10        \n")
    );
    assert!(!f.stdout.contains("All requests failed"), "{}", f.stdout);
    assert!(
        !f.stdout.contains("run interrupted"),
        "no per-request error listing"
    );
    assert!(
        f.stderr
            .contains("waiting up to 5.0 s for the 4 requests in flight"),
        "{}",
        f.stderr
    );
    assert!(f.stderr.contains("Interrupted again"), "{}", f.stderr);
}

#[test]
fn first_sigint_lets_requests_in_flight_finish_within_the_grace() {
    fn plan(i: usize) -> Answer {
        match i {
            0..6 => Answer::Fast,
            6..10 => Answer::Slow(1000),
            _ => Answer::Fast,
        }
    }
    let (port, seen) = server(plan);
    let dir = temp_dir("grace");
    let child = start(port, &dir, &[]);
    wait_for(&seen, 10);
    sigint(&child);
    let f = finish(child, &dir);
    assert_eq!(f.code, Some(1), "{}\n{}", f.stdout, f.stderr);
    assert_eq!(
        counts(&f.json),
        (10, 0, 0, 10),
        "the 4 slow ones finish within the grace"
    );
    assert_eq!(f.json["interrupted"], true);
    assert!(f.stdout.contains(
        "Run interrupted: 10 completed, 0 failed, 0 interrupted in flight, 10 not sent."
    ));
}

#[test]
fn the_grace_is_bounded_then_requests_in_flight_are_cut() {
    let (port, seen) = server(first_six_fast_then_hang);
    let dir = temp_dir("bounded");
    let child = start(port, &dir, &["--interrupt-grace-sec", "0.5"]);
    wait_for(&seen, 10);
    let started = Instant::now();
    sigint(&child);
    let f = finish(child, &dir);
    let took = started.elapsed();
    assert!(
        (Duration::from_millis(450)..Duration::from_secs(4)).contains(&took),
        "{took:?}"
    );
    assert_eq!(f.code, Some(1), "{}\n{}", f.stdout, f.stderr);
    assert_eq!(counts(&f.json), (6, 0, 4, 10));
}

// See: issue 13 (SIGTERM ends a run as SIGINT does: promptly, with the result written).
#[test]
fn sigterm_ends_the_run_like_sigint_with_the_result_written() {
    let (port, seen) = server(first_six_fast_then_hang);
    let dir = temp_dir("sigterm");
    let child = start(port, &dir, &["--interrupt-grace-sec", "0.5"]);
    wait_for(&seen, 10);
    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let f = finish(child, &dir);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "{took:?}");
    assert_eq!(f.code, Some(1), "{}\n{}", f.stdout, f.stderr);
    assert_eq!(counts(&f.json), (6, 0, 4, 10));
    assert_eq!(f.json["interrupted"], true);
}

/// The `profilemate: N/M requests, …` progress lines in `stderr`, as (done, total).
fn progress_lines(stderr: &str) -> Vec<(usize, usize)> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("profilemate: ")?;
            let (counts, rest) = rest.split_once(" requests, ")?;
            assert!(
                rest.ends_with(" req/s") && rest.contains(" s elapsed, "),
                "{l}"
            );
            let (d, t) = counts.split_once('/')?;
            Some((d.parse().ok()?, t.parse().ok()?))
        })
        .collect()
}

#[test]
fn piped_output_gets_progress_lines_unless_disabled() {
    fn plan(_: usize) -> Answer {
        Answer::Slow(150)
    }
    let (port, _) = server(plan);
    let run = |extra: &[&str]| {
        let dir = temp_dir(&format!("progress{}", extra.len()));
        let child = Command::new(assert_cmd::cargo::cargo_bin("profilemate"))
            .args(["bench", "serve", "--port", &port.to_string()])
            .args(["--model", "org/m", "--ready-check-timeout-sec", "0"])
            .args(["--num-prompts", "8", "--max-concurrency", "2"])
            .args(["--random-input-len", "4", "--random-output-len", "3"])
            .arg("--result-dir")
            .arg(&dir)
            .args(extra)
            .env("PROFILEMATE_PROGRESS_EVERY_MS", "200")
            .env_remove("OPENAI_API_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = run(&[]);
    let lines = progress_lines(&stderr);
    assert!(
        lines.len() >= 3,
        "4 × 150 ms at a line per 200 ms: {stderr}"
    );
    assert!(lines.iter().all(|&(_, total)| total == 8), "{stderr}");
    assert!(lines.windows(2).all(|w| w[0].0 <= w[1].0), "{stderr}");
    assert_eq!(lines.last(), Some(&(8, 8)), "a last line at the end");
    let quiet = run(&["--disable-tqdm"]);
    assert!(progress_lines(&quiet).is_empty(), "{quiet}");
    assert!(!quiet.contains("profilemate: "), "{quiet}");
}
