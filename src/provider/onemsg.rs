//! The 1msg implementation of [`Provider`] on `reqwest`.
//!
//! Why it is more than a thin HTTP wrapper:
//! - the token rides in the query string (docs/provider-1msg.md §1.2), and reqwest
//!   errors print the full URL, so every error is stripped of its URL and
//!   redacted before it leaves this module;
//! - reads are retried (backoff, jitter, `Retry-After`), sends never are: each
//!   send is classified so apply can keep its exactly-once promise (docs/design.md §5);
//! - 1msg's answers are loose (docs/provider-1msg.md §2.1, §5), so parsing is
//!   tolerant and lives in `wire`.

mod classify;
mod flows;
mod retry;
pub(crate) mod wire;

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqwest::{Method, StatusCode, Url};
use serde_json::{json, Value};

use self::classify::TransportFailure;
use super::{
    AccountTemplate, FlowList, FlowMessage, History, HistoryQuery, NewTemplate, Provider,
    ProviderError, SendOutcome, TemplateMessage,
};
pub use crate::backoff::Backoff;
use crate::secret::Secret;

/// How to reach one 1msg channel.
#[derive(Debug, Clone)]
pub struct OneMsgConfig {
    /// Without the instance id, e.g. `https://api.1msg.io`.
    pub(crate) base_url: String,
    /// The channel id, e.g. `ODI371267300`.
    pub(crate) instance: String,
    pub(crate) token: Secret,
    /// TCP and TLS connect, per attempt.
    pub connect_timeout: Duration,
    /// Whole request, connect included.
    pub timeout: Duration,
    /// A read, retries and their waits included, fails after this: a
    /// black-holed API must not hold a run for minutes.
    pub read_budget: Duration,
    /// Retries of a safe request after the first attempt.
    pub max_read_retries: u32,
    /// Backoff between those retries.
    pub backoff: Backoff,
    /// `limit` of each `GET /templates` page.
    pub page_size: usize,
}

impl OneMsgConfig {
    /// Defaults: connect 10 s, total 30 s, 4 read retries from 200 ms up to
    /// 5 s, pages of 100 templates (the page size the official n8n node uses,
    /// docs/provider-1msg.md §2.1).
    pub fn new(base_url: impl Into<String>, instance: impl Into<String>, token: Secret) -> Self {
        OneMsgConfig {
            base_url: base_url.into(),
            instance: instance.into(),
            token,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            read_budget: Duration::from_secs(25),
            max_read_retries: 4,
            backoff: Backoff {
                base: Duration::from_millis(200),
                max: Duration::from_secs(5),
            },
            page_size: 100,
        }
    }
}

/// A client for one channel. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct OneMsgClient {
    http: reqwest::Client,
    /// `{base_url}/{instance}`, with the instance percent-encoded.
    channel_url: Url,
    token: Secret,
    max_read_retries: u32,
    read_budget: Duration,
    backoff: Backoff,
    page_size: usize,
}

impl std::fmt::Debug for OneMsgClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneMsgClient")
            .field("channel_url", &self.channel_url.as_str())
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// Which failures a request may be repeated after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Safety {
    /// Idempotent read: retry on 429, 5xx (but 501) and any transport error.
    Read,
    /// A write that must not be doubled: retry only when it provably did not
    /// reach the server (connect failure) or was refused unprocessed (429).
    Write,
}

/// An HTTP answer that is not a transport failure.
struct Answer {
    status: StatusCode,
    body: String,
}

