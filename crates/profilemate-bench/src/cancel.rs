//! Provides run cancellation (Ctrl-C): a [`Canceller`] held by the caller and cheap
//! [`CancelToken`] clones that in-flight work awaits.

use tokio::sync::watch;

/// Triggers cancellation.
#[derive(Debug)]
pub struct Canceller(watch::Sender<bool>);

/// Observes cancellation.
#[derive(Debug, Clone)]
pub struct CancelToken(watch::Receiver<bool>);

/// A connected canceller / token pair.
pub fn cancel_pair() -> (Canceller, CancelToken) {
    let (tx, rx) = watch::channel(false);
    (Canceller(tx), CancelToken(rx))
}

impl Canceller {
    /// Cancels every token of this pair.
    pub fn cancel(&self) {
        self.0.send_replace(true);
    }
}

impl CancelToken {
    /// A token that is never cancelled.
    pub fn never() -> Self {
        let (tx, rx) = watch::channel(false);
        std::mem::forget(tx);
        Self(rx)
    }

    /// Whether cancellation has been requested.
    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once cancellation is requested (never, if the canceller is dropped first).
    pub async fn cancelled(&self) {
        let mut rx = self.0.clone();
        if rx.wait_for(|c| *c).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
