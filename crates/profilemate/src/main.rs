//! The `profilemate` command line: parses arguments, runs a subcommand, maps the outcome to
//! an exit status (0 ok, 1 ran but some input failed, 2 error).

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the bench client and the simulated server allocate per request and per chunk from
/// several Tokio workers; glibc malloc's arena locks and `mprotect` growth showed in profiles.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli.command) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("profilemate: {}", error_line(&err));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, `: `-separated like anyhow's `{:#}`, except that a
/// cause whose text the previous message already holds is left out (an error that prints its
/// source and also returns it from `source()`, as thiserror's `#[error("…: {0}")]` with
/// `#[from]` does, would otherwise print the OS text twice).
fn error_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    let mut previous = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !previous.is_empty() && previous.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
        previous = text;
    }
    line
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::error_line;

    #[derive(Debug)]
    struct Repeats(std::io::Error);

    impl std::fmt::Display for Repeats {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot read x.json: {}", self.0)
        }
    }

    impl std::error::Error for Repeats {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_the_message_already_holds_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone (os error 2)");
        let err = anyhow::Error::new(Repeats(io)).context("cannot load --config x");
        assert_eq!(
            error_line(&err),
            "cannot load --config x: cannot read x.json: gone (os error 2)"
        );
    }

    #[test]
    fn distinct_causes_are_all_printed() {
        let err = anyhow::anyhow!("inner").context("middle").context("outer");
        assert_eq!(error_line(&err), "outer: middle: inner");
    }
}