impl OneMsgClient {
    /// Builds the client. Fails on a base URL that is not http(s) or an
    /// instance id that could escape its path segment (docs/provider-1msg.md §1.1:
    /// "URL-encode the instance id; reject `..`").
    pub fn new(cfg: OneMsgConfig) -> Result<Self, ProviderError> {
        let instance = cfg.instance.trim();
        if instance.is_empty() || instance == "." || instance == ".." || instance.contains('/') {
            return Err(ProviderError::Network(format!(
                "invalid instance id {instance:?}: expected the channel id, e.g. ODI371267300"
            )));
        }
        let base = cfg.base_url.trim().trim_end_matches('/');
        let mut channel_url = Url::parse(base).map_err(|e| {
            ProviderError::Network(format!(
                "invalid base URL {:?}: {e}",
                cfg.token.redact(base)
            ))
        })?;
        if !matches!(channel_url.scheme(), "http" | "https") || channel_url.cannot_be_a_base() {
            return Err(ProviderError::Network(format!(
                "invalid base URL {:?}: expected http:// or https://",
                cfg.token.redact(base)
            )));
        }
        if channel_url.query().is_some() {
            return Err(ProviderError::Network(
                "invalid base URL: it must not carry a query (the token goes in WAFORM_TOKEN)"
                    .into(),
            ));
        }
        channel_url
            .path_segments_mut()
            .map_err(|_| ProviderError::Network("invalid base URL".into()))?
            .pop_if_empty()
            .push(instance);
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.timeout)
            .user_agent(concat!("waform/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ProviderError::Network(describe(&cfg.token, e)))?;
        Ok(OneMsgClient {
            http,
            channel_url,
            token: cfg.token,
            max_read_retries: cfg.max_read_retries,
            read_budget: cfg.read_budget,
            backoff: cfg.backoff,
            page_size: cfg.page_size.max(1),
        })
    }

    /// `{base}/{instance}/{method}` without the token: safe to print.
    pub(crate) fn endpoint(&self, method: &str) -> Url {
        let mut url = self.channel_url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.extend(method.split('/'));
        }
        url
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
    ) -> reqwest::RequestBuilder {
        // The token goes in the query (docs/provider-1msg.md §1.2), added here and
        // nowhere else.
        self.http
            .request(method, self.endpoint(path))
            .query(&[("token", self.token.expose())])
            .query(query)
            .header(reqwest::header::ACCEPT, "application/json")
    }

