//! Desired against Observed and Recorded: a pure function of (config,
//! account, ledger tallies, now) — no IO, no clock — so every case is
//! testable with plain structs.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::desired::{self, DesiredTemplate};
use super::model::*;
use super::target::{ApprovedVersion, PlannedFlow, PlannedTemplate, Review, SendTarget};
use crate::config::types::{Button, FlowMode, Naming, RawConfig};
use crate::diag::Severity;
use crate::provider::{AccountFlow, AccountTemplate, FlowList, FlowStatus, TemplateStatus};

/// What the account holds.
#[derive(Debug, Clone)]
pub struct Observed {
    pub(crate) templates: Vec<AccountTemplate>,
    pub(crate) flows: FlowList,
}

/// Recipients of one send, counted against the ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Unique recipients (duplicates dropped), excluded ones included.
    pub(crate) recipients: u64,
    pub(crate) duplicates: u64,
    pub(crate) excluded: u64,
    pub(crate) accepted: u64,
    pub(crate) rejected: u64,
    pub(crate) unknown: u64,
    /// Never attempted: the ones this apply may send (with `resend`).
    pub(crate) remaining: u64,
    /// Unknown before, counted in `remaining` by `--resend-unknown`.
    pub(crate) resend: u64,
}

/// The template a send will use, as found on the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// Sendable now: approved, or an approved earlier version stands in
    /// while the described one is in review.
    Ready(PlannedTemplate),
    /// Nothing approved yet: the send waits for the review of this
    /// template (why, for the plan).
    Waiting(PlannedTemplate, String),
    /// Cannot go out (why).
    Blocked(String),
}

/// Computes the plan.
pub fn diff(
    config: &RawConfig,
    observed: &Observed,
    tallies: &BTreeMap<String, Tally>,
    now: DateTime<Utc>,
) -> Plan {
    let mut messages = Vec::new();
    let desired = desired::desired_templates(config);
    let (templates, unmanaged) = template_changes(config, &desired, &observed.templates);
    for t in templates
        .iter()
        .filter(|t| t.action == TemplateAction::Conflict)
    {
        messages.push(PlanMessage {
            severity: Severity::Error,
            message: format!(
                "template {} [{}] conflicts with the account: {}",
                t.name,
                t.language,
                t.reason.as_deref().unwrap_or("content differs")
            ),
        });
    }
    let (flows, flow_errors) = flow_checks(config, &observed.flows, &mut messages);
    let sends = config
        .sends
        .iter()
        .map(|(name, send)| {
            let tally = tallies.get(name).cloned().unwrap_or_default();
            send_plan(&SendInputs {
                config,
                name,
                send,
                tally: &tally,
                observed,
                flows: &flows,
                flow_errors: &flow_errors,
                now,
            })
        })
        .collect();
    Plan {
        templates,
        unmanaged,
        flows,
        flow_changes: Vec::new(),
        sends,
        messages,
        fingerprints: Fingerprints::default(),
        review: Default::default(),
    }
}

fn find<'a>(
    account: &'a [AccountTemplate],
    name: &str,
    language: &str,
) -> Option<&'a AccountTemplate> {
    account
        .iter()
        .find(|t| t.name == name && t.language == language)
}

