//! `diff` as the pure function it is: config, account, tallies and clock
//! in, plan out — table-driven, no binary, no HTTP, no files.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{diff, Observed, Tally};
use crate::config::types::RawConfig;
use crate::plan::desired;
use crate::plan::target::Review;
use crate::plan::{SendState, TemplateAction};
use crate::provider::{AccountFlow, AccountTemplate, FlowList, FlowStatus, TemplateStatus};

const NOW: &str = "2026-05-01T12:00:00Z";
const FLOW_ID: &str = "1234567890123456";

fn now() -> DateTime<Utc> {
    NOW.parse().expect("time")
}

/// One template with a FLOW button, one language (`en_US`, or the given
/// body), one send of it; `send` is merged into the send.
fn config(naming: &str, body: &str, send: Value) -> RawConfig {
    let mut s = json!({
        "template": "welcome",
        "body_params": ["${recipient.fname}"],
        "recipients": [{ "phone": "+15550000001", "fname": "Ann" }],
    });
    if let (Some(s), Some(extra)) = (s.as_object_mut(), send.as_object()) {
        s.extend(extra.clone());
    }
    serde_json::from_value(json!({
        "version": 1,
        "flows": { "signup": { "id": FLOW_ID } },
        "templates": { "welcome": {
            "naming": naming,
            "category": "UTILITY",
            "languages": {
                "en_US": {
                    "body": body,
                    "body_examples": ["Ann"],
                    "buttons": [
                        { "type": "quick_reply", "text": "Later" },
                        { "type": "flow", "text": "Start", "flow": "signup", "screen": "WELCOME" },
                    ],
                },
                "pt_BR": { "body": "Olá {{1}}", "body_examples": ["Ana"] },
            },
        }},
        "sends": { "s": s },
    }))
    .expect("config")
}

/// The account template `name` holding what `cfg` describes for `en_US`.
fn on_account(cfg: &RawConfig, name: &str, status: TemplateStatus) -> AccountTemplate {
    let lang = &cfg.templates["welcome"].languages["en_US"];
    AccountTemplate {
        id: None,
        name: name.to_string(),
        language: "en_US".into(),
        category: "UTILITY".into(),
        status,
        rejected_reason: Some("INVALID_FORMAT".into()),
        components: desired::components(lang, &cfg.flows),
        namespace: Some(format!("ns-{name}")),
    }
}

/// The same template with the body it had before.
fn old_body_cfg() -> RawConfig {
    config("versioned", "Hello {{1}}, welcome.", json!({}))
}

fn current_name(cfg: &RawConfig) -> String {
    desired::account_name("welcome", &cfg.templates["welcome"], &cfg.flows)
}

fn observed(templates: Vec<AccountTemplate>) -> Observed {
    Observed {
        templates,
        flows: FlowList::Flows(vec![AccountFlow {
            id: FLOW_ID.into(),
            name: "Sign-up".into(),
            status: FlowStatus::Published,
        }]),
    }
}

fn tally(remaining: u64) -> BTreeMap<String, Tally> {
    BTreeMap::from([(
        "s".to_string(),
        Tally {
            recipients: remaining.max(1),
            accepted: 1 - remaining.min(1),
            remaining,
            ..Tally::default()
        },
    )])
}

/// What a case expects of the plan's `en_US` template line(s) and its send.
struct Expect {
    actions: &'static [TemplateAction],
    state: SendState,
    /// (review, whether the planned name is the current version, interim)
    target: Option<(Review, bool, bool)>,
    error: Option<&'static str>,
}

