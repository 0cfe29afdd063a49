//! A minimal blocking `/metrics` endpoint on `std::net`, enough for a Prometheus server to scrape.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crate::registry::Registry;
use crate::text::CONTENT_TYPE;

/// Serves a registry's text exposition at `GET /metrics` from a background thread; stops when
/// dropped.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` (port 0 picks a free port) and starts serving `registry`.
    pub fn serve(addr: impl ToSocketAddrs, registry: Registry) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || accept_loop(&listener, &registry, &flag));
        Ok(Self {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, registry: &Registry, stop: &AtomicBool) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(stream) = stream {
            let _ = respond(stream, registry);
        }
    }
}

/// Answers one request: the exposition for `GET /metrics`, 404 otherwise.
fn respond(stream: TcpStream, registry: &Registry) -> io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    let (status, content_type, body) = match path.split('?').next() {
        Some("/metrics") => ("200 OK", CONTENT_TYPE, registry.render()),
        _ => ("404 Not Found", "text/plain", "not found\n".to_owned()),
    };
    let mut stream = reader.into_inner();
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(addr).unwrap();
        write!(stream, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_the_exposition_and_404s_elsewhere() {
        let reg = Registry::without_created_series();
        reg.gauge("g", "G.", &[])
            .unwrap()
            .labels(&[])
            .unwrap()
            .set(2.0);
        let server = MetricsServer::serve("127.0.0.1:0", reg).unwrap();
        let ok = get(server.local_addr(), "/metrics");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(ok.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
        assert!(ok.ends_with("\r\n\r\n# HELP g G.\n# TYPE g gauge\ng 2.0\n"));
        assert!(get(server.local_addr(), "/").starts_with("HTTP/1.1 404"));
    }
}
