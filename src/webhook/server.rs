//! The HTTP receiver 1msg posts to: authenticate, parse, store, then answer.
//!
//! 1msg does not sign callbacks, so the URL registered with it carries a
//! shared secret (`?secret=...`); anything else gets 401 before the body is
//! read, and nothing is stored. An event is committed to the ledger before
//! the 200 goes out; if storage fails the answer is 503 so 1msg retries
//! (redelivery is idempotent in the ledger). Writes go through one writer
//! task that commits every waiting request in one transaction (group
//! commit), so durable storage costs one fsync per batch, not per request. Bodies over [`BODY_LIMIT`] get
//! 413, non-JSON bodies 400 (logged without the body, which may hold
//! personal data).
//!
//! The receiver faces the internet, so no caller can hold it: a request's
//! head must arrive within [`Limits::header_timeout`] (the same timer runs
//! while a kept-alive connection waits for its next request, so it is also
//! the idle timeout), its body within [`Limits::body_timeout`] (else 408),
//! at most [`Limits::max_connections`] connections are served at once
//! (further callers wait in the listen backlog, costing no file descriptor)
//! and shutdown waits at most [`Limits::shutdown_grace`] for requests in
//! flight before closing what is left.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Query, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinSet;

use super::parse::parse_body;
use crate::secret::Secret;
use crate::state::{InboundEvent, SendLedger, StoreReport};

/// Largest accepted body (1 MiB); 1msg batches are far smaller.
pub const BODY_LIMIT: usize = 1 << 20;

/// How long a caller may take and how many may be served at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time to receive a request's head, counted from when the connection
    /// starts waiting for it (so also the idle keep-alive timeout).
    pub header_timeout: Duration,
    /// Time to receive a request's body once its head is in.
    pub body_timeout: Duration,
    /// Connections served at once; lowered to fit the open-file limit.
    pub max_connections: usize,
    /// After the shutdown signal, how long requests in flight may finish
    /// before the remaining connections are closed.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_connections: 512,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// File descriptors kept free for the ledger, the listener and logs.
const SPARE_FDS: u64 = 32;

/// `wanted`, lowered so that every served connection has a descriptor:
/// past the open-file limit `accept` fails with EMFILE and the connections
/// already open starve the real callers.
#[allow(unsafe_code)]
fn connection_cap(wanted: usize) -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
    if !ok || lim.rlim_cur == libc::RLIM_INFINITY {
        return wanted.max(1);
    }
    let fit = usize::try_from(lim.rlim_cur.saturating_sub(SPARE_FDS)).unwrap_or(usize::MAX);
    wanted.min(fit).max(1)
}

struct App {
    writer: mpsc::Sender<Job>,
    body_timeout: Duration,
    /// SHA-256 of the secret: comparing digests keeps the comparison
    /// constant-time whatever the lengths.
    secret_digest: [u8; 32],
    /// An empty secret authorizes nobody.
    secret_set: bool,
}

impl App {
    fn authorized(&self, uri: &axum::http::Uri) -> bool {
        // Both the decoded value and the raw text are tried: a secret with
        // `+` (common in base64) registered unencoded would otherwise decode
        // to a space and never match.
        let decoded = Query::<HashMap<String, String>>::try_from_uri(uri)
            .ok()
            .and_then(|Query(q)| q.get("secret").cloned());
        let raw = uri.query().and_then(|q| {
            q.split('&')
                .find_map(|pair| pair.strip_prefix("secret="))
                .map(str::to_string)
        });
        let matches = |given: &str| {
            let digest: [u8; 32] = Sha256::digest(given.as_bytes()).into();
            digest
                .iter()
                .zip(self.secret_digest.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
        };
        let ok_decoded = decoded.as_deref().is_some_and(matches);
        let ok_raw = raw.as_deref().is_some_and(matches);
        self.secret_set && (ok_decoded | ok_raw)
    }
}

/// One request's events waiting for the writer, and where its answer goes.
struct Job {
    events: Vec<InboundEvent>,
    reply: oneshot::Sender<Result<StoreReport, String>>,
}

/// Most requests committed in one transaction.
const GROUP_MAX: usize = 512;

/// Group commit: one transaction (one fsync) for every request that arrived
/// while the previous transaction was being written, each request in its
/// own savepoint ([`SendLedger::store_event_groups`]). A request is answered
/// only after the transaction holding it has committed.
async fn writer(ledger: Arc<dyn SendLedger>, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < GROUP_MAX {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let (groups, replies): (Vec<Vec<InboundEvent>>, Vec<_>) =
            jobs.into_iter().map(|j| (j.events, j.reply)).unzip();
        let ledger = ledger.clone();
        let stored = tokio::task::spawn_blocking(move || {
            let refs: Vec<&[InboundEvent]> = groups.iter().map(Vec::as_slice).collect();
            ledger.store_event_groups(&refs)
        })
        .await;
        match stored {
            Ok(Ok(results)) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result.map_err(|e| format!("{:#}", anyhow::Error::new(e))));
                }
            }
            Ok(Err(e)) => {
                let msg = format!("{:#}", anyhow::Error::new(e));
                for reply in replies {
                    let _ = reply.send(Err(msg.clone()));
                }
            }
            Err(e) => {
                let msg = format!("storage task failed: {e}");
                for reply in replies {
                    let _ = reply.send(Err(msg.clone()));
                }
            }
        }
    }
}

