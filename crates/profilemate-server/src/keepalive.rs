//! Provides [`IdleClock`]: when a kept-alive connection has been idle between requests for
//! the keep-alive timeout (uvicorn's `--timeout-keep-alive`, which vLLM 0.32 sets from
//! `VLLM_HTTP_TIMEOUT_KEEP_ALIVE`, 5 s), and [`Tracked`], the response body that tells it
//! when a response is done.
//!
//! Hyper has one timer for a request head, new connection or kept-alive; the idle timeout is
//! this separate one, counted from the end of the last response.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use http_body::{Frame, SizeHint};
use tokio::sync::Notify;
use tokio::time::Instant;

/// One connection's requests in flight and when it last fell idle.
#[derive(Debug, Default)]
pub(crate) struct IdleClock {
    state: Mutex<Idle>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct Idle {
    /// Requests whose response has not been written whole.
    in_flight: usize,
    /// When the last response ended, while none is in flight; `None` before the first.
    since: Option<Instant>,
}

impl IdleClock {
    fn update(&self, f: impl FnOnce(&mut Idle)) {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner));
        self.changed.notify_waiters();
    }

    /// A request arrived: the connection is busy until its [`Tracked`] body ends.
    pub(crate) fn begin(self: &Arc<Self>) -> ResponseDone {
        self.update(|s| {
            s.in_flight += 1;
            s.since = None;
        });
        ResponseDone(self.clone())
    }

    /// Resolves once the connection has been idle for `timeout` after a response.
    pub(crate) async fn expired(&self, timeout: Duration) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let since = {
                let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                if s.in_flight == 0 { s.since } else { None }
            };
            match since {
                Some(since) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(since + timeout) => return,
                        () = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// Marks a response done when dropped.
#[derive(Debug)]
pub(crate) struct ResponseDone(Arc<IdleClock>);

impl Drop for ResponseDone {
    fn drop(&mut self) {
        self.0.update(|s| {
            s.in_flight = s.in_flight.saturating_sub(1);
            if s.in_flight == 0 {
                s.since = Some(Instant::now());
            }
        });
    }
}

/// A response body that marks its response done when written whole (or dropped).
pub(crate) struct Tracked {
    inner: Body,
    done: Option<ResponseDone>,
}

impl Tracked {
    /// `inner`, reporting to `done`.
    pub(crate) fn new(inner: Body, done: ResponseDone) -> Self {
        Tracked {
            inner,
            done: Some(done),
        }
    }
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.done = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_time_counts_only_after_a_response_and_without_one_in_flight() {
        let clock = Arc::new(IdleClock::default());
        let timeout = Duration::from_millis(100);
        let wait = Duration::from_millis(400);
        // Before the first request: never expires (the head timeout covers new connections).
        let first = tokio::time::timeout(wait, clock.expired(timeout)).await;
        assert!(first.is_err());
        let done = clock.begin();
        let busy = tokio::time::timeout(wait, clock.expired(timeout)).await;
        assert!(busy.is_err(), "a request in flight is not idle");
        drop(done);
        let start = Instant::now();
        clock.expired(timeout).await;
        assert!(start.elapsed() >= timeout, "{:?}", start.elapsed());
    }
}
