//! The server a sweep starts per serve combination: spawned in its own process group, polled
//! on `/health` until ready, its caches reset after each run, killed with its children at the
//! end (vLLM 0.32 `benchmarks/sweep/server.py`).

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The cache-reset endpoints vLLM serves with `VLLM_SERVER_DEV_MODE=1`.
pub const RESET_CACHE_ENDPOINTS: [&str; 3] = [
    "/reset_prefix_cache",
    "/reset_mm_cache",
    "/reset_encoder_cache",
];

/// Why the server could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The command could not be started.
    #[error("cannot start the server command {program:?}: {source}")]
    Spawn {
        /// `serve_cmd[0]`.
        program: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The command was empty.
    #[error("--serve-cmd is empty: give the command that starts the server")]
    EmptyCommand,
    /// The process exited before it was ready.
    #[error(
        "the server exited with {status} before it was ready: run --serve-cmd by hand to see why (or pass --show-stdout)"
    )]
    Exited {
        /// Its exit status.
        status: std::process::ExitStatus,
    },
    /// `/health` did not answer 200 in time.
    #[error(
        "the server at {address} was not ready within {seconds} s: raise --server-ready-timeout or check --serve-cmd"
    )]
    NotReady {
        /// Where it was polled.
        address: String,
        /// The timeout.
        seconds: u64,
    },
    /// A cache reset failed.
    #[error(
        "resetting caches at {url} failed ({detail}): give --after-bench-cmd, or start the server with dev mode"
    )]
    Reset {
        /// The endpoint.
        url: String,
        /// Status or transport error.
        detail: String,
    },
    /// The server is neither vLLM nor profilemate, and no `--after-bench-cmd` was given.
    #[error(
        "no way to reset the caches of `{0}` servers: pass --after-bench-cmd with a command that does"
    )]
    NoReset(String),
    /// `--after-bench-cmd` failed.
    #[error("--after-bench-cmd failed: {0}")]
    AfterBench(String),
}

/// A running server.
#[derive(Debug)]
pub struct ServerProcess {
    cmd: Vec<String>,
    after_bench_cmd: Vec<String>,
    show_stdout: bool,
    child: Child,
}

/// `http://HOST:PORT` from `--host` and `-p`/`--port` in the command (vLLM's defaults
/// `localhost` and 8000).
pub fn server_address(cmd: &[String]) -> String {
    let after = |flags: &[&str]| {
        flags.iter().find_map(|flag| {
            let i = cmd.iter().position(|a| a == flag)?;
            cmd.get(i + 1).cloned()
        })
    };
    let host = after(&["--host"]).unwrap_or_else(|| "localhost".into());
    let port = after(&["-p", "--port"]).unwrap_or_else(|| "8000".into());
    format!("http://{host}:{port}")
}