/// The receiver's routes: `GET /healthz`, and POST on any other path.
///
/// Must be called inside a tokio runtime: it starts the writer task, which
/// ends when the router (every clone) is dropped.
pub fn router(ledger: Arc<dyn SendLedger>, secret: &Secret, body_timeout: Duration) -> Router {
    let (tx, rx) = mpsc::channel(4 * GROUP_MAX);
    tokio::spawn(writer(ledger, rx));
    let app = Arc::new(App {
        writer: tx,
        body_timeout,
        secret_digest: Sha256::digest(secret.expose().as_bytes()).into(),
        secret_set: !secret.expose().is_empty(),
    });
    Router::new()
        .route("/healthz", get(healthz))
        .fallback(receive)
        .with_state(app)
}

/// [`serve_with`] with the default [`Limits`].
///
/// # Errors
/// See [`serve_with`].
pub async fn serve(
    ledger: Arc<dyn SendLedger>,
    secret: Secret,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(ledger, secret, listener, shutdown, Limits::default()).await
}

/// Serves on `listener` until `shutdown` resolves, then lets the requests
/// in flight finish for at most `limits.shutdown_grace` and closes every
/// connection left (a request cut off there never got its 200, so 1msg
/// retries it).
///
/// # Errors
/// None today: accept errors (a caller gone before accept, descriptors
/// running out) are waited out, not returned.
pub async fn serve_with(
    ledger: Arc<dyn SendLedger>,
    secret: Secret,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
) -> std::io::Result<()> {
    let app = router(ledger, &secret, limits.body_timeout);
    let permits = Arc::new(Semaphore::new(connection_cap(limits.max_connections)));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        // The permit is taken before accepting, so callers past the cap wait
        // in the kernel's backlog rather than holding a descriptor here.
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE/ENFILE last until a connection closes; a
                    // caller that reset before accept is just gone.
                    if !matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                    ) {
                        tracing::warn!("webhook: accept failed ({e}); retrying");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let conn =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let conn = graceful.watch(conn);
        connections.spawn(async move {
            // A connection's error (timeout, reset, bad request line) only
            // ends that connection.
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "webhook: connections still open {} s after the shutdown signal were closed",
            limits.shutdown_grace.as_secs_f32()
        );
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    Ok(())
}

async fn healthz() -> &'static str {
    "ok"
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// A refusal sent before the body was read: the unread rest of the body
/// would be taken for the next request, so the connection closes and the
/// client is told not to reuse it (otherwise a pooled client writes its
/// next request into a socket the server is closing: a broken pipe).
fn refuse_unread(status: StatusCode, message: &str) -> Response {
    let mut response = error(status, message);
    response.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    response
}

async fn receive(State(app): State<Arc<App>>, req: Request<Body>) -> Response {
    if req.method() != Method::POST {
        return error(StatusCode::METHOD_NOT_ALLOWED, "POST webhook events here");
    }
    if !app.authorized(req.uri()) {
        // One line, so a webhook registered with a wrong secret is visible;
        // never the query (it holds what was sent as the secret).
        tracing::warn!(
            "webhook: 401 for {} {} (missing or wrong ?secret=)",
            req.method(),
            req.uri().path()
        );
        return error(StatusCode::UNAUTHORIZED, "missing or wrong ?secret=");
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return refuse_unread(StatusCode::PAYLOAD_TOO_LARGE, "body over 1 MiB");
    }
    let bytes =
        match tokio::time::timeout(app.body_timeout, to_bytes(req.into_body(), BODY_LIMIT)).await {
            Ok(Ok(b)) => b,
            Ok(Err(_)) => return refuse_unread(StatusCode::PAYLOAD_TOO_LARGE, "body over 1 MiB"),
            Err(_) => {
                tracing::warn!(
                    "webhook: 408, the body did not arrive within {} s",
                    app.body_timeout.as_secs_f32()
                );
                return refuse_unread(
                    StatusCode::REQUEST_TIMEOUT,
                    "the body took too long to arrive",
                );
            }
        };
    let events = match parse_body(&bytes) {
        Ok(events) => events,
        Err(e) => {
            // The serde error names a line and column, never the content.
            tracing::warn!("webhook: 400 for a {}-byte body: {e}", bytes.len());
            return error(StatusCode::BAD_REQUEST, "body is not JSON");
        }
    };
    tracing::debug!(
        events = events.len(),
        bytes = bytes.len(),
        "webhook: request accepted"
    );
    let (reply, answer) = oneshot::channel();
    if app.writer.send(Job { events, reply }).await.is_err() {
        tracing::warn!("webhook: 503, the storage writer has stopped");
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "could not store the events; retry",
        );
    }
    match answer.await {
        Ok(Ok(report)) => {
            tracing::debug!(
                stored = report.stored,
                duplicates = report.duplicates,
                acks_applied = report.acks_applied,
                completions_matched = report.completions_matched,
                unmatched = report.unmatched,
                "webhook: events stored"
            );
            (
                StatusCode::OK,
                Json(json!({"stored": report.stored, "duplicates": report.duplicates})),
            )
                .into_response()
        }
        Ok(Err(e)) => {
            tracing::warn!("webhook: 503, could not store events: {e}");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "could not store the events; retry",
            )
        }
        Err(_) => {
            tracing::warn!("webhook: 503, the storage writer dropped the request");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "could not store the events; retry",
            )
        }
    }
}