fn template_changes(
    config: &RawConfig,
    desired: &[DesiredTemplate],
    account: &[AccountTemplate],
) -> (Vec<TemplateChange>, u64) {
    let mut changes = Vec::new();
    let mut managed: BTreeSet<(String, String)> = BTreeSet::new();
    for d in desired {
        managed.insert((d.name.clone(), d.language.clone()));
        let after = desired::content_lines(&d.components);
        let base = TemplateChange {
            logical: Some(d.logical.clone()),
            category: Some(d.category.clone()),
            ..TemplateChange::new(TemplateAction::Create, &d.name, &d.language)
        };
        let change = match find(account, &d.name, &d.language) {
            Some(existing) if d.naming == Naming::Exact
                && (desired::content_lines(&existing.components) != after
                    || !existing.category.eq_ignore_ascii_case(&d.category)) =>
            {
                TemplateChange {
                    action: TemplateAction::Conflict,
                    reason: Some(format!(
                        "`{}` uses naming: exact and its content differs from the account's; templates cannot be edited. Rename the template (or switch it to `naming: versioned`) to create a new one, and list `{}` under `removed:` if the old one should go",
                        d.logical, d.name
                    )),
                    before: desired::content_lines(&existing.components),
                    after,
                    ..base
                }
            }
            Some(existing) => match &existing.status {
                TemplateStatus::Approved => TemplateChange { action: TemplateAction::Unchanged, ..base },
                TemplateStatus::Rejected => TemplateChange {
                    action: TemplateAction::Rejected,
                    reason: Some(format!(
                        "Meta rejected it ({}); change the content to submit a new version",
                        existing.rejected_reason.as_deref().unwrap_or("no reason given")
                    )),
                    ..base
                },
                TemplateStatus::Paused | TemplateStatus::Disabled => TemplateChange {
                    action: TemplateAction::Rejected,
                    reason: Some(format!("the template is {:?} by Meta for quality", existing.status).to_lowercase()),
                    ..base
                },
                _ => TemplateChange { action: TemplateAction::Pending, ..base },
            },
            None => {
                let previous = account
                    .iter()
                    .filter(|t| t.language == d.language && t.name != d.name && desired::is_version_of(&t.name, &d.logical))
                    .min_by_key(|t| (t.status != TemplateStatus::Approved, t.name.clone()));
                match previous {
                    Some(prev) if d.naming == Naming::Versioned => TemplateChange {
                        action: TemplateAction::Replace,
                        replaces: Some(prev.name.clone()),
                        before: desired::content_lines(&prev.components),
                        after,
                        components: d.components.clone(),
                        ..base
                    },
                    _ => TemplateChange {
                        action: TemplateAction::Create,
                        after,
                        components: d.components.clone(),
                        ..base
                    },
                }
            }
        };
        changes.push(change);
    }
    // Superseded versions of managed versioned templates.
    for (logical, template) in &config.templates {
        if template.naming != Naming::Versioned {
            continue;
        }
        let current = desired::account_name(logical, template, &config.flows);
        let successor_approved = template.languages.keys().all(|code| {
            find(account, &current, code).is_some_and(|t| t.status == TemplateStatus::Approved)
        });
        for t in account
            .iter()
            .filter(|t| t.name != current && desired::is_version_of(&t.name, logical))
        {
            managed.insert((t.name.clone(), t.language.clone()));
            let action = if successor_approved {
                TemplateAction::Delete
            } else {
                TemplateAction::Superseded
            };
            changes.push(TemplateChange {
                logical: Some(logical.clone()),
                category: Some(t.category.clone()),
                reason: Some(format!("superseded by {current}")),
                ..TemplateChange::new(action, &t.name, &t.language)
            });
        }
    }
    for name in &config.removed {
        for t in account.iter().filter(|t| &t.name == name) {
            if managed.insert((t.name.clone(), t.language.clone())) {
                changes.push(TemplateChange {
                    category: Some(t.category.clone()),
                    reason: Some("listed under removed:".into()),
                    ..TemplateChange::new(TemplateAction::Delete, &t.name, &t.language)
                });
            }
        }
    }
    let unmanaged = account
        .iter()
        .filter(|t| !managed.contains(&(t.name.clone(), t.language.clone())))
        .count() as u64;
    changes.sort_by(|a, b| (&a.name, &a.language, a.action).cmp(&(&b.name, &b.language, b.action)));
    (changes, unmanaged)
}

/// Flows referenced by templates (buttons) and flow messages, with the mode
/// they are sent in.
fn referenced_flows(config: &RawConfig) -> BTreeMap<String, bool> {
    let mut out: BTreeMap<String, bool> = BTreeMap::new();
    for template in config.templates.values() {
        for lang in template.languages.values() {
            for b in &lang.buttons {
                if let Button::Flow { flow, .. } = b {
                    out.insert(flow.clone(), false);
                }
            }
        }
    }
    for send in config.sends.values() {
        if let Some(fm) = &send.flow_message {
            let draft_ok = fm.mode == FlowMode::Draft;
            let entry = out.entry(fm.flow.clone()).or_insert(draft_ok);
            *entry = *entry && draft_ok;
        }
    }
    out
}

