//! The HTTP face of the sandbox: routing, auth, body decoding (JSON and
//! form-urlencoded, as the real API accepts both, docs/provider-1msg.md §1.3) and
//! fault injection, over the rules in [`super::account`].
//!
//! A dropped connection has to look like one to the client: no status line,
//! just a closed socket. axum gives handlers no access to the socket, so the
//! listener wraps each stream with a kill switch that the handler can flip
//! through `ConnectInfo`; the response write then fails and hyper closes the
//! connection without having sent a byte.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::account::{self, Account, HistoryFilter, Refusal};
use super::hooks::Hooks;
use crate::provider::{AccountFlow, FlowStatus, TemplateStatus};
use crate::secret::Secret;

/// Fault rates and timings, copied from the config.
#[derive(Debug, Clone)]
pub(crate) struct Faults {
    pub(crate) p429: f64,
    pub(crate) p500: f64,
    pub(crate) pdrop: f64,
    pub(crate) retry_after: Duration,
    pub(crate) latency: Duration,
}

/// Everything the handlers share.
pub(crate) struct Shared {
    pub(crate) instance: String,
    pub(crate) token: Secret,
    pub(crate) account: Mutex<Account>,
    pub(crate) faults: Faults,
    pub(crate) flows_unavailable: bool,
    pub(crate) history_disabled: bool,
    pub(crate) quirks: bool,
    pub(crate) hooks: Hooks,
}

impl Shared {
    /// A poisoned lock only means a handler panicked mid-update; the data is
    /// still the best account state there is.
    pub(super) fn account(&self) -> MutexGuard<'_, Account> {
        self.account.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/_sandbox/inbound", post(control_inbound))
        .route("/_sandbox/sends", get(control_sends))
        .route("/_sandbox/requests", get(control_requests))
        .route("/_sandbox/complete", post(control_complete))
        .route("/_sandbox/read", post(control_read))
        .route("/_sandbox/templates/{name}/{action}", post(control_decide))
        .route("/_sandbox/flows", post(control_flow).get(control_flows))
        .route("/{instance}/{method}", any(api))
        .route("/{instance}/flows/{id}", any(super::flow_routes::item))
        .route(
            "/{instance}/flows/{id}/{action}",
            any(super::flow_routes::action),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, "Not found") })
        .with_state(shared)
}

pub(super) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

// ---- the 1msg API ---------------------------------------------------------

