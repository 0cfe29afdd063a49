//! Provides [`Ticket`], the per-request mailbox between the engine thread and the HTTP task.
//!
//! The engine adds tokens to an atomic counter and wakes the task; the task sends everything
//! new since its last chunk. Nothing is queued per token, so memory per request is constant
//! whatever the client's speed: a slow reader gets several tokens per chunk, as vLLM's
//! `RequestOutputCollector` merges outputs a slow consumer has not taken yet
//! (vllm/v1/engine/output_processor.py, vLLM 0.32). The engine adds a request's tokens and
//! wakes its task once per engine advance ([`Ticket::add_tokens`], then [`Ticket::wake`]),
//! not once per step, so an engine running many steps per advance (`--time-scale 0`) costs
//! one update and one wake-up per request, not one per token.

use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use tokio::sync::Notify;

/// Where a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Generating.
    Live,
    /// All its tokens were emitted.
    Finished,
    /// Aborted by the engine (shutdown) or refused after admission.
    Aborted,
    /// The engine died (a step panicked): the request cannot finish.
    Failed,
}

/// Tokens emitted so far and the request's status, shared by the engine and one HTTP task.
#[derive(Debug, Default)]
pub(crate) struct Ticket {
    emitted: AtomicU32,
    status: AtomicU8,
    notify: Notify,
}

impl Ticket {
    /// Engine side: `n` more tokens, seen by the task when it next looks (see
    /// [`wake`](Self::wake)).
    pub(crate) fn add_tokens(&self, n: u32) {
        self.emitted.fetch_add(n, Ordering::Release);
    }

    /// Engine side: wakes the HTTP task for the tokens added since the last wake-up.
    pub(crate) fn wake(&self) {
        self.notify.notify_one();
    }

    /// Engine side: the request is over.
    pub(crate) fn close(&self, status: Status) {
        let code = match status {
            Status::Live => 0,
            Status::Finished => 1,
            Status::Aborted => 2,
            Status::Failed => 3,
        };
        self.status.store(code, Ordering::Release);
        self.notify.notify_one();
    }

    /// HTTP side: the status, then the tokens emitted (read in that order, so a finished
    /// status comes with the final count).
    pub(crate) fn snapshot(&self) -> (Status, u32) {
        let status = match self.status.load(Ordering::Acquire) {
            0 => Status::Live,
            1 => Status::Finished,
            2 => Status::Aborted,
            _ => Status::Failed,
        };
        (status, self.emitted.load(Ordering::Acquire))
    }

    /// HTTP side: waits until the engine has news (returns at once if it had some since the
    /// last wait).
    pub(crate) async fn changed(&self) {
        self.notify.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn news_before_the_wait_is_not_lost() {
        let ticket = Ticket::default();
        ticket.add_tokens(3);
        ticket.add_tokens(1);
        ticket.wake();
        ticket.changed().await;
        ticket.close(Status::Finished);
        assert_eq!(ticket.snapshot(), (Status::Finished, 4));
    }
}
