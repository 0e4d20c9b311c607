//! The account behind an API: what waform reads (templates, Flows, messages)
//! and writes (templates, sends). The trait knows nothing of 1msg; the 1msg
//! implementation lives in [`onemsg`], so a Meta Cloud API provider can be
//! added beside it.

#[cfg(test)]
pub(crate) mod fake;
pub mod onemsg;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Review status of one account template (one name in one language).
///
/// 1msg returns it in any case (`approved`, `APPROVED`); parse with
/// [`TemplateStatus::parse`] (docs/provider-1msg.md §2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateStatus {
    Pending,
    Approved,
    Rejected,
    Paused,
    Disabled,
    Other(String),
}

impl TemplateStatus {
    pub(crate) fn parse(s: &str) -> Self {
        match s.to_ascii_uppercase().as_str() {
            "PENDING" | "IN_APPEAL" | "PENDING_DELETION" | "SUBMITTED" => Self::Pending,
            "APPROVED" => Self::Approved,
            "REJECTED" => Self::Rejected,
            "PAUSED" => Self::Paused,
            "DISABLED" => Self::Disabled,
            other => Self::Other(other.to_string()),
        }
    }
}

/// A template as the account holds it: one name in one language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountTemplate {
    pub(crate) id: Option<String>,
    pub name: String,
    pub language: String,
    pub category: String,
    pub status: TemplateStatus,
    /// Meta's reason when rejected (`INVALID_FORMAT`, ...); `NONE` is mapped to `None`.
    pub rejected_reason: Option<String>,
    /// Meta's component objects (`HEADER`, `BODY`, `FOOTER`, `BUTTONS`), as returned.
    pub components: Vec<Value>,
    pub namespace: Option<String>,
}

/// A template to create: Meta's template object (docs/provider-1msg.md §2.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTemplate {
    pub name: String,
    pub category: String,
    pub language: String,
    pub components: Vec<Value>,
}

/// Review status of a Flow (docs/meta-rules.md "Flows").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowStatus {
    Draft,
    Published,
    Deprecated,
    Blocked,
    Throttled,
    Other(String),
}

impl FlowStatus {
    pub fn parse(s: &str) -> Self {
        match s.to_ascii_uppercase().as_str() {
            "DRAFT" => Self::Draft,
            "PUBLISHED" => Self::Published,
            "DEPRECATED" => Self::Deprecated,
            "BLOCKED" => Self::Blocked,
            "THROTTLED" => Self::Throttled,
            other => Self::Other(other.to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFlow {
    pub id: String,
    pub name: String,
    pub status: FlowStatus,
}

/// The Flow list, or why it could not be read. 1msg's Flow endpoints may
/// answer 501 on some channels (docs/provider-1msg.md §2.7): that is "cannot verify",
/// not a failure.
#[derive(Debug, Clone, PartialEq)]
pub enum FlowList {
    Flows(Vec<AccountFlow>),
    /// The list could not be read (an in-body error): nothing is verified.
    Unavailable(String),
    /// The channel answers 501: it has no Flow API at all, so a managed Flow
    /// travels inline in its templates' FLOW buttons (docs/provider-1msg.md §2.7).
    NotImplemented(String),
}

/// A template message (business-initiated), optionally with a Flow button.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateMessage {
    /// E.164 digits, no `+`. Never an integer (the official SDK's i32 bug).
    pub phone: String,
    pub template: String,
    pub language: String,
    pub namespace: Option<String>,
    /// Body parameters, one per `{{n}}`.
    pub body_params: Vec<String>,
    /// The FLOW button's parameters, if the template has one.
    pub flow_button: Option<FlowButtonParams>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowButtonParams {
    /// Position of the FLOW button among the template's buttons.
    pub index: usize,
    pub flow_token: String,
    pub action_data: Option<serde_json::Map<String, Value>>,
}

/// An interactive Flow message (24-hour window only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowMessage {
    pub phone: String,
    pub flow_id: String,
    pub flow_token: String,
    pub body: String,
    pub cta: String,
    pub header: Option<String>,
    pub footer: Option<String>,
    /// `navigate` or `data_exchange`.
    pub action: String,
    pub screen: Option<String>,
    pub data: Option<serde_json::Map<String, Value>>,
    /// `draft` or `published`.
    pub mode: String,
}

/// What became of one send request. Apply's exactly-once guarantee is built
/// on this classification (docs/design.md §5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SendOutcome {
    /// The API took the message. `message_id` is the message id; a queued
    /// answer (`sent: false` with `jobId`) has only `job_id`: still accepted,
    /// never resend.
    Accepted {
        message_id: Option<String>,
        job_id: Option<String>,
    },
    /// Permanent: the API said no. `window_closed` marks the 24-hour window
    /// refusal that a `fallback` template answers.
    Rejected { reason: String, window_closed: bool },
    /// Certainly not sent (429, or the connection failed before the request
    /// was written): safe to try again after `retry_after`.
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// May or may not have been sent (timeout after writing, 5xx, connection
    /// cut mid-response, unparseable success). Recorded `unknown`, never
    /// resent automatically.
    Ambiguous { reason: String },
}

/// A message from the account's history (`GET /messages`,
/// docs/provider-1msg.md §2.6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryMessage {
    pub(crate) id: String,
    /// The history cursor (`messageNumber`).
    pub number: Option<u64>,
    /// `12020721369@c.us` for a 1:1 chat.
    pub chat_id: Option<String>,
    /// Sent by the business (an outgoing message).
    pub from_me: bool,
    /// Unix seconds.
    pub(crate) time: Option<i64>,
    pub(crate) kind: Option<String>,
    pub(crate) body: Option<String>,
    pub(crate) caption: Option<String>,
    /// Whatever else the item carries about the message (`metadata`/`meta`).
    pub(crate) metadata: Option<Value>,
}

impl HistoryMessage {
    /// The phone digits of a 1:1 chat (`12020721369@c.us` → `12020721369`).
    pub fn chat_phone(&self) -> Option<&str> {
        let chat = self.chat_id.as_deref()?;
        let (digits, domain) = chat.split_once('@').unwrap_or((chat, "c.us"));
        (domain == "c.us" && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then_some(digits)
    }
}

/// What to ask `GET /messages` for (docs/provider-1msg.md §2.6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Only this chat (`12020721369@c.us`).
    pub chat_id: Option<String>,
    /// Only messages at or after this unix second.
    pub min_time: Option<i64>,
    /// Only messages after this cursor (`lastMessageNumber`): paging forward.
    pub after_number: Option<u64>,
    /// Page size (the API's default is 100; 0 would mean "all").
    pub limit: usize,
}

/// The history, or why the account cannot show it. History can be disabled
/// on a channel: the API then answers an empty list with a `notice`.
#[derive(Debug, Clone, PartialEq)]
pub enum History {
    Messages(Vec<HistoryMessage>),
    Unavailable(String),
}

/// Why a read or template write failed. Never carries the token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    #[error("the API refused the token (HTTP 401): check WAFORM_TOKEN")]
    Unauthorized,
    #[error("the API does not know this instance (HTTP 404): check WAFORM_INSTANCE")]
    NotFound,
    #[error("the API answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error("could not reach the API: {0}")]
    Network(String),
    #[error("could not read the API's answer: {0}")]
    Decode(String),
    /// Meta's error 139001 on a Flow JSON update: this (older, published)
    /// Flow cannot be edited; a clone can (docs/provider-1msg.md §2.11).
    #[error("the Flow cannot be edited (Meta error 139001): {0}")]
    FlowNotEditable(String),
}