async fn api(
    State(s): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    Path((instance, name)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if instance != s.instance {
        return error(
            StatusCode::NOT_FOUND,
            format!("Channel {instance:?} not found"),
        );
    }
    let query = parse_pairs(uri.query().unwrap_or_default());
    if !authorized(&s.token, &query, &headers) {
        // The real 401 echoes the token (docs/provider-1msg.md §1.4); this one must
        // not: waform tests that the token never appears anywhere.
        return error(
            StatusCode::UNAUTHORIZED,
            format!(
                "Wrong token for channel {:?}. Please provide token as a GET parameter.",
                s.instance
            ),
        );
    }
    // Send requests are logged on arrival, before the latency: a request in
    // flight has reached the API, whatever happens to its answer.
    let send_body = (method == Method::POST && (name == "sendTemplate" || name == "sendFlow"))
        .then(|| decode_body(&headers, &body));
    let logged = match &send_body {
        Some(Ok(req)) => Some(s.account().log_request(&name, req)),
        _ => None,
    };
    if !s.faults.latency.is_zero() {
        tokio::time::sleep(s.faults.latency).await;
    }
    let q = |k: &str| {
        query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let now = Instant::now();
    match (method, name.as_str()) {
        (Method::GET, "templates") => {
            let offset = q("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
            let limit = q("limit").and_then(|v| v.parse().ok()).filter(|l| *l > 0);
            Json(s.account().templates_json(now, offset, limit, s.quirks)).into_response()
        }
        (Method::POST, "addTemplate") => {
            let req = match decode_body(&headers, &body) {
                Ok(v) => v,
                Err(m) => return error(StatusCode::BAD_REQUEST, m),
            };
            let field = |k: &str| req.get(k).and_then(Value::as_str).unwrap_or_default();
            let components = match req.get("components") {
                Some(Value::Array(c)) => c.clone(),
                Some(Value::String(text)) => match serde_json::from_str(text) {
                    Ok(Value::Array(c)) => c,
                    _ => return error(StatusCode::BAD_REQUEST, "components must be an array"),
                },
                _ => return error(StatusCode::BAD_REQUEST, "components is required"),
            };
            let result = s.account().add_template(
                field("name"),
                &field("category").to_ascii_uppercase(),
                field("language"),
                components,
                now,
            );
            match result {
                Ok(v) => Json(v).into_response(),
                Err(r) => refusal(r),
            }
        }
        (Method::POST, "removeTemplate") => {
            let req = match decode_body(&headers, &body) {
                Ok(v) => v,
                Err(m) => return error(StatusCode::BAD_REQUEST, m),
            };
            let Some(name) = req.get("name").and_then(Value::as_str) else {
                return error(StatusCode::BAD_REQUEST, "name is required");
            };
            match s.account().remove_template(name, now) {
                Ok(()) => Json(json!({"result": "success"})).into_response(),
                Err(r) => refusal(r),
            }
        }
        (Method::POST, "sendTemplate") | (Method::POST, "sendFlow") => {
            let req = match send_body.unwrap_or_else(|| decode_body(&headers, &body)) {
                Ok(v) => v,
                Err(m) => return error(StatusCode::BAD_REQUEST, m),
            };
            send(&s, &conn, &name, &req, logged.unwrap_or(usize::MAX), now)
        }
        (Method::GET | Method::POST, "flows") if s.flows_unavailable => {
            super::flow_routes::unavailable()
        }
        (Method::POST, "flows") => {
            let req = match decode_body(&headers, &body) {
                Ok(v) => v,
                Err(m) => return error(StatusCode::BAD_REQUEST, m),
            };
            super::flow_routes::create(&s, &req)
        }
        (Method::GET, "flows") => {
            let account = s.account();
            let items: Vec<Value> = account
                .flows()
                .iter()
                .map(|f| json!({"id": f.id, "name": f.name, "status": flow_word(&f.status), "categories": account.flow_categories(&f.id), "validation_errors": account.flow_validation_errors(&f.id)}))
                .collect();
            let n = items.len();
            Json(json!({"items": items, "paging": {}, "count": n, "total": n})).into_response()
        }
        (Method::GET, "messages") => {
            if s.history_disabled {
                // What a channel without history storage answers
                // (docs/provider-1msg.md §2.6: a `notice`, no messages).
                return Json(json!({
                    "messages": [],
                    "notice": "Message history is disabled for this channel",
                }))
                .into_response();
            }
            let number = |k: &str| q(k).and_then(|v| v.trim().parse::<i64>().ok());
            let filter = HistoryFilter {
                chat: q("chatId").map(|c| c.split('@').next().unwrap_or_default().to_string()),
                min_time: number("min_time"),
                max_time: number("max_time"),
                after: number("lastMessageNumber")
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
                limit: number("limit")
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(100),
                last: q("last").is_some_and(|v| matches!(v, "1" | "true")),
                msg_id: q("msgId").map(str::to_string),
            };
            Json(s.account().messages_json(&filter)).into_response()
        }
        (Method::GET, "me") => Json(json!({
            "about": "waform sandbox", "address": "", "description": "Local emulator of the 1msg API",
            "email": "sandbox@example.invalid", "phone": "10000000000", "vertical": "Other",
            "photo": "", "websites": [],
        }))
        .into_response(),
        (Method::GET, "status") => Json(json!({"status": "connected"})).into_response(),
        (_, "templates" | "addTemplate" | "removeTemplate" | "sendTemplate" | "sendFlow" | "flows"
            | "messages" | "me" | "status") => {
            error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
        }
        _ => error(StatusCode::NOT_FOUND, format!("Unknown method {name:?}")),
    }
}

/// One send with faults: 429 before anything happens; 500 and drop after the
/// message is logged as sent (docs/design.md §6, issue "Faults").
fn send(
    s: &Shared,
    conn: &Conn,
    which: &str,
    req: &Value,
    logged: usize,
    now: Instant,
) -> Response {
    enum Fault {
        None,
        ServerError,
        Drop,
    }
    let (result, fault) = {
        let mut account = s.account();
        let f = &s.faults;
        if f.p429 > 0.0 && account.rng().f64() < f.p429 {
            account.answer_request(logged, "429", None);
            drop(account);
            let secs = f.retry_after.as_secs().max(1).to_string();
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded");
            if let Ok(v) = header::HeaderValue::from_str(&secs) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return r;
        }
        let result = if which == "sendFlow" {
            account.send_flow(req, now)
        } else {
            account.send_template(req, now)
        };
        let mut fault = Fault::None;
        let mut answer = "accepted";
        if let Ok(sent) = &result {
            if f.p500 > 0.0 && account.rng().f64() < f.p500 {
                account.mark_fault(&sent.id, "500");
                fault = Fault::ServerError;
                answer = "500";
            } else if f.pdrop > 0.0 && account.rng().f64() < f.pdrop {
                account.mark_fault(&sent.id, "drop");
                fault = Fault::Drop;
                answer = "drop";
            }
        }
        match &result {
            Ok(sent) => {
                let id = Some(sent.id.clone());
                account.answer_request(logged, answer, id);
            }
            Err(Refusal::NotSent(_)) => account.answer_request(logged, "not_sent", None),
            Err(Refusal::BadRequest(_) | Refusal::Meta { .. }) => {
                account.answer_request(logged, "bad_request", None)
            }
        }
        (result, fault)
    };
    match result {
        Ok(sent) => {
            s.hooks.acks(&sent.id, &sent.phone);
            match fault {
                Fault::None => Json(json!({
                    "sent": true,
                    "id": sent.id,
                    "message": format!("Sent to {}@c.us", sent.phone),
                    "description": "Message has been sent to the provider",
                }))
                .into_response(),
                Fault::ServerError => {
                    error(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
                }
                Fault::Drop => {
                    conn.kill.store(true, Ordering::Release);
                    error(StatusCode::INTERNAL_SERVER_ERROR, "never delivered")
                }
            }
        }
        Err(r) => refusal(r),
    }
}

pub(super) fn refusal(r: Refusal) -> Response {
    match r {
        Refusal::BadRequest(m) => error(StatusCode::BAD_REQUEST, m),
        Refusal::NotSent(m) => Json(json!({"sent": false, "message": m})).into_response(),
        Refusal::Meta {
            code,
            title,
            message,
        } => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {
                "message": message,
                "type": "OAuthException",
                "code": code,
                "error_user_title": title,
                "error_user_msg": message,
            }})),
        )
            .into_response(),
    }
}

