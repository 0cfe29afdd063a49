//! Turns Ctrl-C into a two-stage cancellation: the first SIGINT (or SIGTERM) stops sending, the
//! second cuts what is in flight, a third exits at once (status 130).

use profilemate_bench::Canceller;

/// Listens for the signals for the rest of the process and drives `canceller`; call it inside
/// a Tokio runtime.
pub(crate) fn spawn_handler(canceller: Canceller) {
    tokio::spawn(listen(canceller));
}

/// The same, for synchronous work: listens on a thread of its own, with its own runtime.
pub(crate) fn spawn_handler_thread(canceller: Canceller) {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        if let Ok(runtime) = runtime {
            runtime.block_on(listen(canceller));
        }
    });
}

#[cfg(unix)]
async fn listen(canceller: Canceller) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    let mut next = async || {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    };
    next().await;
    canceller.stop();
    next().await;
    eprintln!("Interrupted again: cutting the requests in flight now.");
    canceller.abort();
    next().await;
    std::process::exit(130);
}

#[cfg(not(unix))]
async fn listen(canceller: Canceller) {
    if tokio::signal::ctrl_c().await.is_ok() {
        canceller.stop();
    }
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!("Interrupted again: cutting the requests in flight now.");
        canceller.abort();
    }
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(130);
    }
}