#[test]
fn template_and_send_states_follow_the_account() {
    const BODY: &str = "Hi {{1}}, welcome.";
    type Account = fn(&RawConfig) -> Vec<AccountTemplate>;
    let cases: Vec<(&str, &str, Value, Account, u64, Expect)> = vec![
        (
            "nothing on the account: create, the send waits for it",
            "versioned",
            json!({}),
            |_| vec![],
            1,
            Expect {
                actions: &[TemplateAction::Create],
                state: SendState::Waiting,
                target: Some((Review::InReview, true, false)),
                error: None,
            },
        ),
        (
            "approved: unchanged, due with its namespace",
            "versioned",
            json!({}),
            |c| vec![on_account(c, &current_name(c), TemplateStatus::Approved)],
            1,
            Expect {
                actions: &[TemplateAction::Unchanged],
                state: SendState::Due,
                target: Some((Review::Approved, true, false)),
                error: None,
            },
        ),
        (
            "in review: pending, the send waits",
            "versioned",
            json!({}),
            |c| vec![on_account(c, &current_name(c), TemplateStatus::Pending)],
            1,
            Expect {
                actions: &[TemplateAction::Pending],
                state: SendState::Waiting,
                target: Some((Review::InReview, true, false)),
                error: None,
            },
        ),
        (
            "content changed: replace; the approved old version goes out meanwhile",
            "versioned",
            json!({}),
            |_| {
                let old = old_body_cfg();
                vec![on_account(
                    &old,
                    &current_name(&old),
                    TemplateStatus::Approved,
                )]
            },
            1,
            Expect {
                actions: &[TemplateAction::Replace, TemplateAction::Superseded],
                state: SendState::Due,
                target: Some((Review::InReview, true, true)),
                error: None,
            },
        ),
        (
            "successor approved: the old version is deleted",
            "versioned",
            json!({}),
            |c| {
                let old = old_body_cfg();
                let new = on_account(c, &current_name(c), TemplateStatus::Approved);
                // Approved in every language: only then is the old one deleted.
                let pt = AccountTemplate {
                    language: "pt_BR".into(),
                    ..new.clone()
                };
                vec![
                    on_account(&old, &current_name(&old), TemplateStatus::Approved),
                    new,
                    pt,
                ]
            },
            1,
            Expect {
                actions: &[TemplateAction::Delete, TemplateAction::Unchanged],
                state: SendState::Due,
                target: Some((Review::Approved, true, false)),
                error: None,
            },
        ),
        (
            "rejected: the send is blocked with Meta's reason",
            "versioned",
            json!({}),
            |c| vec![on_account(c, &current_name(c), TemplateStatus::Rejected)],
            1,
            Expect {
                actions: &[TemplateAction::Rejected],
                state: SendState::Blocked,
                target: None,
                error: None,
            },
        ),
        (
            "exact name with other content: conflict, an error, blocked",
            "exact",
            json!({}),
            |_| {
                let mut t = on_account(&old_body_cfg(), "welcome", TemplateStatus::Approved);
                t.name = "welcome".into();
                vec![t]
            },
            1,
            Expect {
                actions: &[TemplateAction::Conflict],
                state: SendState::Blocked,
                target: None,
                error: Some("conflicts with the account"),
            },
        ),
        (
            "`at` in the future: scheduled",
            "versioned",
            json!({ "at": "2026-06-01T09:00:00Z" }),
            |c| vec![on_account(c, &current_name(c), TemplateStatus::Approved)],
            1,
            Expect {
                actions: &[TemplateAction::Unchanged],
                state: SendState::Scheduled,
                target: Some((Review::Approved, true, false)),
                error: None,
            },
        ),
        (
            "`expires` passed: expired, even with the template in review",
            "versioned",
            json!({ "expires": "2026-04-01T09:00:00Z" }),
            |c| vec![on_account(c, &current_name(c), TemplateStatus::Pending)],
            1,
            Expect {
                actions: &[TemplateAction::Pending],
                state: SendState::Expired,
                target: Some((Review::InReview, true, false)),
                error: None,
            },
        ),
        (
            "everyone attempted: done, whatever the review",
            "versioned",
            json!({}),
            |c| vec![on_account(c, &current_name(c), TemplateStatus::Pending)],
            0,
            Expect {
                actions: &[TemplateAction::Pending],
                state: SendState::Done,
                target: Some((Review::InReview, true, false)),
                error: None,
            },
        ),
    ];
    for (what, naming, send, account, remaining, want) in cases {
        let cfg = config(naming, BODY, send);
        let plan = diff(&cfg, &observed(account(&cfg)), &tally(remaining), now());
        let mut actions: Vec<TemplateAction> = plan
            .templates
            .iter()
            .filter(|t| t.language == "en_US")
            .map(|t| t.action)
            .collect();
        actions.sort();
        let mut wanted = want.actions.to_vec();
        wanted.sort();
        assert_eq!(actions, wanted, "{what}: {:#?}", plan.templates);
        let sp = &plan.sends[0];
        assert_eq!(sp.state, want.state, "{what}: {sp:#?}");
        assert_eq!(sp.language.as_deref(), Some("en_US"), "{what}");
        let target = sp.target.as_ref().and_then(|t| t.template.as_ref());
        let got = target.map(|t| (t.review, t.name == current_name(&cfg), t.interim.is_some()));
        assert_eq!(got, want.target, "{what}: {sp:#?}");
        if let Some(t) = target {
            assert_eq!(t.flow_button, Some(1), "{what}: the FLOW button is second");
            assert_eq!(
                t.namespace.is_some(),
                t.review == Review::Approved,
                "{what}: a namespace only from an approved template"
            );
            assert_eq!(sp.template.as_deref(), t.planned_name(), "{what}");
        }
        if sp.state == SendState::Blocked {
            assert!(sp.reason.is_some(), "{what}: a blocked send says why");
        }
        let errors: Vec<&str> = plan
            .messages
            .iter()
            .filter(|m| m.severity == crate::diag::Severity::Error)
            .map(|m| m.message.as_str())
            .collect();
        match want.error {
            Some(e) => assert!(errors.iter().any(|m| m.contains(e)), "{what}: {errors:?}"),
            None => assert!(errors.is_empty(), "{what}: {errors:?}"),
        }
    }
}

