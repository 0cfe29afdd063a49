//! Helpers shared by the CLI test binaries (each binary uses some of them).
#![allow(dead_code)]

use std::process::Output;

use assert_cmd::Command;

/// The stdout of a run that must have exited 0; fails showing stdout and stderr otherwise.
#[track_caller]
pub(crate) fn success_stdout(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs `profilemate ARGS` and asserts it fails with exit status 2 and a message holding every
/// one of `needles`.
#[track_caller]
pub(crate) fn fails_naming(args: &[&str], needles: &[&str]) {
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    for needle in needles {
        assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
    }
}

/// Starts `profilemate sim serve ARGS --port 0 --max-model-len 2048 --disable-log-stats` with
/// `env` added, and reads the address it reports on stderr: the child and `host:port`.
#[allow(dead_code)] // not every test binary serves
pub(crate) fn spawn_sim_serve(
    args: &[&str],
    env: &[(&str, &str)],
) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("profilemate"))
        .args(["sim", "serve"])
        .args(args)
        .args([
            "--port",
            "0",
            "--max-model-len",
            "2048",
            "--disable-log-stats",
        ])
        .envs(env.iter().copied())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .map(str::to_owned);
    match addr {
        Some(addr) => (child, addr),
        None => {
            let _ = child.kill();
            panic!("no address in {line:?}")
        }
    }
}

/// Sends `METHOD path` (no body) to `addr` and reads the raw HTTP/1.1 response to its end.
#[allow(dead_code)]
pub(crate) fn http_request(addr: &str, method: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut socket = std::net::TcpStream::connect(addr).unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).unwrap();
    let mut text = String::new();
    socket.read_to_string(&mut text).unwrap();
    text
}

/// Starts `sim serve ARGS` ([`spawn_sim_serve`]), answers `GET path` on it, then stops the
/// server: the raw HTTP/1.1 response.
#[allow(dead_code)] // not every test binary serves
pub(crate) fn sim_serve_get(args: &[&str], path: &str) -> String {
    let (mut child, addr) = spawn_sim_serve(args, &[]);
    let answer = http_request(&addr, "GET", path);
    child.kill().unwrap();
    let _ = child.wait();
    answer
}