fn flow_word(s: &FlowStatus) -> String {
    match s {
        FlowStatus::Draft => "DRAFT".into(),
        FlowStatus::Published => "PUBLISHED".into(),
        FlowStatus::Deprecated => "DEPRECATED".into(),
        FlowStatus::Blocked => "BLOCKED".into(),
        FlowStatus::Throttled => "THROTTLED".into(),
        FlowStatus::Other(o) => o.clone(),
    }
}

/// Token in the query (every `token=` must match: the official SDKs can send
/// it twice, docs/provider-1msg.md §5 item 10) or, without one, a Bearer header
/// (§1.2).
pub(super) fn authorized(token: &Secret, query: &[(String, String)], headers: &HeaderMap) -> bool {
    let mut in_query = query.iter().filter(|(k, _)| k == "token").peekable();
    if in_query.peek().is_some() {
        return in_query.all(|(_, v)| v == token.expose());
    }
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|v| v.trim() == token.expose())
}

/// A JSON object from a JSON or form-urlencoded body. Form values that hold
/// JSON objects or arrays (how the SDKs stringify nested fields, §5 item 3)
/// are parsed; `a[b]=v` becomes `{"a": {"b": "v"}}`.
pub(super) fn decode_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_string())?;
        let mut obj = Map::new();
        for (k, v) in parse_pairs(text) {
            let value = match v.trim_start().as_bytes().first() {
                Some(b'{') | Some(b'[') => serde_json::from_str(&v).unwrap_or(Value::String(v)),
                _ => Value::String(v),
            };
            match k.split_once('[') {
                Some((outer, rest)) if rest.ends_with(']') => {
                    let inner = rest.trim_end_matches(']').to_string();
                    let entry = obj
                        .entry(outer.to_string())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(m) = entry {
                        m.insert(inner, value);
                    }
                }
                _ => {
                    obj.insert(k, value);
                }
            }
        }
        return Ok(Value::Object(obj));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err("body must be a JSON object".into()),
        Err(e) => Err(format!("invalid JSON body: {e}")),
    }
}

