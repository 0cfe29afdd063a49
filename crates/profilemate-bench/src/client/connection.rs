//! Provides [`Connections`]: the HTTP/1.1 connections the timed requests travel over.
//!
//! A request takes a connection for itself and gives it back only once its response has ended,
//! and a request that has to open one opens exactly one. So a run at `--max-concurrency N`
//! holds at most N connections, each reused by the requests that follow in its slot, as
//! aiohttp's connector (`limit=max_concurrency`) does for vLLM's client. A pooled client that
//! races a new connect against every checkout opened ~1,350 connections for 1,000 streams here,
//! and each extra one cost a connect, an accept and a close on the shared cores.
//!
//! Before the timed run the bench opens the slots' connections ([`Connections::open_idle`]),
//! so a request's TTFT does not include a TCP connect; every connect is timed on its own
//! ([`Connections::connect_times`]) and reported apart.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;
use http::header::HOST;
use http::{HeaderMap, HeaderValue, Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::OnceCell;

use crate::record::ErrorKind;

/// One connection's sending half; its reading half runs as its own task.
type Sender = SendRequest<Full<Bytes>>;

/// Why an exchange failed, as the request's record will say it.
pub(crate) type Failure = (ErrorKind, String);

/// Where the timed requests go: an `http://` URL taken apart once per run.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    host: String,
    port: u16,
    authority: HeaderValue,
    path: Uri,
}

impl Target {
    /// Parses `url`; an error names what is wrong with it.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(format!(
                    "unsupported scheme {other:?} in {url:?}: only http:// is supported"
                ));
            }
            None => {
                return Err(format!(
                    "no scheme in {url:?}: expected http://host:port/..."
                ));
            }
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("no host in {url:?}"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        Ok(Self {
            host: host.to_string(),
            port: authority.port_u16().unwrap_or(80),
            authority: HeaderValue::from_str(authority.as_str())
                .map_err(|e| format!("invalid host in {url:?}: {e}"))?,
            path: uri
                .path_and_query()
                .map_or_else(|| Uri::from_static("/"), |p| Uri::from(p.clone())),
        })
    }

    /// A POST of `body` to the target's path with `headers` (plus `Host`).
    pub(crate) fn post(&self, headers: &HeaderMap, body: Bytes) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = self.path.clone();
        let h = req.headers_mut();
        h.reserve(headers.len() + 1);
        h.insert(HOST, self.authority.clone());
        h.extend(headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        req
    }
}

/// The run's connections to one [`Target`]: the idle ones, ready for the next request.
#[derive(Debug)]
pub(crate) struct Connections {
    target: Target,
    /// The target's addresses, looked up by the first connect (not once per connection).
    addrs: OnceCell<Vec<SocketAddr>>,
    idle: Mutex<Vec<Sender>>,
    /// Seconds each successful connect took (look-up, TCP connect, handshake), in order.
    connect_times: Mutex<Vec<f64>>,
}

/// A connection taken for one request; [`Connections::give_back`] returns it once the response
/// has been read to its end. Dropped instead (a cut, a timeout, an error), it closes.
#[derive(Debug)]
pub(crate) struct Taken {
    sender: Sender,
    reused: bool,
}

impl Connections {
    /// No connections yet: the first requests open them.
    pub(crate) fn new(target: Target) -> Self {
        Self {
            target,
            addrs: OnceCell::new(),
            idle: Mutex::new(Vec::new()),
            connect_times: Mutex::new(Vec::new()),
        }
    }

    /// How many connections wait idle.
    pub(crate) fn idle_len(&self) -> usize {
        lock(&self.idle).len()
    }

    /// Opens one connection and leaves it idle for the next request.
    pub(crate) async fn open_idle(&self) -> Result<(), Failure> {
        let taken = self.connect().await?;
        self.give_back(taken);
        Ok(())
    }

    /// Seconds each connect so far took, in the order they were made.
    pub(crate) fn connect_times(&self) -> Vec<f64> {
        lock(&self.connect_times).clone()
    }

    /// Where the requests go.
    pub(crate) fn target(&self) -> &Target {
        &self.target
    }

