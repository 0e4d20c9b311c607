//! The Plan: what apply will do, as data. Renderers (text, json, markdown)
//! and plan files read it; apply executes it. The action names are what
//! users see.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::diag::Severity;
use crate::provider::FlowStatus;

/// What happens to one account template (one name in one language).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateAction {
    /// `+` a new template is submitted for review.
    Create,
    /// `-/+` content changed: a new version is created; the old one is
    /// deleted once the new one is approved.
    Replace,
    /// `-` deleted (listed under `removed:`, or a superseded version whose
    /// successor is approved).
    Delete,
    /// `~` submitted earlier and still in review.
    Pending,
    /// `!` Meta rejected it; sends that need it are blocked.
    Rejected,
    /// `!` an exact-named template whose content differs on the account.
    Conflict,
    /// A superseded version kept until its successor is approved.
    Superseded,
    /// Approved and identical to the config: nothing to do.
    Unchanged,
}

impl TemplateAction {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            TemplateAction::Create => "+",
            TemplateAction::Replace => "-/+",
            TemplateAction::Delete => "-",
            TemplateAction::Pending => "~",
            TemplateAction::Rejected | TemplateAction::Conflict => "!",
            TemplateAction::Superseded => "~",
            TemplateAction::Unchanged => " ",
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            TemplateAction::Create => "create",
            TemplateAction::Replace => "replace",
            TemplateAction::Delete => "delete",
            TemplateAction::Pending => "pending approval",
            TemplateAction::Rejected => "rejected",
            TemplateAction::Conflict => "conflict",
            TemplateAction::Superseded => "superseded (kept until successor is approved)",
            TemplateAction::Unchanged => "unchanged",
        }
    }

    /// Whether apply will change the account for this action.
    pub fn is_change(self) -> bool {
        matches!(
            self,
            TemplateAction::Create | TemplateAction::Replace | TemplateAction::Delete
        )
    }
}

/// One account template (one name in one language) and what apply does to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateChange {
    /// What happens to it.
    pub action: TemplateAction,
    /// Account name.
    pub name: String,
    /// Meta language code, e.g. `en_US`.
    pub language: String,
    /// Logical name in the config (None for `removed:` / unmanaged names).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logical: Option<String>,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// For replace: the account version being superseded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// Why (rejection reason, conflict advice, deletion cause).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Content lines before (account) and after (config), for diffs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before: Vec<String>,
    /// The config's content lines (see `before`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// Meta components to submit (create/replace).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Value>,
}

impl TemplateChange {
    /// A change of `action` to template `name` in `language`, every other
    /// field empty (set them with struct update syntax).
    pub fn new(action: TemplateAction, name: &str, language: &str) -> Self {
        TemplateChange {
            action,
            name: name.to_string(),
            language: language.to_string(),
            logical: None,
            category: None,
            replaces: None,
            reason: None,
            before: Vec::new(),
            after: Vec::new(),
            components: Vec::new(),
        }
    }
}

/// Where a send stands as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendState {
    /// Recipients go out on this apply.
    Due,
    /// `at` is in the future.
    Scheduled,
    /// `expires` has passed: never sent.
    Expired,
    /// The template is not approved yet.
    Waiting,
    /// Cannot go out (template rejected, Flow not published, ...).
    Blocked,
    /// Everyone has been attempted.
    Done,
}

/// Per-recipient counts of one send, after duplicates are dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendCounts {
    /// Unique recipients (after duplicates are dropped, before exclusions).
    pub recipients: u64,
    /// Messaged on this apply.
    pub due: u64,
    /// Waiting for `at`.
    pub scheduled: u64,
    /// Already accepted by the API on an earlier apply.
    pub already_sent: u64,
    /// Refused earlier; not retried.
    pub rejected: u64,
    /// Earlier outcome unknown; only `--resend-unknown` sends them again.
    pub unknown: u64,
    /// Never sent: `expires` passed.
    pub expired: u64,
    /// On an exclude list.
    pub excluded: u64,
    /// Waiting for the template's approval.
    pub waiting: u64,
    /// Cannot be sent (see the send's `reason`).
    pub blocked: u64,
    /// Rows dropped because the phone appeared before.
    pub duplicates: u64,
    /// Of `due`/`waiting`: recipients whose earlier outcome was unknown,
    /// sent again by the `--resend-unknown` decision.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub resend: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One send of the config and what apply does for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendPlan {
    /// The send's name in the config.
    pub name: String,
    /// A template send or a Flow message.
    pub kind: SendPlanKind,
    /// Account template name used (template sends; the fallback for flow messages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The template language sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The Flow the messages open, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<String>,
    /// What apply sends with, resolved by plan (`None` for a send that
    /// cannot go out, and in plan files of older waforms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<super::target::SendTarget>,
    /// Where the send stands.
    pub state: SendState,
    /// The configured start time (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// The configured end time (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Why it waits or is blocked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its recipients, by what happens to them.
    pub counts: SendCounts,
}