fn flow_checks(
    config: &RawConfig,
    observed: &FlowList,
    messages: &mut Vec<PlanMessage>,
) -> (Vec<FlowCheck>, BTreeMap<String, String>) {
    let mut checks = Vec::new();
    let mut errors = BTreeMap::new();
    for (key, draft_ok) in referenced_flows(config) {
        let Some(flow_ref) = config.flows.get(&key) else {
            continue;
        };
        let mut check = FlowCheck {
            key: key.clone(),
            id: flow_ref.id.clone(),
            name: flow_ref.name.clone(),
            status: FlowCheckStatus::Unverified,
        };
        match observed {
            // docs/provider-1msg.md §2.7: no Flow API, so the Flow goes inline
            // in its templates (plan/lower.rs); a Flow message has no id to send.
            FlowList::NotImplemented(_) if flow_ref.is_managed() => {
                check.status = FlowCheckStatus::Inline;
                let by_message = config
                    .sends
                    .iter()
                    .find(|(_, s)| s.flow_message.as_ref().is_some_and(|fm| fm.flow == key));
                if let Some((send, _)) = by_message {
                    let msg = format!("send {send} sends Flow `{key}` as a Flow message, which needs a Flow id, but the channel has no Flow API (HTTP 501) and managed Flows only travel inline in a template's FLOW button; send a template with a FLOW button instead");
                    errors.insert(key.clone(), msg.clone());
                    messages.push(PlanMessage {
                        severity: Severity::Error,
                        message: msg,
                    });
                }
            }
            FlowList::Unavailable(why) | FlowList::NotImplemented(why) => {
                messages.push(PlanMessage {
                    severity: Severity::Warning,
                    message: format!("Flow `{key}` could not be verified: the channel's Flow list is unavailable ({why})"),
                });
            }
            FlowList::Flows(flows) => {
                let found: Option<&AccountFlow> = flows.iter().find(|f| {
                    flow_ref.id.as_deref() == Some(f.id.as_str())
                        || flow_ref.name.as_deref() == Some(f.name.as_str())
                });
                // A managed Flow is created and published by apply itself
                // (plan/flows.rs), before the templates that open it.
                let managed = flow_ref.is_managed();
                let publishes = managed && flow_ref.publish.unwrap_or(true);
                match found {
                    None if managed => check.status = FlowCheckStatus::CreatedByApply,
                    Some(f) if publishes && f.status == FlowStatus::Draft => {
                        check.id = Some(f.id.clone());
                        check.name = Some(f.name.clone());
                        check.status = FlowCheckStatus::PublishedByApply;
                    }
                    None => {
                        check.status = FlowCheckStatus::Missing;
                        let what = flow_ref
                            .id
                            .as_deref()
                            .map(|id| format!("id {id}"))
                            .or_else(|| flow_ref.name.as_deref().map(|n| format!("name \"{n}\"")))
                            .unwrap_or_default();
                        let msg = format!("Flow `{key}` ({what}) does not exist on the account: create and publish it, or fix `flows.{key}`");
                        errors.insert(key.clone(), msg.clone());
                        messages.push(PlanMessage {
                            severity: Severity::Error,
                            message: msg,
                        });
                    }
                    Some(f) => {
                        check.id = Some(f.id.clone());
                        // The name too, so a button that names the Flow and one
                        // that gives its id both match this line of the plan.
                        check.name = Some(f.name.clone());
                        check.status = FlowCheckStatus::Account(f.status.clone());
                        let sendable = f.status == FlowStatus::Published
                            || (draft_ok && f.status == FlowStatus::Draft);
                        if !sendable {
                            let msg = format!(
                                "Flow `{key}` is {} on the account: sends need a PUBLISHED Flow (flow messages may use `mode: draft` for testing)",
                                check.status
                            );
                            errors.insert(key.clone(), msg.clone());
                            messages.push(PlanMessage {
                                severity: Severity::Error,
                                message: msg,
                            });
                        }
                    }
                }
            }
        }
        checks.push(check);
    }
    (checks, errors)
}

