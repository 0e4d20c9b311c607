//! The account as a file: what `apply --sandbox` keeps beside its ledger so
//! the next dry run meets the same account (its templates, their review
//! status, Flows, windows and message history), as a real account would.
//!
//! Times are stored as Unix seconds (an `Instant` means nothing to another
//! process) and turned back into instants relative to `now` on restore.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{unix_now, Account, Inbound, SentMessage, Template, Timings};
use crate::provider::{AccountFlow, TemplateStatus};

/// Bumped when the layout changes; another version is not restored.
const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountSnapshot {
    format: u32,
    namespace: String,
    templates: Vec<SavedTemplate>,
    /// Name → Unix seconds of its removal.
    blocked_names: BTreeMap<String, i64>,
    flows: Vec<AccountFlow>,
    /// Flow id → what the Flow API keeps (absent in older files).
    #[serde(default)]
    flow_assets: BTreeMap<String, super::flows::FlowAsset>,
    #[serde(default)]
    next_flow_id: u64,
    /// Phone digits → Unix seconds of the last inbound message.
    windows: BTreeMap<String, i64>,
    sends: Vec<SavedSend>,
    inbound: Vec<SavedInbound>,
    next_number: u64,
    next_template_id: u64,
    /// The channel answers 501 on `/flows` (docs/provider-1msg.md §2.7):
    /// kept so later dry runs meet the same channel (absent in older files).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    flows_api_501: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SavedTemplate {
    id: String,
    name: String,
    language: String,
    category: String,
    components: Vec<Value>,
    /// Unix seconds of creation.
    created: i64,
    /// Set once the review is over (decided, or the delay has passed).
    status: Option<TemplateStatus>,
    reason: Option<String>,
    auto_reject: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SavedSend {
    number: u64,
    id: String,
    kind: String,
    phone: String,
    template: Option<String>,
    language: Option<String>,
    flow_id: Option<String>,
    flow_token: Option<String>,
    params: Vec<String>,
    action_data: Option<Value>,
    time: i64,
    fault: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SavedInbound {
    number: u64,
    id: String,
    phone: String,
    time: i64,
    kind: String,
    body: String,
}

/// The instant `secs` Unix seconds stood for, seen from `now`.
fn instant_at(secs: i64, now: Instant) -> Instant {
    let ago = u64::try_from(unix_now().saturating_sub(secs)).unwrap_or(0);
    now.checked_sub(Duration::from_secs(ago)).unwrap_or(now)
}

/// Unix seconds of `at`, seen from `now`.
fn unix_at(at: Instant, now: Instant) -> i64 {
    let ago = i64::try_from(now.saturating_duration_since(at).as_secs()).unwrap_or(i64::MAX);
    unix_now().saturating_sub(ago)
}

/// Only the kinds the account writes survive a round trip, as `'static`.
fn static_kind(kind: &str) -> &'static str {
    match kind {
        "flow" => "flow",
        "interactive" => "interactive",
        "chat" => "chat",
        _ => "template",
    }
}

fn static_fault(fault: Option<&str>) -> Option<&'static str> {
    match fault? {
        "500" => Some("500"),
        _ => Some("drop"),
    }
}

impl AccountSnapshot {
    pub(crate) fn flows(&self) -> &[AccountFlow] {
        &self.flows
    }

    /// Whether the saved channel has no Flow API (answers 501).
    pub fn flows_api_501(&self) -> bool {
        self.flows_api_501
    }

    /// Records whether the channel answers 501 on `/flows`.
    pub(crate) fn set_flows_api_501(&mut self, no_api: bool) {
        self.flows_api_501 = no_api;
    }
}

