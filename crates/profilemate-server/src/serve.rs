//! Provides [`serve`], which runs the server on a listener until a shutdown future resolves,
//! and [`spawn`], the one-call embedded server on a free loopback port that `bench` uses.
//!
//! Shutdown is graceful: the listener closes, open requests get
//! [`Limits::shutdown_grace`](crate::Limits) to finish, then the engine stops, ending the rest.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use axum::body::Body;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::config::ServerConfig;
use crate::error::ServeError;
use crate::keepalive::{IdleClock, Tracked};
use crate::routes::router;
use crate::startup::{EngineThread, start};
use crate::state::AppState;

/// How long to wait after an accept failed for want of resources (file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How long connections may take to close once the engine has ended their requests.
const DRAIN: Duration = Duration::from_secs(1);

/// Pending-connection queue of the listening socket: Linux's default `somaxconn`, above
/// uvicorn's `--backlog` 2048 that vLLM's server inherits. Tokio's `TcpListener::bind` uses
/// 128, too few for a client that opens hundreds of streams at once (each dropped SYN costs
/// its client a 1 s retransmission).
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` with [`LISTEN_BACKLOG`], for [`serve`].
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `config` on `listener` until `shutdown` resolves.
pub async fn serve(
    config: ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let (state, engine) = start(config)?;
    run(state, engine, listener, shutdown).await
}

async fn run(
    state: AppState,
    engine: EngineThread,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let addr = local_addr(&listener);
    let grace = state.info.limits.shutdown_grace;
    let (stop, mut server) = accept(state, listener);
    tokio::select! {
        result = &mut server => return finish(result, engine, &addr).await,
        () = shutdown => {}
    }
    let _ = stop.send(true);
    if let Ok(result) = tokio::time::timeout(grace, &mut server).await {
        return finish(result, engine, &addr).await;
    }
    stop_engine(engine).await;
    if tokio::time::timeout(DRAIN, &mut server).await.is_err() {
        server.abort();
    }
    Ok(())
}

type ServerTask = JoinHandle<std::io::Result<()>>;

/// Serves the router on `listener` in a task that stops accepting when `true` is sent.
fn accept(state: AppState, listener: TcpListener) -> (watch::Sender<bool>, ServerTask) {
    let (stop, stopped) = watch::channel(false);
    let limits = state.info.limits;
    let serving = serve_connections(listener, router(state), limits, stopped);
    (stop, tokio::spawn(serving))
}

/// Accepts connections until `stop` says so, then waits for the open ones to finish their
/// requests. Each connection must send a request head within `head_timeout` of being ready
/// for one, and is closed once idle for `keep_alive_timeout` after a response.
async fn serve_connections(
    listener: TcpListener,
    app: axum::Router,
    limits: crate::Limits,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.head_timeout);
    // Every connection holds a clone; when all are dropped, every connection has ended.
    let (open_tx, open) = watch::channel(());
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let connection = connection(tcp, app.clone(), http.clone(), limits, stop.clone());
        let open = open.clone();
        tokio::spawn(async move {
            connection.await;
            drop(open);
        });
    }
    drop(listener);
    drop(open);
    open_tx.closed().await;
    Ok(())
}

/// Serves one connection until it closes: on shutdown, or once idle past the keep-alive
/// timeout, it finishes the request in flight (if any) and closes (hyper's graceful shutdown).
async fn connection(
    tcp: TcpStream,
    app: axum::Router,
    http: http1::Builder,
    limits: crate::Limits,
    mut stop: watch::Receiver<bool>,
) {
    // Small SSE chunks must leave at once: no Nagle delay (uvicorn, vLLM's server, sets it).
    let _ = tcp.set_nodelay(true);
    let idle = Arc::new(IdleClock::default());
    let clock = idle.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
        let done = clock.begin();
        let app = app.clone();
        async move {
            let response = app.oneshot(request.map(Body::new)).await?;
            Ok::<_, std::convert::Infallible>(response.map(|b| Body::new(Tracked::new(b, done))))
        }
    });
    let conn = http.serve_connection(TokioIo::new(tcp), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        () = idle.expired(limits.keep_alive_timeout) => {}
        () = stopped(&mut stop) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// Resolves once `true` is sent (or the sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// An accept that failed: a connection reset before it was taken is nothing; out of file
/// descriptors (or any other error), wait a little before trying again rather than spin.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if !matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        tokio::time::sleep(ACCEPT_BACKOFF).await;
    }
}

async fn finish(
    result: Result<std::io::Result<()>, tokio::task::JoinError>,
    engine: EngineThread,
    addr: &str,
) -> Result<(), ServeError> {
    stop_engine(engine).await;
    let io = |source| ServeError::Io {
        addr: addr.to_owned(),
        source,
    };
    match result {
        Ok(r) => r.map_err(io),
        Err(e) => Err(io(std::io::Error::other(e))),
    }
}

async fn stop_engine(engine: EngineThread) {
    let _ = tokio::task::spawn_blocking(move || engine.stop()).await;
}

fn local_addr(listener: &TcpListener) -> String {
    listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string())
}

/// A server running in this process on a loopback port.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl RunningServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the base URL clients take.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's state (engine status, metric registry).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Shuts the server down gracefully and waits for it.
    pub async fn shutdown(mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(ServeError::Io {
                addr: self.addr.to_string(),
                source: std::io::Error::other(e),
            }),
        }
    }
}

/// Starts `config` on `127.0.0.1` at a free port, in the background: the embedded server of
/// `profilemate bench serve`. Must be called inside a Tokio runtime.
pub async fn spawn(config: ServerConfig) -> Result<RunningServer, ServeError> {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let io = |source| ServeError::Io {
        addr: loopback.to_string(),
        source,
    };
    let listener = bind(loopback).map_err(io)?;
    let addr = listener.local_addr().map_err(io)?;
    let (state, engine) = start(config)?;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let task = tokio::spawn(run(state.clone(), engine, listener, shutdown));
    Ok(RunningServer {
        addr,
        state,
        stop: Some(stop),
        task,
    })
}
