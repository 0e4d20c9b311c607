//! The state ledger: the source of truth for what was sent to whom.
//!
//! A message to a person cannot be taken back, and the API cannot deduplicate
//! it, so apply records an *intent* durably before each send request and the
//! *outcome* after it (docs/design.md §5). The webhook receiver later fills in delivery
//! acks, Flow completions and the 24-hour windows from inbound messages.
//!
//! The vocabulary: an [`Intent`] is written before a request; an
//! [`OutcomeRecord`] after it; what the ledger holds for a recipient is
//! [`Recorded`]. The backend-neutral contract is [`SendLedger`] (in
//! `store`); the embedded SQLite implementation lives in `sqlite`
//! (re-exported as [`Ledger`]) with its schema versions in [`migrations`]
//! and its one-apply-per-state lock (an OS file lock) in `lock`; locating
//! the state in [`url`].

pub mod audience;
pub(crate) mod error;
pub(crate) mod event_row;
pub(crate) mod lock;
pub mod migrations;
pub(crate) mod postgres;
pub(crate) mod sqlite;
pub(crate) mod store;
pub mod transfer;
pub mod url;

use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::Serialize;

pub use audience::{AudienceScan, Seen};
pub use error::{BackendError, StateError};
pub(crate) use postgres::PgLedger;
pub use sqlite::Ledger;
pub use store::{Group, HeldLock, LockGuard, LockHolder, SendLedger};
pub use url::{resolve_state_url, PgLocation, StateLocation};

/// How long the customer-service window stays open after an inbound message
/// (docs/meta-rules.md, "Sending an interactive Flow").
pub(crate) const WINDOW: TimeDelta = TimeDelta::hours(24);

/// Opens (creating it if needed) and migrates the state at `location`.
///
/// # Errors
/// The state cannot be reached or created; [`StateError::FutureSchema`]
/// when a newer waform wrote it.
pub fn open(location: &StateLocation) -> Result<Box<dyn SendLedger>, StateError> {
    match location {
        StateLocation::Sqlite(path) => Ok(Box::new(Ledger::open(path)?)),
        StateLocation::Postgres(pg) => Ok(Box::new(PgLedger::open(pg)?)),
    }
}

/// Opens an existing state; `None` when nothing was ever recorded there,
/// so read-only commands (plan, status, responses) create nothing.
pub fn open_existing(location: &StateLocation) -> Result<Option<Box<dyn SendLedger>>, StateError> {
    match location {
        StateLocation::Sqlite(path) => {
            Ok(Ledger::open_existing(path)?.map(|l| Box::new(l) as Box<dyn SendLedger>))
        }
        StateLocation::Postgres(pg) => {
            Ok(PgLedger::open_existing(pg)?.map(|l| Box::new(l) as Box<dyn SendLedger>))
        }
    }
}

/// What `waform unlock --force` found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unlock {
    /// A live process holds the lock: nothing was changed.
    Held(LockHolder),
    /// Nobody held the lock; the holder it still named (an ended process),
    /// if any, was cleared.
    Cleared(Option<LockHolder>),
}

/// Clears what a dead holder left of the apply lock, refusing while a holder
/// lives. Never breaks a live lock: backends' locks end with their holder.
pub fn clear_stale_lock(location: &StateLocation) -> Result<Unlock, StateError> {
    match location {
        StateLocation::Sqlite(path) => lock::clear(path),
        StateLocation::Postgres(pg) => match PgLedger::open_existing(pg)? {
            Some(ledger) => ledger.clear_stale_lock(),
            None => Ok(Unlock::Cleared(None)),
        },
    }
}

/// How a recipient was (or will be) messaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SendKind {
    /// `sendTemplate` with a Flow button.
    Template,
    /// `sendFlow` inside the 24-hour window.
    Flow,
    /// The fallback template of a `flow_message` send, used when the window was closed.
    Fallback,
}

impl SendKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SendKind::Template => "template",
            SendKind::Flow => "flow",
            SendKind::Fallback => "fallback",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "template" => Some(SendKind::Template),
            "flow" => Some(SendKind::Flow),
            "fallback" => Some(SendKind::Fallback),
            _ => None,
        }
    }
}

/// What apply records before it sends one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// The send's name in the config.
    pub send: String,
    /// E.164 digits without `+` (as sent to the API).
    pub phone: String,
    /// The token the message's Flow carries, so a completion finds its row.
    pub flow_token: String,
    /// Template or Flow message.
    pub kind: SendKind,
    /// The account template name used (`course_signup_1a2b3c4d`), if any.
    pub template: Option<String>,
    /// When the intent was recorded, just before the request.
    pub at: DateTime<Utc>,
}

/// Whether [`SendLedger::record_intents`] wrote an intent, per input item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntentStatus {
    /// Newly recorded: the caller may send this message now.
    Recorded,
    /// The (send, phone) already had a row: the caller must not send.
    AlreadyRecorded,
}

