//! A local emulator of the 1msg API, faithful enough that everything else in
//! waform is tested against it (docs/design.md §6): the real request and response
//! shapes, Meta's rules, and the real failures.
//!
//! Routes (1msg paths need `?token=` or `Authorization: Bearer`; wrong token
//! → 401, unknown instance → 404):
//!
//! | method | path                               | what                                        |
//! |--------|------------------------------------|---------------------------------------------|
//! | GET    | `/{instance}/templates`            | `{total, templates}`; `limit`, `offset`     |
//! | POST   | `/{instance}/addTemplate`          | validated, starts PENDING                   |
//! | POST   | `/{instance}/removeTemplate`       | all languages; approved name blocked 30 d   |
//! | POST   | `/{instance}/sendTemplate`         | approved template, param counts, FLOW index |
//! | POST   | `/{instance}/sendFlow`             | PUBLISHED Flow (or mode draft), 24 h window |
//! | GET    | `/{instance}/flows`                | `{items, count, total}`, or 501             |
//! | GET    | `/{instance}/messages`             | history of every accepted send (faulted too) and inbound; `chatId`, `min_time`, `max_time`, `lastMessageNumber`, `limit`, `last`, `msgId`; or a `notice` when history is disabled |
//! | GET    | `/{instance}/me`, `/status`        | profile, connection status                  |
//! | POST   | `/_sandbox/inbound`                | `{"phone","body"?}`: opens the window       |
//! | GET    | `/_sandbox/sends`                  | every accepted send                         |
//! | GET    | `/_sandbox/requests`               | every send request received, any answer     |
//! | POST   | `/_sandbox/complete`               | `{"flow_token","response"}`: Flow submitted |
//! | POST   | `/_sandbox/read`                   | `{"id"}`: a read ack for that message       |
//! | POST   | `/_sandbox/templates/{name}/{act}` | approve, reject (`{"reason"}`), pause, disable |
//! | POST   | `/_sandbox/flows`                  | `{"id","name","status","editable"?}`: add/replace a Flow (`editable: false`: edits answer 139001) |
//!
//! POST bodies are JSON or form-urlencoded. Faults apply to sends only, so
//! a fault rate never makes reads (which clients retry) flaky: 429 with
//! `Retry-After` before anything happens; 500 and dropped connections after
//! the message was logged as sent.

mod account;
mod flow_check;
mod flow_routes;
mod hooks;
pub(crate) mod rules;
mod server;
pub(crate) mod store;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use self::account::{Account, Timings};
pub(crate) use self::account::{AccountSnapshot, ReceivedRequest, SentMessage};
use self::hooks::Hooks;
use self::server::{Conn, CtlListener, Faults, Shared};
use crate::provider::{AccountFlow, AccountTemplate};
use crate::secret::Secret;

/// How the emulated channel behaves. `Default` is `waform sandbox` without
/// flags.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The channel id clients must put in the URL path.
    pub instance: String,
    /// The token clients must send; anything else is answered 401.
    pub token: Secret,
    /// Review time of a new template.
    pub approve_after: Duration,
    /// Templates whose body contains this word (case-insensitive) are
    /// rejected after the review time.
    pub reject_containing: Option<String>,
    /// Flows on the account at start.
    pub flows: Vec<AccountFlow>,
    /// Where to POST acks, inbound messages and Flow completions.
    pub webhook: Option<String>,
    /// Probability that a send answers 429 without sending.
    pub fault_429: f64,
    /// Probability that an accepted send answers 500.
    pub fault_500: f64,
    /// Probability that an accepted send gets its connection closed unanswered.
    pub fault_drop: f64,
    /// `Retry-After` of the injected 429s (whole seconds, at least 1).
    pub retry_after: Duration,
    /// Delay before every API answer.
    pub latency: Duration,
    /// Seeds fault rolls and ids, so a run can be repeated.
    pub seed: u64,
    /// Answer `GET /flows` with 501, as some channels do (docs/provider-1msg.md §2.7).
    pub flows_unavailable: bool,
    /// Keep no message history: `GET /messages` answers an empty list with
    /// a `notice`, as a channel without history storage does (§2.6).
    pub history_disabled: bool,
    /// Answer `GET /templates` with every representation quirk 1msg has
    /// been seen to use (offset ignored, bare array, `language` as object,
    /// `components` as a string, namespace missing or renamed): a harder
    /// test of clients than the default, which only lower-cases statuses.
    pub quirks: bool,
    /// How long a removed approved name stays blocked (Meta: 30 days).
    pub name_block: Duration,
    /// The customer-service window (Meta: 24 hours).
    pub window: Duration,
    /// Start from this saved account (its Flows plus `flows`) instead of an
    /// empty one.
    pub account: Option<AccountSnapshot>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            instance: "sandbox".into(),
            token: Secret::new("sandbox-token"),
            approve_after: Duration::from_secs(2),
            reject_containing: None,
            flows: Vec::new(),
            webhook: None,
            fault_429: 0.0,
            fault_500: 0.0,
            fault_drop: 0.0,
            retry_after: Duration::from_secs(1),
            latency: Duration::ZERO,
            seed: 0,
            flows_unavailable: false,
            history_disabled: false,
            quirks: false,
            name_block: Duration::from_secs(30 * 24 * 3600),
            window: Duration::from_secs(24 * 3600),
            account: None,
        }
    }
}

