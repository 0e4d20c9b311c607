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
/// `TemplateStatus::parse` (docs/provider-1msg.md §2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateStatus {
    /// In Meta's review (also in appeal or pending deletion): not sendable yet.
    Pending,
    /// Approved: messages may use it.
    Approved,
    /// Refused by review; see `rejected_reason`.
    Rejected,
    /// Paused by Meta for poor quality: sends are refused until it resumes.
    Paused,
    /// Disabled by Meta: it can no longer be sent.
    Disabled,
    /// A status this version does not know, upper-cased as received.
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
    /// Template name (lower case, digits, underscores), shared by its languages.
    pub name: String,
    /// Meta language code, e.g. `en_US`.
    pub language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`, as returned.
    pub category: String,
    /// Where Meta's review stands.
    pub status: TemplateStatus,
    /// Meta's reason when rejected (`INVALID_FORMAT`, ...); `NONE` is mapped to `None`.
    pub rejected_reason: Option<String>,
    /// Meta's component objects (`HEADER`, `BODY`, `FOOTER`, `BUTTONS`), as returned.
    pub components: Vec<Value>,
    /// The account's template namespace, which 1msg's send call needs for
    /// some channels.
    pub namespace: Option<String>,
}

/// A template to create: Meta's template object (docs/provider-1msg.md §2.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTemplate {
    /// Template name (lower case, digits, underscores).
    pub name: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    pub category: String,
    /// Meta language code, e.g. `en_US`.
    pub language: String,
    /// Meta's component objects (`HEADER`, `BODY`, `FOOTER`, `BUTTONS`).
    pub components: Vec<Value>,
}

/// Meta's Flow categories, as the API and the config spell them
/// (docs/provider-1msg.md §2.7).
pub(crate) const FLOW_CATEGORIES: [&str; 8] = [
    "SIGN_UP",
    "SIGN_IN",
    "APPOINTMENT_BOOKING",
    "LEAD_GENERATION",
    "CONTACT_US",
    "CUSTOMER_SUPPORT",
    "SURVEY",
    "OTHER",
];

/// Review status of a Flow (docs/meta-rules.md "Flows").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowStatus {
    /// Editable, sendable only in `draft` mode (to testers).
    Draft,
    /// Live: sendable to anyone; its JSON can no longer change in place.
    Published,
    /// Retired for good: no new sends.
    Deprecated,
    /// Blocked by Meta (endpoint health): sends are refused.
    Blocked,
    /// Rate-limited by Meta (endpoint health): sends are limited.
    Throttled,
    /// A status this version does not know, upper-cased as received.
    Other(String),
}

impl FlowStatus {
    /// Parses the API's status in any case; unknown ones become [`FlowStatus::Other`].
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

/// A Flow as the account holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFlow {
    /// Meta's Flow id: what FLOW buttons and Flow messages reference.
    pub id: String,
    /// The Flow's name on the account (waform matches managed Flows by it).
    pub name: String,
    /// Lifecycle status.
    pub status: FlowStatus,
}

/// The Flow list, or why it could not be read. 1msg's Flow endpoints may
/// answer 501 on some channels (docs/provider-1msg.md §2.7): that is "cannot verify",
/// not a failure.
#[derive(Debug, Clone, PartialEq)]
pub enum FlowList {
    /// Every Flow on the account.
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
    /// The account template's name.
    pub template: String,
    /// Which language of it to send, e.g. `en_US`.
    pub language: String,
    /// The template namespace, when the account reported one.
    pub namespace: Option<String>,
    /// Body parameters, one per `{{n}}`.
    pub body_params: Vec<String>,
    /// The FLOW button's parameters, if the template has one.
    pub flow_button: Option<FlowButtonParams>,
}

/// What a template's FLOW button carries for one recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowButtonParams {
    /// Position of the FLOW button among the template's buttons.
    pub index: usize,
    /// Per-recipient token the Flow's completion comes back with: how a
    /// response is matched to its send.
    pub flow_token: String,
    /// Initial data for the Flow's first screen.
    pub action_data: Option<serde_json::Map<String, Value>>,
}

/// An interactive Flow message (24-hour window only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowMessage {
    /// E.164 digits, no `+`.
    pub phone: String,
    /// Meta's id of the Flow to open.
    pub flow_id: String,
    /// Per-recipient token the Flow's completion comes back with.
    pub flow_token: String,
    /// Message text above the button.
    pub body: String,
    /// The button's label.
    pub cta: String,
    /// Optional text header.
    pub header: Option<String>,
    /// Optional footer text.
    pub footer: Option<String>,
    /// `navigate` or `data_exchange`.
    pub action: String,
    /// First screen for `navigate`.
    pub screen: Option<String>,
    /// Initial data for that screen.
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
        /// The message id, which delivery callbacks refer to.
        message_id: Option<String>,
        /// 1msg's queue job id when the message was queued, not yet sent.
        job_id: Option<String>,
    },
    /// Permanent: the API said no. `window_closed` marks the 24-hour window
    /// refusal that a `fallback` template answers.
    Rejected {
        /// The API's explanation, token redacted.
        reason: String,
        /// The refusal was the closed 24-hour customer-service window.
        window_closed: bool,
    },
    /// Certainly not sent (429, or the connection failed before the request
    /// was written): safe to try again after `retry_after`.
    Retry {
        /// Why it was not taken, token redacted.
        reason: String,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// May or may not have been sent (timeout after writing, 5xx, connection
    /// cut mid-response, unparseable success). Recorded `unknown`, never
    /// resent automatically.
    Ambiguous {
        /// What was seen, token redacted.
        reason: String,
    },
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
    /// One page of messages, oldest first.
    Messages(Vec<HistoryMessage>),
    /// The channel shows no history; the API's notice.
    Unavailable(String),
}

/// Why a read or template write failed. Never carries the token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// HTTP 401/403 without a subscription notice: a wrong token.
    #[error("the API refused the token (HTTP 401): check WAFORM_TOKEN")]
    Unauthorized,
    /// HTTP 404: the instance id names no channel.
    #[error("the API does not know this instance (HTTP 404): check WAFORM_INSTANCE")]
    NotFound,
    /// Any other non-2xx answer (or a 2xx with an error in its body).
    #[error("the API answered HTTP {status}: {message}")]
    Http {
        /// The HTTP status code.
        status: u16,
        /// The API's error message, token redacted.
        message: String,
    },
    /// No answer: refused connection, DNS, TLS, timeout.
    #[error("could not reach the API: {0}")]
    Network(String),
    /// An answer whose body is not the expected JSON.
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
    /// Every template on the account, every language, all pages.
    async fn list_templates(&self) -> Result<Vec<AccountTemplate>, ProviderError>;
    /// Submits one template language for Meta's review.
    async fn add_template(&self, template: &NewTemplate) -> Result<(), ProviderError>;
    /// Deletes the name in every language (docs/design.md §1).
    async fn remove_template(&self, name: &str) -> Result<(), ProviderError>;
    /// Every Flow on the account, or why they cannot be listed.
    async fn list_flows(&self) -> Result<FlowList, ProviderError>;
    /// Sends a template message: one attempt, classified, never retried here.
    async fn send_template(&self, message: &TemplateMessage) -> SendOutcome;
    /// Sends an interactive Flow message: one attempt, classified.
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
    /// Publishes a DRAFT Flow: irreversible, its JSON is frozen from then on.
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
    /// The Flow's name on the account.
    pub name: String,
    /// Meta's Flow categories (`SIGN_UP`, `LEAD_GENERATION`, ...).
    pub categories: Vec<String>,
    /// HTTPS endpoint of a Flow that exchanges data.
    pub endpoint_uri: Option<String>,
    /// The Flow JSON to upload.
    pub json: Value,
    /// Publish right after upload when the JSON validates.
    pub publish: bool,
    /// Start from a copy of this Flow (Meta's `clone_flow_id`): how a Flow
    /// that cannot be edited (error 139001) gets a new version.
    pub clone_flow_id: Option<String>,
}

/// What a Flow write answered: the id and Meta's `validation_errors`.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowWrite {
    /// The Flow's id (new on a create).
    pub id: String,
    /// Meta's validation errors of the JSON; empty when it is valid.
    pub validation_errors: Vec<Value>,
}
