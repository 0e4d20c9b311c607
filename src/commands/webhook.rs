//! `waform webhook`: runs the receiver that stores 1msg's callbacks (acks,
//! customer messages, submitted Flows) in the state ledger.
//!
//! The line `webhook listening on http://ADDR` names the address actually
//! bound (so `--listen 127.0.0.1:0` works for scripts and tests); it is
//! printed only after the signal handlers are installed.

use std::io::Write;
use std::sync::Arc;

use anyhow::{bail, Context};

use crate::cli::WebhookArgs;
use waform::secret::Secret;
use waform::state::SendLedger;

/// Serves until SIGINT or SIGTERM.
pub(crate) fn run(args: WebhookArgs) -> anyhow::Result<waform::ExitStatus> {
    let secret = match std::env::var(&args.secret_env) {
        Ok(v) if !v.trim().is_empty() => {
            // Logs and errors mask it from now on.
            waform::secret::register_text(&v);
            Secret::new(v)
        }
        _ => bail!(
            "the webhook secret is not set: export {} with a random value and register the \
             webhook URL with `?secret=<that value>`",
            args.secret_env
        ),
    };
    // The config (for its `state.url`) must exist unless the ledger is
    // named directly: a typo must not start a receiver on the wrong ledger.
    let path =
        super::ledger_source::resolve(&args.config, args.state.as_deref(), false, "webhook")?
            .ledger;
    let ledger: Arc<dyn SendLedger> = Arc::from(
        waform::state::open(&path)
            .with_context(|| format!("could not open the state at {path}"))?,
    );
    let runtime = super::runtime()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("could not listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        let shutdown = shutdown_signal()?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "webhook listening on http://{addr}")?;
        out.flush()?;
        drop(out);
        let limits = waform::webhook::Limits {
            header_timeout: args.header_timeout,
            body_timeout: args.body_timeout,
            max_connections: args.max_connections,
            shutdown_grace: args.shutdown_grace,
        };
        waform::webhook::serve_with(ledger, secret, listener, shutdown, limits)
            .await
            .context("the webhook server failed")?;
        Ok(waform::ExitStatus::Success)
    })
}

/// Resolves on SIGINT or SIGTERM; the handlers are registered right away,
/// so a supervisor signalling just after the announcement line is handled.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut int = signal(SignalKind::interrupt()).context("could not watch SIGINT")?;
        let mut term = signal(SignalKind::terminate()).context("could not watch SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