/// `application/x-www-form-urlencoded` pairs (also the query string).
pub(super) fn parse_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'+' {
            out.push(b' ');
            i += 1;
        } else if b == b'%' {
            // Both must be hex digits: from_str_radix alone accepts "+1".
            let hex = bytes
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(v) => {
                    out.push(v);
                    i += 3;
                }
                None => {
                    out.push(b'%');
                    i += 1;
                }
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---- control endpoints (no token) ------------------------------------------

/// Control bodies are JSON whatever the Content-Type says, so a bare
/// `curl -d '{...}'` works.
fn control_body(body: &[u8]) -> Result<Value, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))
}

fn phone_field(v: &Value) -> Option<String> {
    let raw = match v.get("phone")? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    (digits.len() >= 6).then_some(digits)
}

async fn control_inbound(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req = match control_body(&body) {
        Ok(v) => v,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    let Some(phone) = phone_field(&req) else {
        return error(StatusCode::BAD_REQUEST, "phone is required");
    };
    let body = req.get("body").and_then(Value::as_str).unwrap_or("Hi");
    let (id, time) = s.account().inbound(&phone, body, Instant::now());
    s.hooks.inbound(&id, &phone, time, body);
    Json(json!({"ok": true, "id": id})).into_response()
}

async fn control_sends(State(s): State<Arc<Shared>>) -> Response {
    Json(s.account().sends().to_vec()).into_response()
}

async fn control_requests(State(s): State<Arc<Shared>>) -> Response {
    Json(s.account().requests().to_vec()).into_response()
}

async fn control_complete(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req = match control_body(&body) {
        Ok(v) => v,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    let Some(token) = req.get("flow_token").and_then(Value::as_str) else {
        return error(StatusCode::BAD_REQUEST, "flow_token is required");
    };
    let response = match req.get("response") {
        Some(Value::Object(m)) => m.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(_) => return error(StatusCode::BAD_REQUEST, "response must be an object"),
    };
    let done = s.account().complete(token, Instant::now());
    match done {
        Some((send, id, time)) => {
            s.hooks.completion(
                &id,
                &send.phone,
                time,
                &send.id,
                account::response_json(token, &response),
            );
            Json(json!({"ok": true, "id": id, "message_id": send.id})).into_response()
        }
        None => error(
            StatusCode::NOT_FOUND,
            "no accepted send carries this flow_token",
        ),
    }
}

async fn control_read(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req = match control_body(&body) {
        Ok(v) => v,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    let Some(id) = req.get("id").and_then(Value::as_str) else {
        return error(StatusCode::BAD_REQUEST, "id is required");
    };
    let phone = s
        .account()
        .sends()
        .iter()
        .find(|m| m.id == id)
        .map(|m| m.phone.clone());
    match phone {
        Some(phone) => {
            s.hooks.read(id, &phone);
            Json(json!({"ok": true})).into_response()
        }
        None => error(StatusCode::NOT_FOUND, "no accepted send has this id"),
    }
}

async fn control_decide(
    State(s): State<Arc<Shared>>,
    Path((name, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let reason = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("reason").and_then(Value::as_str).map(str::to_string));
    let (status, reason) = match action.as_str() {
        "approve" => (TemplateStatus::Approved, None),
        "reject" => (
            TemplateStatus::Rejected,
            Some(reason.unwrap_or_else(|| "INVALID_FORMAT".into())),
        ),
        "pause" => (TemplateStatus::Paused, None),
        "disable" => (TemplateStatus::Disabled, None),
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "action must be approve, reject, pause or disable",
            )
        }
    };
    if s.account().decide(&name, status, reason) {
        Json(json!({"ok": true})).into_response()
    } else {
        error(StatusCode::NOT_FOUND, format!("no template named {name:?}"))
    }
}

async fn control_flow(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req = match control_body(&body) {
        Ok(v) => v,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    let id = match req.get("id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return error(StatusCode::BAD_REQUEST, "id is required"),
    };
    let name = req
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or(&id)
        .to_string();
    let status = FlowStatus::parse(
        req.get("status")
            .and_then(Value::as_str)
            .unwrap_or("PUBLISHED"),
    );
    let mut account = s.account();
    account.upsert_flow(AccountFlow {
        id: id.clone(),
        name,
        status,
    });
    // `"editable": false`: editing its JSON answers Meta's 139001, as some
    // older published Flows do (docs/provider-1msg.md §2.11).
    if let Some(editable) = req.get("editable").and_then(Value::as_bool) {
        account.set_flow_editable(&id, editable);
    }
    Json(json!({"ok": true})).into_response()
}

async fn control_flows(State(s): State<Arc<Shared>>) -> Response {
    Json(s.account().flows().to_vec()).into_response()
}

// ---- the listener with a kill switch ---------------------------------------

/// Per-connection handle given to handlers through `ConnectInfo`.
#[derive(Clone)]
pub(crate) struct Conn {
    kill: Arc<AtomicBool>,
}

impl Connected<axum::serve::IncomingStream<'_, CtlListener>> for Conn {
    fn connect_info(stream: axum::serve::IncomingStream<'_, CtlListener>) -> Self {
        Conn {
            kill: stream.io().kill.clone(),
        }
    }
}

pub(crate) struct CtlListener(pub TcpListener);

impl axum::serve::Listener for CtlListener {
    type Io = CtlStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => {
                    // Small JSON answers: do not let Nagle hold them back.
                    let _ = stream.set_nodelay(true);
                    let io = CtlStream {
                        inner: stream,
                        kill: Arc::new(AtomicBool::new(false)),
                    };
                    return (io, addr);
                }
                // Out of file descriptors and the like: back off instead of
                // spinning (what axum's own TcpListener impl does).
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A TCP stream whose writes fail once the kill switch is on.
pub(crate) struct CtlStream {
    inner: TcpStream,
    kill: Arc<AtomicBool>,
}

impl CtlStream {
    fn killed(&self) -> bool {
        self.kill.load(Ordering::Acquire)
    }
}

fn cut() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "sandbox fault: connection dropped",
    )
}

impl AsyncRead for CtlStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(cut()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CtlStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(cut()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(cut()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(cut()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_and_query_decoding() {
        assert_eq!(
            parse_pairs("token=a%2Bb&x=1+2&&flag"),
            vec![
                ("token".into(), "a+b".into()),
                ("x".into(), "1 2".into()),
                ("flag".into(), String::new())
            ]
        );
        assert_eq!(percent_decode("%E2%9C%93%zz%"), "✓%zz%");
        assert_eq!(percent_decode("%+1"), "% 1");
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let v = decode_body(
            &h,
            b"body=Hi&flowActionPayload=%7B%22screen%22%3A%22W%22%7D&language%5Bcode%5D=en",
        )
        .unwrap_or_default();
        assert_eq!(v["body"], "Hi");
        assert_eq!(v["flowActionPayload"]["screen"], "W");
        assert_eq!(v["language"]["code"], "en");
    }

    #[test]
    fn auth_by_query_or_bearer() {
        let t = Secret::new("tok");
        let q = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        let none = HeaderMap::new();
        assert!(authorized(&t, &q(&[("token", "tok")]), &none));
        assert!(authorized(
            &t,
            &q(&[("token", "tok"), ("token", "tok")]),
            &none
        ));
        assert!(!authorized(
            &t,
            &q(&[("token", "tok"), ("token", "x")]),
            &none
        ));
        assert!(!authorized(&t, &q(&[]), &none));
        let mut bearer = HeaderMap::new();
        bearer.insert(
            header::AUTHORIZATION,
            header::HeaderValue::from_static("Bearer tok"),
        );
        assert!(authorized(&t, &q(&[]), &bearer));
        // A stale query token overrides the header (AGENTS tools.md).
        assert!(!authorized(&t, &q(&[("token", "old")]), &bearer));
    }
}
