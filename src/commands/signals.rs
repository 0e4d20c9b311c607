//! SIGINT/SIGTERM for apply: the first stops new requests (the ones in
//! flight finish and are recorded), the second stops at once.

use std::sync::Arc;
use std::time::Duration;

use waform::apply::stop::Stop;

/// Resolves once a stop was requested.
pub(crate) async fn wait_stop(stop: Arc<Stop>) {
    while !stop.is_requested() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// First SIGINT/SIGTERM: no new request starts, the ones in flight finish.
/// Second: stop at once.
pub(crate) async fn watch_signals(stop: Arc<Stop>) {
    let mut first = true;
    while let Some(sig) = next_signal().await {
        if first {
            waform::errln!("waform: stopping after the requests in flight ({}); interrupt again to stop at once", signal_name(sig));
            stop.request(sig);
            first = false;
        } else {
            waform::errln!("waform: stopping at once; requests in flight are recorded as unknown");
            stop.halt();
        }
    }
}

/// The name a user knows the signal by.
pub(crate) fn signal_name(sig: i32) -> &'static str {
    if sig == libc::SIGTERM {
        "SIGTERM"
    } else {
        "SIGINT"
    }
}

async fn next_signal() -> Option<i32> {
    #[cfg(unix)]
    {
        use std::sync::OnceLock;
        use tokio::signal::unix::{signal, SignalKind};
        // One listener per kind for the whole process, so a second signal
        // is not missed between two calls.
        static TERM: OnceLock<tokio::sync::Mutex<Option<tokio::signal::unix::Signal>>> =
            OnceLock::new();
        static INT: OnceLock<tokio::sync::Mutex<Option<tokio::signal::unix::Signal>>> =
            OnceLock::new();
        let term =
            TERM.get_or_init(|| tokio::sync::Mutex::new(signal(SignalKind::terminate()).ok()));
        let int = INT.get_or_init(|| tokio::sync::Mutex::new(signal(SignalKind::interrupt()).ok()));
        let (mut term, mut int) = (term.lock().await, int.lock().await);
        match (term.as_mut(), int.as_mut()) {
            (Some(t), Some(i)) => tokio::select! {
                v = i.recv() => v.map(|_| libc::SIGINT),
                v = t.recv() => v.map(|_| libc::SIGTERM),
            },
            _ => None,
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.ok().map(|_| 2)
    }
}
