//! Provides run cancellation (Ctrl-C) in two stages: a [`Canceller`] held by the caller and
//! cheap [`CancelToken`] clones that the run observes.
//!
//! *Stop* (the first Ctrl-C) means "send nothing more": requests not yet sent stay unsent and
//! requests in flight may finish within the dispatcher's grace period. *Abort* (the second
//! Ctrl-C, or the grace period running out) means "stop now": requests in flight are cut and
//! counted as interrupted.

use tokio::sync::watch;

/// How far cancellation has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Running,
    Stopping,
    Aborted,
}

/// Triggers cancellation.
#[derive(Debug)]
pub struct Canceller(watch::Sender<Stage>);

/// Observes cancellation.
#[derive(Debug, Clone)]
pub struct CancelToken(watch::Receiver<Stage>);

/// A connected canceller / token pair.
pub fn cancel_pair() -> (Canceller, CancelToken) {
    let (tx, rx) = watch::channel(Stage::Running);
    (Canceller(tx), CancelToken(rx))
}

impl Canceller {
    /// Stops sending: no new request leaves; requests in flight may finish (first Ctrl-C).
    pub fn stop(&self) {
        self.0.send_if_modified(|s| {
            let changed = *s == Stage::Running;
            if changed {
                *s = Stage::Stopping;
            }
            changed
        });
    }

    /// Stops now: requests in flight are cut (second Ctrl-C).
    pub fn abort(&self) {
        self.0.send_replace(Stage::Aborted);
    }

    /// Stops now; the same as [`Canceller::abort`].
    pub fn cancel(&self) {
        self.abort();
    }

    /// Whether [`Canceller::stop`] or [`Canceller::abort`] was called.
    pub fn is_stopping(&self) -> bool {
        *self.0.borrow() >= Stage::Stopping
    }
}

impl CancelToken {
    /// A token that is never cancelled.
    pub fn never() -> Self {
        let (tx, rx) = watch::channel(Stage::Running);
        std::mem::forget(tx);
        Self(rx)
    }

    /// Whether sending should stop (stop or abort was requested).
    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow() >= Stage::Stopping
    }

    /// Whether requests in flight should be cut (abort was requested).
    pub fn is_aborted(&self) -> bool {
        *self.0.borrow() == Stage::Aborted
    }

    /// Resolves once sending should stop (never, if the canceller is dropped first).
    pub async fn cancelled(&self) {
        self.reached(Stage::Stopping).await;
    }

    /// Resolves once requests in flight should be cut (never, if the canceller is dropped
    /// first).
    pub async fn aborted(&self) {
        self.reached(Stage::Aborted).await;
    }

    async fn reached(&self, stage: Stage) {
        let mut rx = self.0.clone();
        if rx.wait_for(|s| *s >= stage).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_then_abort_are_two_stages() {
        let (c, t) = cancel_pair();
        assert!(!t.is_cancelled() && !t.is_aborted());
        c.stop();
        assert!(t.is_cancelled() && !t.is_aborted());
        c.abort();
        assert!(t.is_cancelled() && t.is_aborted());
        c.stop();
        assert!(t.is_aborted(), "a later stop does not undo an abort");
    }
}
