//! Defines the [`Event`] stream a run emits for presenters (progress bar, log lines). The library
//! never prints; the binary decides what to show.

use std::time::Duration;

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
        /// Whether it was cut in flight by an interruption (not a failure).
        interrupted: bool,
    },
    /// Sending stopped on an interruption (first Ctrl-C); requests in flight may finish for
    /// `grace`, then are cut.
    Stopping {
        /// Requests in flight when sending stopped.
        in_flight: usize,
        /// How long they may still finish.
        grace: Duration,
    },
    /// Progress of a virtual-time run (`sim run`), emitted at most every
    /// [`VIRTUAL_PROGRESS_EVERY`] of wall time.
    VirtualProgress {
        /// Requests finished (or refused) so far.
        done: usize,
        /// Requests the run will send.
        total: usize,
        /// Virtual time simulated so far, in seconds.
        simulated: f64,
    },
    /// Dispatch and draining are over.
    Finished,
}

/// The least wall time between two [`Event::VirtualProgress`] events.
pub const VIRTUAL_PROGRESS_EVERY: Duration = Duration::from_millis(100);

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
