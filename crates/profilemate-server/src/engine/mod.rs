//! Provides the engine thread: it owns the virtual-time engine (or the fixed-timing
//! schedule), takes new requests and aborts over a channel, keeps virtual time in step with
//! the wall clock × `--time-scale`, and hands tokens to the HTTP tasks through the [`Hub`].
//!
//! The engine is synchronous (the sim crate has no async), so it runs on its own OS thread and
//! sleeps in `recv_timeout` until its next event, a new command, or the next log interval.
//!
//! A step that panics kills the engine, not the server: the panic is caught, every live
//! request fails, the status turns dead (`/health` answers 503) and the thread stays to fail
//! each later submission at once, until shutdown — as vLLM's `EngineDeadError` does
//! (vllm/v1/engine/exceptions.py, vLLM 0.32).

mod fixed_driver;
pub(crate) mod hub;
pub(crate) mod logging;
mod sim_driver;
pub(crate) mod status;
mod tally;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant};

use profilemate_sim::EnginePrompt;

pub(crate) use fixed_driver::FixedDriver;
pub(crate) use hub::Hub;
pub(crate) use sim_driver::SimDriver;
use status::EngineStatus;

use crate::ticket::{Status, Ticket};

/// Most commands taken between two engine advances, so steps keep flowing under a flood.
const COMMANDS_PER_ADVANCE: usize = 4096;

/// A request handed to the engine.
#[derive(Debug)]
pub(crate) struct Submission {
    pub(crate) key: u64,
    pub(crate) prompt: EnginePrompt,
    pub(crate) max_tokens: u32,
    pub(crate) ticket: Arc<Ticket>,
    pub(crate) received: Instant,
}

/// What the HTTP side tells the engine.
#[derive(Debug)]
pub(crate) enum Command {
    Submit(Submission),
    /// The client went away: free the request's KV blocks.
    Abort(u64),
    /// `POST /reset_prefix_cache`: whether the cache was reset.
    ResetPrefixCache(tokio::sync::oneshot::Sender<bool>),
    Shutdown,
}

/// When the driver next needs the thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Right away (as-fast-as-possible mode with work left).
    Now,
    /// At this instant.
    At(Instant),
    /// Only when a command comes.
    Idle,
}

/// A source of token times: the simulated engine or the fixed schedule.
pub(crate) trait Driver {
    fn submit(&mut self, sub: Submission, hub: &mut Hub);
    fn abort(&mut self, key: u64, hub: &mut Hub);
    /// Forgets the prefix cache; `false` while blocks are held.
    fn reset_prefix_cache(&mut self) -> bool;
    /// Runs everything due by `now`.
    fn advance(&mut self, now: Instant, hub: &mut Hub) -> Wake;
    /// The driver's clock at `now` (virtual time for the engine).
    fn virtual_now(&self, now: Instant) -> Duration;
}

/// The HTTP side's handle on the engine thread.
#[derive(Debug, Clone)]
pub(crate) struct EngineHandle {
    tx: Sender<Command>,
    status: Arc<EngineStatus>,
}

impl EngineHandle {
    pub(crate) fn new(tx: Sender<Command>, status: Arc<EngineStatus>) -> Self {
        EngineHandle { tx, status }
    }

    /// Sends a command; `false` when the engine has stopped.
    pub(crate) fn send(&self, command: Command) -> bool {
        self.tx.send(command).is_ok()
    }

    pub(crate) fn status(&self) -> &EngineStatus {
        &self.status
    }
}

/// The engine thread's body: returns on `Shutdown` or when every handle is gone.
pub(crate) fn run(mut driver: impl Driver, mut hub: Hub, rx: Receiver<Command>) {
    let ran = catch_unwind(AssertUnwindSafe(|| {
        serve_commands(&mut driver, &mut hub, &rx)
    }));
    match ran {
        Ok(()) => hub.shutdown(),
        Err(_) => {
            hub.fail_all();
            refuse_commands(&rx);
        }
    }
}

/// Takes commands and advances the driver until `Shutdown` or every handle is gone.
fn serve_commands(driver: &mut impl Driver, hub: &mut Hub, rx: &Receiver<Command>) {
    let mut wake = Wake::Idle;
    loop {
        let first = match next_command(rx, wake, hub.next_log()) {
            Next::Command(c) => Some(c),
            Next::Timeout => None,
            Next::Closed => return,
        };
        let pending = first
            .into_iter()
            .chain(rx.try_iter().take(COMMANDS_PER_ADVANCE));
        for command in pending {
            if !apply(driver, hub, command) {
                return;
            }
        }
        let now = Instant::now();
        wake = driver.advance(now, hub);
        hub.wake_all();
        hub.maybe_log(now, driver.virtual_now(now));
    }
}

/// After the engine died: fails every submission until `Shutdown` or every handle is gone, so
/// a request sent just before its sender saw the engine dead never waits forever.
fn refuse_commands(rx: &Receiver<Command>) {
    for command in rx.iter() {
        match command {
            Command::Submit(sub) => sub.ticket.close(Status::Failed),
            Command::Abort(_) | Command::ResetPrefixCache(_) => {}
            Command::Shutdown => return,
        }
    }
}

fn apply(driver: &mut impl Driver, hub: &mut Hub, command: Command) -> bool {
    match command {
        Command::Submit(sub) => driver.submit(sub, hub),
        Command::Abort(key) => driver.abort(key, hub),
        Command::ResetPrefixCache(reply) => {
            let _ = reply.send(driver.reset_prefix_cache());
        }
        Command::Shutdown => return false,
    }
    true
}

enum Next {
    Command(Command),
    Timeout,
    Closed,
}

/// Waits for a command until the driver or the logs need the thread.
fn next_command(rx: &Receiver<Command>, wake: Wake, log_due: Option<Instant>) -> Next {
    let deadline = match wake {
        Wake::Now => return try_command(rx),
        Wake::At(t) => Some(log_due.map_or(t, |l| l.min(t))),
        Wake::Idle => log_due,
    };
    let result = match deadline {
        Some(t) => rx.recv_timeout(t.saturating_duration_since(Instant::now())),
        None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
    };
    match result {
        Ok(c) => Next::Command(c),
        Err(RecvTimeoutError::Timeout) => Next::Timeout,
        Err(RecvTimeoutError::Disconnected) => Next::Closed,
    }
}

fn try_command(rx: &Receiver<Command>) -> Next {
    match rx.try_recv() {
        Ok(c) => Next::Command(c),
        Err(TryRecvError::Empty) => Next::Timeout,
        Err(TryRecvError::Disconnected) => Next::Closed,
    }
}