    /// Runs a request with the retry policy of `safety`. Returns every HTTP
    /// answer that is not retried (2xx or not), or the last failure.
    async fn execute(
        &self,
        safety: Safety,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Answer, ProviderError> {
        let mut rng = fastrand::Rng::new();
        let mut attempt = 0;
        let started = tokio::time::Instant::now();
        loop {
            let mut builder = build();
            if safety == Safety::Read {
                let left = self.read_budget.saturating_sub(started.elapsed());
                builder = builder.timeout(left.max(Duration::from_millis(1)));
            }
            let request = builder
                .build()
                .map_err(|e| ProviderError::Network(describe(&self.token, e)))?;
            // Errors name the endpoint (never the query, which holds the token).
            let mut shown = request.url().clone();
            shown.set_query(None);
            let shown = format!("{} {shown}", request.method());
            let network = |e: reqwest::Error| {
                ProviderError::Network(format!("{shown}: {}", describe(&self.token, e)))
            };
            let sent_at = tokio::time::Instant::now();
            let (retry_after, failure) = match self.http.execute(request).await {
                Ok(response) => {
                    let status = response.status();
                    tracing::debug!(
                        request = %shown,
                        status = status.as_u16(),
                        latency_ms = sent_at.elapsed().as_millis(),
                        attempt,
                        "HTTP"
                    );
                    let retry_after = retry_after(&response);
                    let retryable = status == StatusCode::TOO_MANY_REQUESTS
                        || (safety == Safety::Read
                            && status.is_server_error()
                            && status != StatusCode::NOT_IMPLEMENTED);
                    match response.text().await {
                        Ok(body) if !retryable => return Ok(Answer { status, body }),
                        Ok(body) => (
                            retry_after,
                            ProviderError::Http {
                                status: status.as_u16(),
                                message: self.token.redact(&wire::error_message(&body)),
                            },
                        ),
                        Err(e) if safety == Safety::Read => (None, network(e)),
                        Err(e) => return Err(network(e)),
                    }
                }
                Err(e) => {
                    let before_write = failure_kind(&e) == TransportFailure::BeforeWrite;
                    let err = network(e);
                    if safety == Safety::Write && !before_write {
                        return Err(err);
                    }
                    (None, err)
                }
            };
            if attempt >= self.max_read_retries {
                return Err(failure);
            }
            let delay = self.backoff.delay(attempt, retry_after, &mut rng);
            if safety == Safety::Read && started.elapsed() + delay >= self.read_budget {
                return Err(failure);
            }
            tracing::debug!(
                attempt,
                delay_ms = delay.as_millis(),
                error = %failure,
                "request failed; retrying after backoff"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// A request whose answer must be a 2xx JSON document.
    async fn json(
        &self,
        safety: Safety,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Value, ProviderError> {
        let answer = self.execute(safety, build).await?;
        let body = self.check_status(answer)?;
        serde_json::from_str(&body).map_err(|e| {
            ProviderError::Decode(format!(
                "{e}; body starts with {:?}",
                head(&self.token.redact(&body))
            ))
        })
    }

    fn check_status(&self, answer: Answer) -> Result<String, ProviderError> {
        match answer.status {
            s if s.is_success() => Ok(answer.body),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                if !answer.body.to_ascii_lowercase().contains("subscription") =>
            {
                Err(ProviderError::Unauthorized)
            }
            StatusCode::NOT_FOUND => Err(ProviderError::NotFound),
            s => Err(ProviderError::Http {
                status: s.as_u16(),
                message: self.token.redact(&wire::error_message(&answer.body)),
            }),
        }
    }

    /// One page of `GET /templates` (docs/provider-1msg.md §2.1).
    pub(crate) async fn list_templates_page(
        &self,
        limit: usize,
        offset: usize,
    ) -> Result<wire::TemplatePage, ProviderError> {
        let query = [("limit", limit.to_string()), ("offset", offset.to_string())];
        let body = self
            .json(Safety::Read, || {
                self.request(Method::GET, "templates", &query)
            })
            .await?;
        wire::parse_template_page(&body).map_err(|e| ProviderError::Decode(self.token.redact(&e)))
    }

    /// A send: exactly one attempt, classified (docs/design.md §5).
    async fn send(&self, method: &str, body: &Value) -> SendOutcome {
        let sent_at = tokio::time::Instant::now();
        let result = self
            .request(Method::POST, method, &[])
            .json(body)
            .send()
            .await;
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(
                    request = %format!("POST {}", self.endpoint(method)),
                    latency_ms = sent_at.elapsed().as_millis(),
                    "HTTP send failed in transport"
                );
                return classify::transport(failure_kind(&e), describe(&self.token, e));
            }
        };
        let status = response.status().as_u16();
        tracing::debug!(
            request = %format!("POST {}", self.endpoint(method)),
            status,
            latency_ms = sent_at.elapsed().as_millis(),
            "HTTP"
        );
        let retry_after = retry_after(&response);
        match response.text().await {
            Ok(text) => redact_outcome(&self.token, classify::http(status, retry_after, &text)),
            // The status line arrived, so the request was processed; the body
            // broke. For 429 the API still said "not taken".
            Err(e) if status == 429 => SendOutcome::Retry {
                reason: format!(
                    "rate limited (HTTP 429); body unreadable: {}",
                    describe(&self.token, e)
                ),
                retry_after,
            },
            Err(e) => SendOutcome::Ambiguous {
                reason: format!("HTTP {status}, body cut: {}", describe(&self.token, e)),
            },
        }
    }
}

#[async_trait]
impl Provider for OneMsgClient {
    /// Every template, all pages. The server may ignore `offset` and return
    /// the same page again (docs/provider-1msg.md §2.1, N8N `listTemplates.ts`), so
    /// pages are de-duplicated by name+language and paging stops when a page
    /// adds nothing or `total` is reached. The next offset advances by what
    /// actually arrived, so a server that caps pages below `limit` is still
    /// read to the end when it reports `total`; without `total`, a short page
    /// is the last one.
    async fn list_templates(&self) -> Result<Vec<AccountTemplate>, ProviderError> {
        let limit = self.page_size;
        let mut seen = std::collections::HashSet::new();
        let mut all = Vec::new();
        let mut offset = 0;
        // A server answering new pages forever is cut off here.
        const MAX_PAGES: usize = 10_000;
        for _ in 0..MAX_PAGES {
            let page = self.list_templates_page(limit, offset).await?;
            offset += page.raw_len;
            let mut added = 0;
            for t in page.templates {
                if seen.insert((t.name.clone(), t.language.clone())) {
                    all.push(t);
                    added += 1;
                }
            }
            let last = match page.total {
                Some(total) => all.len() as u64 >= total,
                None => page.raw_len < limit,
            };
            if added == 0 || page.raw_len == 0 || last {
                break;
            }
        }
        wire::fill_namespaces(&mut all);
        Ok(all)
    }

    async fn add_template(&self, template: &NewTemplate) -> Result<(), ProviderError> {
        let body = json!({
            "name": template.name,
            "category": template.category,
            "language": template.language,
            "components": template.components,
        });
        let answer = self
            .json(Safety::Write, || {
                self.request(Method::POST, "addTemplate", &[]).json(&body)
            })
            .await?;
        in_body_error(&self.token, &answer)
    }

    async fn remove_template(&self, name: &str) -> Result<(), ProviderError> {
        let body = json!({ "name": name });
        let answer = self
            .json(Safety::Write, || {
                self.request(Method::POST, "removeTemplate", &[])
                    .json(&body)
            })
            .await?;
        in_body_error(&self.token, &answer)
    }

    /// 501 (and an in-body `error` with no items) means the channel cannot
    /// list Flows: "cannot verify", not a failure (docs/provider-1msg.md §2.7).
    async fn list_flows(&self) -> Result<FlowList, ProviderError> {
        let answer = self
            .execute(Safety::Read, || self.request(Method::GET, "flows", &[]))
            .await?;
        if answer.status == StatusCode::NOT_IMPLEMENTED {
            let message = self.token.redact(&wire::error_message(&answer.body));
            return Ok(FlowList::NotImplemented(format!(
                "the channel's Flow list is not available (HTTP 501): {message}"
            )));
        }
        let body = self.check_status(answer)?;
        let value: Value = serde_json::from_str(&body).map_err(|e| {
            ProviderError::Decode(format!(
                "{e}; body starts with {:?}",
                head(&self.token.redact(&body))
            ))
        })?;
        Ok(match wire::parse_flows(&value) {
            Ok(flows) => FlowList::Flows(flows),
            Err(message) => FlowList::Unavailable(self.token.redact(&message)),
        })
    }

    async fn send_template(&self, message: &TemplateMessage) -> SendOutcome {
        self.send("sendTemplate", &wire::send_template_body(message))
            .await
    }

    async fn send_flow(&self, message: &FlowMessage) -> SendOutcome {
        self.send("sendFlow", &wire::send_flow_body(message)).await
    }

    /// A read, retried like the others (429, 5xx). 501 or a `notice` with
    /// no messages means the channel keeps no history: `Unavailable`.
    async fn list_messages(&self, query: &HistoryQuery) -> Result<History, ProviderError> {
        let params = wire::history_params(query);
        match self
            .json(Safety::Read, || {
                self.request(Method::GET, "messages", &params)
            })
            .await
        {
            // A notice is the server's text: it could echo the token.
            Ok(body) => match wire::parse_messages(&body) {
                Ok(History::Unavailable(why)) => Ok(History::Unavailable(self.token.redact(&why))),
                Ok(history) => Ok(history),
                Err(e) => Err(ProviderError::Decode(self.token.redact(&e))),
            },
            Err(ProviderError::Http {
                status: 501,
                message,
            }) => Ok(History::Unavailable(message)),
            Err(e) => Err(e),
        }
    }

    async fn flow_json(&self, id: &str) -> Result<Option<Value>, ProviderError> {
        self.get_flow_json(id).await
    }

    async fn flow_categories(&self, id: &str) -> Result<Vec<String>, ProviderError> {
        self.get_flow_categories(id).await
    }

    async fn create_flow(
        &self,
        flow: &crate::provider::NewFlow,
    ) -> Result<crate::provider::FlowWrite, ProviderError> {
        self.post_flow(flow).await
    }

    async fn update_flow_json(
        &self,
        id: &str,
        json: &Value,
    ) -> Result<crate::provider::FlowWrite, ProviderError> {
        self.patch_flow_json(id, json).await
    }

    async fn publish_flow(&self, id: &str) -> Result<(), ProviderError> {
        self.post_publish(id).await
    }

    async fn deprecate_flow(&self, id: &str) -> Result<(), ProviderError> {
        self.post_deprecate(id).await
    }

    async fn flow_preview_url(&self, id: &str) -> Result<Option<String>, ProviderError> {
        self.get_preview_url(id).await
    }
}

/// Template writes answer 200 with free-form bodies (docs/provider-1msg.md §2.2,
/// §2.3); an `error` member inside a 200 is still a failure (§1.4).
fn in_body_error(token: &Secret, answer: &Value) -> Result<(), ProviderError> {
    let error = answer.get("error").filter(|e| match e {
        Value::Null => false,
        Value::String(s) => !s.trim().is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    });
    match error {
        Some(e) => Err(ProviderError::Http {
            status: 200,
            message: token.redact(&wire::message_of(e).unwrap_or_else(|| e.to_string())),
        }),
        None => Ok(()),
    }
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    retry::parse_retry_after(value, SystemTime::now())
}

/// Whether a transport error happened before the request could be written.
fn failure_kind(e: &reqwest::Error) -> TransportFailure {
    // reqwest marks connector failures (refused, DNS, TLS handshake, connect
    // timeout) with is_connect: no byte of the request left the machine.
    if e.is_connect() {
        TransportFailure::BeforeWrite
    } else if e.is_timeout() {
        TransportFailure::Timeout
    } else {
        TransportFailure::AfterWrite
    }
}

/// A reqwest error as text with its causes, without the URL (which carries
/// `?token=`), and redacted in case the token shows up anywhere else.
/// A transport failure in words: the URL it was for (never the query, where
/// the token is), the causes, and what to check when the server was not
/// reached at all.
fn describe(token: &Secret, e: reqwest::Error) -> String {
    let url = e.url().map(|u| {
        let mut u = u.clone();
        u.set_query(None);
        u.set_fragment(None);
        let _ = u.set_password(None);
        u.to_string()
    });
    let hint = if e.is_connect() || e.is_timeout() {
        "; check WAFORM_BASE_URL (or provider.base_url) and the network"
    } else {
        ""
    };
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    let text = match url {
        Some(url) => format!("{url} ({text}){hint}"),
        None => format!("{text}{hint}"),
    };
    token.redact(&text)
}

fn redact_outcome(token: &Secret, outcome: SendOutcome) -> SendOutcome {
    match outcome {
        SendOutcome::Rejected {
            reason,
            window_closed,
        } => SendOutcome::Rejected {
            reason: token.redact(&reason),
            window_closed,
        },
        SendOutcome::Retry {
            reason,
            retry_after,
        } => SendOutcome::Retry {
            reason: token.redact(&reason),
            retry_after,
        },
        SendOutcome::Ambiguous { reason } => SendOutcome::Ambiguous {
            reason: token.redact(&reason),
        },
        accepted => accepted,
    }
}

fn head(s: &str) -> String {
    s.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str, instance: &str) -> Result<OneMsgClient, ProviderError> {
        OneMsgClient::new(OneMsgConfig::new(base, instance, Secret::new("s3cr3t")))
    }

    #[test]
    fn urls_have_the_1msg_shape() {
        let c = client("https://api.1msg.io/", "ODI371267300").expect("client");
        assert_eq!(
            c.endpoint("templates").as_str(),
            "https://api.1msg.io/ODI371267300/templates"
        );
        let c = client("http://127.0.0.1:9/prefix", "a b").expect("client");
        assert_eq!(
            c.endpoint("sendFlow").as_str(),
            "http://127.0.0.1:9/prefix/a%20b/sendFlow"
        );
    }

    #[test]
    fn bad_instances_and_bases_are_refused() {
        for instance in ["", "..", "a/b"] {
            assert!(
                client("https://api.1msg.io", instance).is_err(),
                "{instance:?}"
            );
        }
        assert!(client("ftp://x", "i").is_err());
        assert!(client("not a url", "i").is_err());
        let err = client("https://x/?token=s3cr3t", "i").expect_err("query");
        assert!(!err.to_string().contains("s3cr3t"));
    }

    #[test]
    fn debug_hides_the_token() {
        let c = client("https://api.1msg.io", "i").expect("client");
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn window_detection_is_exported() {
        assert!(classify::is_window_closed(
            "(#131047) Re-engagement message"
        ));
        assert!(!classify::is_window_closed("template is not defined"));
    }
}