/// The account template a send of `logical` in `language` uses: the desired
/// version when approved, else an approved earlier version with the same
/// shape (sends keep using the old one until the new one is approved).
pub(crate) fn resolve_template(
    config: &RawConfig,
    logical: &str,
    language: &str,
    account: &[AccountTemplate],
) -> Resolved {
    let Some(template) = config.templates.get(logical) else {
        return Resolved::Blocked(format!("template `{logical}` is not declared"));
    };
    let Some(lang) = template.languages.get(language) else {
        return Resolved::Blocked(format!("template `{logical}` has no language `{language}`"));
    };
    let name = desired::account_name(logical, template, &config.flows);
    let wanted = desired::components(lang, &config.flows);
    let shape = (
        desired::body_variables(&wanted),
        desired::flow_button_index(&wanted).is_some(),
    );
    let approved = |t: &AccountTemplate| ApprovedVersion {
        name: t.name.clone(),
        namespace: t.namespace.clone(),
        flow_button: desired::flow_button_index(&t.components),
    };
    let current = find(account, &name, language);
    if let Some(t) = current.filter(|t| t.status == TemplateStatus::Approved) {
        if template.naming == Naming::Exact
            && desired::content_lines(&t.components) != desired::content_lines(&wanted)
        {
            return Resolved::Blocked(format!(
                "template {name} ({language}) on the account differs from the config (conflict)"
            ));
        }
        let v = approved(t);
        return Resolved::Ready(PlannedTemplate {
            name: v.name,
            language: language.to_string(),
            review: Review::Approved,
            namespace: v.namespace,
            flow_button: v.flow_button,
            interim: None,
        });
    }
    // The described version, once its review (in this apply or a later
    // one) approves it.
    let in_review = |interim: Option<ApprovedVersion>| PlannedTemplate {
        name: name.clone(),
        language: language.to_string(),
        review: Review::InReview,
        namespace: None,
        flow_button: desired::flow_button_index(&wanted),
        interim,
    };
    let mut older: Vec<&AccountTemplate> = account
        .iter()
        .filter(|t| {
            t.language == language
                && t.status == TemplateStatus::Approved
                && t.name != name
                && desired::is_version_of(&t.name, logical)
                && (
                    desired::body_variables(&t.components),
                    desired::flow_button_index(&t.components).is_some(),
                ) == shape
        })
        .collect();
    older.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(t) = older.first() {
        return Resolved::Ready(in_review(Some(approved(t))));
    }
    match current.map(|t| &t.status) {
        Some(TemplateStatus::Rejected) => Resolved::Blocked(format!(
            "template {name} ({language}) was rejected by Meta ({})",
            current
                .and_then(|t| t.rejected_reason.clone())
                .unwrap_or_else(|| "no reason given".into())
        )),
        Some(TemplateStatus::Paused) | Some(TemplateStatus::Disabled) => Resolved::Blocked(
            format!("template {name} ({language}) is paused or disabled by Meta"),
        ),
        _ => Resolved::Waiting(
            in_review(None),
            format!("waiting for template {name} ({language}) to be approved"),
        ),
    }
}

/// The language a template send uses: its own `language`, else the
/// template's first (the one place this default is decided).
fn send_language(config: &RawConfig, logical: &str, language: Option<&str>) -> String {
    language
        .map(str::to_string)
        .or_else(|| {
            config
                .templates
                .get(logical)
                .and_then(|t| t.languages.keys().next().cloned())
        })
        .unwrap_or_default()
}

/// What [`send_plan`] reads to plan one send.
struct SendInputs<'a> {
    config: &'a RawConfig,
    /// The send's name in the config.
    name: &'a str,
    send: &'a crate::config::types::SendSpec,
    /// Its recipients as the ledger and files count them.
    tally: &'a Tally,
    observed: &'a Observed,
    /// The referenced Flows, from [`flow_checks`].
    flows: &'a [FlowCheck],
    /// Per Flow key: why sends that need it are blocked.
    flow_errors: &'a BTreeMap<String, String>,
    now: DateTime<Utc>,
}