/// A Flow the config references and its status on the account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowCheck {
    pub(crate) key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// `PUBLISHED`, `DRAFT`, ..., `missing`, or `unverified`.
    pub(crate) status: FlowCheckStatus,
}

/// How a send goes out (`kind` in plan JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendPlanKind {
    /// An approved template (with a Flow button, or none).
    Template,
    /// A Flow message inside the 24-hour window, with a template fallback.
    FlowMessage,
}

impl SendPlanKind {
    /// The word users see, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            SendPlanKind::Template => "template",
            SendPlanKind::FlowMessage => "flow_message",
        }
    }
}

impl fmt::Display for SendPlanKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a referenced Flow stands (`flows[].status` in plan JSON, one
/// string: the account's upper-case status or one of plan's own phrases).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum FlowCheckStatus {
    /// `unverified`: the account's Flow list could not be read.
    Unverified,
    /// The channel has no Flow API: the Flow travels inline in its templates.
    Inline,
    /// A managed Flow not on the account yet: this apply creates it.
    CreatedByApply,
    /// A managed Flow in DRAFT that this apply publishes.
    PublishedByApply,
    /// `missing`: not on the account and not managed.
    Missing,
    /// The account's status, as the account reports it.
    Account(FlowStatus),
}

const UNVERIFIED: &str = "unverified";
const INLINE: &str = "inline in its templates (no Flow API)";
const CREATED_BY_APPLY: &str = "created by this apply";
const PUBLISHED_BY_APPLY: &str = "DRAFT (published by this apply)";
const MISSING: &str = "missing";

impl FlowCheckStatus {
    /// The string shown and serialised.
    pub fn as_str(&self) -> &str {
        match self {
            FlowCheckStatus::Unverified => UNVERIFIED,
            FlowCheckStatus::Inline => INLINE,
            FlowCheckStatus::CreatedByApply => CREATED_BY_APPLY,
            FlowCheckStatus::PublishedByApply => PUBLISHED_BY_APPLY,
            FlowCheckStatus::Missing => MISSING,
            FlowCheckStatus::Account(s) => match s {
                FlowStatus::Draft => "DRAFT",
                FlowStatus::Published => "PUBLISHED",
                FlowStatus::Deprecated => "DEPRECATED",
                FlowStatus::Blocked => "BLOCKED",
                FlowStatus::Throttled => "THROTTLED",
                FlowStatus::Other(w) => w,
            },
        }
    }
}

impl fmt::Display for FlowCheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<FlowCheckStatus> for String {
    fn from(s: FlowCheckStatus) -> String {
        s.as_str().to_string()
    }
}

impl From<String> for FlowCheckStatus {
    /// Plan's own phrases are matched exactly (account statuses are
    /// upper-cased, so they never collide); anything else is the account's.
    fn from(s: String) -> Self {
        match s.as_str() {
            UNVERIFIED => FlowCheckStatus::Unverified,
            INLINE => FlowCheckStatus::Inline,
            CREATED_BY_APPLY => FlowCheckStatus::CreatedByApply,
            PUBLISHED_BY_APPLY => FlowCheckStatus::PublishedByApply,
            MISSING => FlowCheckStatus::Missing,
            "DRAFT" => FlowCheckStatus::Account(FlowStatus::Draft),
            "PUBLISHED" => FlowCheckStatus::Account(FlowStatus::Published),
            "DEPRECATED" => FlowCheckStatus::Account(FlowStatus::Deprecated),
            "BLOCKED" => FlowCheckStatus::Account(FlowStatus::Blocked),
            "THROTTLED" => FlowCheckStatus::Account(FlowStatus::Throttled),
            _ => FlowCheckStatus::Account(FlowStatus::Other(s)),
        }
    }
}

/// A finding of the plan that is not a change (blocked send, stale state, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanMessage {
    /// `error` or `warning`.
    pub severity: Severity,
    /// What was found and what to do.
    pub message: String,
}

/// Fingerprints that make a plan file refuse to apply when stale.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprints {
    pub(crate) config: String,
    pub(crate) account: String,
}

/// What apply will do: template changes, Flow checks and changes, sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Every template the config or account has, with its action.
    pub templates: Vec<TemplateChange>,
    /// Account templates not managed by this config (left alone).
    pub unmanaged: u64,
    /// The referenced Flows and their status.
    pub flows: Vec<FlowCheck>,
    /// Managed Flows: created, updated, published (plan/flows.rs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flow_changes: Vec<super::flows::FlowChange>,
    /// Every send, in config order.
    pub sends: Vec<SendPlan>,
    /// Errors and warnings found while planning.
    pub messages: Vec<PlanMessage>,
    /// Config and account fingerprints, so a stale plan file is refused.
    pub fingerprints: Fingerprints,
    /// What this plan promises per send (recipients, input files); plan
    /// files carry it beside the plan, views never show it.
    #[serde(skip)]
    pub review: super::planned::Review,
}