impl Account {
    /// Everything a later run needs to meet this account again.
    pub(crate) fn snapshot(&self, now: Instant) -> AccountSnapshot {
        let templates = self
            .templates
            .values()
            .flatten()
            .map(|t| {
                let (status, reason) = t.status(now, self.timings.approve_after);
                let settled = t.decision.is_some()
                    || now.saturating_duration_since(t.created) >= self.timings.approve_after;
                SavedTemplate {
                    id: t.id.clone(),
                    name: t.name.clone(),
                    language: t.language.clone(),
                    category: t.category.clone(),
                    components: t.components.clone(),
                    created: unix_at(t.created, now),
                    status: settled.then_some(status),
                    reason,
                    auto_reject: t.auto_reject,
                }
            })
            .collect();
        AccountSnapshot {
            format: FORMAT,
            namespace: self.namespace.clone(),
            templates,
            blocked_names: self
                .blocked_names
                .iter()
                .map(|(n, at)| (n.clone(), unix_at(*at, now)))
                .collect(),
            flows: self.flows.clone(),
            flow_assets: self.flow_assets.clone(),
            next_flow_id: self.next_flow_id,
            windows: self
                .windows
                .iter()
                .map(|(p, at)| (p.clone(), unix_at(*at, now)))
                .collect(),
            sends: self
                .sends
                .iter()
                .map(|s| SavedSend {
                    number: s.number,
                    id: s.id.clone(),
                    kind: s.kind.to_string(),
                    phone: s.phone.clone(),
                    template: s.template.clone(),
                    language: s.language.clone(),
                    flow_id: s.flow_id.clone(),
                    flow_token: s.flow_token.clone(),
                    params: s.params.clone(),
                    action_data: s.action_data.clone(),
                    time: s.time,
                    fault: s.fault.map(str::to_string),
                })
                .collect(),
            inbound: self
                .inbound
                .iter()
                .map(|m| SavedInbound {
                    number: m.number,
                    id: m.id.clone(),
                    phone: m.phone.clone(),
                    time: m.time,
                    kind: m.kind.to_string(),
                    body: m.body.clone(),
                })
                .collect(),
            next_number: self.next_number,
            next_template_id: self.next_template_id,
            flows_api_501: false,
        }
    }

    /// The account a snapshot describes, under this run's timings. Flows in
    /// `extra_flows` that the snapshot lacks (by id) are added, so Flows
    /// declared since the last run exist. `Err` names why it cannot be used.
    pub(crate) fn restore(
        snapshot: AccountSnapshot,
        timings: Timings,
        extra_flows: Vec<AccountFlow>,
        seed: u64,
        now: Instant,
    ) -> Result<Account, String> {
        if snapshot.format != FORMAT {
            return Err(format!(
                "it has format {}, this waform writes {FORMAT}",
                snapshot.format
            ));
        }
        let mut account = Account::new(timings, snapshot.flows, seed);
        for flow in extra_flows {
            if !account.flows.iter().any(|f| f.id == flow.id) {
                account.flows.push(flow);
            }
        }
        account.namespace = snapshot.namespace;
        for t in snapshot.templates {
            let shape =
                super::rules::validate_template(&t.name, &t.category, &t.language, &t.components)
                    .map_err(|e| format!("template {} [{}]: {e}", t.name, t.language))?;
            account
                .templates
                .entry(t.name.clone())
                .or_default()
                .push(Template {
                    id: t.id,
                    name: t.name,
                    language: t.language,
                    category: t.category,
                    components: t.components,
                    shape,
                    created: instant_at(t.created, now),
                    decision: t.status.map(|s| (s, t.reason)),
                    auto_reject: t.auto_reject,
                });
        }
        account.blocked_names = snapshot
            .blocked_names
            .into_iter()
            .map(|(n, at)| (n, instant_at(at, now)))
            .collect::<HashMap<_, _>>();
        account.windows = snapshot
            .windows
            .into_iter()
            .map(|(p, at)| (p, instant_at(at, now)))
            .collect::<HashMap<_, _>>();
        for s in snapshot.sends {
            if let Some(token) = &s.flow_token {
                account
                    .by_flow_token
                    .insert(token.clone(), account.sends.len());
            }
            account.sends.push(SentMessage {
                id: s.id,
                kind: static_kind(&s.kind),
                phone: s.phone,
                template: s.template,
                language: s.language,
                flow_id: s.flow_id,
                flow_token: s.flow_token,
                params: s.params,
                action_data: s.action_data,
                time: s.time,
                fault: static_fault(s.fault.as_deref()),
                number: s.number,
            });
        }
        account.inbound = snapshot
            .inbound
            .into_iter()
            .map(|m| Inbound {
                number: m.number,
                id: m.id,
                phone: m.phone,
                time: m.time,
                kind: static_kind(&m.kind),
                body: m.body,
            })
            .collect();
        account.next_number = snapshot.next_number;
        account.next_template_id = snapshot.next_template_id;
        account.flow_assets = snapshot.flow_assets;
        account.next_flow_id = account.next_flow_id.max(snapshot.next_flow_id);
        Ok(account)
    }
}
