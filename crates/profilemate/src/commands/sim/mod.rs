//! Runs `profilemate sim …`: the simulated vLLM engine. `sim serve` serves it over vLLM's
//! OpenAI-compatible HTTP API in real time (`profilemate-server`).

pub(crate) mod args;
mod calibrate;
mod disagg;
mod engine_args;
mod log_file;
mod run;
mod sweep;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

pub(crate) use args::SimServeArgs;
pub(crate) use engine_args::{DEFAULT_GPU, Engine, resolve_gpu};
pub(crate) use run::SimRunArgs;

/// `profilemate sim`.
#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    #[command(subcommand)]
    pub(crate) command: SimCommand,
}

/// The `sim` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum SimCommand {
    /// Serve the simulated engine like `vllm serve`: /v1/completions, /v1/chat/completions
    /// (streaming or not), /v1/models, /v1/embeddings, /tokenize, /health and /metrics with
    /// vLLM's metric names and log lines, in real time (or --time-scale).
    Serve(Box<SimServeArgs>),
    /// Run a `bench serve` workload (same flags, table and result JSON) against the simulated
    /// engine in virtual time: a capacity plan in seconds.
    Run(Box<SimRunArgs>),
    /// Sweep `sim run` over grids of engine and workload parameters (`bench sweep serve`'s
    /// files) in virtual time; with `--slo`, each configuration's capacity, its cost per million
    /// output tokens, the Pareto front and a recommendation.
    Sweep(Box<sweep::SimSweepArgs>),
    /// Fit the step time to a real deployment from its vLLM log's `Iteration(N)` lines (and
    /// its bench results), for `sim run`/`sim serve --calibration`.
    Calibrate(Box<calibrate::CalibrateArgs>),
}

/// Runs a `sim` subcommand.
pub(crate) fn run(args: &SimArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        SimCommand::Serve(serve_args) => serve(serve_args),
        SimCommand::Run(run_args) => run::run(run_args),
        SimCommand::Sweep(sweep_args) => sweep::run(sweep_args),
        SimCommand::Calibrate(cal_args) => calibrate::run(cal_args),
    }
}

/// `sim serve`: build the configuration, bind, serve until Ctrl-C or SIGTERM (graceful: the
/// requests in flight get the server's shutdown grace to finish; exit 0).
fn serve(args: &SimServeArgs) -> anyhow::Result<ExitCode> {
    let config = args.to_config()?;
    if let Err(e) = profilemate_server::raise_open_file_limit() {
        eprintln!("profilemate sim serve: warning: cannot raise the open-file limit: {e}");
    }
    let addr = format!("{}:{}", args.host, args.port);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = listen(&addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let bound = listener.local_addr().map_or(addr, |a| a.to_string());
        note(&format!(
            "{} on http://{bound} (Ctrl-C or SIGTERM stops)",
            config.served_model_name
        ));
        if let (Some(path), None) = (&args.engine.calibration, args.fixed_ttft_ms) {
            note(&format!(
                "step time calibrated by {} (sim calibrate)",
                path.display()
            ));
        }
        if config.data_parallel_size > 1 && args.fixed_ttft_ms.is_none() {
            note(&format!(
                "{n} data-parallel engines behind vLLM's load balancer (metrics labelled \
                 engine=\"0\"…\"{last}\")",
                n = config.data_parallel_size,
                last = config.data_parallel_size - 1
            ));
        }
        profilemate_server::serve(config, listener, shutdown_signal())
            .await
            .context("the server stopped with an error")
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Writes one `profilemate sim serve: …` line to stderr. A closed stderr (the parent read the
/// address line and went away) loses the line but does not stop the server, as `eprintln!`'s
/// panic would.
fn note(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "profilemate sim serve: {message}");
}

/// Resolves on the first SIGINT or SIGTERM (what `docker stop` and Kubernetes send). The
/// handlers are installed when this is called, not when the future is first polled: the server
/// starts answering before its shutdown future is polled, and a SIGTERM in between would
/// otherwise kill the process mid-stream (seen under load).
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let handlers = {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::interrupt())
            .and_then(|int| Ok((int, signal(SignalKind::terminate())?)))
            .ok()
    };
    async move {
        #[cfg(unix)]
        if let Some((mut int, mut term)) = handlers {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Listens on the first address `addr` resolves to that binds, with the server's backlog
/// ([`profilemate_server::LISTEN_BACKLOG`], not tokio's 128: a burst of 1000 clients connecting
/// at once would overflow a queue of 128, and every dropped SYN costs its client a 1 s
/// retransmit, which lands in its TTFT).
async fn listen(addr: &str) -> std::io::Result<tokio::net::TcpListener> {
    let mut last = std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, "no address");
    for a in tokio::net::lookup_host(addr).await? {
        match profilemate_server::bind(a) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = e,
        }
    }
    Err(last)
}