impl Plan {
    pub(crate) fn count(&self, action: TemplateAction) -> u64 {
        self.templates.iter().filter(|t| t.action == action).count() as u64
    }

    pub(crate) fn flow_count(&self, action: super::flows::FlowAction) -> u64 {
        self.flow_changes
            .iter()
            .filter(|f| f.action == action)
            .count() as u64
    }

    /// One count summed over every send, e.g. `plan.send_total(|c| c.due)`.
    pub fn send_total(&self, f: impl Fn(&SendCounts) -> u64) -> u64 {
        self.sends.iter().map(|s| f(&s.counts)).sum()
    }

    /// Whether planning found an error (apply refuses such a plan).
    pub fn has_errors(&self) -> bool {
        self.messages.iter().any(|m| m.severity == Severity::Error)
    }

    /// True when apply would change the account or message anyone.
    pub fn has_changes(&self) -> bool {
        self.templates.iter().any(|t| t.action.is_change())
            || self.flow_changes.iter().any(|f| f.is_change())
            || self.send_total(|c| c.due) > 0
    }

    /// The `summary` object of docs/design.md §3.
    pub(crate) fn summary(&self) -> Value {
        serde_json::json!({
            "templates": {
                "create": self.count(TemplateAction::Create),
                "replace": self.count(TemplateAction::Replace),
                "delete": self.count(TemplateAction::Delete),
                "unchanged": self.count(TemplateAction::Unchanged),
                "pending": self.count(TemplateAction::Pending),
                "rejected": self.count(TemplateAction::Rejected),
                "conflict": self.count(TemplateAction::Conflict),
                "superseded": self.count(TemplateAction::Superseded),
                "unmanaged": self.unmanaged,
            },
            "flows": {
                "create": self.flow_count(super::flows::FlowAction::Create),
                "update": self.flow_count(super::flows::FlowAction::Update),
                "publish": self.flow_count(super::flows::FlowAction::Publish),
                "deprecate": self.flow_count(super::flows::FlowAction::Deprecate),
                "unchanged": self.flow_count(super::flows::FlowAction::Unchanged),
                "inline": self.flow_count(super::flows::FlowAction::Inline),
            },
            "sends": {
                "due": self.send_total(|c| c.due),
                "scheduled": self.send_total(|c| c.scheduled),
                "already_sent": self.send_total(|c| c.already_sent),
                "expired": self.send_total(|c| c.expired),
                "excluded": self.send_total(|c| c.excluded),
                "unknown": self.send_total(|c| c.unknown),
                "rejected": self.send_total(|c| c.rejected),
                "waiting": self.send_total(|c| c.waiting),
                "blocked": self.send_total(|c| c.blocked),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_serialise_as_the_strings_plan_json_always_had() {
        let cases = [
            (FlowCheckStatus::Unverified, "unverified"),
            (
                FlowCheckStatus::Inline,
                "inline in its templates (no Flow API)",
            ),
            (FlowCheckStatus::CreatedByApply, "created by this apply"),
            (
                FlowCheckStatus::PublishedByApply,
                "DRAFT (published by this apply)",
            ),
            (FlowCheckStatus::Missing, "missing"),
            (FlowCheckStatus::Account(FlowStatus::Published), "PUBLISHED"),
            (FlowCheckStatus::Account(FlowStatus::Draft), "DRAFT"),
            (
                FlowCheckStatus::Account(FlowStatus::Deprecated),
                "DEPRECATED",
            ),
            (FlowCheckStatus::Account(FlowStatus::Blocked), "BLOCKED"),
            (FlowCheckStatus::Account(FlowStatus::Throttled), "THROTTLED"),
            (
                FlowCheckStatus::Account(FlowStatus::Other("PAUSED".into())),
                "PAUSED",
            ),
        ];
        for (status, word) in cases {
            let json = serde_json::to_value(&status).expect("serialise");
            assert_eq!(json, Value::String(word.into()));
            let back: FlowCheckStatus = serde_json::from_value(json).expect("parse");
            assert_eq!(back, status, "{word}");
            assert_eq!(status.to_string(), word);
        }
        for (kind, word) in [
            (SendPlanKind::Template, "template"),
            (SendPlanKind::FlowMessage, "flow_message"),
        ] {
            assert_eq!(
                serde_json::to_value(kind).expect("serialise"),
                Value::String(word.into())
            );
            assert_eq!(kind.to_string(), word);
        }
        for (severity, word) in [(Severity::Error, "error"), (Severity::Warning, "warning")] {
            assert_eq!(
                serde_json::to_value(severity).expect("serialise"),
                Value::String(word.into())
            );
            let back: Severity = serde_json::from_value(Value::String(word.into())).expect("parse");
            assert_eq!(back, severity);
        }
    }
}
