//! Presents a run's progress on stderr: a bar on a terminal, a short greppable line every few
//! seconds without one (a CI log), nothing with `--disable-tqdm`.
//!
//! The line reads `profilemate: 340/1000 requests, 12.1 s elapsed, 28.1 req/s` (`bench serve`)
//! or `profilemate: 340/1000 requests, 120.5 s simulated, 1.2 s elapsed` (`sim run`); one is
//! printed every [`LOG_EVERY`] and a last one when the run ends.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often a progress line is printed without a terminal.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(5);

/// Overrides [`LOG_EVERY`] in milliseconds (for tests; not a user setting).
const LOG_EVERY_ENV: &str = "PROFILEMATE_PROGRESS_EVERY_MS";

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    /// An indicatif bar (stderr is a terminal).
    Bar,
    /// A line every so often (stderr is not a terminal).
    Lines(Duration),
    /// Nothing (`--disable-tqdm`).
    Off,
}

impl Mode {
    /// The mode for this process: off if `disabled`, a bar on a terminal, else lines.
    pub(crate) fn detect(disabled: bool) -> Self {
        if disabled {
            Self::Off
        } else if std::io::stderr().is_terminal() {
            Self::Bar
        } else {
            Self::Lines(log_every())
        }
    }
}

fn log_every() -> Duration {
    std::env::var(LOG_EVERY_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(LOG_EVERY, Duration::from_millis)
}

/// The progress of one run, drawn as its [`Mode`] says.
#[derive(Debug)]
pub(crate) struct Progress {
    mode: Mode,
    bar: Option<ProgressBar>,
    total: usize,
    done: usize,
    /// Virtual seconds simulated (`sim run` only).
    simulated: Option<f64>,
    started: Instant,
    last_line: Instant,
    active: bool,
}

impl Progress {
    /// Nothing shown until [`Progress::start`].
    pub(crate) fn new(mode: Mode) -> Self {
        let now = Instant::now();
        Self {
            mode,
            bar: None,
            total: 0,
            done: 0,
            simulated: None,
            started: now,
            last_line: now,
            active: false,
        }
    }

    /// The run begins with `total` requests.
    pub(crate) fn start(&mut self, total: usize) {
        self.total = total;
        self.done = 0;
        self.started = Instant::now();
        self.last_line = self.started;
        self.active = true;
        if self.mode == Mode::Bar {
            self.bar = Some(bar(total as u64));
        }
    }

    /// One more request finished.
    pub(crate) fn request_done(&mut self) {
        self.done += 1;
        if let Some(b) = &self.bar {
            b.inc(1);
        }
        self.tick();
    }

    /// A virtual run's progress: requests done and virtual seconds simulated.
    pub(crate) fn virtual_progress(&mut self, done: usize, total: usize, simulated: f64) {
        self.done = done;
        self.total = total;
        self.simulated = Some(simulated);
        if let Some(b) = &self.bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
            b.set_message(format!("{simulated:.1} s simulated"));
        }
        self.tick();
    }

    /// Prints a line if one is due (lines mode only).
    pub(crate) fn tick(&mut self) {
        if let Mode::Lines(every) = self.mode
            && self.active
            && self.last_line.elapsed() >= every
        {
            self.line();
        }
    }

    /// The run is over: the bar is cleared, or a last line printed.
    pub(crate) fn finish(&mut self) {
        if !self.active {
            return;
        }
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        if matches!(self.mode, Mode::Lines(_)) {
            self.line();
        }
        self.active = false;
    }

    /// Clears the bar so a message prints on a clean line.
    pub(crate) fn suspend(&self, f: impl FnOnce()) {
        match &self.bar {
            Some(b) => b.suspend(f),
            None => f(),
        }
    }

    fn line(&mut self) {
        self.last_line = Instant::now();
        eprintln!("{}", self.render());
    }

    /// The progress line.
    pub(crate) fn render(&self) -> String {
        let elapsed = self.started.elapsed().as_secs_f64();
        let head = format!("profilemate: {}/{} requests", self.done, self.total);
        match self.simulated {
            Some(sim) => format!("{head}, {sim:.1} s simulated, {elapsed:.1} s elapsed"),
            None => {
                let rate = if elapsed > 0.0 {
                    self.done as f64 / elapsed
                } else {
                    0.0
                };
                format!("{head}, {elapsed:.1} s elapsed, {rate:.1} req/s")
            }
        }
    }
}

fn bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{percent:>3}%|{wide_bar}| {pos}/{len} [{elapsed_precise}<{eta_precise}, {per_sec}] {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_compact_and_name_the_counts() {
        let mut p = Progress::new(Mode::Off);
        p.start(1000);
        p.done = 340;
        let line = p.render();
        assert!(
            line.starts_with("profilemate: 340/1000 requests, ") && line.ends_with(" req/s"),
            "{line}"
        );
        p.virtual_progress(12, 40, 120.54);
        let line = p.render();
        assert!(
            line.starts_with("profilemate: 12/40 requests, 120.5 s simulated, "),
            "{line}"
        );
    }
}
