//! Connections to PostgreSQL for a synchronous caller.
//!
//! The state API is synchronous (SQLite is), and it is called both from
//! plain threads and from inside apply's and the webhook's tokio runtimes.
//! tokio-postgres splits a connection in two: the `Connection` future does
//! the socket I/O, the `Client` sends queries to it over a channel. The
//! `Connection` runs on a small runtime of our own ([`Io`]); query futures
//! need no runtime, so a caller waits for them on its own thread with
//! `futures_executor::block_on`, which never conflicts with a caller's
//! runtime the way a nested `Runtime::block_on` would.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio_postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::super::StateError;

/// The runtime the connections' I/O runs on.
#[derive(Debug)]
pub(crate) struct Io {
    rt: Option<tokio::runtime::Runtime>,
}

impl Io {
    pub(super) fn new() -> Result<Arc<Io>, StateError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("waform-pg-io")
            .enable_all()
            .build()
            .map_err(|e| StateError::Backend {
                backend: "PostgreSQL",
                source: Box::new(e),
            })?;
        Ok(Arc::new(Io { rt: Some(rt) }))
    }

    fn handle(&self) -> Option<&tokio::runtime::Handle> {
        self.rt.as_ref().map(|rt| rt.handle())
    }

    /// Opens a session. `closed` is set when the session ends for any
    /// reason (server gone, network cut, our own close).
    pub(super) fn connect(
        &self,
        config: &Config,
        location: &str,
    ) -> Result<(Client, Arc<AtomicBool>), StateError> {
        let open_err = |source: tokio_postgres::Error| StateError::Open {
            location: location.to_string(),
            source: Box::new(source),
        };
        let handle = self.handle().ok_or_else(|| StateError::Open {
            location: location.to_string(),
            source: "the connection runtime has stopped".into(),
        })?;
        let config = config.clone();
        let tls = tls(location)?;
        let closed = Arc::new(AtomicBool::new(false));
        let flag = closed.clone();
        let (tx, rx) = futures_channel::oneshot::channel();
        handle.spawn(async move {
            match config.connect(tls).await {
                Ok((client, connection)) => {
                    let _ = tx.send(Ok(client));
                    // Errors end the session; the client sees them as
                    // "connection closed" on its next query.
                    let _ = connection.await;
                    flag.store(true, Ordering::SeqCst);
                }
                Err(e) => {
                    flag.store(true, Ordering::SeqCst);
                    let _ = tx.send(Err(e));
                }
            }
        });
        let client = futures_executor::block_on(rx)
            .map_err(|_| StateError::Open {
                location: location.to_string(),
                source: "the connection task stopped".into(),
            })?
            .map_err(open_err)?;
        Ok((client, closed))
    }
}

impl Drop for Io {
    fn drop(&mut self) {
        // A runtime may not be dropped (blocking) inside another runtime,
        // which is where apply drops its ledger.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// TLS for `sslmode=prefer` (the default) and `require`: the server's
/// certificate is verified against the public web roots plus the CA file
/// named by `PGSSLROOTCERT` (a cloud provider's own CA), if set.
fn tls(location: &str) -> Result<MakeRustlsConnect, StateError> {
    let err = |what: String| StateError::Open {
        location: location.to_string(),
        source: what.into(),
    };
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = std::env::var_os("PGSSLROOTCERT") {
        use rustls_pki_types::pem::PemObject;
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(&path).map_err(|e| {
            err(format!(
                "cannot read PGSSLROOTCERT {}: {e}",
                path.to_string_lossy()
            ))
        })?;
        for cert in certs {
            let cert = cert.map_err(|e| err(format!("PGSSLROOTCERT: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| err(format!("PGSSLROOTCERT: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// Waits for a query future on the calling thread.
pub(crate) fn wait<F: std::future::Future>(f: F) -> F::Output {
    futures_executor::block_on(f)
}
