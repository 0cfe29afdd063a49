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
            eprintln!("profilemate: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
