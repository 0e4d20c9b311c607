//! `status --format html|markdown`: the funnel report drawn from a ledger
//! with real-shaped history (acks, completions over several hours,
//! rejections and an unknown outcome), checked number by number against
//! `status --format json`.

use std::path::Path;

use chrono::{Duration, Utc};
use serde_json::{json, Value};
use waform::state::{
    Delivery, EventKind, InboundEvent, Intent, Ledger, Outcome, OutcomeRecord, SendKind,
};

use crate::common::TestContext;

const SEND: &str = "spring_campaign";

fn phone(i: u32) -> String {
    format!("1555200{i:04}")
}

/// 40 recipients: 36 accepted, 3 rejected (two reasons), 1 unknown; 30
/// delivered, 20 read, 12 forms completed over 5 hours.
fn seed(path: &Path) {
    let ledger = Ledger::open(path).expect("ledger");
    let start = Utc::now() - Duration::hours(6);
    let intents: Vec<Intent> = (0..40)
        .map(|i| Intent {
            send: SEND.into(),
            phone: phone(i),
            flow_token: format!("tok-{i}"),
            kind: SendKind::Template,
            template: Some("course_signup_1a2b3c4d".into()),
            at: start,
        })
        .collect();
    ledger.record_intents(&intents).expect("intents");
    let outcomes: Vec<OutcomeRecord> = (0..40)
        .map(|i| {
            let outcome = match i {
                36 | 37 => Outcome::Rejected {
                    reason: "131026: message undeliverable".into(),
                },
                38 => Outcome::Rejected {
                    reason: "template <paused> by Meta".into(),
                },
                39 => Outcome::Unknown {
                    reason: "timeout after the request was written".into(),
                },
                _ => Outcome::Accepted {
                    message_id: Some(format!("wamid.{i}")),
                    job_id: None,
                },
            };
            OutcomeRecord::new(SEND, &phone(i), outcome, start)
        })
        .collect();
    ledger.record_outcomes(&outcomes).expect("outcomes");
    let mut events = Vec::new();
    for i in 0..30 {
        let status = if i < 20 {
            Delivery::Read
        } else {
            Delivery::Delivered
        };
        events.push(InboundEvent {
            kind: EventKind::Ack {
                message_id: format!("wamid.{i}"),
                status,
                error: None,
                phone: Some(phone(i)),
                at: Some(start + Duration::minutes(5)),
            },
            raw: json!({"id": format!("wamid.{i}"), "status": status.as_str()}),
        });
    }
    for i in 0..12 {
        events.push(InboundEvent {
            kind: EventKind::Completion {
                message_id: Some(format!("wamid.form{i}")),
                phone: Some(phone(i)),
                flow_token: Some(format!("tok-{i}")),
                fields: json!({"course": "Pottery"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                at: Some(start + Duration::minutes(20 + 25 * i64::from(i))),
            },
            raw: json!({"id": format!("wamid.form{i}")}),
        });
    }
    ledger.store_events(&events).expect("events");
}

fn status(ctx: &TestContext, db: &Path, format: &str) -> String {
    let out = ctx
        .cmd()
        .args(["status", "--format", format, "--state"])
        .arg(format!("sqlite://{}", db.display()))
        .output()
        .expect("status");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

/// `data-NAME="VALUE"` right after `marker` in `html`.
fn attr_after<'a>(html: &'a str, marker: &str, name: &str) -> &'a str {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in the page"));
    let rest = &html[at..];
    let key = format!("data-{name}=\"");
    let from = rest.find(&key).expect("attribute") + key.len();
    let len = rest[from..].find('"').expect("closing quote");
    &rest[from..from + len]
}

#[test]
fn html_report_is_self_contained_and_matches_status_json() {
    let ctx = TestContext::new();
    let db = ctx.path().join("state.db");
    seed(&db);
    let json: Value = serde_json::from_str(&status(&ctx, &db, "json")).expect("json");
    let counts = &json["sends"][SEND];
    assert_eq!(counts["recipients"], 40, "{json}");

    let out = ctx
        .cmd()
        .args([
            "status",
            "--format",
            "html",
            "--out",
            "report.html",
            "--state",
        ])
        .arg(format!("sqlite://{}", db.display()))
        .output()
        .expect("status");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(ctx.path().join("report.html")).expect("page");
    if let Some(keep) = std::env::var_os("WAFORM_TEST_KEEP_REPORT") {
        // For a look in a browser: WAFORM_TEST_KEEP_REPORT=/tmp/status.html
        std::fs::write(keep, &html).expect("keep");
    }

    // One well-formed, self-contained document: nothing fetched, nothing run.
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    for banned in [
        "<script", " src=", "href=", "@import", "url(", "http://", "https://",
    ] {
        assert!(!html.contains(banned), "the page contains {banned}");
    }
    assert!(html.contains("name=\"viewport\""), "readable on a phone");
    assert!(html.contains("@media print"), "readable printed");

    // Every funnel number is the ledger's.
    let section = format!("data-send=\"{SEND}\"");
    let html = &html[html.find(&section).expect("send section")..];
    for (stage, key) in [
        ("planned", "recipients"),
        ("accepted", "accepted"),
        ("delivered", "delivered"),
        ("read", "read"),
        ("completed", "completed"),
    ] {
        let shown = attr_after(html, &format!("data-stage=\"{stage}\""), "count");
        assert_eq!(shown, counts[key].to_string(), "{stage}");
    }
    for outcome in ["rejected", "unknown"] {
        let shown = attr_after(html, &format!("data-outcome=\"{outcome}\""), "count");
        assert_eq!(shown, counts[outcome].to_string(), "{outcome}");
    }
    // Rates: accepted of planned, the later stages of accepted.
    assert!(
        html.contains("<b>36</b> <span class=\"rate\">90.0%</span>"),
        "{html}"
    );
    assert!(
        html.contains("<b>12</b> <span class=\"rate\">33.3%</span>"),
        "{html}"
    );
    // Reasons, escaped, most frequent first.
    let undeliverable = html.find("131026: message undeliverable").expect("reason");
    let paused = html
        .find("template &lt;paused&gt; by Meta")
        .expect("escaped reason");
    assert!(undeliverable < paused);
    assert!(html.contains("timeout after the request was written"));
    // Completions over time: every completion in the chart.
    assert_eq!(attr_after(html, "<svg", "total"), "12");
}

#[test]
fn markdown_report_has_a_table_and_a_bar_per_stage() {
    let ctx = TestContext::new();
    let db = ctx.path().join("state.db");
    seed(&db);
    let md = status(&ctx, &db, "markdown");
    assert!(md.contains(&format!("### `{SEND}`")), "{md}");
    assert!(
        md.contains("| planned | 40 |  | `████████████████████` |"),
        "{md}"
    );
    assert!(
        md.contains("| accepted | 36 | 90.0% | `██████████████████` |"),
        "{md}"
    );
    assert!(md.contains("| completed | 12 | 33.3% | `██████` |"), "{md}");
    assert!(
        md.contains("**Rejected:** 3 · **Unknown outcome:** 1"),
        "{md}"
    );
    assert!(
        md.contains("| rejected | 131026: message undeliverable | 2 |"),
        "{md}"
    );
    assert!(md.contains("Completed forms: 12 over"), "{md}");
    assert!(
        !md.contains("15552"),
        "no phone numbers in a report meant for chats"
    );
}