/// The result of one send request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The provider took the message. 1msg may answer with a queue job id
    /// instead of a message id (docs/provider-1msg.md §2.4), so both are optional.
    Accepted {
        /// The message id delivery acks refer to.
        message_id: Option<String>,
        /// 1msg's queue job id, when queued.
        job_id: Option<String>,
    },
    /// A permanent refusal; never retried automatically.
    Rejected {
        /// The API's explanation.
        reason: String,
    },
    /// The request may or may not have reached WhatsApp (timeout, cut
    /// connection, 5xx after writing the request).
    Unknown {
        /// What was seen.
        reason: String,
    },
}

impl Outcome {
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Outcome::Accepted { .. } => "accepted",
            Outcome::Rejected { .. } => "rejected",
            Outcome::Unknown { .. } => "unknown",
        }
    }
}

/// What apply records after a send request returns (or fails).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeRecord {
    pub(crate) send: String,
    pub(crate) phone: String,
    pub(crate) outcome: Outcome,
    pub(crate) at: DateTime<Utc>,
    /// Set when the request actually went out as another kind than the
    /// intent said (a `flow` intent answered by the fallback template).
    pub(crate) kind: Option<SendKind>,
    pub(crate) template: Option<String>,
}

impl OutcomeRecord {
    /// The reason of a refused or unknown outcome is scrubbed of every
    /// secret here, where all outcomes pass on their way into any ledger.
    pub fn new(send: &str, phone: &str, outcome: Outcome, at: DateTime<Utc>) -> Self {
        let outcome = match outcome {
            Outcome::Rejected { reason } => Outcome::Rejected {
                reason: crate::secret::scrub(&reason).into_owned(),
            },
            Outcome::Unknown { reason } => Outcome::Unknown {
                reason: crate::secret::scrub(&reason).into_owned(),
            },
            accepted => accepted,
        };
        OutcomeRecord {
            send: send.to_string(),
            phone: phone.to_string(),
            outcome,
            at,
            kind: None,
            template: None,
        }
    }
}

/// What the ledger holds for one recipient of one send, as plan/apply see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Recorded {
    /// An intent without an outcome: the process died mid-request. Treat it
    /// exactly like [`Recorded::Unknown`] (never send again automatically).
    IntentOnly,
    /// The API took the message.
    Accepted,
    /// The API refused it for good.
    Rejected,
    /// Sent or not, nobody knows (see [`Outcome::Unknown`]).
    Unknown,
}

impl Recorded {
    /// Whether the outcome is unknown (including a dangling intent): plan and
    /// status report these, and only `apply --resend-unknown` sends again.
    /// Every recorded row, whatever its state, blocks an automatic send.
    pub fn is_unknown(self) -> bool {
        matches!(self, Recorded::IntentOnly | Recorded::Unknown)
    }
}

/// Delivery progress from acks, ordered so a late ack never moves a row back.
///
/// `failed` ranks above `sent` and below `delivered`: a failure report after
/// a delivered/read ack is kept in `events` but does not change the row,
/// while a delivered/read ack after a failure wins, since it proves the
/// message arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// WhatsApp took it from the business.
    Sent,
    /// WhatsApp could not deliver it.
    Failed,
    /// It reached the phone.
    Delivered,
    /// The recipient opened it.
    Read,
}

impl Delivery {
    /// The stored (and printed) name: `sent`, `failed`, `delivered`, `read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Sent => "sent",
            Delivery::Failed => "failed",
            Delivery::Delivered => "delivered",
            Delivery::Read => "read",
        }
    }

    /// Accepts 1msg's `viewed` (older docs) as `read` (docs/provider-1msg.md §3.2).
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "sent" => Some(Delivery::Sent),
            "delivered" => Some(Delivery::Delivered),
            "read" | "viewed" | "played" => Some(Delivery::Read),
            "failed" => Some(Delivery::Failed),
            _ => None,
        }
    }

    pub(crate) fn rank(self) -> i64 {
        match self {
            Delivery::Sent => 1,
            Delivery::Failed => 2,
            Delivery::Delivered => 3,
            Delivery::Read => 4,
        }
    }
}

/// Per-send funnel counts (`waform status`).
///
/// `delivered` counts rows delivered, read or completed; `read` counts rows
/// read or completed (submitting the form requires receiving and opening
/// it); so the funnel never widens when acks are off (1msg sends them only
/// with `ackNotificationsOn`) or lost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LedgerCounts {
    /// Rows: recipients apply tried to message.
    pub recipients: u64,
    /// Taken by the API.
    pub accepted: u64,
    /// Refused by the API.
    pub rejected: u64,
    /// Includes intents without an outcome.
    pub unknown: u64,
    /// Delivered to the phone (read included).
    pub delivered: u64,
    /// Opened by the recipient.
    pub read: u64,
    /// Flow forms submitted.
    pub completed: u64,
}

/// How many rows of a send that were not accepted hold one recorded state
/// and one stored reason: one group of [`SendLedger::reason_counts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonCount {
    /// Rejected, Unknown or IntentOnly; never Accepted.
    pub recorded: Recorded,
    /// The reason as stored, blank or not (`None`: none stored).
    pub reason: Option<String>,
    /// Rows in the group.
    pub count: u64,
}

