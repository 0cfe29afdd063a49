//! A live `/metrics` scrape over plain HTTP (std only): an HTTP/1.0 GET, so the server answers
//! with a plain body closed by the connection (no chunking).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::error::AnalyzeError;

/// How long a connect or read may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// `url` with `/metrics` appended when it names no path (`http://host:8000` → `…/metrics`).
pub fn metrics_url(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    match rest.find('/') {
        Some(i) if i + 1 < rest.len() => url.to_owned(),
        _ => format!("{}/metrics", url.trim_end_matches('/')),
    }
}

/// GETs `url` (`http://host:port/path`) and returns the body of a 200 answer.
pub fn get(url: &str) -> Result<String, AnalyzeError> {
    let fail = |why: String| AnalyzeError::Fetch {
        url: url.to_owned(),
        why,
    };
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| fail("only http:// URLs are supported".into()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host_port = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let addr = host_port
        .to_socket_addrs()
        .map_err(|e| fail(e.to_string()))?
        .next()
        .ok_or_else(|| fail("the host resolves to no address".into()))?;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| fail(e.to_string()))?;
    let _ = stream.set_read_timeout(Some(TIMEOUT));
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nAccept: text/plain\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| fail(e.to_string()))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| fail("the answer is not HTTP".into()))?;
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(fail(format!("the server answered `{status}`")));
    }
    Ok(body.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_base_url_gets_the_metrics_path() {
        assert_eq!(metrics_url("http://h:8000"), "http://h:8000/metrics");
        assert_eq!(metrics_url("http://h:8000/"), "http://h:8000/metrics");
        assert_eq!(metrics_url("http://h:8000/m"), "http://h:8000/m");
    }

    #[test]
    fn unreachable_and_unsupported_urls_are_errors() {
        let err = get("https://x/metrics").unwrap_err().to_string();
        assert!(err.contains("only http://"), "{err}");
        // Port 1 on loopback: nothing listens.
        let err = get("http://127.0.0.1:1/metrics").unwrap_err().to_string();
        assert!(
            err.starts_with("cannot scrape http://127.0.0.1:1/metrics: "),
            "{err}"
        );
    }
}