    /// Sends `req` on `taken` (from [`Connections::take`]) and returns the response head with
    /// the connection it arrived on. A request that a reused connection could not carry (the
    /// server closed it while idle) is sent again on a new one, as it never left.
    pub(crate) async fn send_on(
        &self,
        mut taken: Taken,
        req: Request<Full<Bytes>>,
    ) -> Result<(Response<Incoming>, Taken), Failure> {
        match taken.sender.try_send_request(req).await {
            Ok(resp) => Ok((resp, taken)),
            Err(mut e) => match e.take_message() {
                Some(req) if taken.reused => {
                    let mut fresh = self.connect().await?;
                    let resp = fresh
                        .sender
                        .send_request(req)
                        .await
                        .map_err(|e| exchange(&e))?;
                    Ok((resp, fresh))
                }
                _ => Err(exchange(e.error())),
            },
        }
    }

    /// Makes a connection that carried a whole exchange available to the next request.
    pub(crate) fn give_back(&self, taken: Taken) {
        if !taken.sender.is_closed() {
            lock(&self.idle).push(taken.sender);
        }
    }

    /// An idle connection that is still open, else a new one.
    pub(crate) async fn take(&self) -> Result<Taken, Failure> {
        loop {
            let idle = lock(&self.idle).pop();
            let Some(mut sender) = idle else {
                return self.connect().await;
            };
            if sender.ready().await.is_ok() {
                return Ok(Taken {
                    sender,
                    reused: true,
                });
            }
        }
    }

    async fn connect(&self) -> Result<Taken, Failure> {
        let start = Instant::now();
        let refused = |e: &dyn std::fmt::Display| {
            (
                ErrorKind::Connect,
                format!(
                    "cannot connect to {}:{}: {e}",
                    self.target.host, self.target.port
                ),
            )
        };
        let addrs = self
            .addrs
            .get_or_try_init(|| async {
                let found = tokio::net::lookup_host((self.target.host.as_str(), self.target.port))
                    .await?
                    .collect::<Vec<_>>();
                if found.is_empty() {
                    return Err(std::io::Error::other("the host name has no address"));
                }
                Ok(found)
            })
            .await
            .map_err(|e| refused(&e))?;
        let stream = TcpStream::connect(addrs.as_slice())
            .await
            .map_err(|e| refused(&e))?;
        stream.set_nodelay(true).map_err(|e| refused(&e))?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| refused(&e))?;
        tokio::spawn(connection);
        lock(&self.connect_times).push(start.elapsed().as_secs_f64());
        Ok(Taken {
            sender,
            reused: false,
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A failed exchange on an open connection: the server cut it, or the response was not HTTP.
fn exchange(e: &hyper::Error) -> Failure {
    let kind = if e.is_parse() || e.is_user() {
        ErrorKind::Other
    } else {
        ErrorKind::StreamInterrupted
    };
    (kind, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_host_port_and_path() {
        let t = Target::parse("http://127.0.0.1:8000/v1/completions?x=1").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 8000));
        assert_eq!(t.authority, "127.0.0.1:8000");
        assert_eq!(t.path, "/v1/completions?x=1");
        let t = Target::parse("http://[::1]/v1/chat/completions").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 80));
        assert_eq!(t.authority, "[::1]");
    }

    #[test]
    fn unusable_urls_say_why() {
        for (url, says) in [
            (
                "https://example.com/v1/completions",
                "only http:// is supported",
            ),
            ("/v1/completions", "no scheme"),
            ("localhost:8000/v1/completions", "invalid URL"),
            ("http://", "invalid URL"),
            ("not a url", "invalid URL"),
        ] {
            let err = Target::parse(url).unwrap_err();
            assert!(err.contains(says), "{url}: {err}");
        }
    }

    #[test]
    fn a_post_carries_host_headers_and_body() {
        let t = Target::parse("http://localhost:9/v1/embeddings").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-test", HeaderValue::from_static("1"));
        let req = t.post(&headers, Bytes::from_static(b"{}"));
        assert_eq!(req.method(), http::Method::POST);
        assert_eq!(req.uri(), "/v1/embeddings");
        assert_eq!(req.headers()[HOST], "localhost:9");
        assert_eq!(req.headers()["x-test"], "1");
    }
}