/// A running sandbox. Dropping it stops the server (gracefully, in the
/// background); [`SandboxHandle::shutdown`] waits for that.
pub struct SandboxHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Starts the sandbox on `listen` (port 0 picks a free port). Must be called
/// inside a tokio runtime.
///
/// # Errors
/// When the address cannot be bound.
pub async fn start(config: SandboxConfig, listen: SocketAddr) -> std::io::Result<SandboxHandle> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let timings = Timings {
        approve_after: config.approve_after,
        reject_containing: config.reject_containing.clone(),
        name_block: config.name_block,
        window: config.window,
    };
    let account = match config.account.clone() {
        None => Account::new(timings, config.flows.clone(), config.seed),
        Some(saved) => Account::restore(
            saved,
            timings,
            config.flows.clone(),
            config.seed,
            Instant::now(),
        )
        .map_err(|why| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the saved sandbox account cannot be used: {why}"),
            )
        })?,
    };
    let shared = Arc::new(Shared {
        instance: config.instance.clone(),
        token: config.token.clone(),
        account: Mutex::new(account),
        faults: Faults {
            p429: config.fault_429,
            p500: config.fault_500,
            pdrop: config.fault_drop,
            retry_after: config.retry_after,
            latency: config.latency,
        },
        flows_unavailable: config.flows_unavailable,
        history_disabled: config.history_disabled,
        quirks: config.quirks,
        hooks: Hooks::start(&config.instance, config.webhook.clone()),
    });
    let app = server::router(shared.clone()).into_make_service_with_connect_info::<Conn>();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(CtlListener(listener), app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(SandboxHandle {
        addr,
        shared,
        stop: Some(stop),
        task: Some(task),
    })
}

impl SandboxHandle {
    /// The address the sandbox listens on (loopback, a free port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the base URL a client puts before `/{instance}`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The channel id it answers to.
    pub fn instance(&self) -> &str {
        &self.shared.instance
    }

    /// A client configuration pointing at this sandbox (what `apply
    /// --sandbox` and tests hand to [`crate::provider::onemsg::OneMsgClient`]).
    pub fn client_config(&self) -> crate::provider::onemsg::OneMsgConfig {
        crate::provider::onemsg::OneMsgConfig::new(
            self.base_url(),
            self.instance(),
            self.token().clone(),
        )
    }

    /// The account's template namespace (what `sendTemplate` may carry).
    pub fn namespace(&self) -> String {
        self.shared.account().namespace().to_string()
    }

    /// The token it accepts.
    pub fn token(&self) -> &Secret {
        &self.shared.token
    }

    /// Every accepted send so far, in order (faulted ones included: they went
    /// out).
    pub fn sends(&self) -> Vec<SentMessage> {
        self.shared.account().sends().to_vec()
    }

    /// Every send request received so far, in order, whatever the answer
    /// (429s included): what reached the API, as opposed to what was sent.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.shared.account().requests().to_vec()
    }

    /// The account's templates with their status as of now.
    pub fn templates(&self) -> Vec<AccountTemplate> {
        self.shared.account().templates(Instant::now())
    }

    /// The account's Flows as they stand.
    pub fn flows(&self) -> Vec<AccountFlow> {
        self.shared.account().flows().to_vec()
    }

    /// The account as it stands, to start a later sandbox from.
    pub(crate) fn snapshot(&self) -> AccountSnapshot {
        let mut snapshot = self.shared.account().snapshot(Instant::now());
        snapshot.set_flows_api_501(self.shared.flows_unavailable);
        snapshot
    }

    /// Adds a Flow, or replaces the one with the same id.
    pub fn add_flow(&self, flow: AccountFlow) {
        self.shared.account().upsert_flow(flow);
    }

    /// Makes editing Flow `id`'s JSON answer Meta's error 139001 (`false`),
    /// as some older published Flows do, or lifts that (`true`).
    pub fn set_flow_editable(&self, id: &str, editable: bool) {
        self.shared.account().set_flow_editable(id, editable);
    }

    /// A customer message from `phone` (digits or E.164): opens the 24-hour
    /// window and goes to the webhook.
    pub fn inbound(&self, phone: &str, body: &str) {
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        let (id, time) = self.shared.account().inbound(&digits, body, Instant::now());
        self.shared.hooks.inbound(&id, &digits, time, body);
    }

    /// The customer submits the Flow sent with `flow_token`. Returns false
    /// when no accepted send carries that token.
    pub fn complete(
        &self,
        flow_token: &str,
        response: serde_json::Map<String, serde_json::Value>,
    ) -> bool {
        let done = self.shared.account().complete(flow_token, Instant::now());
        match done {
            Some((send, id, time)) => {
                let json = account::response_json(flow_token, &response);
                self.shared
                    .hooks
                    .completion(&id, &send.phone, time, &send.id, json);
                true
            }
            None => false,
        }
    }

    /// Webhook payloads delivered, given up on, and dropped on a full queue.
    pub fn webhook_stats(&self) -> (u64, u64, u64) {
        let s = &self.shared.hooks.stats;
        (
            s.delivered.load(Ordering::Relaxed),
            s.failed.load(Ordering::Relaxed),
            s.dropped.load(Ordering::Relaxed),
        )
    }

    /// Stops accepting, lets open connections finish, and waits (at most 5 s).
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            // Connections that will not close do not keep the caller.
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl std::fmt::Debug for SandboxHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxHandle")
            .field("addr", &self.addr)
            .field("instance", &self.shared.instance)
            .finish_non_exhaustive()
    }
}