fn send_plan(inputs: &SendInputs<'_>) -> SendPlan {
    let &SendInputs {
        config,
        name,
        send,
        tally,
        observed,
        flows,
        flow_errors,
        now,
    } = inputs;
    let mut plan = SendPlan {
        name: name.to_string(),
        kind: if send.flow_message.is_some() {
            SendPlanKind::FlowMessage
        } else {
            SendPlanKind::Template
        },
        template: None,
        language: None,
        flow_id: None,
        target: None,
        state: SendState::Due,
        at: send.at.clone(),
        expires: send.expires.clone(),
        reason: None,
        counts: SendCounts {
            recipients: tally.recipients,
            already_sent: tally.accepted,
            rejected: tally.rejected,
            unknown: tally.unknown,
            excluded: tally.excluded,
            duplicates: tally.duplicates,
            resend: tally.resend,
            ..SendCounts::default()
        },
    };
    let mut blocked: Option<String> = None;
    let mut waiting: Option<String> = None;
    let mut target = SendTarget::default();
    // Once, here: apply builds messages from this target and never looks
    // a template or Flow up again.
    let mut resolve = |logical: &str, language: &str, prefix: &str| match resolve_template(
        config,
        logical,
        language,
        &observed.templates,
    ) {
        Resolved::Ready(t) => target.template = Some(t),
        Resolved::Waiting(t, why) => {
            target.template = Some(t);
            waiting = Some(format!("{prefix}{why}"));
        }
        Resolved::Blocked(why) => {
            blocked = blocked.take().or(Some(format!("{prefix}{why}")));
        }
    };
    if let Some(fm) = &send.flow_message {
        let check = flows.iter().find(|f| f.key == fm.flow);
        plan.flow_id = check.and_then(|f| f.id.clone());
        // A managed Flow this apply creates: its id is the create's answer.
        let created =
            check.is_some_and(|f| f.id.is_none() && f.status == FlowCheckStatus::CreatedByApply);
        if let Some(fb) = &send.fallback {
            plan.language = Some(fb.language.clone());
            // Without its fallback approved, everyone outside the window
            // would be recorded rejected for good: the send waits for it.
            resolve(&fb.template, &fb.language, "fallback: ");
        }
        if let Some(err) = flow_errors.get(&fm.flow) {
            blocked = Some(err.clone());
        } else if plan.flow_id.is_none() && !created {
            blocked = Some(format!("Flow `{}` has no id and the account's Flow list could not be read to find it by name", fm.flow));
        }
        target.flow = Some(PlannedFlow {
            key: fm.flow.clone(),
            id: plan.flow_id.clone(),
        });
    } else if let Some(logical) = &send.template {
        let language = send_language(config, logical, send.language.as_deref());
        plan.language = Some(language.clone());
        resolve(logical, &language, "");
        for b in config
            .templates
            .get(logical)
            .and_then(|t| t.languages.get(&language))
            .map(|l| l.buttons.as_slice())
            .unwrap_or_default()
        {
            if let Button::Flow { flow, .. } = b {
                if let Some(err) = flow_errors.get(flow) {
                    blocked = Some(err.clone());
                }
            }
        }
    }
    plan.template = target
        .template
        .as_ref()
        .and_then(|t| t.planned_name())
        .map(str::to_string);
    if blocked.is_none() {
        plan.target = Some(target);
    }
    let parse = |s: &Option<String>| {
        s.as_deref()
            .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let (at, expires) = (parse(&send.at), parse(&send.expires));
    let remaining = tally.remaining;
    let counts = &mut plan.counts;
    plan.state = if expires.is_some_and(|e| e <= now) {
        counts.expired = remaining;
        SendState::Expired
    } else if let Some(why) = blocked {
        counts.blocked = remaining;
        plan.reason = Some(why);
        SendState::Blocked
    } else if at.is_some_and(|a| a > now) {
        counts.scheduled = remaining;
        SendState::Scheduled
    } else if let Some(why) = waiting {
        counts.waiting = remaining;
        plan.reason = Some(why);
        SendState::Waiting
    } else {
        counts.due = remaining;
        SendState::Due
    };
    if remaining == 0 && plan.state != SendState::Blocked {
        plan.state = SendState::Done;
        // Nobody is left to send to: whatever would hold the send back
        // (a template still in review) no longer concerns it.
        plan.reason = None;
    }
    plan
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