/// A submitted Flow form, correlated to a send row by its flow_token.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Response {
    /// Who submitted it (E.164 digits).
    pub phone: String,
    /// The token of the message whose Flow was submitted.
    pub flow_token: String,
    /// When the webhook received it (or the event's own time).
    pub submitted_at: DateTime<Utc>,
    /// The form's fields from `response_json`, without `flow_token`.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// One thing 1msg told the webhook, parsed (see `webhook::parse`).
#[derive(Debug, Clone, PartialEq)]
pub struct InboundEvent {
    /// What the event means for the ledger.
    pub kind: EventKind,
    /// The event's own item as received (one element of `ack[]`,
    /// `messages[]`, `statuses[]`, or the whole body when unclassifiable).
    pub raw: serde_json::Value,
}

/// The classified content of an [`InboundEvent`].
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// A delivery ack for a message apply sent.
    Ack {
        /// The id of the message acknowledged.
        message_id: String,
        /// How far it got.
        status: Delivery,
        /// WhatsApp's reason when it failed.
        error: Option<String>,
        /// The recipient, when the ack names one.
        phone: Option<String>,
        /// When it happened, per the provider.
        at: Option<DateTime<Utc>>,
    },
    /// A submitted Flow (`nfm_reply`).
    Completion {
        /// The reply message's id (dedupes redeliveries).
        message_id: Option<String>,
        /// Who submitted it.
        phone: Option<String>,
        /// The token that matches the send row.
        flow_token: Option<String>,
        /// The submitted form, without `flow_token`.
        fields: serde_json::Map<String, serde_json::Value>,
        /// When it was submitted, per the provider.
        at: Option<DateTime<Utc>>,
    },
    /// Any other message from the customer: opens the 24-hour window.
    Inbound {
        /// The message's id.
        message_id: Option<String>,
        /// The customer who wrote.
        phone: Option<String>,
        /// When, per the provider.
        at: Option<DateTime<Utc>>,
    },
    /// The business's own message echoed back (`fromMe`); not customer activity.
    Echo {
        /// The echoed message's id.
        message_id: Option<String>,
    },
    /// Kept for inspection; never applied to a send row.
    Unknown,
}

impl EventKind {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            EventKind::Ack { .. } => "ack",
            EventKind::Completion { .. } => "completion",
            EventKind::Inbound { .. } => "inbound",
            EventKind::Echo { .. } => "echo",
            EventKind::Unknown => "unknown",
        }
    }
}

/// Everything the ledger holds for one (send, phone).
#[derive(Debug, Clone, PartialEq)]
pub struct SendRow {
    pub(crate) send: String,
    /// The recipient (E.164 digits).
    pub phone: String,
    /// The token its Flow carries.
    pub flow_token: String,
    pub(crate) kind: SendKind,
    /// The account template name sent, if a template message.
    pub template: Option<String>,
    /// When the intent was recorded (just before the request).
    pub intent_at: DateTime<Utc>,
    /// What became of the request.
    pub recorded: Recorded,
    /// The API's message id, once accepted.
    pub message_id: Option<String>,
    pub(crate) job_id: Option<String>,
    /// Why it was rejected or is unknown.
    pub reason: Option<String>,
    pub(crate) outcome_at: Option<DateTime<Utc>>,
    /// Furthest delivery progress acked so far.
    pub delivery: Option<Delivery>,
    /// WhatsApp's reason when delivery failed.
    pub delivery_error: Option<String>,
    /// When the delivered ack came.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When the read ack came.
    pub read_at: Option<DateTime<Utc>>,
    pub(crate) completed_at: Option<DateTime<Utc>>,
    pub(crate) response_json: Option<String>,
}

/// One stored webhook event (what the webhook received).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub(crate) id: i64,
    pub(crate) received_at: DateTime<Utc>,
    pub(crate) kind: String,
    /// What makes a redelivered event recognisable (provider id or body hash).
    pub dedupe_key: String,
    pub(crate) message_id: Option<String>,
    pub(crate) status: Option<String>,
    pub(crate) phone: Option<String>,
    pub(crate) flow_token: Option<String>,
    pub(crate) raw: String,
}

/// What one [`SendLedger::store_events`] call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StoreReport {
    /// Events written to `events` for the first time.
    pub stored: u64,
    /// Events already stored (redelivery); not applied again.
    pub duplicates: u64,
    /// Acks that changed a send row.
    pub acks_applied: u64,
    /// Completions whose flow_token matched a send row.
    pub completions_matched: u64,
    /// Events that matched no send row (yet); kept in `events`.
    pub unmatched: u64,
}

/// Times are stored as fixed-width RFC 3339 UTC text, so SQL string
/// comparison is chronological and the file stays readable with `sqlite3`.
pub fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) fn parse_time(column: &'static str, s: &str) -> Result<DateTime<Utc>, StateError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StateError::Corrupt {
            column,
            value: s.to_string(),
        })
}

impl fmt::Display for Recorded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Recorded::IntentOnly => "intent_only",
            Recorded::Accepted => "accepted",
            Recorded::Rejected => "rejected",
            Recorded::Unknown => "unknown",
        })
    }
}