impl ServerProcess {
    /// Starts `cmd` in a new process group with `VLLM_SERVER_DEV_MODE=1` (for the reset
    /// endpoints); its stdout is discarded unless `show_stdout`.
    pub fn start(
        cmd: &[String],
        after_bench_cmd: &[String],
        show_stdout: bool,
    ) -> Result<Self, ServerError> {
        let (program, args) = cmd.split_first().ok_or(ServerError::EmptyCommand)?;
        let child = Command::new(program)
            .args(args)
            .env("VLLM_SERVER_DEV_MODE", "1")
            .stdout(if show_stdout {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .process_group(0)
            .spawn()
            .map_err(|source| ServerError::Spawn {
                program: program.clone(),
                source,
            })?;
        Ok(Self {
            cmd: cmd.to_vec(),
            after_bench_cmd: after_bench_cmd.to_vec(),
            show_stdout,
            child,
        })
    }

    /// Polls `/health` once a second until it answers 200, the process exits, or `timeout`.
    pub fn wait_until_ready(&mut self, timeout: Duration) -> Result<(), ServerError> {
        let address = server_address(&self.cmd);
        let start = Instant::now();
        loop {
            if http_status("GET", &format!("{address}/health")) == Ok(200) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(ServerError::Exited { status });
            }
            if start.elapsed() > timeout {
                return Err(ServerError::NotReady {
                    address,
                    seconds: timeout.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// After each run: `--after-bench-cmd` if given, else the reset endpoints of a vLLM (or
    /// profilemate) server; other servers need `--after-bench-cmd`.
    pub fn after_bench(&self) -> Result<(), ServerError> {
        if !self.after_bench_cmd.is_empty() {
            return run_subcommand(&self.after_bench_cmd, self.show_stdout)
                .map_err(ServerError::AfterBench);
        }
        let program = &self.cmd[0];
        if !(program.ends_with("vllm") || program.ends_with("profilemate")) {
            return Err(ServerError::NoReset(program.clone()));
        }
        let address = server_address(&self.cmd);
        println!("Resetting caches at {address}");
        for endpoint in RESET_CACHE_ENDPOINTS {
            let url = format!("{address}{endpoint}");
            match http_status("POST", &url) {
                Ok(status) if (200..300).contains(&status) => {}
                Ok(status) => {
                    return Err(ServerError::Reset {
                        url,
                        detail: format!("HTTP {status}"),
                    });
                }
                Err(detail) => return Err(ServerError::Reset { url, detail }),
            }
        }
        Ok(())
    }
}

impl Drop for ServerProcess {
    /// Kills the whole process group (API server and engine processes alike).
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let group = rustix::process::Pid::from_raw(self.child.id() as i32);
            if let Some(group) = group {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
            let _ = self.child.wait();
        }
    }
}

/// Runs a command to completion; `Err` carries its exit status or spawn error.
pub fn run_subcommand(cmd: &[String], show_stdout: bool) -> Result<(), String> {
    let (program, args) = cmd.split_first().ok_or("empty command")?;
    let status = Command::new(program)
        .args(args)
        .stdout(if show_stdout {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .status()
        .map_err(|e| format!("cannot run {program:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` exited with {status}", cmd.join(" ")))
    }
}

/// One request's status code, with a 10 s deadline.
fn http_status(method: &str, url: &str) -> Result<u16, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let request = match method {
            "POST" => client.post(url),
            _ => client.get(url),
        };
        request
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn finds_the_address_in_the_command() {
        assert_eq!(
            server_address(&words("vllm serve m")),
            "http://localhost:8000"
        );
        assert_eq!(
            server_address(&words("vllm serve m --host 127.0.0.1 -p 9000")),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            server_address(&words("profilemate sim serve tiny-llama --port 8123")),
            "http://localhost:8123"
        );
    }

    #[test]
    fn a_server_that_exits_is_reported_not_waited_on() {
        let mut server = ServerProcess::start(&words("false"), &[], false).unwrap();
        let err = server
            .wait_until_ready(Duration::from_secs(30))
            .unwrap_err();
        assert!(matches!(err, ServerError::Exited { .. }), "{err}");
    }

    #[test]
    fn dropping_the_server_kills_its_process_group() {
        let cmd = words("sh -c sleep_600_&_sleep_600")
            .into_iter()
            .map(|w| w.replace('_', " "))
            .collect::<Vec<_>>();
        let server = ServerProcess::start(&cmd, &[], false).unwrap();
        let group = server.child.id();
        drop(server);
        // Nothing of the group runs any more (a zombie left for PID 1 to reap is dead).
        std::thread::sleep(Duration::from_millis(200));
        let running: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
            .filter(|stat| {
                // Fields after the command's closing parenthesis: state, ppid, pgrp, ...
                let rest: Vec<&str> = stat
                    .rsplit_once(')')
                    .map_or(vec![], |(_, r)| r.split_whitespace().collect());
                rest.len() > 2 && rest[2] == group.to_string() && rest[0] != "Z"
            })
            .collect();
        assert!(running.is_empty(), "{running:?}");
    }
}
