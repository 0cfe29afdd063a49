//! A real Prometheus server scrapes our exporter and answers
//! `rate(vllm:estimated_flops_per_gpu_total[…])` through its HTTP API.
//!
//! Needs the `prometheus` binary on PATH (Debian package `prometheus`, installed by `.ci/run`).
//! The exporter's counter follows `RATE × elapsed time` exactly, so its true rate is known. Two
//! checks: (1) Prometheus' own `rate()` equals our `query::rate` applied to the raw samples
//! Prometheus stored for the same window and evaluation time (relative error < 1e-9: the same
//! arithmetic on the same numbers); (2) those samples rise at the known rate within 2 % (scrape
//! timestamps are taken a few ms before the counter is read). Prometheus' extrapolation to the
//! window edges is exactly what (1) checks, for a window the samples fill (`[5s]`) and one they
//! do not (`[1m]`, the profiling guide's query, where the answer is far below the true rate).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use profilemate_metrics::http::MetricsServer;
use profilemate_metrics::mfu::MfuExporter;
use profilemate_metrics::query::{Point, Window, rate};
use profilemate_metrics::registry::{EngineLabels, Registry};
use profilemate_model::PerfStats;
use serde_json::Value;

/// FLOPs per second the fake engine reports.
const RATE: f64 = 2.5e11;
const METRIC: &str = "vllm:estimated_flops_per_gpu_total";

/// A Prometheus process on a free loopback port, killed (and its files removed) on drop.
struct Prometheus {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Prometheus {
    fn start(target_port: u16) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "profilemate-prom-{}-{target_port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: profilemate\n    \
             scrape_timeout: 1s\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("`prometheus` must be on PATH (apt-get install prometheus; .ci/run does this)");
        Self { child, dir, port }
    }

    fn get(&self, path: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let (head, body) = response.split_once("\r\n\r\n")?;
        let status = head.split_whitespace().nth(1);
        (status == Some("200")).then(|| body.to_owned())
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.get("/-/ready").is_none() {
            assert!(
                Instant::now() < deadline,
                "Prometheus not ready; log:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// An instant query evaluated at `time` (seconds), returning `data.result`.
    fn query(&self, promql: &str, time: Option<f64>) -> Vec<Value> {
        let at = time.map_or(String::new(), |t| format!("&time={t:.3}"));
        let body = self
            .get(&format!("/api/v1/query?query={}{at}", url_encode(promql)))
            .unwrap_or_default();
        let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        json["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Feeds the MFU exporter so that the counter equals `RATE × seconds since start`.
struct Feeder {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Feeder {
    fn start(mfu: MfuExporter) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            let (start, mut emitted) = (Instant::now(), 0u128);
            while !flag.load(Ordering::Relaxed) {
                let due = (start.elapsed().as_secs_f64() * RATE) as u128;
                let stats = PerfStats {
                    num_flops_per_gpu: due - emitted,
                    num_read_bytes_per_gpu: 1,
                    ..PerfStats::default()
                };
                mfu.observe(&stats, 0).unwrap();
                emitted = due;
                thread::sleep(Duration::from_millis(5));
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn number(v: &Value) -> f64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_f64())
        .unwrap_or(f64::NAN)
}

/// Raw `[t, "value"]` pairs of the single series in a matrix result, with times in seconds
/// relative to `origin_ms`. Prometheus does its time arithmetic in integer milliseconds; epoch
/// seconds as `f64` would lose ~1e-7 s, so we keep times small.
fn raw_points(result: &[Value], origin_ms: i64) -> Vec<Point> {
    let values = result
        .first()
        .and_then(|r| r["values"].as_array())
        .cloned()
        .unwrap_or_default();
    let t = |v: &Value| ((number(v) * 1000.0).round() as i64 - origin_ms) as f64 / 1000.0;
    values
        .iter()
        .map(|p| Point {
            t: t(&p[0]),
            v: number(&p[1]),
        })
        .collect()
}

fn single_value(result: &[Value]) -> f64 {
    result.first().map_or(f64::NAN, |r| number(&r["value"][1]))
}

#[test]
fn prometheus_rate_of_our_mfu_counter_matches_promql_semantics() {
    let registry = Registry::new();
    let mfu = MfuExporter::new(&registry, &EngineLabels::new("tiny-llama", [0])).unwrap();
    let _feeder = Feeder::start(mfu);
    let server = MetricsServer::serve("127.0.0.1:0", registry).unwrap();
    let prom = Prometheus::start(server.local_addr().port());
    prom.wait_ready();

    let deadline = Instant::now() + Duration::from_secs(40);
    let count = format!("count_over_time({METRIC}[30s])");
    // Wait for six scrapes; a NaN count (no samples yet) keeps waiting too.
    loop {
        if single_value(&prom.query(&count, None)) >= 6.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "too few scrapes; log:\n{}",
            prom.log()
        );
        thread::sleep(Duration::from_millis(250));
    }
    let last = single_value(&prom.query(&format!("timestamp({METRIC})"), None));
    let at_ms = (last * 1000.0).round() as i64 + 1;
    let at = at_ms as f64 / 1000.0;

    for window in ["5s", "1m"] {
        let seconds = if window == "5s" { 5.0 } else { 60.0 };
        let points = raw_points(&prom.query(&format!("{METRIC}[{window}]"), Some(at)), at_ms);
        assert!(points.len() >= 2, "{window}: {points:?}");
        let theirs = single_value(&prom.query(&format!("rate({METRIC}[{window}])"), Some(at)));
        let ours = rate(&points, Window::ending_at(0.0, seconds)).unwrap();
        assert!(
            ((theirs - ours) / ours).abs() < 1e-9,
            "{window}: Prometheus {theirs}, ours {ours}, {points:?}"
        );
        // The stored samples themselves lie on the known line: their slope is RATE (the only
        // error is the few-ms jitter between a scrape's timestamp and the counter read).
        let (first, last) = (points[0], points[points.len() - 1]);
        let slope = (last.v - first.v) / (last.t - first.t);
        assert!(
            ((slope - RATE) / RATE).abs() < 0.02,
            "{window}: slope {slope} vs {RATE}"
        );
        if window == "1m" {
            assert!(
                theirs < RATE / 2.0,
                "a 1m window holding ~6 s of samples: {theirs}"
            );
        }
    }
}
