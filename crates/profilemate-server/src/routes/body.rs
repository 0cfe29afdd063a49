//! Provides [`JsonBody`]: a request body read under the server's body budget (the bytes of
//! all bodies being read or parsed at once), parsed off the async threads when big.
//!
//! A body reserves its `Content-Length` (or `--max-body-bytes` when it has none) from the
//! budget before a byte of it is read, and gives it back once parsed. When the budget cannot
//! cover it the request gets 503 at once, before its body is read, like the live-request limit
//! (a load-shedding proxy's answer, e.g. Envoy's overload manager: the client retries later,
//! and the server never holds more than the budget in bodies).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_LENGTH;
use serde::de::DeserializeOwned;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::SimError;
use crate::state::AppState;

/// Bodies at least this long are parsed on the blocking pool, not on the threads that write
/// token streams (a 14 MB body takes tens of milliseconds to parse even optimized).
const BLOCKING_PARSE_BYTES: usize = 64 << 10;

/// The bytes of request bodies that may be read or parsed at once.
#[derive(Debug)]
pub(crate) struct BodyBudget {
    bytes: usize,
    free: Arc<Semaphore>,
}

impl BodyBudget {
    /// A budget of `bytes` (at most `Semaphore::MAX_PERMITS`).
    pub(crate) fn new(bytes: usize) -> Self {
        let bytes = bytes.min(Semaphore::MAX_PERMITS);
        BodyBudget {
            bytes,
            free: Arc::new(Semaphore::new(bytes)),
        }
    }

    /// Reserves `len` bytes, or fails with 503 when the budget is spent.
    fn reserve(&self, len: usize) -> Result<OwnedSemaphorePermit, SimError> {
        let overloaded = || SimError::BodyBudget {
            budget: self.bytes,
            wanted: len,
        };
        let permits = u32::try_from(len).map_err(|_| overloaded())?;
        self.free
            .clone()
            .try_acquire_many_owned(permits)
            .map_err(|_| overloaded())
    }

    /// Bytes not reserved now.
    pub(crate) fn available(&self) -> usize {
        self.free.available_permits()
    }
}

/// What a body reserves: its declared length, else the largest body allowed.
fn reservation(headers: &HeaderMap, max_body: usize) -> usize {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(max_body, |len| len.min(max_body))
}

/// A request body, read while holding its share of the body budget.
pub(crate) struct JsonBody {
    bytes: Bytes,
    reserved: OwnedSemaphorePermit,
}

impl FromRequest<AppState> for JsonBody {
    type Rejection = SimError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, SimError> {
        let max_body = state.info.limits.max_body_bytes;
        let reserved = state
            .admission
            .body_budget
            .reserve(reservation(req.headers(), max_body))?;
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| SimError::Body {
                status: rejection.status(),
                message: rejection.body_text(),
            })?;
        Ok(JsonBody { bytes, reserved })
    }
}

impl JsonBody {
    /// Parses the body as `T` and hands it to `then`, on the blocking pool when the body is
    /// big; the budget is given back when both are done. Bad JSON is a 400.
    pub(crate) async fn decode<T, R>(
        self,
        then: impl FnOnce(T) -> Result<R, SimError> + Send + 'static,
    ) -> Result<R, SimError>
    where
        T: DeserializeOwned,
        R: Send + 'static,
    {
        let JsonBody { bytes, reserved } = self;
        let big = bytes.len() >= BLOCKING_PARSE_BYTES;
        let work = move || {
            let parsed =
                serde_json::from_slice(&bytes).map_err(|e| SimError::InvalidJson(e.to_string()))?;
            drop(bytes);
            then(parsed)
        };
        let result = if big {
            match tokio::task::spawn_blocking(work).await {
                Ok(result) => result,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // The runtime is shutting down.
                Err(_) => Err(SimError::EngineStopped),
            }
        } else {
            work()
        };
        drop(reserved);
        result
    }
}
