//! Defines the [`Event`] stream a run emits for presenters (progress bar, log lines). The library
//! never prints; the binary decides what to show.

use tokio::sync::mpsc;

/// Something that happened during a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A status line vLLM would print (`Starting main benchmark run...`).
    Message(String),
    /// A warning for the user.
    Warning(String),
    /// Requests are about to be dispatched; `total` are scheduled.
    Started {
        /// Number of scheduled requests.
        total: usize,
    },
    /// One request finished.
    RequestDone {
        /// Whether it succeeded.
        success: bool,
    },
    /// Dispatch and draining are over.
    Finished,
}

/// Sends events; a dropped receiver is fine (events are advisory).
#[derive(Debug, Clone)]
pub struct EventSink(Option<mpsc::UnboundedSender<Event>>);

impl EventSink {
    /// A sink and the receiver its events go to.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self(Some(tx)), rx)
    }

    /// A sink that drops everything.
    pub fn discard() -> Self {
        Self(None)
    }

    /// Emits an event.
    pub fn emit(&self, event: Event) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(event);
        }
    }

    /// Emits a status line.
    pub fn message(&self, text: impl Into<String>) {
        self.emit(Event::Message(text.into()));
    }
}