#[test]
fn a_template_send_without_language_uses_the_templates_first() {
    let cfg = config("versioned", "Hi {{1}}", json!({}));
    let plan = diff(&cfg, &observed(vec![]), &tally(1), now());
    // BTreeMap order: en_US before pt_BR.
    assert_eq!(plan.sends[0].language.as_deref(), Some("en_US"));
    let cfg = config(
        "versioned",
        "Hi {{1}}",
        json!({ "language": "pt_BR", "body_params": ["Ana"] }),
    );
    let plan = diff(&cfg, &observed(vec![]), &tally(1), now());
    let sp = &plan.sends[0];
    assert_eq!(sp.language.as_deref(), Some("pt_BR"));
    let t = sp
        .target
        .as_ref()
        .and_then(|t| t.template.as_ref())
        .expect("target");
    assert_eq!((t.language.as_str(), t.flow_button), ("pt_BR", None));
}

#[test]
fn a_flow_messages_target_names_its_flow() {
    let flow_message = json!({
        "template": null,
        "body_params": [],
        "flow_message": { "flow": "signup", "body": "Hi", "cta": "Open" },
    });
    let cfg = config("versioned", "Hi {{1}}", flow_message.clone());
    let plan = diff(&cfg, &observed(vec![]), &tally(1), now());
    let sp = &plan.sends[0];
    assert_eq!(
        (sp.kind, sp.state),
        (crate::plan::SendPlanKind::FlowMessage, SendState::Due),
        "{sp:#?}"
    );
    let flow = sp
        .target
        .as_ref()
        .and_then(|t| t.flow.as_ref())
        .expect("flow");
    assert_eq!(
        (flow.key.as_str(), flow.id.as_deref()),
        ("signup", Some(FLOW_ID))
    );

    // Not on the account (and not managed): an error, the send blocked.
    let mut gone = observed(vec![]);
    gone.flows = FlowList::Flows(vec![]);
    let plan = diff(&cfg, &gone, &tally(1), now());
    assert_eq!(plan.sends[0].state, SendState::Blocked);
    assert!(plan.sends[0].target.is_none());
    assert!(plan.has_errors());
}