/// The account operations waform needs. Reads may be retried by the
/// implementation; sends never are (see [`SendOutcome`]).
#[async_trait]
pub trait Provider: Send + Sync {
    async fn list_templates(&self) -> Result<Vec<AccountTemplate>, ProviderError>;
    async fn add_template(&self, template: &NewTemplate) -> Result<(), ProviderError>;
    /// Deletes the name in every language (docs/design.md §1).
    async fn remove_template(&self, name: &str) -> Result<(), ProviderError>;
    async fn list_flows(&self) -> Result<FlowList, ProviderError>;
    async fn send_template(&self, message: &TemplateMessage) -> SendOutcome;
    async fn send_flow(&self, message: &FlowMessage) -> SendOutcome;
    /// One page of the account's stored message history.
    async fn list_messages(&self, query: &HistoryQuery) -> Result<History, ProviderError>;

    // Managed Flows (docs/provider-1msg.md §2.8–2.11). The defaults say the
    // account has no Flow API, so a provider without one needs no code.

    /// The Flow JSON the account holds for `id`, when the API shows it.
    async fn flow_json(&self, _id: &str) -> Result<Option<Value>, ProviderError> {
        Ok(None)
    }
    /// Meta's categories of Flow `id` (`GET /flows/{id}`, docs/provider-1msg.md
    /// §2.8); empty when the API does not say.
    async fn flow_categories(&self, _id: &str) -> Result<Vec<String>, ProviderError> {
        Ok(Vec::new())
    }
    /// Creates a Flow (DRAFT unless `publish` and the JSON is valid).
    async fn create_flow(&self, _flow: &NewFlow) -> Result<FlowWrite, ProviderError> {
        Err(no_flow_api())
    }
    /// Replaces a Flow's JSON; a PUBLISHED Flow returns to DRAFT.
    async fn update_flow_json(&self, _id: &str, _json: &Value) -> Result<FlowWrite, ProviderError> {
        Err(no_flow_api())
    }
    async fn publish_flow(&self, _id: &str) -> Result<(), ProviderError> {
        Err(no_flow_api())
    }
    /// Deprecates a PUBLISHED Flow: irreversible (docs/provider-1msg.md §2.8).
    async fn deprecate_flow(&self, _id: &str) -> Result<(), ProviderError> {
        Err(no_flow_api())
    }
    /// A public link to try the Flow (Meta's `preview_url`, valid 30 days).
    async fn flow_preview_url(&self, _id: &str) -> Result<Option<String>, ProviderError> {
        Ok(None)
    }
}

fn no_flow_api() -> ProviderError {
    ProviderError::Http {
        status: 501,
        message: "this provider has no Flow API".into(),
    }
}

/// A managed Flow to create (docs/provider-1msg.md §2.9).
#[derive(Debug, Clone, PartialEq)]
pub struct NewFlow {
    pub(crate) name: String,
    pub(crate) categories: Vec<String>,
    pub(crate) endpoint_uri: Option<String>,
    pub(crate) json: Value,
    pub(crate) publish: bool,
    /// Start from a copy of this Flow (Meta's `clone_flow_id`): how a Flow
    /// that cannot be edited (error 139001) gets a new version.
    pub(crate) clone_flow_id: Option<String>,
}

/// What a Flow write answered: the id and Meta's `validation_errors`.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowWrite {
    pub(crate) id: String,
    pub(crate) validation_errors: Vec<Value>,
}
