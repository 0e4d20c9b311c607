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

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::{Query, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use super::parse::parse_body;
use crate::secret::Secret;
use crate::state::{InboundEvent, SendLedger, StoreReport};

/// Largest accepted body (1 MiB); 1msg batches are far smaller.
pub const BODY_LIMIT: usize = 1 << 20;

struct App {
    writer: mpsc::Sender<Job>,
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
pub fn router(ledger: Arc<dyn SendLedger>, secret: &Secret) -> Router {
    let (tx, rx) = mpsc::channel(4 * GROUP_MAX);
    tokio::spawn(writer(ledger, rx));
    let app = Arc::new(App {
        writer: tx,
        secret_digest: Sha256::digest(secret.expose().as_bytes()).into(),
        secret_set: !secret.expose().is_empty(),
    });
    Router::new()
        .route("/healthz", get(healthz))
        .fallback(receive)
        .with_state(app)
}

/// Serves on `listener` until `shutdown` resolves, then finishes the
/// requests in flight (each of which either stored its events or did not
/// answer 200).
///
/// # Errors
/// The accept loop's IO error.
pub async fn serve(
    ledger: Arc<dyn SendLedger>,
    secret: Secret,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(ledger, &secret))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn healthz() -> &'static str {
    "ok"
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn receive(State(app): State<Arc<App>>, req: Request<Body>) -> Response {
    if req.method() != Method::POST {
        return error(StatusCode::METHOD_NOT_ALLOWED, "POST webhook events here");
    }
    if !app.authorized(req.uri()) {
        // One line, so a webhook registered with a wrong secret is visible;
        // never the query (it holds what was sent as the secret).
        crate::errln!(
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
        return error(StatusCode::PAYLOAD_TOO_LARGE, "body over 1 MiB");
    }
    let bytes = match to_bytes(req.into_body(), BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => return error(StatusCode::PAYLOAD_TOO_LARGE, "body over 1 MiB"),
    };
    let events = match parse_body(&bytes) {
        Ok(events) => events,
        Err(e) => {
            // The serde error names a line and column, never the content.
            crate::errln!("webhook: 400 for a {}-byte body: {e}", bytes.len());
            return error(StatusCode::BAD_REQUEST, "body is not JSON");
        }
    };
    let (reply, answer) = oneshot::channel();
    if app.writer.send(Job { events, reply }).await.is_err() {
        crate::errln!("webhook: 503, the storage writer has stopped");
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "could not store the events; retry",
        );
    }
    match answer.await {
        Ok(Ok(report)) => (
            StatusCode::OK,
            Json(json!({"stored": report.stored, "duplicates": report.duplicates})),
        )
            .into_response(),
        Ok(Err(e)) => {
            crate::errln!("webhook: 503, could not store events: {e}");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "could not store the events; retry",
            )
        }
        Err(_) => {
            crate::errln!("webhook: 503, the storage writer dropped the request");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "could not store the events; retry",
            )
        }
    }
}
